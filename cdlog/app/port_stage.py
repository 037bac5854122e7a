"""Typed commands of a case's start: opening and closing, port acts, OI's decision, R2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cdlog.app.typed import When, _clean, _in, _items, _Records
from cdlog.domain import events as ev
from cdlog.errors import InputError
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent


class PortCommands:
    """From a case's opening at the port to OI taking responsibility, and its closure."""

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
        with self.batch() as batch:  # one look at the log for the check and the event
            existing = self._peek(stream)
            if existing.version:
                raise InputError("reference", f"case {stream} already exists (opened at port "
                                 f"{existing.port}, {existing.version} events)",
                                 "a reference no case has yet")
            batch.record(stream, ev.CaseOpened, _clean(reference=reference, port=port,
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
