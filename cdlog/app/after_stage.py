"""Typed commands after the operation: interviews, feedback, sharing, PNR, action items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from cdlog.app.typed import When, _clean, _in, _Records
from cdlog.domain import events as ev
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent


class AfterCommands:
    """What follows the operation: interviews, shadows, prosecution, feedback, sharing."""

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
