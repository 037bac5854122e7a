"""A report laid out as sections of paragraphs and tables whose cells carry citations.

Markdown and HTML render the same :class:`Document`, so both say the same things and both
cite, next to every fact, the events it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cdlog.projections import models as m
from cdlog.reports.build import (
    AnyReport,
    CaseReport,
    EventRow,
    IncidentReport,
    OverdueReport,
    PilotReportDoc,
)


@dataclass
class Cell:
    """A table cell: text, the events it rests on, and a style hint (``ok``, ``bad``)."""

    text: str
    cites: list[m.Citation] = field(default_factory=list)
    style: str = ""


@dataclass
class Table:
    """A table with a header row."""

    headers: list[str]
    rows: list[list[Cell]]


@dataclass
class Para:
    """A paragraph, with citations."""

    text: str
    cites: list[m.Citation] = field(default_factory=list)
    style: str = ""


Block = Table | Para


@dataclass
class Section:
    """A titled part of a report."""

    anchor: str
    title: str
    blocks: list[Block]


@dataclass
class Document:
    """A report ready to render."""

    title: str
    meta: list[tuple[str, str]]
    verification: m.Model
    verified_ok: bool
    statement: str
    sections: list[Section]
    events: list[EventRow]
    report: AnyReport

    def verified(self, c: m.Citation) -> bool:
        """Did the cited event verify?"""
        return any(e.case == c.case and e.version == c.version and e.verified and
                   e.hash == c.hash for e in self.events)


def t(value: datetime | None) -> str:
    """A time as a person reads it: ``2006-03-14 09:31 -05:00``."""
    if value is None:
        return "—"
    off = value.strftime("%z")
    off = f"{off[:3]}:{off[3:]}" if off else ""
    fmt = "%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M"
    return f"{value.strftime(fmt)} {off}".strip()


def yes(value: bool | None, good: bool = True) -> Cell:
    """A yes/no cell styled by whether yes is good."""
    if value is None:
        return Cell("—")
    return Cell("yes" if value else "no", style="ok" if value == good else "bad")


def c(text: object, cites: Sequence[m.Citation] = (), style: str = "") -> Cell:
    """A cell."""
    return Cell("—" if text is None or text == "" else str(text), list(cites), style)


def _findings_section(findings: Sequence[m.Model]) -> Section:
    rows = []
    for f in findings:
        rows.append([c(getattr(f, "section", "")), c(getattr(f, "rule", "")),
                     c(getattr(f, "text", ""), getattr(f, "cites", []), "bad"),
                     c(getattr(f, "source", None))])
    blocks: list[Block] = [Table(["section", "rule", "finding", "setting applied"], rows)] \
        if rows else [Para("No findings: every check these sections make passed.",
                           style="ok")]
    return Section("findings", "Findings", blocks)


def settings_para(settings: Sequence[str]) -> list[Block]:
    """Where the settings a section applies come from (the memo, or configuration)."""
    named = [x for x in settings if x]
    if not named:
        return []
    return [Para("Settings applied (from configuration unless the memo gives them): "
                 + "; ".join(named) + ".")]


def _origin_text(ref: m.CaseRef) -> str:
    text = ref.origin.replace("_", " ")
    return text if ref.origin == "ofo_interdiction" else f"{text} ({ref.origin_agency})"


def _case_section(ref: m.CaseRef) -> Section:
    rows = [[c("stream"), c(ref.stream, ref.cites)], [c("reference"), c(ref.reference)],
            [c("operation id"), c(ref.operation_id)], [c("OI case number"), c(ref.case_no)],
            [c("internal id"), c(ref.case_id)],
            [c("port"), c(f"{ref.port} ({ref.port_name})" if ref.port_name else ref.port)],
            [c("ports"), c(", ".join(ref.ports))], [c("origin"), c(_origin_text(ref))],
            [c("OI leads"), c("yes" if ref.oi_leads else "no")],
            [c("office"), c(ref.office)], [c("decision"), c(ref.decision)],
            [c("opened"), c(t(ref.opened_at))]]
    return Section("case", "The case", [Table(["name", "value"], rows)])


def responsibility_section(r: m.Responsibility) -> Section:
    """R2 intervals."""
    flagged = [f.cites for f in r.findings]  # a holder-less interval is a gap when flagged

    def gap(iv: m.ResponsibilityInterval) -> bool:
        return iv.holder is None and iv.cites in flagged

    rows = [[c(iv.holder or ("NOBODY (gap)" if gap(iv) else "nobody named (operation ended)"),
               style="bad" if gap(iv) else ""), c(t(iv.start)),
             c(t(iv.end) if iv.end else "open"), c(iv.started_by), c(iv.note, iv.cites)]
            for iv in r.intervals]
    return Section("responsibility", "Responsibility (R2)", [
        Para(f"Summary: {r.summary}."),
        Table(["responsible", "from", "until", "recorded by", "basis"], rows)])


def approvals_section(a: m.ApprovalMatrix) -> Section:
    """Approval matrix."""
    if a.operation_type is None:
        return Section("approvals", "Approvals", [Para("No operation was proposed, so no "
                                                       "approvals were required.")])
    mode = ", ".join(f"{k} {v}" for k, v in (a.mode or {}).items())
    rows = [[c(r.kind), yes(r.required), c(r.status, style="ok" if r.status == "granted"
                                            else "bad" if r.required else ""),
             c(f"{r.role} {r.by}" if r.by else None), c(t(r.at) if r.at else None),
             c(r.relative_to_release, style="bad" if r.before_release is False else ""),
             c("", r.cites)] for r in a.rows]
    return Section("approvals", "Approvals before release", [
        Para(f"Operation: {a.operation_type} ({mode}). Released: "
             f"{t(a.release_at) if a.release_at else 'not released'}"
             + (f" by {a.release_how}" if a.release_how else "") + ".", a.release_cites),
        Table(["approval", "required", "status", "by", "at", "relative to release",
               "events"], rows), *settings_para(a.settings)])


def items_section(led: m.ItemLedger) -> Section:
    """Item ledger."""
    blocks: list[Block] = []
    for item in led.items:
        held = ", ".join(f"{h} ×{n}" for h, n in item.holders.items()) or "nobody"
        first = (f"{item.initial_count} unit(s)" if item.initial_count is not None else
                 "first seen at a hand-off")
        if item.initial_weight_kg:
            first += f", {item.initial_weight_kg} kg gross"
        blocks.append(Para(
            f"{item.item} — {item.description or 'no description'} ({item.category or '?'}): "
            f"{first}. Held now by {held}. Left control: {item.left_control}, recovered: "
            f"{item.recovered}, outstanding: {item.outstanding}.",
            style="bad" if item.outstanding else ""))
        blocks.append(Table(
            ["at", "what", "from", "to", "count", "kg", "receipt", "signed by", "detail"],
            [[c(t(e.at)), c(e.kind), c(e.from_), c(e.to), c(e.count), c(e.gross_weight_kg),
              c(e.receipt), c(", ".join(e.signed_by)), c(e.detail, e.cites)]
             for e in item.entries]))
    if led.reconciliations:
        blocks.append(Table(
            ["reconciled at", "expected", "found", "discrepancy", "explained by"],
            [[c(t(r.at)), c(_counts(r.expected)), c(_counts(r.found)),
              c(r.discrepancy, style="bad" if r.discrepancy else "ok"),
              c(r.explained_by, r.cites)] for r in led.reconciliations]))
    if not blocks:
        blocks.append(Para("No items were recorded."))
    return Section("items", "Items and custody", blocks)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in counts.items())


def surveillance_section(s: m.SurveillanceCoverage) -> Section:
    """Eyes-on and gaps."""
    if s.window_start is None and not s.eyes_on:
        return Section("surveillance", "Surveillance", [Para(
            "No load was released and no surveillance was recorded.")])
    blocks: list[Block] = [Para(f"Window: {t(s.window_start)} to {t(s.window_end)}; "
                                f"{len(s.eyes_on)} eyes-on interval(s), {len(s.gaps)} gap(s).",
                                style="bad" if s.gaps else "ok")]
    blocks.append(Table(["eyes on from", "until", "duration", "team lead", "events"],
                        [[c(t(e.start)), c(t(e.end) if e.end else "open"), c(e.duration),
                          c(e.team_lead), c("", e.cites)] for e in s.eyes_on]))
    if s.gaps:
        blocks.append(Table(
            ["gap", "from", "until", "duration", "last confirmed", "events"],
            [[c(g.kind, style="bad"), c(t(g.start)), c(t(g.end) if g.end else "not reacquired"),
              c(g.duration), c(f"{g.last_position} by {g.last_by}" if g.last_position else None),
              c("", g.cites)] for g in s.gaps]))
    return Section("surveillance", "Surveillance coverage", blocks)


def knowledge_table(entries: Iterable[m.KnowledgeEntry]) -> Table:
    """Who was told what, when."""
    return Table(["at", "what", "from", "to", "subject", "reports", "lag", "entered"],
                 [[c(t(e.at)), c(e.kind), c(e.from_), c(e.to), c(e.subject),
                   c(f"{e.reports.type} at {t(e.reports.at)}" if e.reports else None,
                     e.reports.cites if e.reports else []), c(e.lag),
                   c(f"late, {e.record_lag} after" if e.late_entry else "on time", e.cites,
                     "bad" if e.late_entry else "")] for e in entries])


def knowledge_section(k: m.KnowledgeTimeline) -> Section:
    """Knowledge timeline."""
    if not k.entries:
        return Section("knowledge", "Who was told what, when", [Para("Nobody was told "
                                                                     "anything on record.")])
    return Section("knowledge", "Who was told what, when", [knowledge_table(k.entries)])


def _duty_rows(duties: Iterable[m.DutyStatus]) -> list[list[Cell]]:
    return [[c(d.key), c(d.owner), c(d.what), c(d.due_day or t(d.due)), c(t(d.done_at)),
             c(d.status, d.cites, "bad" if d.status in ("overdue", "done_late") else "ok"),
             c(d.late_by)] for d in duties]


DUTY_HEADERS = ["duty", "owner", "what", "due", "done", "status", "late by"]


def duties_section(tl: m.Timeliness) -> Section:
    """R3-R9 duties."""
    blocks: list[Block] = []
    metrics = [tl.identification_to_notification, tl.notification_to_decision]
    blocks.append(Table(["measure", "from", "to", "took", "deadline", "within"],
                        [[c(x.name.replace("_", " ")), c(t(x.start)), c(t(x.end)),
                          c(x.duration, x.cites), c(x.deadline),
                          yes(x.within_deadline)] for x in metrics]))
    if tl.interviews:
        blocks.append(Para("Interviews (R6): without a CBP officer, the SCBPO must be briefed."))
        blocks.append(Table(["subject", "at", "CBP present", "briefing due", "briefed", "ok"],
                            [[c(i.subject_ref), c(t(i.at)),
                              c(i.cbp_officer if i.cbp_present else "no"),
                              c(t(i.briefing_due)), c(t(i.briefed_at)),
                              Cell("yes" if i.ok else "no", list(i.cites),
                                   "ok" if i.ok else "bad")] for i in tl.interviews]))
    for title, duties in (("Feedback on results (R7)", tl.feedback),
                          ("Action items (R9)", tl.action_items)):
        if duties:
            blocks.append(Para(title + ":"))
            blocks.append(Table(DUTY_HEADERS, _duty_rows(duties)))
    if tl.pilot is not None:
        p = tl.pilot
        blocks.append(Para(
            f"Title 21 shadow pilot (R5): pilot port {'yes' if p.pilot_port else 'no'}, "
            f"Title 21 {'yes' if p.title21 else 'no'}, OI leads "
            f"{'yes' if p.oi_leads else 'no'}: shadow "
            f"{'expected' if p.shadow_expected else 'not expected'}; assigned: "
            f"{', '.join(p.shadows) or 'none'}." + (f" {p.finding}" if p.finding else ""),
            p.cites, "bad" if p.finding else ""))
    if tl.late_entries:
        blocks.append(Para("Late entries:"))
        blocks.append(late_table(tl.late_entries))
    blocks.append(Para(f"Overdue as of {t(tl.as_of)}: "
                       + (", ".join(f"{d.key} ({d.days_late} day(s) late)"
                                    for d in tl.overdue) or "none") + ".",
                       [x for d in tl.overdue for x in d.cites],
                       "bad" if tl.overdue else "ok"))
    blocks += settings_para(tl.settings)
    return Section("duties", "Duties and timeliness (R3-R9)", blocks)


def late_table(entries: Iterable[m.LateEntry]) -> Table:
    """Late entries."""
    return Table(["event", "occurred", "recorded", "lag", "reason"],
                 [[c(e.event), c(t(e.occurred)), c(t(e.recorded)), c(e.lag, style="bad"),
                   c(e.reason, e.cites)] for e in entries])


def incident_blocks(i: m.Incident) -> list[Block]:
    """One incident."""
    window = t(i.occurred_to) if i.occurred_from == i.occurred_to else \
        f"between {t(i.occurred_from)} and {t(i.occurred_to)}"
    blocks: list[Block] = [
        Para(f"{i.incident_id}: {i.incident_type} ({i.severity}), occurred {window}; "
             f"discovered {t(i.discovered_at)}; recorded {t(i.recorded)} ({i.report_lag} after"
             f"{', late' if i.reported_late else ''}). Responsible when it occurred: "
             f"{i.responsible or ' / '.join(i.responsible_during_window) or 'NOBODY'}."
             + (f" {i.description}" if i.description else ""), i.cites,
             "bad" if i.responsible is None else ""),
        Table(["officer", "why"], [[c(o.officer), c(o.why, o.cites)] for o in i.officers]),
    ]
    if i.notifications:
        blocks.append(knowledge_table(i.notifications))
    for u in i.updates:
        blocks.append(Para(f"Update: {u}"))
    if i.closed_at:
        blocks.append(Para(f"Closed {t(i.closed_at)}."))
    return blocks


def pnr_section(pnr: m.PnrStates, d: m.DisclosureCheck) -> Section:
    """PNR (R8)."""
    blocks: list[Block] = []
    if pnr.states:
        blocks.append(Table(["record", "regime", f"state on {pnr.day}", "restricted fields",
                             "accessed"],
                            [[c(s.record), c(s.regime),
                              Cell(s.summary, list(s.cites), "bad" if s.overdue else ""),
                              c(", ".join(f"{f}: {v}" for f, v in s.fields.items())
                                or "none in the vault"), yes(s.accessed)]
                             for s in pnr.states]))
        blocks += [Para(f"Retention overdue: {f.text}.") for f in pnr.findings]
    blocks.append(Para(f"R8 requirement: {d.requirement}."))
    if d.disclosures:
        blocks.append(Table(["at", "from", "to", "basis", "PNR-derived", "authorised first"],
                            [[c(t(x.at)), c(x.from_agency), c(x.to_agency), c(x.basis),
                              yes(x.pnr_derived, good=False) if x.pnr_derived else c("no"),
                              Cell("—" if x.authorised is None else
                                   "yes" if x.authorised else "NO",
                                   list(x.cites), "" if x.authorised is None else
                                   "ok" if x.authorised else "bad")] for x in d.disclosures]))
    else:
        blocks.append(Para("No information was shared with another agency on record."))
    blocks += settings_para(d.settings)
    return Section("pnr", "Information sharing and EU PNR (R8)", blocks)


def _meta(report: AnyReport) -> list[tuple[str, str]]:
    return [("generated", t(report.generated_at)), ("store", report.store),
            ("log", report.log_id)]


def layout(report: AnyReport) -> Document:
    """Lay a report out as a :class:`Document`."""
    sections: list[Section] = [_findings_section(report.findings)]
    if isinstance(report, CaseReport):
        sections[:0] = [_case_section(report.case)]
        sections += [responsibility_section(report.responsibility),
                     approvals_section(report.approvals), items_section(report.items),
                     surveillance_section(report.surveillance),
                     knowledge_section(report.knowledge), duties_section(report.timeliness)]
        inc: list[Block] = [b for i in report.incidents for b in incident_blocks(i)] or [
            Para("No incidents were recorded.")]
        sections.append(Section("incidents", "Incidents", inc))
        sections.append(pnr_section(report.pnr, report.disclosures))
    elif isinstance(report, IncidentReport):
        sections[:0] = [Section("incident", "The incident", incident_blocks(report.incident)),
                        _case_section(report.incident.case)]
        custody = [[c(x.item), c(", ".join(f"{h.holder} ×{h.count}" for h in x.holders),
                                 [y for h in x.holders for y in h.cites])]
                   for x in report.custody]
        sections += [responsibility_section(report.responsibility),
                     Section("custody", "Custody when it occurred", [
                         Table(["item", "held by"], custody) if custody else
                         Para("No item was held by anyone at that time.")]),
                     surveillance_section(report.surveillance),
                     knowledge_section(report.knowledge)]
    elif isinstance(report, OverdueReport):
        o = report.overdue
        rows = [[c(d.case), c(d.kind), *_duty_rows([d])[0], c(d.days_late)] for d in o.items]
        sections.append(Section("overdue", f"Overdue as of {t(o.as_of)}", [
            Table(["case", "kind", *DUTY_HEADERS, "days late"], rows) if rows else
            Para("Nothing is overdue.", style="ok")]))
        sections.append(_summary_section("summaries", "Per port and office",
                                         o.by_port, o.by_office))
        sections[-2].blocks.extend(settings_para(o.settings))
    elif isinstance(report, PilotReportDoc):
        p = report.pilot
        rows = [[c(x.case.reference, x.case.cites), c(", ".join(x.case.ports) or x.case.port),
                 yes(x.pilot_port), yes(x.title21), yes(x.oi_leads),
                 c("yes" if x.shadow_expected else "no"),
                 c(", ".join(x.shadows) or "none", x.cites),
                 c(x.finding or "ok", style="bad" if x.finding else "ok")] for x in p.cases]
        sections.append(Section("pilot", "Cases", [
            Para("Pilot locations (the memo's five): " + "; ".join(
                f"{name} ({', '.join(codes)})" for name, codes in p.pilot_locations.items())
                 + ". A shadow is looked for on a "
                 "Title 21 case OI leads (accepted from OFO, or begun with OI) at a pilot "
                 "port, whoever opened it; the memo assigns shadows at the pilot locations "
                 "and does not require one on every case."),
            Table(["case", "ports", "pilot port", "Title 21", "OI leads", "shadow expected",
                   "shadows", "finding"], rows), *settings_para(p.settings)]))
        sections.append(_summary_section("summaries", "Per port", p.by_port, []))
    return Document(title=report.title, meta=_meta(report), verification=report.verification,
                    verified_ok=report.verification.all_cited_verified,
                    statement=report.verification.statement, sections=sections,
                    events=report.events, report=report)


def _summary_section(anchor: str, title: str, by_port: Sequence[m.Summary],
                     by_office: Sequence[m.Summary]) -> Section:
    blocks: list[Block] = [Table(["port", "name", "cases", "incidents", "overdue"],
                                 [[c(s.key), c(s.name), c(s.cases), c(s.incidents),
                                   c(s.overdue)] for s in by_port])]
    if by_office:
        blocks.append(Table(["office", "cases", "incidents", "overdue"],
                            [[c(s.key), c(s.cases), c(s.incidents), c(s.overdue)]
                             for s in by_office]))
    return Section(anchor, title, blocks)
