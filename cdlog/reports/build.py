"""Reports: the query answers a reader needs, the events they rest on, and whether those events
verified.

Every report is a pydantic model (its ``--format json`` form) built from
:class:`~cdlog.projections.queries.Queries` answers. :func:`check_citations` verifies what the
report rests on and checks every citation against the store: the cited hash must be the stored
event's hash, and the event must have passed verification. By default (``verify="cases"``) it
verifies the cited streams in full, with the key events that judge them, against the latest
signed checkpoint (:mod:`cdlog.reports.scope`); ``verify="store"`` runs
:func:`cdlog.verify.runner.verify_store` over the whole store. The report states in words what was
checked, and what was not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from cdlog.application import CaseLog
from cdlog.domain.config import provenance
from cdlog.domain.values import Time
from cdlog.errors import Failure, VerificationError
from cdlog.log.facts import fact_of
from cdlog.log.sealing import SealedEvent, parse, stream_id
from cdlog.projections import models as m
from cdlog.projections.queries import Queries
from cdlog.projections.timefmt import when_text
from cdlog.reports.scope import ScopedReport, verify_streams
from cdlog.verify.runner import verify_store


class EventRow(m.Model):
    """One event a report cites, with its verification outcome."""

    case: str
    version: int
    type: str
    occurred: str
    recorded: str
    late: bool
    actor: str
    hash: str
    verified: bool


class VerifiedStream(m.Model):
    """A stream a scoped verification replayed in full."""

    stream: str
    role: str
    """``cited`` (the report rests on it) or ``trust`` (the keys that judge it)."""
    versions: int
    proven_complete_at: int | None = None
    """The checkpoint size whose stream-head map proves these are all its events."""


class Verification(m.Model):
    """Did the events this report rests on verify?"""

    scope: str = "store"
    """``cases``: the cited streams and what they depend on; ``store``: the whole store."""
    store_ok: bool | None
    """None when the store as a whole was not checked (``scope`` ``cases``)."""
    events_checked: int
    cited: int
    cited_verified: int
    all_cited_verified: bool
    statement: str
    failures: list[str] = Field(default_factory=list)
    streams: list[VerifiedStream] = Field(default_factory=list)
    checkpoint: int | None = None
    """The size of the latest signed checkpoint the cited events were proven against."""
    cited_in_checkpoint: int | None = None


class SectionFinding(m.Model):
    """A finding, and the report section it comes from."""

    section: str
    rule: str
    text: str
    cites: list[m.Citation]
    source: str | None = None


class ReportBase(m.Model):
    """What every report carries."""

    title: str
    generated_at: Time
    store: str
    log_id: str
    verification: Verification
    findings: list[SectionFinding] = Field(default_factory=list)
    events: list[EventRow] = Field(default_factory=list)


class CaseReport(ReportBase):
    """Everything oversight asks about one case."""

    kind: Literal["case"] = "case"
    case: m.CaseRef
    responsibility: m.Responsibility
    approvals: m.ApprovalMatrix
    items: m.ItemLedger
    surveillance: m.SurveillanceCoverage
    knowledge: m.KnowledgeTimeline
    timeliness: m.Timeliness
    incidents: list[m.Incident]
    pnr: m.PnrStates
    disclosures: m.DisclosureCheck


class IncidentReport(ReportBase):
    """One incident: who was responsible, who held what, who was told, and the case around it."""

    kind: Literal["incident"] = "incident"
    incident: m.Incident
    responsibility: m.Responsibility
    custody: list[m.CustodianAt]
    items: m.ItemLedger
    surveillance: m.SurveillanceCoverage
    knowledge: m.KnowledgeTimeline


class OverdueReport(ReportBase):
    """Every duty past due at a time, across cases."""

    kind: Literal["overdue"] = "overdue"
    overdue: m.OverdueList


class PilotReportDoc(ReportBase):
    """R5 across cases."""

    kind: Literal["pilot"] = "pilot"
    pilot: m.PilotReport


AnyReport = CaseReport | IncidentReport | OverdueReport | PilotReportDoc


# ---------------------------------------------------------------- citations
def iter_citations(value: Any) -> Iterator[m.Citation]:
    """Every :class:`Citation` inside a model (depth first)."""
    if isinstance(value, m.Citation):
        yield value
    elif isinstance(value, m.Model):
        for name in type(value).model_fields:
            yield from iter_citations(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_citations(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_citations(item)


def _occurred_text(env: Any) -> str:
    occ = env["occurred"]
    return str(occ["at"]) if "at" in occ else f"{occ['from']} .. {occ['to']}"


VerifyScope = Literal["cases", "store"]
VERIFY_SCOPES: tuple[VerifyScope, ...] = ("cases", "store")


def check_citations(log: CaseLog, parts: Iterable[Any], *, all_of: Iterable[str] = (),
                    verify: VerifyScope = "cases") -> tuple[Verification, list[EventRow]]:
    """Verify what ``parts`` cite and check every citation against the store; list the cited
    events (and every event of the streams in ``all_of``).

    ``verify="cases"`` checks the cited streams in full with the trust streams and
    authorisations they depend on, and proves them against the latest signed checkpoint
    (:func:`cdlog.reports.scope.verify_streams`); ``"store"`` runs
    :func:`cdlog.verify.runner.verify_store` over the whole store.
    """
    cited = {(c.case, c.version): c for part in parts for c in iter_citations(part)}
    streams = list(dict.fromkeys([*(c for c, _ in cited), *all_of]))
    ids = {str(stream_id(s)): s for s in streams}
    scoped: ScopedReport | None = None
    included = late = 0
    if verify == "store":
        report = verify_store(log)
    else:
        scoped = verify_streams(log, streams, _Cited(cited, set(all_of)))
        report = scoped.report
    bad_events: set[tuple[str, int]] = set()
    bad_cases: set[str] = set()
    log_level: list[Failure] = []
    for f in report.failures:
        if f.case in ids:
            if f.version is None or f.check == "heads":  # a stream not whole: all in doubt
                bad_cases.add(ids[f.case])
            else:
                bad_events.add((ids[f.case], f.version))
        elif scoped is not None or not _is_uuid(f.case):
            log_level.append(f)  # scoped: a failure in a trust stream puts every key in doubt
    rows: list[EventRow] = []
    stored: dict[tuple[str, int], str] = {}
    wanted = set(all_of)
    for stream in streams:
        for sealed in _stored_events(log, stream, rows):
            stored[(stream, sealed.version)] = sealed.hash_hex
            if stream not in wanted and (stream, sealed.version) not in cited:
                continue
            env = sealed.envelope
            ok = (not log_level and stream not in bad_cases
                  and (stream, sealed.version) not in bad_events)
            cite = cited.get((stream, sealed.version))
            if cite is not None and cite.hash != sealed.hash_hex:
                ok = False
            try:
                actor = fact_of(sealed).actor.label
            except Exception:
                actor, ok = str(env.get("actor", {}).get("id", "?")), False
            rows.append(EventRow(case=stream, version=sealed.version, type=sealed.type,
                                 occurred=_occurred_text(env), recorded=str(env["recorded"]),
                                 late=bool(env["late"]), actor=actor, hash=sealed.hash_hex,
                                 verified=ok))
    verified_rows = {(r.case, r.version) for r in rows if r.verified}
    missing = [k for k in cited if k not in stored]
    good = sum(1 for k in cited if k in verified_rows)
    failures = [str(f) for f in report.failures]
    failures += [f"{s} v{v}: cited, but no such event in the store" for s, v in missing]
    total = len(cited)
    if scoped is not None:
        included = sum(1 for k in cited if k in scoped.included)
        late = sum(1 for k in cited if k in scoped.after_checkpoint)
        statement = _scoped_statement(scoped, total, good, len(report.failures),
                                      included, late)
    elif good == total and report.ok:
        statement = (f"Verified: all {total} events this report cites, and all "
                     f"{report.events} events in the store, passed verification (signatures, "
                     "hash chains, versions, keys and the domain rules).")
    elif good == total:
        statement = (f"The {total} events this report cites verified, but the store has "
                     f"{len(report.failures)} verification failure(s) elsewhere (listed below).")
    else:
        statement = _not_verified(total, good)
    verification = Verification(
        scope=verify, store_ok=report.ok if scoped is None else None,
        events_checked=report.events, cited=total, cited_verified=good,
        all_cited_verified=good == total, statement=statement, failures=failures,
        streams=[] if scoped is None else [
            VerifiedStream(stream=c.stream, role=c.role, versions=c.versions,
                           proven_complete_at=scoped.checkpoint_size
                           if c.proven_head is not None else None)
            for c in scoped.streams],
        checkpoint=None if scoped is None else scoped.checkpoint_size,
        cited_in_checkpoint=None if scoped is None else included)
    rows.sort(key=lambda r: (streams.index(r.case), r.version))
    return verification, rows


class _Cited:
    """The events whose inclusion a scoped check proves: every cited one and every event of
    the ``all_of`` streams."""

    def __init__(self, cited: Mapping[tuple[str, int], Any], whole: set[str]) -> None:
        self._cited, self._whole = cited, whole

    def __contains__(self, key: object) -> bool:
        return key in self._cited or (isinstance(key, tuple) and key[0] in self._whole)


def _stored_events(log: CaseLog, stream: str, rows: list[EventRow]) -> Iterator[SealedEvent]:
    """The stored events of a stream; one that cannot be decoded becomes an unverified row of
    ``rows`` (its failure is in the verification's list)."""
    for stored in log.app.recorder.select_events(stream_id(stream)):
        try:
            yield parse(stored.state, str(stored.originator_id), stored.originator_version)
        except VerificationError:
            rows.append(EventRow(case=stream, version=stored.originator_version, type="?",
                                 occurred="?", recorded="?", late=False, actor="?",
                                 hash=hashlib.sha256(stored.state).hexdigest(),
                                 verified=False))


def _not_verified(total: int, good: int) -> str:
    return (f"NOT VERIFIED: {total - good} of the {total} events this report cites "
            "failed verification or differ from the store; treat the facts that "
            "cite them as unproven (failures listed below).")


def _scoped_statement(scoped: ScopedReport, total: int, good: int, failed: int,
                      included: int, late: int) -> str:
    """What a scoped check did, in words."""
    if good != total:
        return _not_verified(total, good)
    if failed:
        return (f"The {total} events this report cites verified, but the streams checked "
                f"with them have {failed} verification failure(s) (listed below).")
    cp = scoped.checkpoint_size
    cases = []
    for c in (c for c in scoped.streams if c.role == "cited"):
        text = (f"the 1 event of {c.stream} (version 1" if c.versions == 1 else
                f"all {c.versions} events of {c.stream} (every version 1..{c.versions}")
        if c.proven_head is not None:
            text += (f", proven complete at checkpoint {cp}" if c.proven_head == c.versions
                     else f", 1..{c.proven_head} proven complete at checkpoint {cp}")
        cases.append(text + ")")
    trust = [c for c in scoped.streams if c.role == "trust"]
    keys = sum(c.versions for c in trust)
    complete = all(c.proven_head is not None for c in trust)
    parts = [f"Verified: all {total} events this report cites. Checked in full: "
             + "; ".join(cases)]
    if trust:
        parts.append(f"and the {keys} key events of {', '.join(c.stream for c in trust)} "
                     "they depend on" + (" (each stream proven complete)"
                                         if complete and scoped.heads_map else ""))
    if scoped.dependencies:
        parts.append(f"and {scoped.dependencies} third-party disclosure authorisation(s) "
                     "their rules consult")
    text = ", ".join(parts) + (" passed verification (signatures, hash chains, versions, keys, "
                               "payloads and the domain rules of these streams).")
    if cp is None:
        text += (" The log has no signed checkpoint yet, so inclusion in the Merkle log and "
                 "completeness were not proven.")
    else:
        signed = "signed" if scoped.checkpoint_signed else "stored (its signature not checked: "
        signed += "" if scoped.checkpoint_signed else "no log key here)"
        text += (" Each cited event is" if included == total else
                 f" {included} of the {total} cited events are")
        text += f" proven included in the {signed} checkpoint of size {cp}"
        text += (f"; {late} were recorded after it and are not yet in a checkpoint."
                 if late else ".")
        if not scoped.heads_map:
            text += (" That checkpoint carries no stream-head map, so the cases are not "
                     "proven complete.")
    return text + (" The rest of the store was not checked: run cdlog verify (or report with "
                   "--verify store).")


def _is_uuid(text: str) -> bool:
    try:
        import uuid  # noqa: PLC0415

        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _findings(sections: dict[str, Iterable[m.Finding]]) -> list[SectionFinding]:
    return [SectionFinding(section=name, rule=f.rule, text=f.text, cites=f.cites,
                           source=f.source)
            for name, found in sections.items() for f in found]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# ---------------------------------------------------------------- builders
def case_report(q: Queries, case: str, *, as_of: datetime | None = None,
                recorded_by: datetime | None = None,
                verify: VerifyScope = "cases") -> CaseReport:
    """Build the report of one case."""
    ref = q.case(case, recorded_by=recorded_by)
    now = _now()
    timeliness = q.timeliness(ref.stream, as_of=as_of, recorded_by=recorded_by)
    parts: dict[str, Any] = {
        "responsibility": q.responsibility(ref.stream, recorded_by=recorded_by),
        "approvals": q.approvals(ref.stream, recorded_by=recorded_by),
        "items": q.items(ref.stream, recorded_by=recorded_by),
        "surveillance": q.surveillance(ref.stream, recorded_by=recorded_by),
        "knowledge": q.notifications(ref.stream, recorded_by=recorded_by),
        "timeliness": timeliness,
        "incidents": q.incidents(ref.stream, recorded_by=recorded_by).incidents,
        "pnr": q.pnr_state_on(ref.stream, (as_of or now).date(), recorded_by=recorded_by),
        "disclosures": q.disclosures(ref.stream, recorded_by=recorded_by),
    }
    findings = _findings({
        "responsibility": parts["responsibility"].findings,
        "approvals": parts["approvals"].findings,
        "items": parts["items"].findings,
        "surveillance": parts["surveillance"].findings,
        "duties": [m.Finding(rule={"action_item": "R9", "feedback": "R7",
                                   "briefing": "R6"}.get(d.kind, d.kind),
                             text=f"{d.kind} {d.key} owed by {d.owner}: due "
                             f"{d.due_day or when_text(d.due)}, "
                             + (f"done {when_text(d.done_at)} ({d.late_by} late)"
                                if d.done_at else f"still open ({d.late_by} late)"),
                             cites=d.cites, source=d.due_source)
                   for d in timeliness.overdue],
        "late entries": [m.Finding(rule="late", text=f"{x.event} recorded {x.lag} after it "
                                   "happened" + (f": {x.reason}" if x.reason else ""),
                                   cites=x.cites,
                                   source=provenance("deadlines.late_entry_after"))
                         for x in timeliness.late_entries],
        "pilot": [m.Finding(rule="R5", text=timeliness.pilot.finding,
                            cites=timeliness.pilot.cites, source=timeliness.pilot.source)]
        if timeliness.pilot and timeliness.pilot.finding else [],
        "incidents": [f for i in parts["incidents"] for f in i.findings],
        "disclosures": parts["disclosures"].findings,
        "pnr": parts["pnr"].findings,
    })
    verification, events = check_citations(q.log, [ref, *parts.values(), findings],
                                           all_of=[ref.stream], verify=verify)
    return CaseReport(title=f"Case report: {ref.reference}", generated_at=now,
                      store=q.log.store.redacted, log_id=q.log.log_id, verification=verification,
                      findings=findings, events=events, case=ref, **parts)


def incident_report(q: Queries, incident_id: str, *, case: str | None = None,
                    recorded_by: datetime | None = None,
                verify: VerifyScope = "cases") -> IncidentReport:
    """Build the report of one incident."""
    inc = q.incident(incident_id, case=case, recorded_by=recorded_by)
    stream = inc.case.stream
    custody = []
    items = q.items(stream, recorded_by=recorded_by)
    for record in items.items:
        try:
            custody.append(q.custodian_at(record.item, inc.occurred_from, case=stream,
                                          recorded_by=recorded_by))
        except LookupError:
            continue
    parts: dict[str, Any] = {
        "incident": inc,
        "responsibility": q.responsibility(stream, recorded_by=recorded_by),
        "custody": [c for c in custody if c.holders],
        "items": items,
        "surveillance": q.surveillance(stream, recorded_by=recorded_by),
        "knowledge": q.notifications(stream, recorded_by=recorded_by),
    }
    findings = _findings({"incident": inc.findings,
                          "surveillance": parts["surveillance"].findings})
    verification, events = check_citations(q.log, [*parts.values(), findings],
                                           all_of=[stream], verify=verify)
    return IncidentReport(title=f"Incident report: {inc.incident_id} ({inc.case.reference})",
                          generated_at=_now(), store=q.log.store.redacted, log_id=q.log.log_id,
                          verification=verification, findings=findings, events=events,
                          **parts)


def overdue_report(q: Queries, *, as_of: datetime | None = None,
                   recorded_by: datetime | None = None,
                verify: VerifyScope = "cases") -> OverdueReport:
    """Build the report of every duty past due at ``as_of`` (default: now)."""
    now = _now()
    listing = q.overdue(as_of or now, recorded_by=recorded_by)
    findings = [SectionFinding(section="duties", rule={"action_item": "R9", "feedback": "R7",
                                                       "briefing": "R6"}.get(d.kind, d.kind),
                               text=f"{d.case}: {d.kind} {d.key} owed by {d.owner} "
                               f"({d.late_by} late, {d.status})", cites=d.cites,
                               source=d.due_source)
                for d in listing.items]
    verification, events = check_citations(q.log, [listing], verify=verify)
    return OverdueReport(title=f"Overdue duties as of {when_text(listing.as_of)}",
                         generated_at=now, store=q.log.store.redacted, log_id=q.log.log_id,
                         verification=verification, findings=findings, events=events,
                         overdue=listing)


def pilot_report(q: Queries, *, recorded_by: datetime | None = None,
                verify: VerifyScope = "cases") -> PilotReportDoc:
    """Build the R5 pilot report."""
    pilot = q.pilot(recorded_by=recorded_by)
    findings = [SectionFinding(section="pilot", rule="R5", text=f"{p.case.reference}: "
                               f"{p.finding}", cites=p.cites, source=p.source)
                for p in pilot.cases if p.finding]
    verification, events = check_citations(q.log, [pilot], verify=verify)
    return PilotReportDoc(title="Title 21 shadow pilot (R5)", generated_at=_now(),
                          store=q.log.store.redacted, log_id=q.log.log_id,
                          verification=verification, findings=findings, events=events,
                          pilot=pilot)
