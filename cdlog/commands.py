"""Domain-shaped commands: ``log.record_discovery(...)``, ``log.accept_case(...)``...

Each is a thin, typed wrapper over :meth:`cdlog.application.CaseLog.record`; every event
type of the catalogue can also be recorded through ``record`` by its type name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from cdlog.domain import events as ev
from cdlog.domain.values import Occurred
from cdlog.keys.signer import Signer
from cdlog.sealing import SealedEvent

When = datetime | Occurred | Mapping[str, Any]


class _Records(Protocol):
    def record(self, stream: str, event: str | type[ev.Payload] | ev.Payload,
               fields: Mapping[str, Any] | None = None, *, signer: Signer,
               cosigners: Sequence[Signer] = (), at: When,
               recorded: datetime | None = None) -> SealedEvent: ...

    def resolve(self, case: str) -> str: ...


def _clean(**fields: Any) -> dict[str, Any]:
    return {k.rstrip("_") if k in {"from_", "with_"} else k: v
            for k, v in fields.items() if v is not None}


class CaseCommands:
    """Mixin with one method per main step of the controlled-delivery lifecycle."""

    def open_case(self: _Records, reference: str, *, port: str, signer: Signer, at: When,
                  operation_id: str | None = None, refs: Mapping[str, Any] | None = None,
                  recorded: datetime | None = None) -> str:
        """Open a case at a port (OFO); returns its stream name ``case:<reference>``."""
        stream = f"case:{reference}"
        self.record(stream, ev.CaseOpened, _clean(reference=reference, port=port,
                                                 operation_id=operation_id,
                                                 refs=dict(refs or {})),
                    signer=signer, at=at, recorded=recorded)
        return stream

    def record_discovery(self: _Records, case: str, *, items: Sequence[Mapping[str, Any]],
                         signer: Signer, at: When, concealment: str | None = None,
                         field_test: Mapping[str, Any] | None = None,
                         subjects: Sequence[str] = (),
                         recorded: datetime | None = None) -> SealedEvent:
        """R1: an OFO officer records contraband found at the port."""
        return self.record(case, ev.ContrabandDiscovered, _clean(
            items=list(items), concealment=concealment, field_test=field_test,
            subjects=list(subjects)), signer=signer, at=at, recorded=recorded)

    def notify_investigators(self: _Records, case: str, *, to: str, identified_at: datetime,
                             channel: str, signer: Signer, at: When,
                             recorded: datetime | None = None) -> SealedEvent:
        """R3: OFO notifies the OI duty agent."""
        return self.record(case, ev.InvestigativeNotificationSent, _clean(
            to=to, identified_at=identified_at, channel=channel), signer=signer, at=at,
            recorded=recorded)

    def acknowledge_notification(self: _Records, case: str, *, signer: Signer, at: When,
                                 recorded: datetime | None = None) -> SealedEvent:
        """OI acknowledges the notification."""
        return self.record(case, ev.NotificationAcknowledged, {}, signer=signer, at=at,
                           recorded=recorded)

    def accept_case(self: _Records, case: str, *, case_no: str, lead_office: str,
                    signer: Signer, cosigners: Sequence[Signer] = (), at: When,
                    recorded: datetime | None = None) -> SealedEvent:
        """R4: OI accepts the case (duty agent, co-signed by the GS)."""
        return self.record(case, ev.CaseAccepted, _clean(case_no=case_no,
                                                        lead_office=lead_office),
                           signer=signer, cosigners=cosigners, at=at, recorded=recorded)

    def decline_case(self: _Records, case: str, *, reason_code: str, signer: Signer, at: When,
                     referred_to: str | None = None, narrative: str | None = None,
                     recorded: datetime | None = None) -> SealedEvent:
        """R4: OI declines the case."""
        return self.record(case, ev.CaseDeclined, _clean(
            reason_code=reason_code, referred_to=referred_to, narrative=narrative),
            signer=signer, at=at, recorded=recorded)

    def assume_responsibility(self: _Records, case: str, *, scope: str, signer: Signer,
                              at: When, acknowledged_by_ofo: str | None = None,
                              recorded: datetime | None = None) -> SealedEvent:
        """R2: OI assumes responsibility for everything arising from the operation."""
        return self.record(case, ev.ResponsibilityAssumed, _clean(
            agency="ICE", office="OI", scope=scope, acknowledged_by_ofo=acknowledged_by_ofo),
            signer=signer, at=at, recorded=recorded)

    def release_responsibility(self: _Records, case: str, *, to: str, scope: str,
                               signer: Signer, at: When,
                               recorded: datetime | None = None) -> SealedEvent:
        """OI releases responsibility at the end of the operation."""
        return self.record(case, ev.ResponsibilityReleased, {"to": to, "scope": scope},
                           signer=signer, at=at, recorded=recorded)

    def propose_operation(self: _Records, case: str, *, operation_type: str,
                          mode: Mapping[str, str], destination: Mapping[str, str],
                          signer: Signer, at: When, contingencies: str | None = None,
                          recorded: datetime | None = None) -> SealedEvent:
        """OI proposes a controlled delivery or pass-through."""
        return self.record(case, ev.OperationProposed, _clean(
            operation_type=operation_type, mode=dict(mode), destination=dict(destination),
            contingencies=contingencies), signer=signer, at=at, recorded=recorded)

    def grant_approval(self: _Records, case: str, *, kind: str, signer: Signer, at: When,
                       note: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """An approver grants one kind of approval."""
        return self.record(case, ev.ApprovalGranted, _clean(kind=kind, note=note),
                           signer=signer, at=at, recorded=recorded)

    def transfer_custody(self: _Records, case: str, *, from_: str, to: str,
                         items: Sequence[Mapping[str, Any]], signer: Signer,
                         cosigners: Sequence[Signer] = (), at: When,
                         receipt_ref: str | None = None, seals: Sequence[str] = (),
                         recorded: datetime | None = None) -> SealedEvent:
        """Items change hands; both officers sign."""
        return self.record(case, ev.CustodyTransferred, _clean(
            from_=from_, to=to, items=list(items), receipt_ref=receipt_ref,
            seals=list(seals)), signer=signer, cosigners=cosigners, at=at, recorded=recorded)

    def release_hold(self: _Records, case: str, *, reason: str, signer: Signer, at: When,
                     recorded: datetime | None = None) -> SealedEvent:
        """OFO releases the hold (for a CD/PT only after R2 and the approvals)."""
        return self.record(case, ev.HoldReleased, {"reason": reason}, signer=signer, at=at,
                           recorded=recorded)

    def record_incident(self: _Records, case: str, *, incident_id: str, incident_type: str,
                        discovered_at: datetime, signer: Signer, at: When,
                        severity: str = "medium", description: str | None = None,
                        recorded: datetime | None = None) -> SealedEvent:
        """An incident, attributed by when it happened (``at`` may be a window)."""
        return self.record(case, ev.IncidentOccurred, _clean(
            incident_id=incident_id, incident_type=incident_type, severity=severity,
            discovered_at=discovered_at, description=description), signer=signer, at=at,
            recorded=recorded)

    def provide_feedback(self: _Records, case: str, *, from_agency: str, to_agency: str,
                         categories: Sequence[str], results: str, signer: Signer, at: When,
                         recorded: datetime | None = None) -> SealedEvent:
        """R7: feedback on results to the other agency."""
        return self.record(case, ev.FeedbackProvided, _clean(
            from_agency=from_agency, to_agency=to_agency, categories=list(categories),
            results=results), signer=signer, at=at, recorded=recorded)

    def assign_action_item(self: _Records, case: str, *, item_id: str, owner: str, due: date,
                           what: str, signer: Signer, at: When,
                           recorded: datetime | None = None) -> SealedEvent:
        """R9: assign an action item with a due date."""
        return self.record(case, ev.ActionItemAssigned, _clean(
            item_id=item_id, owner=owner, due=due, what=what), signer=signer, at=at,
            recorded=recorded)

    def complete_action_item(self: _Records, case: str, *, item_id: str, signer: Signer,
                             at: When, recorded: datetime | None = None) -> SealedEvent:
        """R9: the owner completes an action item."""
        return self.record(case, ev.ActionItemCompleted, {"item_id": item_id}, signer=signer,
                           at=at, recorded=recorded)

    def close_case(self: _Records, case: str, *, reason: str, signer: Signer, at: When,
                   recorded: datetime | None = None) -> SealedEvent:
        """Close the case (after OI released any responsibility)."""
        return self.record(case, ev.CaseClosed, {"reason": reason}, signer=signer, at=at,
                           recorded=recorded)
