"""Scoped verification: the events a report rests on, checked in full, without the whole store.

:func:`verify_streams` replays, in log order, every event of the streams a report cites, every
event of the trust streams that judge their signing keys (``trust:<AGENCY>`` of every agency
that signs in them, and of the log's trusted roots; every trust stream of the log when a key is
still unknown), and the third-party disclosure authorisations naming their OI case numbers
(looked up only when R8 finds none among the streams held), with
:class:`cdlog.verify.bundle.BundleVerifier` (the verifier a per-case audit bundle uses): decode,
placement, versions, chain, signatures, keys, payload form, the late flag and the domain rules
of each cited stream. It then proves, against
the latest signed checkpoint (its signature checked with the log key, when the log has one):

* each cited event's inclusion in the checkpoint's Merkle tree, and
* where the checkpoint carries the stream-head map (docs/SPEC.md §12), the head of each
  replayed stream, so a cited or trust stream cut short, or an event deleted from its middle,
  is caught (:func:`cdlog.verify.bundleheads.check_held`, what a per-case bundle checks).

What it does not cover, and only ``cdlog verify`` does: every other stream's events, the Merkle
tree as a whole (every leaf, every node), events of other cases whose rules refer to these
(nothing in this log's rules refers from another case to a cited one except the disclosure
authorisations above), SQLite's own file check, and the restricted-value vault.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification

from cdlog.errors import CdlogError, Failure, NotFoundError, ProofError, VerificationError
from cdlog.keys.registry import trust_stream
from cdlog.log.checkpoint_format import open_checkpoint
from cdlog.log.checkpoint_signing import StoredCheckpoint, log_verifier, stored_checkpoint
from cdlog.log.context import TRUST_TYPES
from cdlog.log.headproofs import head_proof
from cdlog.log.heads import heads_of, verify_head_doc
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.ledger_rows import EventRow
from cdlog.log.proofs import inclusion_doc, verify_inclusion_doc
from cdlog.log.sealing import leaf_hash, parse, stream_id
from cdlog.verify.bundle import DEPENDENCY_TYPES, BundleVerifier
from cdlog.verify.bundleheads import check_held
from cdlog.verify.replay import Report

ALL_LEAVES = 2**62
SCOPE = "<report>"


@dataclass
class StreamCheck:
    """One replayed stream: its role, its versions, and up to which version it is proven
    complete by a signed checkpoint's stream-head map."""

    stream: str
    role: str
    """``cited`` (the report rests on it), ``trust`` (keys) or ``dependency``."""
    versions: int = 0
    proven_head: int | None = None


@dataclass
class ScopedReport:
    """The outcome of :func:`verify_streams`."""

    report: Report
    streams: list[StreamCheck] = field(default_factory=list)
    checkpoint_size: int | None = None
    checkpoint_signed: bool = False
    """The checkpoint's signature was checked with the log key."""
    heads_map: bool = False
    """The checkpoint carries the stream-head map (so completeness was proven)."""
    included: set[tuple[str, int]] = field(default_factory=set)
    """Cited events proven included in the checkpoint."""
    after_checkpoint: set[tuple[str, int]] = field(default_factory=set)
    """Cited events recorded after the latest checkpoint (so not yet proven in one)."""
    dependencies: int = 0

    @property
    def events(self) -> int:
        """How many events were replayed."""
        return self.report.events


def _agencies(rows: Iterable[EventRow]) -> set[str]:
    """The agencies of every actor and cosigner of stored events (undecodable ones skipped:
    the replay reports them)."""
    out: set[str] = set()
    for row in rows:
        try:
            env = parse(row.state).envelope
        except (VerificationError, ValueError, TypeError):
            continue
        for party in [env.get("actor"), *env.get("cosigners", [])]:
            if isinstance(party, dict) and isinstance(party.get("agency"), str):
                out.add(party["agency"])
    return out


def _case_nos(rows: Iterable[EventRow]) -> set[str]:
    """The OI case numbers the accepting events among ``rows`` give their cases."""
    out: set[str] = set()
    for row in rows:
        if row.topic != "cdlog:CaseAccepted":
            continue
        try:
            out.add(str(parse(row.state).payload.get("case_no")))
        except (VerificationError, ValueError, TypeError):
            continue
    return out


def _rows_of(led: LedgerCursor, stream: str, fail: Any) -> list[tuple[int, EventRow]]:
    """Every stored event of a stream with its leaf index, by its Merkle leaves (written in
    the same transaction as the event); a leaf whose event row is gone is a failure."""
    out: list[tuple[int, EventRow]] = []
    for leaf in led.leaves_of_case(stream_id(stream), ALL_LEAVES):
        row = led.event(leaf.notification_id)
        if row is None:
            fail(str(stream_id(stream)), leaf.originator_version, "merkle",
                 f"{stream} v{leaf.originator_version}: leaf {leaf.leaf_index} has no stored "
                 "event (deleted)")
            continue
        out.append((leaf.leaf_index, row))
    return out


def _dependency_rows(led: LedgerCursor, case_nos: set[str], held: set[int]
                     ) -> list[tuple[int, EventRow]]:
    """Third-party disclosure authorisations naming one of ``case_nos`` (read by topic)."""
    out: list[tuple[int, EventRow]] = []
    for type_ in sorted(DEPENDENCY_TYPES):
        for nid in led.notifications_of_topic("cdlog:" + type_):
            if nid in held:
                continue
            row = led.event(nid)
            leaf = led.leaf_of_notification(nid)
            if row is None or leaf is None:
                continue
            try:
                if str(parse(row.state).payload.get("case_no")) in case_nos:
                    out.append((leaf.leaf_index, row))
            except (VerificationError, ValueError, TypeError):
                continue
    return out


def _trust_rows(led: LedgerCursor, held: set[str]) -> dict[str, list[tuple[int, EventRow]]]:
    """Every trust stream of the log, found by its events' topics (the slow way: a scan)."""
    out: dict[str, list[tuple[int, EventRow]]] = {}
    for type_ in sorted(TRUST_TYPES):
        for nid in led.notifications_of_topic("cdlog:" + type_):
            row = led.event(nid)
            if row is None:
                continue
            try:
                stream = parse(row.state).stream
            except (VerificationError, ValueError, TypeError):
                continue
            if stream not in held and stream not in out:
                out[stream] = []
    return out


def verify_streams(log: Any, streams: Sequence[str], cited: Container[tuple[str, int]]
                   ) -> ScopedReport:
    """Verify ``streams`` and what they depend on (see the module docstring); prove the
    inclusion of the events in ``cited``."""
    out = ScopedReport(Report())
    failures = out.report.failures

    def fail(case: str, version: int | None, check: str, detail: str) -> None:
        failures.append(Failure(case, version, check, detail))

    with read_ledger(log) as led:
        held: dict[str, list[tuple[int, EventRow]]] = {s: _rows_of(led, s, fail)
                                                         for s in streams}
        agencies = _agencies(r for rows in held.values() for _, r in rows)
        agencies |= {str(r.agency) for r in (log._trusted or [])}
        trust = {trust_stream(a) for a in agencies} - set(held)
        trust_rows = {s: _rows_of(led, s, fail) for s in sorted(trust)}
        trust_rows = {s: rows for s, rows in trust_rows.items() if rows}
        seen = {s for s, rows in trust_rows.items() if rows}
        # agencies named by the trust streams' own events (roots certifying across agencies)
        more = {trust_stream(a) for a in _agencies(r for rows in trust_rows.values()
                                                     for _, r in rows)} - set(held) - seen
        for s in sorted(more):
            rows = _rows_of(led, s, fail)
            if rows:
                trust_rows[s] = rows
        deps: list[tuple[int, EventRow]] = []
        checker = _replay(log, held, trust_rows, deps)
        # The slow look-ups (a scan of the events by topic) only when the replay needs them:
        if any(f.check == "key" and "not known to this log" in f.detail
               for f in checker.report.failures):
            # a key certified in a trust stream no signer's agency names: take every one
            for s, _ in _trust_rows(led, set(held) | set(trust_rows)).items():
                trust_rows[s] = _rows_of(led, s, fail)
            checker = _replay(log, held, trust_rows, deps)
        if any(f.check == "rule" and "[R8]" in f.detail for f in checker.report.failures):
            # R8 found no authorisation among the streams held: look for the case's elsewhere
            deps = _dependency_rows(led, _case_nos(r for rows in held.values() for _, r in rows),
                                    {r.notification_id for rows in held.values()
                                     for _, r in rows})
            if deps:
                checker = _replay(log, held, trust_rows, deps)
        result = checker.finish()
        out.report.events = result.events
        out.report.cases = result.cases
        out.report.heads = result.heads
        out.report.case_nos = result.case_nos
        failures.extend(result.failures)
        out.dependencies = len(deps)
        out.streams = [StreamCheck(s, "cited", len(held[s])) for s in streams]
        out.streams += [StreamCheck(s, "trust", len(rows)) for s, rows in
                        sorted(trust_rows.items())]
        _prove(log, led, out, {**held, **trust_rows}, cited, fail)
    return out


def _replay(log: Any, held: dict[str, list[tuple[int, EventRow]]],
            trust_rows: dict[str, list[tuple[int, EventRow]]],
            deps: list[tuple[int, EventRow]]) -> BundleVerifier:
    """Feed every gathered event, in log order, to a fresh verifier."""
    checker = BundleVerifier(log.config, log._trusted, log_id=log.log_id)
    dep_ids = {r.notification_id for _, r in deps}
    rows = {r.notification_id: r for group in (*held.values(), *trust_rows.values(), deps)
            for _, r in group}
    for nid in sorted(rows):
        row = rows[nid]
        if nid in dep_ids:
            checker.feed_dependency(nid, row.state)
            continue
        note = Notification(id=nid, originator_id=row.case,
                            originator_version=row.originator_version, topic=row.topic,
                            state=row.state)
        checker.feed(nid, row.state, note)
    return checker


def _latest(log: Any, led: LedgerCursor, out: ScopedReport, fail: Any
            ) -> StoredCheckpoint | None:
    row = led.latest_checkpoint()
    if row is None:
        return None
    cp = stored_checkpoint(led, row)
    out.checkpoint_size = cp.size
    try:
        verifier = log_verifier(log)
    except NotFoundError:
        return cp  # no log key here: the checkpoint's signature cannot be checked
    try:
        open_checkpoint(cp.note, verifier, verifier.name)
    except (VerificationError, CdlogError) as exc:
        fail(SCOPE, None, "checkpoint", f"the latest checkpoint (size {cp.size}) does not "
             f"verify with the log key: {exc}")
        return None
    out.checkpoint_signed = True
    return cp


def _prove(log: Any, led: LedgerCursor, out: ScopedReport,
           rows: dict[str, list[tuple[int, EventRow]]], cited: Container[tuple[str, int]],
           fail: Any) -> None:
    """Inclusion of every cited event and the head of every replayed stream."""
    cp = _latest(log, led, out, fail)
    if cp is None:
        return
    for stream, group in rows.items():
        case = str(stream_id(stream))
        for index, row in group:
            key = (stream, row.originator_version)
            if key not in cited:
                continue
            if index >= cp.size:
                out.after_checkpoint.add(key)
                continue
            try:
                verify_inclusion_doc(inclusion_doc(led, index, cp), leaf_hash(row.state),
                                     checkpoint=cp.checkpoint)
            except (ProofError, VerificationError) as exc:
                fail(case, row.originator_version, "merkle", f"{stream} v"
                     f"{row.originator_version} (leaf {index}) is not included in the "
                     f"checkpoint of size {cp.size}: {exc.failures[0].detail}")
                continue
            out.included.add(key)
    try:
        line = heads_of(cp.checkpoint)
    except CdlogError:
        line = None
    if line is None:
        return
    out.heads_map = True
    checks = {c.stream: c for c in out.streams}
    for stream, group in rows.items():
        case = str(stream_id(stream))
        try:
            proven = verify_head_doc(head_proof(led, stream, cp), stream,
                                     checkpoint=cp.checkpoint)
        except (ProofError, VerificationError, NotFoundError) as exc:
            fail(case, None, "heads", f"{stream}: no valid head proof at checkpoint "
                 f"{cp.size}: {exc.failures[0].detail if hasattr(exc, 'failures') else exc}")
            continue
        entries = {row.originator_version: {"leaf_index": index,
                                            "leaf_hash": _b64(leaf_hash(row.state))}
                   for index, row in group if index < cp.size}
        before = len(out.report.failures)
        check_held(stream, proven, entries, False,  # a stream begun after it is no failure
                   f"the head proof of {stream}", fail, where="the store")
        if len(out.report.failures) == before and proven.head is not None:
            checks[stream].proven_head = proven.head.version


def _b64(data: bytes) -> str:
    from cdlog.log.merkle import b64  # noqa: PLC0415

    return b64(data)
