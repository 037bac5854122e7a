"""Typed commands of the operation: planning, approvals, custody, surveillance, results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cdlog.app.typed import When, _clean, _in, _items, _Records
from cdlog.domain import events as ev
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent


class OperationCommands:
    """From the proposed operation to its delivery, results and incidents."""

    # ------------------------------------------------------------ planning and approvals
    def propose_operation(self: _Records, case: str, *, operation_type: str,
                          mode: Mapping[str, str], destination: Mapping[str, str],
                          signer: Signer, at: When, contingencies: str | None = None,
                          targets: Sequence[str] = (), sensitive: bool = False,
                          border: str = "domestic", plan_digest: str | None = None,
                          risk_assessment_digest: str | None = None,
                          recorded: datetime | None = None) -> SealedEvent:
        """R1/R4: ICE/OI proposes a controlled delivery or pass-through (planning is OI's),
        once it leads the case (accepted from OFO, or OI's from its opening). The approvals
        it needs come from configuration (``required_approvals`` and the additions for
        substitution, sensitivity, a second district, a foreign border or origin)."""
        return _in(self, case, ev.OperationProposed, _clean(
            operation_type=operation_type, mode=dict(mode), destination=dict(destination),
            contingencies=contingencies, targets=list(targets), sensitive=sensitive,
            border=border, plan_digest=plan_digest,
            risk_assessment_digest=risk_assessment_digest), signer=signer, at=at,
            recorded=recorded)

    def request_approval(self: _Records, case: str, *, kind: str, requested_of: str,
                         signer: Signer, at: When,
                         recorded: datetime | None = None) -> SealedEvent:
        """Request one kind of approval of the proposed operation."""
        return _in(self, case, ev.ApprovalRequested, {"kind": kind,
                                                      "requested_of": requested_of},
                   signer=signer, at=at, recorded=recorded)

    def grant_approval(self: _Records, case: str, *, kind: str, signer: Signer, at: When,
                       note: str | None = None, conditions: str | None = None,
                       valid_until: datetime | None = None, scope: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """An approver whose role may give ``kind`` (configuration: ``approval_roles``)
        grants it; any order among the approvals, all checked at release."""
        return _in(self, case, ev.ApprovalGranted, _clean(
            kind=kind, note=note, conditions=conditions, valid_until=valid_until,
            scope=scope), signer=signer, at=at, recorded=recorded)

    def deny_approval(self: _Records, case: str, *, kind: str, reason: str, signer: Signer,
                      at: When, recorded: datetime | None = None) -> SealedEvent:
        """An approver whose role may give ``kind`` denies it."""
        return _in(self, case, ev.ApprovalDenied, {"kind": kind, "reason": reason},
                   signer=signer, at=at, recorded=recorded)

    def record_deconfliction(self: _Records, case: str, *, system: str, ref: str,
                             result: str, signer: Signer, at: When,
                             partner: str | None = None,
                             recorded: datetime | None = None) -> SealedEvent:
        """Deconfliction was run (``clear`` or ``overlap`` with ``partner``)."""
        return _in(self, case, ev.DeconflictionRecorded, _clean(
            system=system, ref=ref, result=result, partner=partner), signer=signer, at=at,
            recorded=recorded)

    def notify_receiving_office(self: _Records, case: str, *, office: str, signer: Signer,
                                at: When, agency: str | None = None, note: str | None = None,
                                recorded: datetime | None = None) -> SealedEvent:
        """The receiving SAC office or agency of another district was told."""
        return _in(self, case, ev.ReceivingOfficeNotified, _clean(
            office=office, agency=agency, note=note), signer=signer, at=at,
            recorded=recorded)

    def record_foreign_consent(self: _Records, case: str, *, state: str, authority: str,
                               instrument: str, signer: Signer, at: When,
                               conditions: str | None = None,
                               recorded: datetime | None = None) -> SealedEvent:
        """A foreign competent authority consented (Vienna art. 11, Naples II, MLA); the
        ``foreign`` approval itself is an ApprovalGranted by a foreign liaison or SAC."""
        return _in(self, case, ev.ForeignConsentRecorded, _clean(
            state=state, authority=authority, instrument=instrument, conditions=conditions),
            signer=signer, at=at, recorded=recorded)

    # ------------------------------------------------------------ custody and preparation
    def transfer_custody(self: _Records, case: str, *, from_: str, to: str,
                         items: Sequence[Mapping[str, Any]], signer: Signer,
                         cosigners: Sequence[Signer] = (), at: When,
                         receipt_ref: str | None = None, seals: Sequence[str] = (),
                         recorded: datetime | None = None) -> SealedEvent:
        """Items change hands; both officers sign (a place as receiver signs nothing)."""
        return _in(self, case, ev.CustodyTransferred, _clean(
            from_=from_, to=to, items=_items(items), receipt_ref=receipt_ref,
            seals=list(seals)), signer=signer, cosigners=cosigners, at=at, recorded=recorded)

    def perform_substitution(self: _Records, case: str, *, witnesses: Sequence[str],
                             removed: Mapping[str, Any], remaining: Mapping[str, Any],
                             sham_added: Mapping[str, Any], removed_stored_at: str,
                             signer: Signer, at: When, approval_ref: str | None = None,
                             recorded: datetime | None = None) -> SealedEvent:
        """Sham replaces contraband, after the ``substitution`` approval; removed plus
        remaining must equal what is held."""
        return _in(self, case, ev.SubstitutionPerformed, _clean(
            witnesses=list(witnesses), removed=dict(removed), remaining=dict(remaining),
            sham_added=dict(sham_added), removed_stored_at=removed_stored_at,
            approval_ref=approval_ref), signer=signer, at=at, recorded=recorded)

    def take_sample(self: _Records, case: str, *, sample_of: str, destination: str,
                    signer: Signer, at: When, count: int | None = None,
                    gross_weight_kg: str | None = None, seal: str | None = None,
                    recorded: datetime | None = None) -> SealedEvent:
        """A sample was taken."""
        return _in(self, case, ev.SampleTaken, _clean(
            sample_of=sample_of, destination=destination, count=count,
            gross_weight_kg=gross_weight_kg, seal=seal), signer=signer, at=at,
            recorded=recorded)

    def install_tracker(self: _Records, case: str, *, legal_basis_ref: str, signer: Signer,
                        at: When, device_ref: str | None = None,
                        battery_expected_until: datetime | None = None,
                        recorded: datetime | None = None) -> SealedEvent:
        """A tracking device was installed (with its legal basis)."""
        return _in(self, case, ev.TrackingDeviceInstalled, _clean(
            legal_basis_ref=legal_basis_ref, device_ref=device_ref,
            battery_expected_until=battery_expected_until), signer=signer, at=at,
            recorded=recorded)

    def store_evidence(self: _Records, case: str, *, location: str, custodian: str,
                       signer: Signer, at: When, items: Sequence[Mapping[str, Any]] = (),
                       ledger_ref: str | None = None, lab_notified_at: datetime | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """Evidence was stored in a vault or sent to a lab."""
        return _in(self, case, ev.EvidenceStored, _clean(
            location=location, custodian=custodian, items=_items(items),
            ledger_ref=ledger_ref, lab_notified_at=lab_notified_at), signer=signer, at=at,
            recorded=recorded)

    # ------------------------------------------------------------ surveillance (R1: OI's)
    def start_surveillance(self: _Records, case: str, *, team_lead: str, signer: Signer,
                           at: When, team_members: Sequence[str] = (),
                           cbp_shadow: str | None = None,
                           recorded: datetime | None = None) -> SealedEvent:
        """R1: ICE/OI starts surveillance outside the port (``cbp_shadow``: a CBP officer,
        R5)."""
        return _in(self, case, ev.SurveillanceStarted, _clean(
            team_lead=team_lead, team_members=list(team_members), cbp_shadow=cbp_shadow),
            signer=signer, at=at, recorded=recorded)

    def observe_position(self: _Records, case: str, *, method: str, position: str,
                         signer: Signer, at: When,
                         recorded: datetime | None = None) -> SealedEvent:
        """R1: ICE/OI observes a position (while surveillance is active or lost)."""
        return _in(self, case, ev.PositionObserved, {"method": method, "position": position},
                   signer=signer, at=at, recorded=recorded)

    def hand_off_surveillance(self: _Records, case: str, *, from_team: str, to_team: str,
                              signer: Signer, at: When, position: str | None = None,
                              recorded: datetime | None = None) -> SealedEvent:
        """R1: surveillance passes from one OI team to another."""
        return _in(self, case, ev.SurveillanceHandedOff, _clean(
            from_team=from_team, to_team=to_team, position=position), signer=signer, at=at,
            recorded=recorded)

    def lose_surveillance(self: _Records, case: str, *, last_confirmed: Mapping[str, Any],
                          signer: Signer, at: When, cause: str | None = None,
                          recorded: datetime | None = None) -> SealedEvent:
        """R1: surveillance was lost (``at``: when the loss was detected;
        ``last_confirmed``: ``{at, position, by}``, not after it)."""
        return _in(self, case, ev.SurveillanceLost, _clean(
            last_confirmed=dict(last_confirmed), cause=cause), signer=signer, at=at,
            recorded=recorded)

    def reacquire_surveillance(self: _Records, case: str, *, condition_of_load: str,
                               signer: Signer, at: When, position: str | None = None,
                               recorded: datetime | None = None) -> SealedEvent:
        """R1: lost surveillance was reacquired."""
        return _in(self, case, ev.SurveillanceReacquired, _clean(
            condition_of_load=condition_of_load, position=position), signer=signer, at=at,
            recorded=recorded)

    def end_surveillance(self: _Records, case: str, *, signer: Signer, at: When,
                         reason: str | None = None,
                         recorded: datetime | None = None) -> SealedEvent:
        """R1: surveillance ended."""
        return _in(self, case, ev.SurveillanceEnded, _clean(reason=reason), signer=signer,
                   at=at, recorded=recorded)

    # ------------------------------------------------------------ delivery and results
    def record_delivery(self: _Records, case: str, *, to_party: str, signer: Signer,
                        at: When, location: str | None = None,
                        accepted_by: str | None = None,
                        recorded: datetime | None = None) -> SealedEvent:
        """R2: the load was delivered; refused without a proposed CD/PT or before its
        release."""
        return _in(self, case, ev.DeliveryMade, _clean(
            to_party=to_party, location=location, accepted_by=accepted_by), signer=signer,
            at=at, recorded=recorded)

    def take_enforcement_action(self: _Records, case: str, *, kind: str, signer: Signer,
                                at: When, warrant_ref: str | None = None,
                                team_lead: str | None = None,
                                recorded: datetime | None = None) -> SealedEvent:
        """An enforcement action (search, arrest, interdiction) was taken."""
        return _in(self, case, ev.EnforcementActionTaken, _clean(
            kind=kind, warrant_ref=warrant_ref, team_lead=team_lead), signer=signer, at=at,
            recorded=recorded)

    def record_arrest(self: _Records, case: str, *, subject_ref: str, arresting_agency: str,
                      signer: Signer, at: When, charges_basis: str | None = None,
                      recorded: datetime | None = None) -> SealedEvent:
        """A subject was arrested (a result: opens ICE's R7 feedback duty)."""
        return _in(self, case, ev.ArrestMade, _clean(
            subject_ref=subject_ref, arresting_agency=arresting_agency,
            charges_basis=charges_basis), signer=signer, at=at, recorded=recorded)

    def recover_items(self: _Records, case: str, *, items: Sequence[Mapping[str, Any]],
                      signer: Signer, at: When, location: str | None = None,
                      recorded: datetime | None = None) -> SealedEvent:
        """Items were recovered."""
        return _in(self, case, ev.ItemsRecovered, _clean(items=_items(items),
                                                         location=location),
                   signer=signer, at=at, recorded=recorded)

    def reconcile_inventory(self: _Records, case: str, *, expected: Mapping[str, int],
                            found: Mapping[str, int], discrepancy: int, signer: Signer,
                            at: When, explained_by: str | None = None,
                            recorded: datetime | None = None) -> SealedEvent:
        """Counts reconciled; ``discrepancy`` must equal the difference."""
        return _in(self, case, ev.InventoryReconciled, _clean(
            expected=dict(expected), found=dict(found), discrepancy=discrepancy,
            explained_by=explained_by), signer=signer, at=at, recorded=recorded)

    def terminate_operation(self: _Records, case: str, *, reason: str, signer: Signer,
                            at: When, note: str | None = None,
                            recorded: datetime | None = None) -> SealedEvent:
        """ICE/OI terminates the running operation (a result: opens ICE's R7 duty)."""
        return _in(self, case, ev.OperationTerminated, _clean(reason=reason, note=note),
                   signer=signer, at=at, recorded=recorded)

    # ------------------------------------------------------------ incidents, knowledge
    def record_incident(self: _Records, case: str, *, incident_id: str, incident_type: str,
                        discovered_at: datetime, signer: Signer, at: When,
                        severity: str = "medium", description: str | None = None,
                        discovered_by: str | None = None,
                        recorded: datetime | None = None) -> SealedEvent:
        """An incident, attributed (R2) by when it happened (``at`` may be a window)."""
        return _in(self, case, ev.IncidentOccurred, _clean(
            incident_id=incident_id, incident_type=incident_type, severity=severity,
            discovered_at=discovered_at, description=description,
            discovered_by=discovered_by), signer=signer, at=at, recorded=recorded)

    def update_incident(self: _Records, case: str, *, incident_id: str, findings: str,
                        signer: Signer, at: When,
                        recorded: datetime | None = None) -> SealedEvent:
        """Findings on an open incident."""
        return _in(self, case, ev.IncidentUpdated, {"incident_id": incident_id,
                                                    "findings": findings},
                   signer=signer, at=at, recorded=recorded)

    def close_incident(self: _Records, case: str, *, incident_id: str, signer: Signer,
                       at: When, findings: str | None = None,
                       corrective_actions: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """Close an open incident."""
        return _in(self, case, ev.IncidentClosed, _clean(
            incident_id=incident_id, findings=findings,
            corrective_actions=corrective_actions), signer=signer, at=at, recorded=recorded)

    def record_notification(self: _Records, case: str, *, from_: str, to: str, subject: str,
                            signer: Signer, at: When, channel: str | None = None,
                            incident_id: str | None = None,
                            recorded: datetime | None = None) -> SealedEvent:
        """Someone told someone something; recorded by the teller (``from_``)."""
        return _in(self, case, ev.NotificationMade, _clean(
            from_=from_, to=to, subject=subject, channel=channel, incident_id=incident_id),
            signer=signer, at=at, recorded=recorded)
