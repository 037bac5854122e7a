"""Verification: replay a store and prove that nothing was altered, removed, reordered or
forged, or say exactly where it was.

Checks, per event in log order (each failure names case, version and check):

``decode``     the stored bytes are a well-formed sealed event
``placement``  the row's case id, version and topic equal the signed envelope's; the case id
               is the UUIDv5 of the stream name; the event belongs to this log
``version``    versions of a case are contiguous from 1, in log order
``chain``      ``prev`` is the hash of the previous event of the same case
``signature``  the envelope names its signers and each signature verifies
``key``        each signing key was certified, unrevoked and in its validity window at that
               log position, and the signing identity is the certificate's subject
``payload``    the payload decodes and is in its canonical form
``rule``       the domain rules allow the event given everything before it
``certificate`` trust-stream events are valid certificates, revocations and rotations

Verification never returns a bool: :func:`verify_store` returns a :class:`Report` and
:meth:`Report.raise_for_failures` raises :class:`~cdlog.errors.VerificationError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification

from cdlog.context import TRUST_TYPES, LogContext
from cdlog.domain.case import CaseState, check
from cdlog.domain.config import Config
from cdlog.domain.evolve import evolve, start_state
from cdlog.errors import Failure, RuleViolationError, VerificationError
from cdlog.facts import fact_of, officer_of
from cdlog.keys.signer import signature_is_valid
from cdlog.keys.trust import TrustRoot
from cdlog.persistence import check_row
from cdlog.sealing import SealedEvent, parse, signing_message, stream_id

PAGE = 1000


@dataclass
class Report:
    """The outcome of a verification: counts and every located failure."""

    events: int = 0
    cases: int = 0
    failures: list[Failure] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        """The ``cdlog verify --json`` document."""
        return {"ok": self.ok, "events": self.events, "cases": self.cases,
                "failures": [f.as_dict() for f in self.failures]}

    def raise_for_failures(self) -> None:
        """Raise :class:`VerificationError` listing every failure, if there is any."""
        if self.failures:
            raise VerificationError(self.failures)


@dataclass
class _Stream:
    state: CaseState
    version: int = 0
    head: str | None = None


class Verifier:
    """Replays sealed events in log order and checks each one (see the module docstring)."""

    def __init__(self, config: Config, trusted_roots: Iterable[TrustRoot] | None = None,
                 log_id: str | None = None) -> None:
        self.config = config
        self.context = LogContext(config, trusted_roots)
        self.log_id = log_id
        self.report = Report()
        self._streams: dict[str, _Stream] = {}

    def _fail(self, case: str, version: int | None, check_name: str, detail: str) -> None:
        self.report.failures.append(Failure(case, version, check_name, detail))

    def feed(self, position: int, sealed_bytes: bytes, row: Notification | None = None) -> None:
        """Check one stored event at its log position."""
        self.report.events += 1
        case = str(row.originator_id) if row is not None else "<bundle>"
        version = row.originator_version if row is not None else None
        try:
            sealed = parse(sealed_bytes, case, version)
            if row is not None:
                check_row(row, sealed)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        self._check_event(sealed, position)

    def _check_event(self, sealed: SealedEvent, position: int) -> None:
        case, version = sealed.case, sealed.version
        if self.log_id is None:
            self.log_id = str(sealed.envelope["log"])
        elif sealed.envelope["log"] != self.log_id:
            self._fail(case, version, "placement",
                       f"event of log {sealed.envelope['log']!r} in log {self.log_id!r}")
        if str(stream_id(sealed.stream)) != case:
            self._fail(case, version, "placement",
                       f"case id is not the id of stream {sealed.stream!r}")
        st = self._streams.get(case)
        if st is None:
            st = self._streams[case] = _Stream(start_state(sealed.stream))
            self.report.cases += 1
        if version != st.version + 1:
            what = "repeats or goes back" if version <= st.version else "skips"
            self._fail(case, version, "version", f"version {version} {what} after "
                       f"version {st.version} of {sealed.stream}")
        if sealed.prev != st.head:
            self._fail(case, version, "chain", f"prev {sealed.prev} is not the hash of the "
                       f"previous event {st.head}")
        st.version = max(st.version, version)
        st.head = sealed.hash_hex
        self.report.heads[sealed.stream] = (version, sealed.hash_hex)
        self._check_signatures(sealed, position)
        try:
            fact = fact_of(sealed)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        if sealed.type in TRUST_TYPES:
            try:
                self.context.observe(sealed, position)
            except VerificationError as exc:
                self.report.failures.extend(exc.failures)
            return
        try:
            check(st.state, fact, self.context)
        except RuleViolationError as exc:
            self._fail(case, version, "rule", f"[{exc.rule}] {exc.problem}"
                       + (f" (expected {exc.expected})" if exc.expected else ""))
        evolve(st.state, fact, self.config)
        if sealed.type == "ThirdPartyDisclosureAuthorized":
            self.context.observe(sealed, position)

    def _check_signatures(self, sealed: SealedEvent, position: int) -> None:
        case, version = sealed.case, sealed.version
        expected = sealed.signer_keys
        given = tuple(s.key for s in sealed.signatures)
        if given != expected:
            self._fail(case, version, "signature", f"signatures by {list(given)}, but the "
                       f"envelope names signers {list(expected)}")
        message = signing_message(sealed.envelope_bytes)
        parties = [sealed.envelope["actor"], *sealed.envelope["cosigners"]]
        for sig, party in zip(sealed.signatures, parties, strict=False):
            try:
                public = self.context.registry.public_key(sig.key)
            except LookupError:
                if sealed.type != "TrustRootEstablished":
                    self._fail(case, version, "key", f"key {sig.key} is not known to this log")
                continue
            if not signature_is_valid(public, message, sig.sig):
                self._fail(case, version, "signature", f"signature by {sig.key} does not "
                           "verify")
                continue
            if sealed.type == "TrustRootEstablished":
                continue
            try:
                subject = self.context.registry.check_signer(
                    sig.key, position, fact_time(sealed), case=case, version=version)
            except VerificationError as exc:
                self.report.failures.extend(exc.failures)
                continue
            try:
                claimed = officer_of(party)
            except ValueError:
                self._fail(case, version, "key", "signing party is malformed")
                continue
            if claimed != subject:
                self._fail(case, version, "key", f"signed as {claimed.label} but key "
                           f"{sig.key} belongs to {subject.label}")

    def finish(self) -> Report:
        """Return the report after the last event."""
        return self.report


def fact_time(sealed: SealedEvent) -> Any:
    """The recorded time of a sealed event (what key validity is judged against)."""
    from cdlog.canonical import parse_time  # noqa: PLC0415

    return parse_time(str(sealed.envelope["recorded"]), "recorded")


def iter_notifications(recorder: Any, start: int = 1) -> Iterator[Notification]:
    """Every stored event in log order, read a page at a time."""
    while True:
        page = recorder.select_notifications(start=start, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def verify_store(log: Any, *, trusted_roots: Iterable[TrustRoot] | None = None,
                 progress: Callable[[int], None] | None = None) -> Report:
    """Replay every event of a :class:`~cdlog.application.CaseLog` and check it.

    ``progress`` is called with the number of events checked so far, every page.
    """
    verifier = Verifier(log.config, trusted_roots)
    for i, row in enumerate(iter_notifications(log.app.recorder), start=1):
        verifier.feed(row.id, row.state, row)
        if progress is not None and i % PAGE == 0:
            progress(i)
    report = verifier.finish()
    if progress is not None:
        progress(report.events)
    return report
