"""Verification: replay a store and prove that nothing was altered, removed, reordered or
forged, or say exactly where it was.

Checks, per event in log order (each failure names case, version and check):

``decode``     the stored bytes are a well-formed sealed event: the envelope has the fields
               and JSON types of the format, and envelope and signatures are stored in their
               canonical (RFC 8785) form, so no byte can change without a failure
``placement``  the row's case id, version and topic equal the signed envelope's; the case id
               is the UUIDv5 of the stream name; the event belongs to this log; a store row
               sits at a log position from 1 on
``version``    versions of a case are contiguous from 1, in log order
``chain``      ``prev`` is the hash of the previous event of the same case
``signature``  the envelope names its signers and each signature verifies
``key``        each signing key was certified, unrevoked and in its validity window at that
               log position, and the signing identity is the certificate's subject
``payload``    the payload decodes and is in its canonical form
``rule``       the domain rules allow the event given everything before it
``certificate`` trust-stream events are valid certificates, revocations and rotations

Verification never returns a bool: :func:`verify_store` returns a :class:`Report` and
:meth:`Report.raise_for_failures` raises :class:`~cdlog.errors.VerificationError`. Whatever a
row holds, it is reported as a failure at its place, never raised: one bad row does not stop
the replay.

Deleting the newest event of a case leaves no trace in the rows that remain; that needs signed
checkpoints of the log's Merkle tree.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder

from cdlog.canonical import canonical_bytes, is_canonical_time
from cdlog.context import TRUST_TYPES, LogContext
from cdlog.domain.case import CaseState, check
from cdlog.domain.config import Config
from cdlog.domain.evolve import evolve, start_state
from cdlog.errors import CdlogError, Failure, RuleViolationError, VerificationError
from cdlog.facts import fact_of, officer_of
from cdlog.keys.signer import signature_is_valid
from cdlog.keys.trust import TrustRoot
from cdlog.persistence import check_row
from cdlog.sealing import SealedEvent, parse, signing_message, stream_id

PAGE = 1000
_HASH_HEX = re.compile(r"^[0-9a-f]{64}$")


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
        """Check one stored event at its log position.

        Nothing a row holds makes this raise: every problem becomes a located failure.
        """
        self.report.events += 1
        before = len(self.report.failures)
        case, version = "<bundle>", None
        if row is not None:
            case = str(row.originator_id)
            raw_version: Any = row.originator_version
            if type(raw_version) is not int:
                self._fail(case, None, "placement",
                           f"row at log position {position} has version {raw_version!r}, "
                           "not an integer")
                return
            version = raw_version
        outside = row is not None and position < 1  # a store row before the log's start
        if outside:  # reported and decoded, but not replayed
            self._fail(case, version, "placement",
                       f"row at log position {position}; positions start at 1")
        data = _as_bytes(sealed_bytes)
        if data is None:
            self._fail(case, version, "decode",
                       f"stored state is {type(sealed_bytes).__name__}, not bytes")
            return
        try:
            sealed = parse(data, case, version)
            _check_form(sealed, case, version)
            if row is not None:
                check_row(row, sealed)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        except (ValueError, TypeError) as exc:  # parse let a malformed value through
            self._fail(case, version, "decode", f"malformed sealed event: {exc}")
            return
        if outside:
            return
        try:
            self._check_event(sealed, position)
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # a shape the checks above did not foresee: report it here, go on with the next row
            self._fail(sealed.case, sealed.version, "decode",
                       f"event cannot be checked: {type(exc).__name__}: {exc}")
        if self.log_id is None and len(self.report.failures) == before:
            self.log_id = str(sealed.envelope["log"])  # the first event that fully verifies

    def _check_event(self, sealed: SealedEvent, position: int) -> None:
        case, version = sealed.case, sealed.version
        if self.log_id is not None and sealed.envelope["log"] != self.log_id:
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
                known = {(f.case, f.version, f.check) for f in self.report.failures}
                self.report.failures.extend(  # a bad root signature is reported once
                    f for f in exc.failures if (f.case, f.version, f.check) not in known)
            return
        try:
            check(st.state, fact, self.context)
        except RuleViolationError as exc:
            self._fail(case, version, "rule", f"[{exc.rule}] {exc.problem}"
                       + (f" (expected {exc.expected})" if exc.expected else ""))
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError) as exc:
            self._fail(case, version, "rule", f"the rules cannot judge this event in its "
                       f"case's state: {type(exc).__name__}: {exc}")
        try:
            evolve(st.state, fact, self.config)
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError) as exc:
            self._fail(case, version, "rule", f"the event cannot be applied to its case's "
                       f"state: {type(exc).__name__}: {exc}")
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
                root_key = _established_key(sealed)  # a root signs with the key it establishes
                if root_key is None:
                    self._fail(case, version, "signature", f"signature by {sig.key} cannot be "
                               "verified: the payload holds no valid root key")
                    continue
                public = root_key
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


def _established_key(sealed: SealedEvent) -> bytes | None:
    """The public key a TrustRootEstablished event establishes, or None if it is malformed."""
    try:
        return TrustRoot.model_validate(dict(sealed.payload)).public_key_bytes()
    except (CdlogError, ValueError, TypeError):
        return None


def _as_bytes(state: object) -> bytes | None:
    """The stored state as bytes, or None when the column holds something else."""
    if isinstance(state, bytes):
        return state
    if isinstance(state, bytearray | memoryview):
        return bytes(state)
    return None


def _is_party(value: object) -> bool:
    return isinstance(value, dict) and type(value.get("key")) is str


def _check_form(sealed: SealedEvent, case: str, version: int | None) -> None:
    """Raise (check ``decode``) unless the envelope has the format's JSON types and both
    halves of the sealed bytes are stored canonically."""
    env = sealed.envelope
    problems = [name for name, ok in (
        ("log", type(env["log"]) is str),
        ("stream", type(env["stream"]) is str and ":" in env["stream"]),
        ("case", type(env["case"]) is str),
        ("version", type(env["version"]) is int and env["version"] >= 1),
        ("occurred", isinstance(env["occurred"], dict)),
        ("recorded", type(env["recorded"]) is str and is_canonical_time(env["recorded"])),
        ("actor", _is_party(env["actor"])),
        ("cosigners", isinstance(env["cosigners"], list)
         and all(_is_party(c) for c in env["cosigners"])),
        ("payload", isinstance(env["payload"], dict)),
        ("prev", env["prev"] is None or (type(env["prev"]) is str
                                         and bool(_HASH_HEX.match(env["prev"])))),
        ("late", type(env["late"]) is bool),
    ) if not ok]
    if problems:
        raise VerificationError(Failure(case, version, "decode",
                                        f"envelope field(s) {', '.join(problems)} malformed"))
    signatures = sealed.sealed[len(sealed.envelope_bytes) + 1:]
    try:
        canonical_env = canonical_bytes(env)
        canonical_sigs = canonical_bytes([s.as_json() for s in sealed.signatures])
    except CdlogError as exc:
        raise VerificationError(Failure(case, version, "decode",
                                        f"envelope is not canonical JSON: {exc}")) from exc
    if canonical_env != sealed.envelope_bytes:
        raise VerificationError(Failure(case, version, "decode",
                                        "envelope bytes are not in canonical (RFC 8785) form"))
    if canonical_sigs != signatures:
        raise VerificationError(Failure(case, version, "decode",
                                        "signature bytes are not in canonical form"))


def fact_time(sealed: SealedEvent) -> Any:
    """The recorded time of a sealed event (what key validity is judged against)."""
    from cdlog.canonical import parse_time  # noqa: PLC0415

    return parse_time(str(sealed.envelope["recorded"]), "recorded")


def iter_notifications(recorder: Any, start: int | None = None) -> Iterator[Notification]:
    """Every stored event in log order, read a page at a time.

    With ``start`` None the replay begins at the lowest position the store holds, so a row
    slipped in before position 1 is seen (and reported) too.
    """
    while True:
        try:
            page = recorder.select_notifications(start=start, limit=PAGE)
        except (ValueError, TypeError):  # a row eventsourcing cannot convert (its case id)
            if not isinstance(recorder, SQLiteApplicationRecorder):
                raise
            page = _select_raw(recorder, start, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def _select_raw(recorder: SQLiteApplicationRecorder, start: int | None,
                limit: int) -> Sequence[Notification]:
    """Read a page of an SQLite store keeping case ids that are not UUIDs as text."""
    where = "WHERE rowid>=? " if start is not None else ""
    params = [start, limit] if start is not None else [limit]
    statement = (f"SELECT rowid, * FROM {recorder.events_table_name} "  # noqa: S608
                 f"{where}ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, params)
        return [Notification(id=row["rowid"], originator_id=_lenient_id(row["originator_id"]),
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=row["state"]) for row in c.fetchall()]


def _lenient_id(value: object) -> uuid.UUID | str:
    """A case id column as eventsourcing reads it, or as text when it is no UUID."""
    if not isinstance(value, str):
        return repr(value)
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


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
