"""The port stage: OFO's detection, the notification of OI, OI's acceptance or declination."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdlog.domain.events.base import ItemRef, Payload, RefValue, event
from cdlog.domain.values import Count, Frozen, Ref, Text, Time, Weight


# ---------------------------------------------------------------- value parts of the port stage
class Item(Frozen):
    """An item as first found: id, description, category, count and gross weight."""

    item_id: Ref
    description: Text
    category: Literal["drug", "IPR", "firearm", "currency", "wildlife", "merchandise", "other"]
    count: Count | None = None
    gross_weight_kg: Weight | None = None
    unit: Ref | None = None


class FieldTest(Frozen):
    """A presumptive field test."""

    kit: Ref | None = None
    result: Text


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
