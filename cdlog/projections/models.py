"""The answers of the queries: pydantic models, serialised as the JSON of ``cdlog query``.

Every answer names the events it rests on as :class:`Citation` s (stream, version, hash).
Times are written in cdlog's canonical form; durations both as prose (``"4 min"``,
``"2d 5h28m"``) and in seconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cdlog.domain.values import Time


class Model(BaseModel):
    """Base of the answer models."""

    model_config = ConfigDict(frozen=True)


class Citation(Model):
    """An event an answer rests on."""

    case: str = Field(description="stream name, e.g. case:OP-2006-0001")
    version: int
    hash: str
    type: str


class Finding(Model):
    """Something oversight should look at, with the rule it concerns."""

    rule: str
    text: str
    cites: list[Citation] = Field(default_factory=list)
    source: str | None = Field(default=None, description=(
        "where the setting the finding applies comes from (the memo, or a configuration "
        "placeholder the memo does not give), as cdlog.domain.config.provenance says"))


class CaseRef(Model):
    """A case and every name it can be found by."""

    stream: str
    case_id: str
    reference: str
    operation_id: str | None = None
    case_no: str | None = None
    port: str | None = None
    port_name: str | None = None
    ports: list[str] = Field(default_factory=list, description=(
        "every port of the case: where it opened, then where OFO acted (a case may span two)"))
    office: str | None = None
    origin: str = Field(default="ofo_interdiction", description=(
        "how the case began: ofo_interdiction, oi_investigation, foreign_request or "
        "partner_referral"))
    origin_agency: str = "CBP"
    oi_leads: bool = Field(default=False, description=(
        "OI leads the case: it accepted it from OFO (R4), or the case began with OI"))
    decision: str | None = None
    opened_at: Time | None = None
    cites: list[Citation] = Field(default_factory=list)


class CaseList(Model):
    """Every case in the log."""

    recorded_by: Time | None = None
    cases: list[CaseRef]


class CaseAnswer(Model):
    """Base of the answers about one case as recorded by a time: the case first, then the
    recording time the answer was read at (then the answer's own fields)."""

    case: CaseRef
    recorded_by: Time | None = None


# ---------------------------------------------------------------- responsibility
class ResponsibilityInterval(Model):
    """A stretch of time during which ``holder`` was responsible (``None``: nobody)."""

    holder: str | None
    start: Time
    end: Time | None
    started_by: str
    note: str
    cites: list[Citation]


class Responsibility(CaseAnswer):
    """Who was responsible for a case over time (R2)."""

    intervals: list[ResponsibilityInterval]
    r2_triggered: bool
    summary: str
    findings: list[Finding] = Field(default_factory=list)


class ResponsibilityAt(Model):
    """Who was responsible at one moment."""

    case: CaseRef
    at: Time
    recorded_by: Time | None = None
    holder: str | None
    interval: ResponsibilityInterval | None
    cites: list[Citation]
    findings: list[Finding] = Field(default_factory=list)


# ---------------------------------------------------------------- custody and items
class Holding(Model):
    """How many units of an item one party held, and since when."""

    holder: str
    count: int
    since: Time
    cites: list[Citation]


class CustodianAt(Model):
    """Who held an item at one moment."""

    item: str
    case: CaseRef
    at: Time
    recorded_by: Time | None = None
    holders: list[Holding]
    cites: list[Citation]


class LedgerEntry(Model):
    """One line of an item's ledger."""

    at: Time
    kind: str
    from_: str | None = Field(default=None, alias="from", serialization_alias="from")
    to: str | None = None
    count: int | None = None
    gross_weight_kg: str | None = None
    receipt: str | None = None
    signed_by: list[str] = Field(default_factory=list)
    detail: str = ""
    cites: list[Citation]

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ItemRecord(Model):
    """An item from discovery to its last known holder."""

    item: str
    description: str | None = None
    category: str | None = None
    initial_count: int | None = None
    initial_weight_kg: str | None = None
    entries: list[LedgerEntry]
    holders: dict[str, int]
    left_control: int = 0
    recovered: int = 0
    outstanding: int = 0


class Reconciliation(Model):
    """An inventory reconciliation."""

    at: Time
    expected: dict[str, int]
    found: dict[str, int]
    discrepancy: int
    explained_by: str | None = None
    cites: list[Citation]


class ItemLedger(CaseAnswer):
    """Every item of a case: counts and weights at each hand-off, reconciliation, outstanding."""

    items: list[ItemRecord]
    reconciliations: list[Reconciliation]
    findings: list[Finding] = Field(default_factory=list)


# ---------------------------------------------------------------- approvals
class ApprovalRow(Model):
    """One approval kind: required or not, and what happened to it."""

    kind: str
    required: bool
    status: str = Field(description="granted, denied, requested or missing")
    by: str | None = None
    role: str | None = None
    at: Time | None = None
    relative_to_release: str | None = None
    seconds_before_release: int | None = None
    before_release: bool | None = None
    cites: list[Citation] = Field(default_factory=list)


class ApprovalMatrix(CaseAnswer):
    """Approvals required by the configuration for the operation, against those granted."""

    operation_type: str | None = None
    mode: dict[str, Any] | None = None
    required: list[str]
    rows: list[ApprovalRow]
    release_at: Time | None = None
    release_how: str | None = None
    release_cites: list[Citation] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    settings: list[str] = Field(default_factory=list, description=(
        "where each setting the matrix applies comes from (configuration, not the memo)"))


# ---------------------------------------------------------------- knowledge
class Reported(Model):
    """The event a notification reports."""

    type: str
    at: Time
    cites: list[Citation] = Field(default_factory=list)


class KnowledgeEntry(Model):
    """Who was told what, when, and how long after the event it reports."""

    at: Time
    recorded: Time
    kind: str
    from_: str | None = Field(default=None, alias="from", serialization_alias="from")
    to: str | None = None
    channel: str | None = None
    subject: str
    reports: Reported | None = None
    lag: str | None = None
    lag_seconds: int | None = None
    late_entry: bool = False
    record_lag: str | None = None
    cites: list[Citation]

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class KnowledgeTimeline(CaseAnswer):
    """Every notification and briefing of a case, in the order they happened."""

    entries: list[KnowledgeEntry]


# ---------------------------------------------------------------- surveillance
class EyesOn(Model):
    """An interval with eyes on the load."""

    start: Time
    end: Time | None
    team_lead: str | None = None
    duration: str | None = None
    cites: list[Citation]


class Gap(Model):
    """An interval without eyes on a released load."""

    kind: str = Field(description="lost, before_surveillance or after_surveillance")
    start: Time
    end: Time | None
    duration: str | None = None
    detected_at: Time | None = None
    last_position: str | None = None
    last_by: str | None = None
    cites: list[Citation]


class SurveillanceCoverage(CaseAnswer):
    """Eyes-on intervals and gaps while the load was out of the port."""

    window_start: Time | None = None
    window_end: Time | None = None
    eyes_on: list[EyesOn]
    gaps: list[Gap]
    findings: list[Finding] = Field(default_factory=list)


# ---------------------------------------------------------------- duties and timeliness
class Metric(Model):
    """A measured interval against its configured deadline."""

    name: str
    start: Time | None = None
    end: Time | None = None
    duration: str | None = None
    seconds: int | None = None
    deadline: str
    deadline_source: str | None = None
    within_deadline: bool | None = None
    cites: list[Citation] = Field(default_factory=list)


class DutyStatus(Model):
    """A duty the rules opened: what, who owes it, when due, when done."""

    case: str
    kind: str
    key: str
    owner: str
    to: str | None = Field(default=None, description="feedback (R7): the agency it is owed to")
    what: str
    opened_at: Time
    due: Time
    due_source: str | None = Field(default=None, description=(
        "where the due time comes from: a recorded due day, or a configured deadline"))
    due_day: str | None = None
    done_at: Time | None = None
    waived: bool = False
    status: str = Field(description="open, done, done_late, overdue or waived")
    days_late: int | None = None
    late_by: str | None = None
    port: str | None = None
    office: str | None = None
    cites: list[Citation]


class Interview(Model):
    """A defendant interview (R6) and the briefing it called for."""

    subject_ref: str
    at: Time
    cbp_present: bool
    cbp_officer: str | None = None
    briefing_due: Time | None = None
    briefed_at: Time | None = None
    ok: bool
    cites: list[Citation]


class LateEntry(Model):
    """An event recorded long after it happened."""

    case: str
    version: int
    event: str
    occurred: Time
    recorded: Time
    lag: str
    lag_seconds: int
    reason: str | None = None
    cites: list[Citation]


class PilotCase(Model):
    """R5: is a shadow expected for this case, and was one assigned?"""

    case: CaseRef
    pilot_port: bool
    title21: bool
    accepted: bool
    oi_leads: bool = Field(default=False, description=(
        "OI leads the case (accepted from OFO, or begun with OI), whoever opened it"))
    in_window: bool | None = Field(default=None, description=(
        "the case falls in the pilot's evaluation window (None: no window configured)"))
    shadow_expected: bool
    shadows: list[str]
    shadow_on_surveillance: list[str]
    finding: str | None = None
    source: str | None = Field(default=None, description=(
        "where the settings behind the finding come from"))
    cites: list[Citation]


class Timeliness(Model):
    """The memo's duties for one case and how timely they were."""

    case: CaseRef
    as_of: Time
    recorded_by: Time | None = None
    identification_to_notification: Metric
    notification_to_decision: Metric
    feedback: list[DutyStatus]
    briefings: list[DutyStatus]
    interviews: list[Interview]
    action_items: list[DutyStatus]
    overdue: list[DutyStatus]
    late_entries: list[LateEntry]
    pilot: PilotCase | None
    settings: list[str] = Field(default_factory=list, description=(
        "where each deadline and pilot setting applied comes from"))


class Summary(Model):
    """Counts per port or per office."""

    key: str
    name: str | None = None
    cases: int = 0
    incidents: int = 0
    overdue: int = 0


class OverdueList(Model):
    """Every duty past due at ``as_of``, done late or still open."""

    as_of: Time
    recorded_by: Time | None = None
    items: list[DutyStatus]
    by_port: list[Summary]
    by_office: list[Summary]
    settings: list[str] = Field(default_factory=list, description=(
        "where each deadline applied comes from"))


class LateEntryList(Model):
    """Every late entry."""

    recorded_by: Time | None = None
    entries: list[LateEntry]
    settings: list[str] = Field(default_factory=list, description=(
        "where the lag that makes an entry late comes from"))


class PilotReport(Model):
    """R5 across all cases."""

    recorded_by: Time | None = None
    pilot_ports: list[str]
    pilot_locations: dict[str, list[str]] = {}
    cases: list[PilotCase]
    by_port: list[Summary]
    settings: list[str] = Field(default_factory=list, description=(
        "where the pilot ports, Title 21 categories and window come from"))


# ---------------------------------------------------------------- incidents
class ResponsibleOfficer(Model):
    """An officer answerable for an incident, and why."""

    officer: str
    why: str
    cites: list[Citation] = Field(default_factory=list)


class Incident(Model):
    """An incident and who was responsible when it happened."""

    case: CaseRef
    incident_id: str
    incident_type: str
    severity: str
    occurred_from: Time
    occurred_to: Time
    discovered_at: Time
    recorded: Time
    reported_late: bool
    report_lag: str
    responsible: str | None
    responsible_during_window: list[str]
    officers: list[ResponsibleOfficer]
    description: str | None = None
    notifications: list[KnowledgeEntry]
    updates: list[str]
    closed_at: Time | None = None
    findings: list[Finding] = Field(default_factory=list)
    cites: list[Citation]


class IncidentList(Model):
    """Incidents with summaries per port and office."""

    recorded_by: Time | None = None
    incidents: list[Incident]
    by_port: list[Summary]
    by_office: list[Summary]


# ---------------------------------------------------------------- PNR (R8)
class PnrState(Model):
    """The retention state of one EU PNR record on one day under one regime: what the store
    actually did with its restricted values (``state``, ``vault``) and what the regime makes
    due (``due``, ``due_since``), never the one for the other."""

    record: str
    regime: str
    day: str
    state: str = Field(description=(
        "what the store did, as the log records it: personalised (the vault holds every "
        "value; or nothing is due yet), masked (some fields erased), erased (every vaulted "
        "value erased), not_in_vault (something is due but cdlog's vault never held the "
        "values: only a commitment is logged, so cdlog cannot say whether it was done)"))
    summary: str
    due: str = Field(description=(
        "the state the regime requires on the day: personalised, depersonalised, dormant, "
        "anonymised, deleted_record_file or deleted"))
    due_since: str | None = Field(default=None, description="the day it became due")
    overdue: bool = Field(default=False, description=(
        "the regime requires more than the store has done (values still held)"))
    vault: dict[str, str] = Field(default_factory=dict, description=(
        "each restricted field the log commits to: held (in the vault) or erased"))
    fields: dict[str, str] = Field(default_factory=dict, description=(
        "each restricted field as queries show it: the mask ([restricted: EU PNR]) or "
        "[erased]; values are read, and the read recorded, with `cdlog restricted show`"))
    received_at: Time
    case_hold: list[str]
    accessed: bool
    cites: list[Citation]


class PnrStates(Model):
    """PNR records of a case on a day, per regime."""

    case: CaseRef
    day: str
    states: list[PnrState]
    findings: list[Finding] = Field(default_factory=list, description=(
        "retention due and not done: the vault still holds values the regime says must be "
        "masked or deleted"))


class Disclosure(Model):
    """One sharing of information with another agency and whether R8 allowed it."""

    at: Time
    from_agency: str
    to_agency: str
    basis: str
    pnr_derived: bool
    authorised: bool | None
    authorisation: Citation | None = None
    cites: list[Citation]


class DisclosureCheck(Model):
    """R8: PNR-derived information to third parties only after an authorisation."""

    case: CaseRef
    requirement: str
    third_parties: dict[str, list[str]]
    disclosures: list[Disclosure]
    findings: list[Finding] = Field(default_factory=list)
    settings: list[str] = Field(default_factory=list, description=(
        "where the agency list behind the third parties comes from"))
