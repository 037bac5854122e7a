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
``late``       the ``late`` flag is what the write path sets under the verifying configuration

Verification never returns a bool: :func:`verify_store` returns a :class:`Report` and
:meth:`Report.raise_for_failures` raises :class:`~cdlog.errors.VerificationError`. Whatever a
row holds, it is reported as a failure at its place, never raised: one bad row does not stop
the replay.

Deleting the newest event of a case leaves no trace in the rows that remain; that needs signed
checkpoints of the log's Merkle tree.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Notification

from cdlog.canonical import parse_time
from cdlog.domain.case import check
from cdlog.domain.config import RULES, Config
from cdlog.domain.evolve import evolve, start_state
from cdlog.domain.values import Officer
from cdlog.errors import CdlogError, Failure, RuleViolationError, VerificationError
from cdlog.keys.registry import root_officer
from cdlog.keys.signer import signature_is_valid
from cdlog.keys.trust import TrustRoot
from cdlog.log.context import CONTEXT_TYPES, TRUST_TYPES, LogContext
from cdlog.log.facts import fact_of, officer_of
from cdlog.log.sealing import (
    SIGNING_PREFIX,
    SealedEvent,
    Signature,
    case_text,
    signing_message,
)
from cdlog.log.signers import SignerCache
from cdlog.store.mapper import check_row
from cdlog.verify.form import (
    _canonical_envelope,
    _canonical_signatures,
    _check_form,
    _raise_malformed,
    parse_checked,
)
from cdlog.verify.rows import (
    PAGE,
    RowFields,
    _as_bytes,
    _case_text,
    _lenient_id,
    iter_notifications,
    iter_rows,
)
from cdlog.verify.streams import STREAMS_IN_MEMORY, _Stream, _StreamTable

__all__ = [  # the row reading and the form check live in cdlog.verify.rows and .form
    "PAGE", "STREAMS_IN_MEMORY", "Report", "RowFields", "Verifier", "_as_bytes",
    "_canonical_envelope", "_canonical_signatures", "_case_text", "_check_form", "_lenient_id",
    "_raise_malformed", "fact_time", "iter_notifications", "iter_rows", "parse_checked",
    "stream_case",
]


@dataclass
class Report:
    """The outcome of a verification: counts and every located failure."""

    events: int = 0
    cases: int = 0
    failures: list[Failure] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    case_nos: dict[str, str] = field(default_factory=dict)
    """The OI case number of each accepted case, by stream name."""

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def names(self) -> dict[str, str]:
        """The stream name of every case id the replay decoded (``heads``), by id."""
        return {stream_case(s): s for s in self.heads}

    def place(self, case: str, names: Mapping[str, str] | None = None
              ) -> tuple[str | None, str | None]:
        """The stream name and OI case number of a failure's ``case`` (an id, or a log-level
        place such as ``<log>``, which has neither); None where unknown. ``names`` is
        :meth:`names`, when the caller asks for many."""
        stream = case if ":" in case else (self.names() if names is None else names).get(case)
        return stream, self.case_nos.get(stream) if stream else None

    def as_json(self) -> dict[str, Any]:
        """The ``cdlog verify --json`` document.

        Every failure carries ``case`` (the id, or a place such as ``<log>``) and beside it
        ``stream`` (the stream name, ``case:OP-2006-0001``) and ``case_no`` (the OI case
        number) where known; ``heads`` lists each stream's last version and hash.
        """
        names = self.names()
        failures = []
        for f in self.failures:
            doc = f.as_dict()
            doc["stream"], doc["case_no"] = self.place(f.case, names)
            failures.append(doc)
        heads = [{"stream": s, "case_no": self.case_nos.get(s), "id": stream_case(s),
                  "version": v, "hash": h} for s, (v, h) in self.heads.items()]
        return {"ok": self.ok, "events": self.events, "cases": self.cases,
                "rules": RULES, "failures": failures, "heads": heads}

    def raise_for_failures(self) -> None:
        """Raise :class:`VerificationError` listing every failure, if there is any."""
        if self.failures:
            raise VerificationError(self.failures)


@functools.lru_cache(maxsize=4096)
def stream_case(stream: str) -> str:
    """The case id (text) of a stream name: :func:`cdlog.log.sealing.stream_id`, cached."""
    return case_text(stream)


class Verifier:
    """Replays sealed events in log order and checks each one (see the module docstring)."""

    clean_path = True
    """Whether an event of the verifier's own case takes :meth:`_replay_clean` first (the
    tests turn it off to hold it to the full checks)."""

    def __init__(self, config: Config, trusted_roots: Iterable[TrustRoot] | None = None,
                 log_id: str | None = None, *,
                 streams_in_memory: int = STREAMS_IN_MEMORY) -> None:
        self.config = config
        self.context = LogContext(config, trusted_roots)
        self.log_id = log_id
        self.report = Report()
        self._streams = _StreamTable(streams_in_memory)
        self._same: dict[tuple[int, int], tuple[Officer, Officer, bool]] = {}
        self._signers = SignerCache()

    def _fail(self, case: str, version: int | None, check_name: str, detail: str) -> None:
        self.report.failures.append(Failure(case, version, check_name, detail))

    def feed(self, position: int, sealed_bytes: bytes, row: Notification | None = None) -> None:
        """Check one stored event at its log position.

        Nothing a row holds makes this raise: every problem becomes a located failure.
        """
        before = len(self.report.failures)
        sealed = self._replay(position, sealed_bytes, row)
        if sealed is not None and self.log_id is None and len(self.report.failures) == before:
            self.log_id = str(sealed.envelope["log"])  # the first event that fully verifies

    def feed_context(self, position: int, sealed_bytes: bytes, row: Notification) -> None:
        """Take in a context event whose case another verifier checks (parallel replay).

        The key registry and the disclosures change exactly as :meth:`feed` would change
        them; nothing is reported and no case state is kept.
        """
        report = self.report
        self.report = Report()
        try:
            self._replay(position, sealed_bytes, row, own=False)
        finally:
            self.report = report

    def _replay(self, position: int, sealed_bytes: bytes, row: Notification | None,
                own: bool = True) -> SealedEvent | None:
        """Check one event; return it when it got as far as the event checks (else None)."""
        if (own and row is not None and position >= 1 and type(sealed_bytes) is bytes
                and self.clean_path):
            sealed = self._replay_clean(position, sealed_bytes, row)
            if sealed is not None:
                return sealed
        self.report.events += 1
        case, version = "<bundle>", None
        if row is not None:
            case = str(row.originator_id)
            raw_version: Any = row.originator_version
            if type(raw_version) is not int:
                self._fail(case, None, "placement",
                           f"row at log position {position} has version {raw_version!r}, "
                           "not an integer")
                return None
            version = raw_version
        outside = row is not None and position < 1  # a store row before the log's start
        if outside:  # reported and decoded, but not replayed
            self._fail(case, version, "placement",
                       f"row at log position {position}; positions start at 1")
        data = _as_bytes(sealed_bytes)
        if data is None:
            self._fail(case, version, "decode",
                       f"stored state is {type(sealed_bytes).__name__}, not bytes")
            return None
        try:
            sealed = parse_checked(data, case, version)
            if row is not None and (sealed.case != case or sealed.version != version
                                    or sealed.topic != row.topic):
                check_row(row, sealed)  # the row disagrees with its envelope: say how
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return None
        except (ValueError, TypeError) as exc:  # parse let a malformed value through
            self._fail(case, version, "decode", f"malformed sealed event: {exc}")
            return None
        if outside or (not own and sealed.type not in CONTEXT_TYPES):
            return None
        try:
            self._check_event(sealed, position, own)
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # a shape the checks above did not foresee: report it here, go on with the next row
            self._fail(sealed.case, sealed.version, "decode",
                       f"event cannot be checked: {type(exc).__name__}: {exc}")
        return sealed

    def _replay_clean(self, position: int, data: bytes, row: Notification) -> SealedEvent | None:
        """:meth:`_replay` of an event of this verifier's own case that passes every check up
        to the rules, in one step; None (and nothing changed) for anything else, which
        :meth:`_replay` then checks in full and reports exactly as before.

        Every check before the rules is made without changing any state: the row's place, the
        decode and form, the log, the case id, the version and chain against the case's state,
        one signature by the actor alone (not a trust event or a disclosure, which move the
        log context), the key in force and its subject (asked of :mod:`cdlog.log.signers`),
        the payload and the ``late`` flag.
        Only when all pass are the case's version, head and count moved on, the rules run as
        :meth:`_check_event` runs them, and the event is counted.
        """
        version = row.originator_version
        if type(version) is not int:
            return None
        case = str(row.originator_id)
        try:
            sealed = parse_checked(data, case, version)
            type_ = sealed.type
            if (sealed.case != case or sealed.version != version or sealed.topic != row.topic
                    or type_ in CONTEXT_TYPES):
                return None
            env = sealed.envelope
            if self.log_id is not None and env["log"] != self.log_id:
                return None
            signatures = sealed.signatures
            actor = env["actor"]
            if env["cosigners"] or len(signatures) != 1:
                return None
            sig = signatures[0]
            recorded_text = env["recorded"]
            if sig.key != actor["key"] or type(recorded_text) is not str:
                return None
            stream = sealed.stream
            st = self._streams.get(case)
            if (st is None or not st.named or st.state.stream != stream) and \
                    stream_case(stream) != case:
                return None
            if st is None:
                if version != 1 or sealed.prev is not None:
                    return None
            elif version != st.version + 1 or sealed.prev != st.head:
                return None
            signer = self._signers.get(self.context.registry, sig.key)
            if signer is None:  # a root key, or one unknown: the full checks say why
                return None
            if not signature_is_valid(signer.public, sealed.envelope_bytes, sig.sig,
                                      SIGNING_PREFIX):
                return None
            recorded = datetime.fromisoformat(recorded_text)  # parse_time's parse, without
            if recorded.tzinfo is None:  # its cache (which a large store's times only churn)
                return None
            if not signer.in_force(position, recorded):  # the full checks say why
                return None
            claimed, same = signer.signs_as(actor)
            if not same:
                return None
            fact = fact_of(sealed, recorded, claimed)
            if (fact.recorded - fact.occurred.end > self.config.deadlines.late_entry_after
                    ) != fact.late:
                return None
            case_no = (str(sealed.payload.get("case_no")) if type_ == "CaseAccepted"
                       else None)
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError):
            return None
        report = self.report
        report.events += 1
        if st is None:
            st = _Stream(start_state(stream), named=True)
            self._streams.add(case, st)
            report.cases += 1
        st.version = version
        st.head = sealed.hash_hex
        self._record_head(stream, version, st.head)
        if case_no is not None:
            report.case_nos[stream] = case_no
        try:
            self._check_rules(st, fact, case, version)
        except (CdlogError, LookupError, TypeError, ValueError, AttributeError) as exc:
            self._fail(case, version, "decode",
                       f"event cannot be checked: {type(exc).__name__}: {exc}")
        return sealed

    def _record_head(self, stream: str, version: int, hash_hex: str) -> None:
        self.report.heads[stream] = (version, hash_hex)

    def _check_event(self, sealed: SealedEvent, position: int, own: bool = True) -> None:
        """The checks of one decoded event in its place.

        With ``own`` False (a context event of a case another verifier owns) only what can
        change the log context runs, in the same order and with the same outcome, and the
        case's own state (versions, chain, rules) is left to its owner.
        """
        case, version = sealed.case, sealed.version
        if self.log_id is not None and sealed.envelope["log"] != self.log_id:
            self._fail(case, version, "placement",
                       f"event of log {sealed.envelope['log']!r} in log {self.log_id!r}")
        named = stream_case(sealed.stream) == case
        if not named:
            self._fail(case, version, "placement",
                       f"case id is not the id of stream {sealed.stream!r}")
        st = None
        if own:
            st = self._streams.get(case)
            if st is None:
                st = _Stream(start_state(sealed.stream), named=named)
                self._streams.add(case, st)
                self.report.cases += 1
            if version != st.version + 1:
                what = "repeats or goes back" if version <= st.version else "skips"
                self._fail(case, version, "version", f"version {version} {what} after "
                           f"version {st.version} of {sealed.stream}")
            if sealed.prev != st.head:
                self._fail(case, version, "chain", f"prev {sealed.prev} is not the hash of "
                           f"the previous event {st.head}")
            st.version = max(st.version, version)
            st.head = sealed.hash_hex
            self._record_head(sealed.stream, version, st.head)
            if sealed.type == "CaseAccepted":  # names the case in reports (Report.case_nos)
                self.report.case_nos[sealed.stream] = str(sealed.payload.get("case_no"))
        self._check_signatures(sealed, position)
        try:
            fact = fact_of(sealed)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        if own:
            self._check_late(sealed, fact)
        if sealed.type in TRUST_TYPES:
            try:
                self.context.observe(sealed, position)
            except VerificationError as exc:
                known = {(f.case, f.version, f.check) for f in self.report.failures}
                self.report.failures.extend(  # a bad root signature is reported once
                    f for f in exc.failures if (f.case, f.version, f.check) not in known)
            return
        if st is not None:
            self._check_rules(st, fact, case, version)
        if sealed.type == "ThirdPartyDisclosureAuthorized":
            self.context.observe(sealed, position)

    def _check_rules(self, st: _Stream, fact: Any, case: str, version: int) -> None:
        """The domain rules of one event in its case's state, then the state moved on."""
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

    def _check_signatures(self, sealed: SealedEvent, position: int) -> None:
        env = sealed.envelope
        signatures = sealed.signatures
        actor, cosigners = env["actor"], env["cosigners"]
        if (not cosigners and len(signatures) == 1 and signatures[0].key == actor["key"]
                and sealed.type != "TrustRootEstablished"):
            self._check_sole_signer(sealed, position, signatures[0], actor)  # most events
            return
        case, version = sealed.case, sealed.version
        if cosigners or len(signatures) != 1 or signatures[0].key != actor["key"]:
            expected = sealed.signer_keys  # (one signature by the actor alone matches)
            given = tuple(s.key for s in signatures)
            if given != expected:
                self._fail(case, version, "signature", f"signatures by {list(given)}, but the "
                           f"envelope names signers {list(expected)}")
        if cosigners:  # what the write path refuses ("the same key signs twice")
            self._check_signers(sealed, [actor, *cosigners])
        message = signing_message(sealed.envelope_bytes)
        parties = [actor, *cosigners]
        for sig, party in zip(signatures, parties, strict=False):
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
                self._check_root_party(sealed, party)
                continue
            self._check_party(sealed, position, sig.key, party)

    def _check_sole_signer(self, sealed: SealedEvent, position: int, sig: Signature,
                           actor: dict[str, Any]) -> None:
        """:meth:`_check_signatures` of an event signed by its actor alone (not a trust root):
        the loop's one turn, with the same failures."""
        try:
            public = self.context.registry.public_key(sig.key)
        except LookupError:
            self._fail(sealed.case, sealed.version, "key",
                       f"key {sig.key} is not known to this log")
            return
        if not signature_is_valid(public, sealed.envelope_bytes, sig.sig, SIGNING_PREFIX):
            self._fail(sealed.case, sealed.version, "signature",
                       f"signature by {sig.key} does not verify")
            return
        self._check_party(sealed, position, sig.key, actor)

    def _check_party(self, sealed: SealedEvent, position: int, key: str,
                     party: dict[str, Any]) -> None:
        """The key check of one valid signature: the key may sign here and now, and the
        party the envelope names is the key's subject."""
        case, version = sealed.case, sealed.version
        try:
            subject = self.context.registry.check_signer(
                key, position, fact_time(sealed), case=case, version=version)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        try:
            claimed = officer_of(party)
        except ValueError:
            self._fail(case, version, "key", "signing party is malformed")
            return
        if not self._same_officer(claimed, subject):
            self._fail(case, version, "key", f"signed as {claimed.label} but key "
                       f"{key} belongs to {subject.label}")

    def _check_signers(self, sealed: SealedEvent, parties: Sequence[Mapping[str, Any]]) -> None:
        """The write path's refusals about who signs: no key signs twice (an actor cannot
        co-decide with itself), and a trust root signs alone."""
        named = [str(p["key"]) for p in parties]
        twice = sorted({k for k in named if named.count(k) > 1})
        if twice:
            self._fail(sealed.case, sealed.version, "signature",
                       f"key {', '.join(twice)} signs twice (as actor and cosigner, or as two "
                       "cosigners): each signer of an event must be another key")
        if sealed.type == "TrustRootEstablished":
            self._fail(sealed.case, sealed.version, "signature",
                       "a trust root is established by the root key alone, without cosigners")

    def _check_root_party(self, sealed: SealedEvent, party: dict[str, Any]) -> None:
        """A root establishes itself as ``root:<AGENCY>``, role TrustRoot, office ROOT (the
        party the write path writes); another identity is refused like a wrong subject."""
        agency = sealed.stream.partition(":")[2]
        try:
            claimed = officer_of(party)
        except ValueError:
            self._fail(sealed.case, sealed.version, "key", "signing party is malformed")
            return
        expected = root_officer(agency)
        if claimed != expected:
            self._fail(sealed.case, sealed.version, "key", f"a trust root signs as "
                       f"{expected.label}, not as {claimed.label}")

    def _check_late(self, sealed: SealedEvent, fact: Any) -> None:
        """The ``late`` flag must be what the write path sets under this configuration:
        recorded minus the end of occurred exceeds ``deadlines.late_entry_after``."""
        threshold = self.config.deadlines.late_entry_after
        late = fact.recorded - fact.occurred.end > threshold
        if late != fact.late:
            self._fail(sealed.case, sealed.version, "late",
                       f"late is {str(fact.late).lower()}, but recorded "
                       f"{fact.recorded.isoformat()} is {fact.recorded - fact.occurred.end} "
                       f"after it happened, {'over' if late else 'within'} "
                       f"deadlines.late_entry_after ({threshold}) of this configuration")

    def _same_officer(self, claimed: Officer, subject: Officer) -> bool:
        """``claimed == subject``, remembered per pair of (immutable) identities."""
        key = (id(claimed), id(subject))
        known = self._same.get(key)
        if known is None:
            if len(self._same) >= 4096:
                self._same.clear()
            known = self._same[key] = (claimed, subject, claimed == subject)  # keeps both alive
        return known[2]

    def finish(self) -> Report:
        """Return the report after the last event."""
        return self.report


def _established_key(sealed: SealedEvent) -> bytes | None:
    """The public key a TrustRootEstablished event establishes, or None if it is malformed."""
    try:
        return TrustRoot.model_validate(dict(sealed.payload)).public_key_bytes()
    except (CdlogError, ValueError, TypeError):
        return None


def fact_time(sealed: SealedEvent) -> Any:
    """The recorded time of a sealed event (what key validity is judged against)."""
    return parse_time(str(sealed.envelope["recorded"]), "recorded")

