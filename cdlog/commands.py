"""Domain-shaped commands: ``log.open_case(...)``, ``log.accept_case(...)``...

One typed method per stage a case records, each a thin wrapper over
:meth:`cdlog.application.CaseLog.record` (every event type of the catalogue can also be
recorded through ``record`` by its type name). The docstrings say which rule governs each
stage and who may record it; docs/RULES.md has the rules per origin. Common to all:

* ``case`` is a stream name (``case:OP-2006-0001``) or a case reference (``OP-2006-0001``);
  recording into a case that was never opened raises :class:`~cdlog.errors.NotFoundError`,
  and opening a case that exists raises :class:`~cdlog.errors.InputError` saying so.
* ``at`` is when it happened (a time, or a window ``{"from": ..., "to": ...}``);
  ``recorded`` sets the log clock for the event (default: the log's clock).
* ``signer`` is the acting officer's key; ``cosigners`` are the other parties who sign.
* A rule that refuses the step raises :class:`~cdlog.errors.RuleViolationError` naming the
  rule; nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from cdlog.domain import events as ev
from cdlog.domain.case import CaseState
from cdlog.domain.values import Occurred
from cdlog.errors import InputError, NotFoundError
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent

When = datetime | Occurred | Mapping[str, Any]


class _Records(Protocol):
    def record(self, stream: str, event: str | type[ev.Payload] | ev.Payload,
               fields: Mapping[str, Any] | None = None, *, signer: Signer,
               cosigners: Sequence[Signer] = (), at: When,
               recorded: datetime | None = None) -> SealedEvent: ...

    def resolve(self, case: str) -> str: ...

    def state(self, stream: str) -> CaseState: ...


def _clean(**fields: Any) -> dict[str, Any]:
    return {k.rstrip("_") if k in {"from_", "with_"} else k: v
            for k, v in fields.items() if v is not None}


def _items(items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [dict(i) for i in items]


def _opened(log: _Records, case: str) -> str:
    """The stream of an opened case; :class:`NotFoundError` when it was never opened."""
    stream = log.resolve(case)
    if stream.partition(":")[0] == "case" and log.state(stream).version == 0:
        raise NotFoundError(f"no case {stream}: it was never opened (open_case first)")
    return stream


def _in(log: _Records, case: str, event: type[ev.Payload], fields: dict[str, Any], *,
        signer: Signer, at: When, cosigners: Sequence[Signer] = (),
        recorded: datetime | None = None) -> SealedEvent:
    return log.record(_opened(log, case), event, fields, signer=signer, cosigners=cosigners,
                      at=at, recorded=recorded)


class CaseCommands:
    """Mixin with one method per stage of a case, from its opening to its closure."""

    # ------------------------------------------------------------ opening and closing
    def open_case(self: _Records, reference: str, *, port: str, signer: Signer, at: When,
                  operation_id: str | None = None, refs: Mapping[str, Any] | None = None,
                  origin: Mapping[str, Any] | None = None,
                  recorded: datetime | None = None) -> str:
        """Open a case; returns its stream name ``case:<reference>``.

        ``origin`` says where it began: ``{"kind": ..., "agency": ..., "office": ...,
        "authority": ..., "state": ..., "via": ..., "request_ref": ..., "case_no": ...}``
        with kind ``ofo_interdiction`` (the default when left out), ``oi_investigation``,
        ``foreign_request`` or ``partner_referral``. R1: an OFO interdiction is opened by
        CBP/OFO at the port; OI's own investigation and a partner referral by ICE/OI; a
        foreign request by the ICE attaché who relays it (roles in configuration:
        ``openers``). A case that did not begin with OFO is OI's from its opening (no
        CaseAccepted; give its OI number as ``origin.case_no``). Raises
        :class:`~cdlog.errors.InputError` when the case exists already.
        """
        stream = f"case:{reference}"
        existing = self.state(stream)
        if existing.version:
            raise InputError("reference", f"case {stream} already exists (opened at port "
                             f"{existing.port}, {existing.version} events)",
                             "a reference no case has yet")
        self.record(stream, ev.CaseOpened, _clean(reference=reference, port=port,
                                                 operation_id=operation_id,
                                                 refs=dict(refs or {}),
                                                 origin=dict(origin) if origin else None),
                    signer=signer, at=at, recorded=recorded)
        return stream

    def close_case(self: _Records, case: str, *, reason: str, signer: Signer, at: When,
                   recorded: datetime | None = None) -> SealedEvent:
        """Close the case (R2: only after OI released any responsibility it held)."""
        return _in(self, case, ev.CaseClosed, {"reason": reason}, signer=signer, at=at,
                   recorded=recorded)

    # ------------------------------------------------------------ port acts (R1: OFO's)
    def record_arrival(self: _Records, case: str, *, signer: Signer, at: When,
                       refs: Mapping[str, Any] | None = None, conveyance: str | None = None,
                       port: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """R1: a CBP/OFO officer records the conveyance's arrival (``port``: where, when it
        is not the case's port)."""
        return _in(self, case, ev.ConveyanceArrived, _clean(
            refs=dict(refs or {}), conveyance=conveyance, port=port), signer=signer, at=at,
            recorded=recorded)

    def refer_examination(self: _Records, case: str, *, reason: str, signer: Signer,
                          at: When, port: str | None = None,
                          recorded: datetime | None = None) -> SealedEvent:
        """R1: a CBP/OFO officer refers the shipment to secondary examination."""
        return _in(self, case, ev.ExaminationReferred, _clean(reason=reason, port=port),
                   signer=signer, at=at, recorded=recorded)

    def record_examination(self: _Records, case: str, *, method: str, result: str,
                           signer: Signer, at: When, start: datetime | None = None,
                           end: datetime | None = None, port: str | None = None,
                           recorded: datetime | None = None) -> SealedEvent:
        """R1: a CBP/OFO officer records an examination (an OI agent cannot). In a case that
        began with OI, it opens OFO's feedback duty to OI (R7)."""
        return _in(self, case, ev.ExaminationConducted, _clean(
            method=method, result=result, start=start, end=end, port=port), signer=signer,
            at=at, recorded=recorded)

    def record_discovery(self: _Records, case: str, *, items: Sequence[Mapping[str, Any]],
                         signer: Signer, at: When, concealment: str | None = None,
                         field_test: Mapping[str, Any] | None = None,
                         subjects: Sequence[str] = (), port: str | None = None,
                         recorded: datetime | None = None) -> SealedEvent:
        """R1: a CBP/OFO officer records contraband found at the port."""
        return _in(self, case, ev.ContrabandDiscovered, _clean(
            items=_items(items), concealment=concealment,
            field_test=dict(field_test) if field_test else None, subjects=list(subjects),
            port=port), signer=signer, at=at, recorded=recorded)

    def place_hold(self: _Records, case: str, *, hold_type: str, reason: str, signer: Signer,
                   at: When, port: str | None = None,
                   recorded: datetime | None = None) -> SealedEvent:
        """R1: a CBP/OFO officer places a hold (``quiet_hold_pending_OI``, ``commercial``...)."""
        return _in(self, case, ev.HoldPlaced, _clean(hold_type=hold_type, reason=reason,
                                                     port=port),
                   signer=signer, at=at, recorded=recorded)

    def release_hold(self: _Records, case: str, *, reason: str, signer: Signer, at: When,
                     port: str | None = None,
                     recorded: datetime | None = None) -> SealedEvent:
        """R1: OFO releases the hold. For a proposed CD/PT this is the release into the
        operation: refused until OI assumed responsibility (R2) and every required approval
        was granted and is still valid, in whatever order they came."""
        return _in(self, case, ev.HoldReleased, _clean(reason=reason, port=port),
                   signer=signer, at=at, recorded=recorded)

    def record_seizure(self: _Records, case: str, *, seizure_no: str, seizure_type: str,
                       signer: Signer, at: When, fpf_no: str | None = None,
                       items: Sequence[Mapping[str, Any]] = (),
                       custody_receipt: str | None = None, port: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """R1: a seizure, recorded by CBP/OFO (at the port) or ICE/OI."""
        return _in(self, case, ev.SeizureRecorded, _clean(
            seizure_no=seizure_no, seizure_type=seizure_type, fpf_no=fpf_no,
            items=_items(items), custody_receipt=custody_receipt, port=port),
            signer=signer, at=at, recorded=recorded)

    def release_pass_through(self: _Records, case: str, *, requested_by: str,
                             authorised_by: str, exam_performed: bool, signer: Signer,
                             at: When, cosigners: Sequence[Signer] = (),
                             counts_at_release: Sequence[Mapping[str, Any]] = (),
                             port: str | None = None,
                             recorded: datetime | None = None) -> SealedEvent:
        """R1/R2: release without seizure at OI's request (``requested_by``, ICE/OI),
        authorised by CBP/OFO (``authorised_by``, who must sign); needs a proposed
        pass-through, OI's responsibility and every required approval."""
        return _in(self, case, ev.ReleasedUnderPassThrough, _clean(
            requested_by=requested_by, authorised_by=authorised_by,
            exam_performed=exam_performed, counts_at_release=_items(counts_at_release),
            port=port), signer=signer, cosigners=cosigners, at=at, recorded=recorded)

    # ------------------------------------------------------------ notification, decision
    def notify_investigators(self: _Records, case: str, *, to: str, identified_at: datetime,
                             channel: str, signer: Signer, at: When,
                             summary_digest: str | None = None,
                             recorded: datetime | None = None) -> SealedEvent:
        """R3: the CBPO (Enforcement) notifies the OI duty agent ``to`` of a case found at
        the port (roles in configuration: ``notifier_roles``); refused from any other
        component, whose information is InformationShared or the case's origin."""
        return _in(self, case, ev.InvestigativeNotificationSent, _clean(
            to=to, identified_at=identified_at, channel=channel,
            summary_digest=summary_digest), signer=signer, at=at, recorded=recorded)

    def acknowledge_notification(self: _Records, case: str, *, signer: Signer, at: When,
                                 note: str | None = None,
                                 recorded: datetime | None = None) -> SealedEvent:
        """R3: ICE/OI acknowledges the notification."""
        return _in(self, case, ev.NotificationAcknowledged, _clean(note=note),
                   signer=signer, at=at, recorded=recorded)

    def consult_prosecutor(self: _Records, case: str, *, with_: str, district: str,
                           position: str, signer: Signer, at: When,
                           threshold_basis: str | None = None,
                           conditions: str | None = None,
                           recorded: datetime | None = None) -> SealedEvent:
        """A prosecutor (``with_``, a DOJ officer when certified) was consulted; the first
        district consulted is the operation's district of origin."""
        return _in(self, case, ev.ProsecutorConsulted, _clean(
            with_=with_, district=district, position=position,
            threshold_basis=threshold_basis, conditions=conditions), signer=signer, at=at,
            recorded=recorded)

    def notify_usao(self: _Records, case: str, *, district: str, basis: str, signer: Signer,
                    at: When, recorded: datetime | None = None) -> SealedEvent:
        """The USAO was notified (19 USC 1603)."""
        return _in(self, case, ev.USAONotified, {"district": district, "basis": basis},
                   signer=signer, at=at, recorded=recorded)

    def accept_case(self: _Records, case: str, *, case_no: str, lead_office: str,
                    signer: Signer, cosigners: Sequence[Signer] = (), at: When,
                    recorded: datetime | None = None) -> SealedEvent:
        """R4: OI accepts an OFO interdiction it was notified of. Recorded by an ICE/OI
        officer; co-signers are optional and must be ICE/OI (the group supervisor's
        co-signature is recorded when given, not required). Refused for a case that began
        with OI, a foreign request or a partner referral: that case is OI's from its
        opening."""
        return _in(self, case, ev.CaseAccepted, _clean(case_no=case_no,
                                                      lead_office=lead_office),
                   signer=signer, cosigners=cosigners, at=at, recorded=recorded)

    def decline_case(self: _Records, case: str, *, reason_code: str, signer: Signer, at: When,
                     referred_to: str | None = None, narrative: str | None = None,
                     future_interest: str | None = None,
                     recorded: datetime | None = None) -> SealedEvent:
        """R4: OI declines an OFO interdiction it was notified of (opens ICE's R7 feedback
        duty to CBP: the declination)."""
        return _in(self, case, ev.CaseDeclined, _clean(
            reason_code=reason_code, referred_to=referred_to, narrative=narrative,
            future_interest=future_interest), signer=signer, at=at, recorded=recorded)

    # ------------------------------------------------------------ responsibility (R2)
    def assume_responsibility(self: _Records, case: str, *, scope: str, signer: Signer,
                              at: When, acknowledged_by_ofo: str | None = None,
                              items: Sequence[str] = (),
                              recorded: datetime | None = None) -> SealedEvent:
        """R2: ICE/OI assumes responsibility for any and all events or incidents arising
        from the CD/PT, before or at release, whatever the case's origin (once OI leads
        it); ``acknowledged_by_ofo`` must be a CBP/OFO officer. A CBP officer cannot
        assume it for OI."""
        return _in(self, case, ev.ResponsibilityAssumed, _clean(
            agency="ICE", office="OI", scope=scope, acknowledged_by_ofo=acknowledged_by_ofo,
            items=list(items)), signer=signer, at=at, recorded=recorded)

    def release_responsibility(self: _Records, case: str, *, to: str, scope: str,
                               signer: Signer, at: When, to_agency: str | None = None,
                               to_office: str | None = None,
                               recorded: datetime | None = None) -> SealedEvent:
        """R2: ICE/OI releases responsibility once the operation was terminated (never
        while it runs); ``to_agency``/``to_office`` name who holds it from then on."""
        return _in(self, case, ev.ResponsibilityReleased, _clean(
            to=to, scope=scope, to_agency=to_agency, to_office=to_office), signer=signer,
            at=at, recorded=recorded)

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

    # ------------------------------------------------------------ after the operation
    def record_interview(self: _Records, case: str, *, subject_ref: str, cbp_present: bool,
                         signer: Signer, at: When, cbp_officer: str | None = None,
                         recorded: datetime | None = None) -> SealedEvent:
        """R6: ICE/OI records a defendant interview; without a CBP officer present it opens
        the duty to brief the Supervisory CBPO (due: configuration)."""
        return _in(self, case, ev.InterviewConducted, _clean(
            subject_ref=subject_ref, cbp_present=cbp_present, cbp_officer=cbp_officer),
            signer=signer, at=at, recorded=recorded)

    def brief_scbpo(self: _Records, case: str, *, scbpo: str, topics: Sequence[str],
                    signer: Signer, at: When,
                    recorded: datetime | None = None) -> SealedEvent:
        """R6: ICE/OI briefs the Supervisory CBP Officer ``scbpo`` (role SCBPO)."""
        return _in(self, case, ev.SCBPOBriefed, {"scbpo": scbpo, "topics": list(topics)},
                   signer=signer, at=at, recorded=recorded)

    def assign_shadow(self: _Records, case: str, *, cbp_officer: str, oi_agent: str,
                      case_no: str, port: str, signer: Signer, at: When,
                      recorded: datetime | None = None) -> SealedEvent:
        """R5: a CBP/OFO officer shadows an ICE/OI agent on a Title 21 case led by OI, at a
        pilot port (configuration: ``pilot_ports``) of the case, whoever opened it."""
        return _in(self, case, ev.ShadowAssigned, {"cbp_officer": cbp_officer,
                                                   "oi_agent": oi_agent, "case_no": case_no,
                                                   "port": port},
                   signer=signer, at=at, recorded=recorded)

    def release_shadow(self: _Records, case: str, *, cbp_officer: str, signer: Signer,
                       at: When, reason: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """R5: the shadow assignment ended."""
        return _in(self, case, ev.ShadowReleased, _clean(cbp_officer=cbp_officer,
                                                         reason=reason),
                   signer=signer, at=at, recorded=recorded)

    def record_prosecution_milestone(self: _Records, case: str, *, kind: str, district: str,
                                     signer: Signer, at: When, subjects: Sequence[str] = (),
                                     recorded: datetime | None = None) -> SealedEvent:
        """A prosecution milestone (a result: opens ICE's R7 feedback duty)."""
        return _in(self, case, ev.ProsecutionMilestone, _clean(
            kind=kind, district=district, subjects=list(subjects)), signer=signer, at=at,
            recorded=recorded)

    def assess_penalty(self: _Records, case: str, *, fpf_no: str, statute: str,
                       amount_usd: int, signer: Signer, at: When, note: str | None = None,
                       recorded: datetime | None = None) -> SealedEvent:
        """A civil penalty (in a case that began with OI, OFO owes OI feedback on it, R7)."""
        return _in(self, case, ev.PenaltyAssessed, _clean(
            fpf_no=fpf_no, statute=statute, amount_usd=amount_usd, note=note),
            signer=signer, at=at, recorded=recorded)

    def provide_feedback(self: _Records, case: str, *, from_agency: str, to_agency: str,
                         categories: Sequence[str], results: str, signer: Signer, at: When,
                         covers_until: datetime | None = None,
                         recorded: datetime | None = None) -> SealedEvent:
        """R7: the receiving agency's feedback to the originating one, either direction.
        ``from_agency`` is the signer's agency; ``to_agency`` another configured agency, a
        DHS component (e.g. USCG) or the case's originating agency (a foreign authority, a
        partner). It closes the open duties ``from_agency`` owes ``to_agency``."""
        return _in(self, case, ev.FeedbackProvided, _clean(
            from_agency=from_agency, to_agency=to_agency, categories=list(categories),
            results=results, covers_until=covers_until), signer=signer, at=at,
            recorded=recorded)

    def share_information(self: _Records, case: str, *, from_agency: str, to_agency: str,
                          basis: str, signer: Signer, at: When, pnr_derived: bool = False,
                          eu_pnr: bool | None = None, data_classes: Sequence[str] = (),
                          authorisation_ref: str | None = None,
                          recorded: datetime | None = None) -> SealedEvent:
        """R8: information went to another agency on ``basis``. ``dhs_need_to_know`` only
        between DHS components (configuration: ``dhs_components``); EU PNR-derived data
        (``pnr_derived`` and ``eu_pnr`` not false) leaves CBP only on ``third_party_rule``
        under a prior, unexpired ThirdPartyDisclosureAuthorized."""
        return _in(self, case, ev.InformationShared, _clean(
            from_agency=from_agency, to_agency=to_agency, basis=basis,
            pnr_derived=pnr_derived, eu_pnr=eu_pnr, data_classes=list(data_classes),
            authorisation_ref=authorisation_ref), signer=signer, at=at, recorded=recorded)

    def ingest_pnr(self: _Records, key: str, *, received_at: datetime, flight: str,
                   values: Mapping[str, Any], signer: Signer, at: When,
                   recorded: datetime | None = None) -> SealedEvent:
        """R8: CBP received the EU PNR record ``pnr:<key>``. ``values`` (fields of the EU PNR
        class: ``locator``, ``passenger``, ``itinerary``...) are committed by cdlog and
        vaulted under CBP's key-encryption key in the event's transaction; only the
        commitments are signed (docs/SPEC.md §13)."""
        return self.record(f"pnr:{key}", ev.PNRRecordIngested, {
            "received_at": received_at, "flight": flight, "key_id": key, **values},
            signer=signer, at=at, recorded=recorded)

    # ------------------------------------------------------------ action items (R9)
    def assign_action_item(self: _Records, case: str, *, item_id: str, owner: str, due: date,
                           what: str, signer: Signer, at: When, source: str | None = None,
                           port: str | None = None,
                           recorded: datetime | None = None) -> SealedEvent:
        """R9: assign an action item with a due day (overdue from midnight after it, in the
        time zone of ``port``, by default the case's port; derived, never recorded)."""
        return _in(self, case, ev.ActionItemAssigned, _clean(
            item_id=item_id, owner=owner, due=due, what=what, source=source, port=port),
            signer=signer, at=at, recorded=recorded)

    def complete_action_item(self: _Records, case: str, *, item_id: str, signer: Signer,
                             at: When, note: str | None = None,
                             recorded: datetime | None = None) -> SealedEvent:
        """R9: the owner, the assigner or a supervisor completes an open action item."""
        return _in(self, case, ev.ActionItemCompleted, _clean(item_id=item_id, note=note),
                   signer=signer, at=at, recorded=recorded)

    def waive_action_item(self: _Records, case: str, *, item_id: str, reason: str,
                          signer: Signer, at: When,
                          recorded: datetime | None = None) -> SealedEvent:
        """R9: the owner, the assigner or a supervisor waives an open action item."""
        return _in(self, case, ev.ActionItemWaived, {"item_id": item_id, "reason": reason},
                   signer=signer, at=at, recorded=recorded)
