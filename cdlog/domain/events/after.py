"""The after stage: interviews, prosecution, forfeiture, feedback and action items."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdlog.domain.events.base import Payload, event
from cdlog.domain.values import Count, Day, Ref, Text, Time


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
