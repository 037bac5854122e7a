"""The operation stage: approvals, custody, surveillance, delivery, termination, incidents."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdlog.domain.events.base import ItemRef, Payload, event
from cdlog.domain.values import Count, Frozen, Ref, Text, Time, Weight


# ---------------------------------------------------------------- value parts of operations
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
