"""The event catalogue: one frozen pydantic payload model per event type.

Each model's ``TYPE`` is the stable event type name written into the signed envelope (and the
stored topic ``cdlog:<TYPE>``); renaming a class never changes it. ``COSIGN`` names payload
fields whose parties must co-sign the event when they are certified officers (custody
transfers, pass-through releases). ``STREAMS`` says which kind of stream the event lives in.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, field_validator

from cdlog.domain.values import Count, Day, Frozen, Ref, Text, Time, Weight

RefValue = str | int | list[str] | dict[str, str | int]


class Payload(Frozen):
    """Base of every payload model."""

    TYPE: ClassVar[str] = ""
    STREAMS: ClassVar[frozenset[str]] = frozenset({"case"})
    COSIGN: ClassVar[tuple[str, ...]] = ()
    DERIVED_ONLY: ClassVar[bool] = False


CATALOGUE: dict[str, type[Payload]] = {}


def _register(cls: type[Payload]) -> type[Payload]:
    CATALOGUE[cls.TYPE] = cls
    return cls


def event(name: str, *, streams: tuple[str, ...] = ("case",), cosign: tuple[str, ...] = (),
          derived_only: bool = False) -> Any:
    """Class decorator: give a payload model its stable type name and register it."""

    def wrap(cls: type[Payload]) -> type[Payload]:
        cls.TYPE = name
        cls.STREAMS = frozenset(streams)
        cls.COSIGN = cosign
        cls.DERIVED_ONLY = derived_only
        return _register(cls)

    return wrap


# ---------------------------------------------------------------- value parts of payloads
class Item(Frozen):
    """An item as first found: id, description, category, count and gross weight."""

    item_id: Ref
    description: Text
    category: Literal["drug", "IPR", "firearm", "currency", "wildlife", "merchandise", "other"]
    count: Count | None = None
    gross_weight_kg: Weight | None = None
    unit: Ref | None = None


class ItemRef(Frozen):
    """A quantity of a known item at a hand-off, recovery or seizure."""

    item: Ref
    count: Count | None = None
    gross_weight_kg: Weight | None = None
    description: Text | None = None


class FieldTest(Frozen):
    """A presumptive field test."""

    kit: Ref | None = None
    result: Text


class Mode(Frozen):
    """How an operation runs: what the courier knows (unwitting, cooperating, or delivery by
    law enforcement), whether the goods were left intact or substituted, the direction through
    the border, and how the goods travel."""

    courier: Literal["unwitting", "cooperating", "le_delivered"]
    contents: Literal["intact", "partial_substitution", "full_substitution"]
    direction: Literal["inbound", "outbound", "transit"]
    vector: Literal["maritime_container", "air_cargo", "express_consignment", "mail",
                    "commercial_truck", "rail", "POV", "pedestrian", "passenger_baggage",
                    "body_carrier"]


class Destination(Frozen):
    """Destination judicial district and OI area of responsibility."""

    district: Ref
    aor: Ref | None = None


class Sham(Frozen):
    """Sham added in a substitution."""

    item: Ref | None = None
    count: Count
    description: Text | None = None


class LastConfirmed(Frozen):
    """Last confirmed sighting before surveillance was lost."""

    at: Time
    position: Text
    by: Ref


# ---------------------------------------------------------------- case opening and closing
ORIGINS = ("ofo_interdiction", "oi_investigation", "foreign_request", "partner_referral")
"""Where an operation began (see docs/RULES.md): an interdiction by OFO at a port, OI's own
investigation, a foreign authority's request relayed by an ICE attaché, another agency's
referral."""


class Origin(Frozen):
    """Who originated a case, and how it reached the log.

    ``kind`` is one of :data:`ORIGINS`; ``agency``/``office`` name the originating agency
    (``CBP``/``OFO``, ``ICE``/``OI``, a foreign authority such as ``NL-FIOD``, a partner such
    as ``DEA``/``USCG``); ``authority`` and ``state`` name a foreign authority in full and its
    country; ``via`` is the officer id who relayed it (the ICE attaché for a foreign request);
    ``request_ref`` the originator's own reference (MLA request, referral number);
    ``case_no`` the OI case number when OI leads the case from its opening.
    """

    kind: Literal["ofo_interdiction", "oi_investigation", "foreign_request",
                  "partner_referral"]
    agency: Ref
    office: Ref | None = None
    authority: Text | None = None
    state: Ref | None = None
    via: Ref | None = None
    request_ref: Ref | None = None
    case_no: Ref | None = None


@event("CaseOpened")
class CaseOpened(Payload):
    """A case is opened: its reference, operation id, port of entry and shipment refs, and
    (optionally) its :class:`Origin`. Without ``origin`` the case is an OFO interdiction
    opened at the port, which is what every case recorded before origins existed is (the
    field is left out of the signed form when absent, so those events keep their bytes)."""

    reference: Ref
    operation_id: Ref | None = None
    port: Ref
    refs: dict[str, RefValue] = Field(default_factory=dict)
    origin: Origin | None = None


@event("CaseClosed")
class CaseClosed(Payload):
    """The case is closed."""

    reason: Text


# ---------------------------------------------------------------- detection (OFO)
@event("ConveyanceArrived")
class ConveyanceArrived(Payload):
    """A conveyance, manifest or entry arrived at the port."""

    refs: dict[str, RefValue] = Field(default_factory=dict)
    conveyance: Text | None = None
    port: Ref | None = None


@event("ExaminationReferred")
class ExaminationReferred(Payload):
    """Referred from primary to secondary examination."""

    reason: Text
    port: Ref | None = None


@event("ExaminationConducted")
class ExaminationConducted(Payload):
    """An examination was conducted."""

    method: Literal["NII", "K9", "devan", "tailgate", "covert", "field_test", "other"]
    result: Literal["positive", "negative", "alert", "no_alert", "inconclusive"]
    start: Time | None = None
    end: Time | None = None
    port: Ref | None = None


@event("ContrabandDiscovered")
class ContrabandDiscovered(Payload):
    """Contraband was found: the items, with counts and gross weights at first handling."""

    items: list[Item] = Field(min_length=1)
    concealment: Text | None = None
    field_test: FieldTest | None = None
    subjects: list[Ref] = Field(default_factory=list)
    photos: list[Ref] = Field(default_factory=list)
    port: Ref | None = None


@event("HoldPlaced")
class HoldPlaced(Payload):
    """A hold was placed on the shipment."""

    hold_type: Literal["quiet_hold_pending_OI", "commercial", "other"]
    reason: Text
    port: Ref | None = None


@event("HoldReleased")
class HoldReleased(Payload):
    """The hold was released (for a CD/PT: the release into the operation)."""

    reason: Text
    port: Ref | None = None


@event("SeizureRecorded")
class SeizureRecorded(Payload):
    """A seizure was recorded (seizure and FP&F numbers, 6051S receipt)."""

    seizure_no: Ref
    fpf_no: Ref | None = None
    seizure_type: Literal["criminal", "administrative"]
    items: list[ItemRef] = Field(default_factory=list)
    custody_receipt: Ref | None = None
    port: Ref | None = None


@event("ReleasedUnderPassThrough", cosign=("authorised_by",))
class ReleasedUnderPassThrough(Payload):
    """Released without seizure at OI's request (pass-through)."""

    requested_by: Ref
    authorised_by: Ref
    exam_performed: bool
    counts_at_release: list[ItemRef] = Field(default_factory=list)
    port: Ref | None = None


# ---------------------------------------------------------------- notification and decision
@event("InvestigativeNotificationSent")
class InvestigativeNotificationSent(Payload):
    """R3: OFO notified OI of a potential case."""

    identified_at: Time
    to: Ref
    channel: Literal["phone", "email", "radio", "in_person", "system", "fax", "other"]
    summary_digest: Ref | None = None


@event("NotificationAcknowledged")
class NotificationAcknowledged(Payload):
    """OI acknowledged the investigative notification."""

    note: Text | None = None


@event("ProsecutorConsulted")
class ProsecutorConsulted(Payload):
    """A prosecutor was consulted."""

    with_: Ref = Field(alias="with")
    district: Ref
    position: Literal["concur", "decline", "conditions"]
    threshold_basis: Text | None = None
    conditions: Text | None = None


@event("USAONotified")
class USAONotified(Payload):
    """The USAO was notified (19 USC 1603)."""

    district: Ref
    basis: Text


@event("CaseAccepted")
class CaseAccepted(Payload):
    """R4: OI accepted the case and opened a case number."""

    case_no: Ref
    lead_office: Ref


@event("CaseDeclined")
class CaseDeclined(Payload):
    """R4: OI declined the case."""

    reason_code: Ref
    narrative: Text | None = None
    referred_to: Ref | None = None
    future_interest: Text | None = None


@event("ResponsibilityAssumed")
class ResponsibilityAssumed(Payload):
    """R2: OI assumes responsibility for all events and incidents of the operation."""

    agency: Ref
    office: Ref
    scope: Ref
    acknowledged_by_ofo: Ref | None = None
    items: list[Ref] = Field(default_factory=list)


@event("ResponsibilityReleased")
class ResponsibilityReleased(Payload):
    """OI releases responsibility at the end of the operation (after OperationTerminated).

    ``to`` says in words where things stand; ``to_agency``/``to_office`` name who holds
    responsibility from then on (e.g. ``CBP``/``OFO`` for vault custody), so that nobody has
    to guess it from ``to``; left out, nobody is named.
    """

    to: Text
    scope: Ref
    to_agency: Ref | None = None
    to_office: Ref | None = None


# ---------------------------------------------------------------- planning and authorisation
@event("OperationProposed")
class OperationProposed(Payload):
    """A controlled delivery or pass-through is proposed."""

    operation_type: Literal["controlled_delivery", "pass_through", "cold_convoy"]
    mode: Mode
    destination: Destination
    targets: list[Ref] = Field(default_factory=list)
    contingencies: Text | None = None
    plan_digest: Ref | None = None
    risk_assessment_digest: Ref | None = None
    sensitive: bool = False
    border: Literal["domestic", "international"] = "domestic"


@event("ApprovalRequested")
class ApprovalRequested(Payload):
    """An approval was requested."""

    kind: Ref
    requested_of: Ref


@event("ApprovalGranted")
class ApprovalGranted(Payload):
    """An approval was granted by the acting officer."""

    kind: Ref
    note: Text | None = None
    conditions: Text | None = None
    valid_until: Time | None = None
    scope: Ref | None = None


@event("ApprovalDenied")
class ApprovalDenied(Payload):
    """An approval was denied by the acting officer."""

    kind: Ref
    reason: Text


@event("DeconflictionRecorded")
class DeconflictionRecorded(Payload):
    """Deconfliction was run."""

    system: Text
    ref: Ref
    result: Literal["clear", "overlap"]
    partner: Ref | None = None


@event("ReceivingOfficeNotified")
class ReceivingOfficeNotified(Payload):
    """The receiving SAC office or agency was notified."""

    office: Ref
    agency: Ref | None = None
    note: Text | None = None


@event("ForeignConsentRecorded")
class ForeignConsentRecorded(Payload):
    """A foreign competent authority consented."""

    state: Ref
    authority: Text
    instrument: Text
    conditions: Text | None = None


# ---------------------------------------------------------------- custody and preparation
@event("CustodyTransferred", cosign=("to",))
class CustodyTransferred(Payload):
    """Items changed hands; both parties sign when the receiver is an officer."""

    from_: Ref = Field(alias="from")
    to: Ref
    items: list[ItemRef] = Field(min_length=1)
    seals: list[Ref] = Field(default_factory=list)
    receipt_ref: Ref | None = None


@event("SubstitutionPerformed")
class SubstitutionPerformed(Payload):
    """Contraband was replaced by sham, leaving a testable quantity."""

    witnesses: list[Ref] = Field(min_length=1)
    removed: ItemRef
    remaining: ItemRef
    sham_added: Sham
    removed_stored_at: Text
    approval_ref: Ref | None = None


@event("SampleTaken")
class SampleTaken(Payload):
    """A sample was taken."""

    sample_of: Ref
    count: Count | None = None
    gross_weight_kg: Weight | None = None
    destination: Text
    seal: Ref | None = None


@event("TrackingDeviceInstalled")
class TrackingDeviceInstalled(Payload):
    """A tracking device was installed."""

    device_ref: Ref | None = None
    legal_basis_ref: Text
    battery_expected_until: Time | None = None


@event("TrackingDeviceFailed")
class TrackingDeviceFailed(Payload):
    """A tracking device failed."""

    device_ref: Ref | None = None
    cause: Text


@event("EvidenceStored")
class EvidenceStored(Payload):
    """Evidence was stored in a vault or sent to a lab."""

    location: Text
    custodian: Ref
    items: list[ItemRef] = Field(default_factory=list)
    ledger_ref: Ref | None = None
    lab_notified_at: Time | None = None


# ---------------------------------------------------------------- movement and surveillance
@event("SurveillanceStarted")
class SurveillanceStarted(Payload):
    """Surveillance started."""

    team_lead: Ref
    team_members: list[Ref] = Field(default_factory=list)
    cbp_shadow: Ref | None = None


@event("PositionObserved")
class PositionObserved(Payload):
    """A position was observed."""

    method: Literal["visual", "tracker", "air", "other"]
    position: Text


@event("SurveillanceHandedOff")
class SurveillanceHandedOff(Payload):
    """Surveillance was handed from one team to another."""

    from_team: Ref
    to_team: Ref
    position: Text | None = None


@event("SurveillanceLost")
class SurveillanceLost(Payload):
    """Surveillance was lost; ``occurred`` is when the loss was detected."""

    last_confirmed: LastConfirmed
    cause: Text | None = None


@event("SurveillanceReacquired")
class SurveillanceReacquired(Payload):
    """Surveillance was reacquired."""

    position: Text | None = None
    condition_of_load: Text


@event("SurveillanceEnded")
class SurveillanceEnded(Payload):
    """Surveillance ended."""

    reason: Text | None = None


# ---------------------------------------------------------------- delivery and termination
@event("DeliveryMade")
class DeliveryMade(Payload):
    """The load was delivered."""

    to_party: Ref
    location: Text | None = None
    accepted_by: Ref | None = None


@event("LoadBreached")
class LoadBreached(Payload):
    """The load was opened (tracker or tripwire alert)."""

    method: Ref


@event("EnforcementActionTaken")
class EnforcementActionTaken(Payload):
    """An enforcement action was taken."""

    kind: Ref
    warrant_ref: Text | None = None
    team_lead: Ref | None = None


@event("ArrestMade")
class ArrestMade(Payload):
    """A subject was arrested."""

    subject_ref: Ref
    arresting_agency: Ref
    charges_basis: Text | None = None


@event("ItemsRecovered")
class ItemsRecovered(Payload):
    """Items were recovered."""

    items: list[ItemRef] = Field(min_length=1)
    location: Text | None = None


@event("InventoryReconciled")
class InventoryReconciled(Payload):
    """Counts were reconciled against what was expected."""

    expected: dict[Ref, Count]
    found: dict[Ref, Count]
    discrepancy: Count
    explained_by: Text | None = None


@event("OperationTerminated")
class OperationTerminated(Payload):
    """The operation was terminated."""

    reason: Literal["completed", "abort_risk", "compromise", "loss", "walk_away"]
    note: Text | None = None


# ---------------------------------------------------------------- incidents and notifications
INCIDENT_TYPES = (
    "surveillance_lost", "merchandise_missing", "shortage_at_reconciliation", "diversion",
    "foreign_non_interdiction", "compromise", "escape", "injury", "death", "property_damage",
    "weapon_lost_or_stolen", "wrong_subject", "legal_defect", "deconfliction_failure",
    "hazmat_exposure", "information_mishandling", "other",
)


@event("IncidentOccurred")
class IncidentOccurred(Payload):
    """An incident; ``occurred`` may be a window, ``discovered_at`` when it was found."""

    incident_id: Ref
    incident_type: Literal[
        "surveillance_lost", "merchandise_missing", "shortage_at_reconciliation", "diversion",
        "foreign_non_interdiction", "compromise", "escape", "injury", "death",
        "property_damage", "weapon_lost_or_stolen", "wrong_subject", "legal_defect",
        "deconfliction_failure", "hazmat_exposure", "information_mishandling", "other"]
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    discovered_at: Time
    discovered_by: Ref | None = None
    description: Text | None = None
    items_affected: list[ItemRef] = Field(default_factory=list)
    persons_affected: list[Ref] = Field(default_factory=list)
    immediate_actions: Text | None = None


@event("IncidentUpdated")
class IncidentUpdated(Payload):
    """Findings on an open incident."""

    incident_id: Ref
    findings: Text


@event("IncidentClosed")
class IncidentClosed(Payload):
    """An incident is closed."""

    incident_id: Ref
    findings: Text | None = None
    corrective_actions: Text | None = None


@event("NotificationMade")
class NotificationMade(Payload):
    """Someone told someone something (who knew what, when)."""

    from_: Ref = Field(alias="from")
    to: Ref
    subject: Text
    channel: Ref | None = None
    content_digest: Ref | None = None
    incident_id: Ref | None = None


# ---------------------------------------------------------------- after the operation
@event("InterviewConducted")
class InterviewConducted(Payload):
    """R6: a defendant interview; without a CBP officer it opens a briefing duty."""

    subject_ref: Ref
    cbp_present: bool
    cbp_officer: Ref | None = None


@event("SCBPOBriefed")
class SCBPOBriefed(Payload):
    """R6: OI briefed the Supervisory CBP Officer."""

    scbpo: Ref
    topics: list[Text] = Field(min_length=1)


@event("ShadowAssigned")
class ShadowAssigned(Payload):
    """R5: a CBP officer shadows an OI agent on a Title 21 case."""

    cbp_officer: Ref
    oi_agent: Ref
    case_no: Ref
    port: Ref


@event("ShadowReleased")
class ShadowReleased(Payload):
    """R5: the shadow assignment ended."""

    cbp_officer: Ref
    reason: Text | None = None


@event("ProsecutionMilestone")
class ProsecutionMilestone(Payload):
    """A prosecution milestone."""

    kind: Literal["complaint", "indictment", "plea", "verdict", "sentence", "dismissal",
                  "declination"]
    district: Ref
    subjects: list[Ref] = Field(default_factory=list)


@event("ForfeitureAction")
class ForfeitureAction(Payload):
    """A forfeiture step."""

    fpf_no: Ref
    status: Ref
    note: Text | None = None


@event("PenaltyAssessed")
class PenaltyAssessed(Payload):
    """A civil penalty was assessed (whole dollars)."""

    fpf_no: Ref
    statute: Text
    amount_usd: Count
    note: Text | None = None


@event("PetitionReceived")
class PetitionReceived(Payload):
    """A petition for relief was received."""

    fpf_no: Ref
    note: Text | None = None


@event("ForfeitureDeclared")
class ForfeitureDeclared(Payload):
    """Items were declared forfeited."""

    fpf_no: Ref
    items: list[Ref] = Field(min_length=1)
    note: Text | None = None


FEEDBACK_CATEGORIES = ("investigation", "controlled_delivery", "pass_through", "prosecution",
                       "secondary_examination", "penalty", "declination", "seizure")


@event("FeedbackProvided")
class FeedbackProvided(Payload):
    """R7: results fed back to the other agency."""

    from_agency: Ref
    to_agency: Ref
    categories: list[Literal["investigation", "controlled_delivery", "pass_through",
                             "prosecution", "secondary_examination", "penalty",
                             "declination", "seizure"]] = Field(min_length=1)
    results: Text
    covers_until: Time | None = None


@event("ActionItemAssigned", streams=("case", "programme"))
class ActionItemAssigned(Payload):
    """R9: an action item with an owner and a due day, ending at midnight in the time zone of
    ``port`` (the port where the duty arises; default: the case's port)."""

    item_id: Ref
    owner: Ref
    due: Day
    what: Text
    source: Text | None = None
    port: Ref | None = None


@event("ActionItemCompleted", streams=("case", "programme"))
class ActionItemCompleted(Payload):
    """R9: an action item was done."""

    item_id: Ref
    note: Text | None = None


@event("ActionItemWaived", streams=("case", "programme"))
class ActionItemWaived(Payload):
    """R9: an action item was waived."""

    item_id: Ref
    reason: Text


@event("ActionItemOverdue", streams=("case", "programme"), derived_only=True)
class ActionItemOverdue(Payload):
    """Derived by the rules at the first instant past due; never recorded by a person."""

    item_id: Ref


@event("FeedbackOverdue", derived_only=True)
class FeedbackOverdue(Payload):
    """Derived by the rules; never recorded by a person."""

    categories: list[Ref] = Field(default_factory=list)


# ---------------------------------------------------------------- information sharing, PNR
@event("InformationShared")
class InformationShared(Payload):
    """R8: information went from one agency to another, on a stated basis.

    ``pnr_derived`` marks data derived from PNR; ``eu_pnr`` says whether that PNR is EU PNR
    (the memo's only exception to need-to-know inside DHS). Left out with ``pnr_derived``
    true, the data is treated as EU PNR (the cautious reading); ``eu_pnr: false`` is other
    PNR, which the memo leaves outside the third-party rule.
    """

    from_agency: Ref
    to_agency: Ref
    basis: Literal["dhs_need_to_know", "third_party_rule", "routine_use", "court"]
    pnr_derived: bool = False
    eu_pnr: bool | None = None
    data_classes: list[Ref] = Field(default_factory=list)
    authorisation_ref: Text | None = None


@event("ThirdPartyDisclosureAuthorized", streams=("pnr",))
class ThirdPartyDisclosureAuthorized(Payload):
    """R8: CBP authorised disclosure of EU PNR to a third party for a case."""

    requesting_agency: Ref
    case_no: Ref
    purpose: Text
    written_understanding_ref: Text | None = None
    expires: Day


@event("PNRRecordIngested", streams=("pnr",))
class PNRRecordIngested(Payload):
    """A PNR record was received; only a commitment to the locator is logged."""

    received_at: Time
    flight: Text
    key_id: Ref
    pnr_locator_commitment: Ref
    commitments: dict[str, Ref] | None = None
    """Salted commitments (cdlog.restricted) to the record's other EU PNR fields, by field;
    the values are in the vault. Omitted when none (older events keep their bytes)."""


@event("PNRAccessed", streams=("pnr-access",))
class PNRAccessed(Payload):
    """PNR was accessed (access-log stream)."""

    purpose: Text
    case_no: Ref | None = None
    fields: list[Ref] = Field(min_length=1)
    outcome: Text | None = None


@event("PNRLinkedToCase", streams=("pnr",))
class PNRLinkedToCase(Payload):
    """A PNR record was linked to a case (retention hold)."""

    case_no: Ref


@event("PNRCaseArchived", streams=("pnr",))
class PNRCaseArchived(Payload):
    """The case holding a PNR record was archived."""

    case_no: Ref


# ---------------------------------------------------------------- restricted data (issue 11)
class _RestrictedRead(Payload):
    """What a read of restricted values names: the class, the record (a stream) and its
    version, the fields, the purpose, and the case it serves."""

    restricted_class: Ref
    record: Ref
    record_version: int = Field(ge=1)
    fields: list[Ref] = Field(min_length=1)
    purpose: Text
    case_no: Ref | None = None


@event("RestrictedValuesRead", streams=("pnr-access",))
class RestrictedValuesRead(_RestrictedRead):
    """Restricted values of ``record`` (a stream) at ``record_version`` were served to the
    actor; recorded in the transaction that served them (cdlog.restricted)."""

    authorisation_version: int | None = Field(default=None, ge=1)


@event("RestrictedReadRefused", streams=("pnr-access",))
class RestrictedReadRefused(_RestrictedRead):
    """A read of restricted values was refused (not entitled, erased, or not matching its
    commitment); nothing was served."""

    reason: Text


@event("RestrictedValuesErased", streams=("pnr",))
class RestrictedValuesErased(Payload):
    """The owner destroyed the vaulted values (and their data keys) of ``fields`` of this
    stream's event ``record_version``; the signed commitments stay."""

    restricted_class: Ref
    record_version: int = Field(ge=1)
    fields: list[Ref] = Field(min_length=1)
    reason: Literal["retention_ended", "legal_order"]
    order_ref: Text | None = None


# ---------------------------------------------------------------- log integrity
@event("LateEntryRecorded")
class LateEntryRecorded(Payload):
    """An earlier event of type ``wraps`` entered late, with the reason."""

    wraps: Ref
    reason: Text
    event: dict[str, Any] = Field(default_factory=dict)

    @field_validator("wraps")
    @classmethod
    def _known(cls, value: str) -> str:
        target = CATALOGUE.get(value)
        if target is None or "case" not in target.STREAMS or target.DERIVED_ONLY:
            msg = f"{value!r} is not a case event type that can be entered late"
            raise ValueError(msg)
        if value == "LateEntryRecorded":
            msg = "a late entry cannot wrap another late entry"
            raise ValueError(msg)
        return value

    def wrapped(self) -> Payload:
        """Validate and return the wrapped event's payload."""
        return CATALOGUE[self.wraps].model_validate(self.event)


@event("CorrectionRecorded", streams=("case", "programme"))
class CorrectionRecorded(Payload):
    """A compensating correction of an earlier event of the same case."""

    corrects_version: int = Field(ge=1)
    reason: Text
    correction: Text


# ---------------------------------------------------------------- trust (key) streams
@event("TrustRootEstablished", streams=("trust",))
class TrustRootEstablished(Payload):
    """An agency's trust root key."""

    agency: Ref
    key_id: Ref
    public_key: Ref


@event("OfficerKeyCertified", streams=("trust",))
class OfficerKeyCertified(Payload):
    """An officer key certificate, signed by the agency root."""

    certificate: dict[str, Any]


@event("OfficerKeyRevoked", streams=("trust",))
class OfficerKeyRevoked(Payload):
    """An officer key was revoked from this log position on."""

    key_id: Ref
    reason: Text


@event("OfficerKeyRotated", streams=("trust",))
class OfficerKeyRotated(Payload):
    """An officer key was replaced by a new certified key."""

    old_key_id: Ref
    certificate: dict[str, Any]
    reason: Text


def _list_item(annotation: Any) -> tuple[bool, Any]:
    """(is a list, its item type) of a field annotation, looking through ``X | None``."""
    if get_origin(annotation) in (Union, UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return True, args[0] if args else Any
    return False, annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) in (Union, UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def as_lists(model: type[BaseModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with a single value given for a list-valued field taken as a list of one
    (``witnesses: ICE-1`` as ``witnesses: [ICE-1]``), in nested models too. Nothing else is
    changed: whatever still does not fit is refused when the payload is validated."""
    out = dict(fields)
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in out:
            continue
        value = out[key]
        is_list, item = _list_item(info.annotation)
        nested = _model_of(item)
        if is_list:
            if value is not None and not isinstance(value, list | tuple):
                value = [value]
            if nested is not None and isinstance(value, list | tuple):
                value = [as_lists(nested, v) if isinstance(v, Mapping) else v for v in value]
        elif nested is not None and isinstance(value, Mapping):
            value = as_lists(nested, value)
        out[key] = value
    return out


def payload_model(type_name: str) -> type[Payload]:
    """Return the payload model of an event type (KeyError-free: None is not returned)."""
    from cdlog.errors import InputError  # noqa: PLC0415 - keep the module import-light

    try:
        return CATALOGUE[type_name]
    except KeyError:
        raise InputError("type", f"{type_name!r} is not an event type of the catalogue",
                         "one of " + ", ".join(sorted(CATALOGUE))) from None


STREAM_KINDS = ("case", "pnr", "pnr-access", "trust", "programme")
"""Kinds of stream: a case, a PNR record, the PNR access log, an agency's keys, and a
programme (``programme:<name>``: action items outside any case, such as the memo's own, R9)."""


def stream_kind(stream: str) -> str:
    """Return the kind of a stream from its name (one of :data:`STREAM_KINDS`)."""
    kind, sep, rest = stream.partition(":")
    if not sep or not rest or kind not in STREAM_KINDS:
        from cdlog.errors import InputError  # noqa: PLC0415

        raise InputError("stream", f"{stream!r} is not a stream name",
                         "case:<ref>, pnr:<key>, pnr-access:<partition>, trust:<agency> or "
                         "programme:<name>")
    return kind
