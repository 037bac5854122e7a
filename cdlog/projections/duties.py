"""The duties view: the memo's duties (R3-R9) opened and closed, with their due times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.case import Fact
from cdlog.domain.evolve import PORT_ACTS, PORT_RESULT_EVENTS, RESULT_EVENTS, feedback_owed_for
from cdlog.domain.origins import origin_of
from cdlog.projections.store import Entry, NewEntry, Prior, fingerprint
from cdlog.projections.view import View


class DutiesView(View):
    """The memo's duties as opened and closed, with their due times from the configuration.

    This is an independent implementation of the duty rules of
    :func:`cdlog.domain.evolve.evolve` over stored entries; a property test holds the two
    equal. Feedback (R7) is owed as :func:`cdlog.domain.evolve.feedback_owed_for` says, per
    the case's origin: by the receiving agency to the originating one, in both directions.
    Each duty records the port where it arises (an action item's ``port``, a port act's
    ``port``, else the case's port): its due day is read in that port's time zone.
    """

    name = "duties"
    schema = 2
    types = frozenset({"CaseOpened", "InvestigativeNotificationSent", "CaseAccepted",
                       "CaseDeclined", "InterviewConducted", "SCBPOBriefed",
                       "ActionItemAssigned", "ActionItemCompleted", "ActionItemWaived",
                       "FeedbackProvided", *RESULT_EVENTS, *PORT_RESULT_EVENTS, *PORT_ACTS})

    def fingerprint(self) -> str:
        """Due times depend on the configuration, so it is part of the fingerprint."""
        return fingerprint(self.name, str(self.schema), self.config.model_dump_json())

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Duty openings and closings, plus the R3/R4 timestamps, interviews, the case's
        origin and whether OFO acted at the port (for R7)."""
        s = fact.stream
        if fact.type in _PORT_ONLY or fact.type in PORT_RESULT_EVENTS:
            # OFO's port acts and results count only outside OFO interdictions (R7): OFO owes
            # OI feedback on them, and they make the port one OI owes its results to
            if (fact.actor.agency, fact.actor.office) != ("CBP", "OFO"):
                return []
            seen = prior.entries(s, _KNOWN)  # the kinds the full path asks: one load a page
            case = next((e for e in seen if e.kind == "case"), None)
            if case is None or case.data.get("origin", "ofo_interdiction") == \
                    "ofo_interdiction":
                return []
            if fact.type in _PORT_ONLY:
                return [] if any(e.kind == "port_acted" for e in seen) else [
                    NewEntry("port_acted", s, {})]
        p = fact.payload
        when = fact.occurred.end
        out: list[NewEntry] = []
        known = prior.entries(s, _KNOWN)
        case = next((e for e in known if e.kind == "case"), None)
        case_port = case.data.get("port") if case is not None else None
        open_duties = _OpenDuties(known)  # worked out only when a branch asks
        match p:
            case ev.CaseOpened():
                origin = origin_of(p)
                out.append(NewEntry("case", s, {"port": p.port, "origin": origin.kind,
                                                "origin_agency": origin.agency}))
            case ev.InvestigativeNotificationSent():
                if not any(e.kind == "notified" for e in known):
                    out.append(NewEntry("notified", s, {
                        "identified_at": format_time(p.identified_at), "to": p.to}))
            case ev.CaseAccepted() | ev.CaseDeclined():
                out.append(NewEntry("decided", s, {
                    "decision": "accepted" if isinstance(p, ev.CaseAccepted) else "declined"}))
            case ev.InterviewConducted():
                out.append(NewEntry("interview", p.subject_ref, {
                    "cbp_present": p.cbp_present, "cbp_officer": p.cbp_officer}))
                if not p.cbp_present:
                    out.append(self._open(fact, "briefing", p.subject_ref, fact.actor.id,
                                          when + self.config.deadlines.briefing_after_interview,
                                          f"brief the SCBPO on the interview of "
                                          f"{p.subject_ref} (R6)", port=case_port))
            case ev.SCBPOBriefed():
                briefings = [e for e in open_duties() if e.data["kind"] == "briefing"]
                named = [e for e in briefings if any(e.data["key"] in t for t in p.topics)]
                out.extend(_close(e, when) for e in named or briefings[:1])
            case ev.ActionItemAssigned():
                port = p.port or case_port
                zone = self.config.zone(port)
                due = datetime(p.due.year, p.due.month, p.due.day, tzinfo=zone) + \
                    timedelta(days=1)
                out.append(self._open(fact, "action_item", p.item_id, p.owner, due, p.what,
                                      due_day=p.due.isoformat(), assigned_by=fact.actor.id,
                                      port=port))
            case ev.ActionItemCompleted() | ev.ActionItemWaived():
                waived = isinstance(p, ev.ActionItemWaived)
                out.extend(_close(e, when, waived=waived) for e in open_duties()
                           if e.data["kind"] == "action_item" and e.data["key"] == p.item_id)
            case ev.FeedbackProvided():
                out.extend(_close(e, when) for e in open_duties()
                           if e.data["kind"] == "feedback" and e.data["owner"] == p.from_agency
                           and e.data.get("to", "") in ("", p.to_agency)
                           and e.time("opened_at") <= when)
            case _:
                pass
        port_acted = any(e.kind == "port_acted" for e in known)
        ofo = (fact.actor.agency, fact.actor.office) == ("CBP", "OFO")
        if fact.type in PORT_ACTS and ofo and not port_acted:
            out.append(NewEntry("port_acted", s, {}))
            port_acted = True
        if fact.type in RESULT_EVENTS or fact.type in PORT_RESULT_EVENTS:
            out.extend(self._feedback(fact, case or next(
                (e for e in out if e.kind == "case"), None), known, out, open_duties(),
                port_acted, case_port))
        return out

    def _feedback(self, fact: Fact, case: Entry | NewEntry | None, known: list[Entry],
                  out: list[NewEntry], open_duties: list[Entry], port_acted: bool,
                  case_port: Any) -> list[NewEntry]:
        origin = str(case.data.get("origin", "ofo_interdiction")) if case else \
            "ofo_interdiction"
        origin_agency = str(case.data.get("origin_agency", "CBP")) if case else "CBP"
        notified = any(e.kind == "notified" for e in known) or any(
            e.kind == "notified" for e in out)
        owed = feedback_owed_for(fact.type, fact.actor.agency, fact.actor.office,
                                 origin=origin, origin_agency=origin_agency,
                                 notified=notified, port_acted=port_acted)
        if not owed:
            return []
        when = fact.occurred.end
        office = fact.actor.aor or fact.actor.office
        due = when + self.config.feedback_due_after(office)
        port = getattr(fact.payload, "port", None) or case_port
        opened: list[NewEntry] = []
        for owner, to, category in owed:
            if any(e.data["kind"] == "feedback" and e.data["owner"] == owner
                   and e.data.get("to", "") == to for e in open_duties):
                continue  # one open feedback duty covers every result until feedback is given
            if origin == "ofo_interdiction":
                key = f"{category}@{fact.version}"
                what = f"feedback to the originating agency on the {category} result (R7)"
            else:
                key = f"{category}@{fact.version}>{to}"
                what = f"feedback from {owner} to {to} on the {category} result (R7)"
            opened.append(self._open(fact, "feedback", key, owner, due, what, office=office,
                                     to=to, port=port))
        return opened

    @staticmethod
    def _open(fact: Fact, kind: str, key: str, owner: str, due: datetime, what: str,
              **extra: Any) -> NewEntry:
        duty_id = f"{kind}:{key}@{fact.version}"
        return NewEntry("opened", duty_id, {
            "kind": kind, "key": key, "owner": owner,
            "opened_at": format_time(fact.occurred.end),
            "due": format_time(due), "what": what, **extra})


_KNOWN = ("case", "notified", "port_acted", "opened", "closed")
"""The kinds of its own entries the duties view reads (always the same set, so that a page
loads a stream's entries once)."""
_PORT_ONLY = PORT_ACTS - set(RESULT_EVENTS) - set(PORT_RESULT_EVENTS)
"""Port acts the duties view reads only to know that OFO acted at the port (R7)."""


def _open_duties(known: list[Entry]) -> list[Entry]:
    closed = {e.key for e in known if e.kind == "closed"}
    return [e for e in known if e.kind == "opened" and e.key not in closed]


class _OpenDuties:
    """The open duties among ``known`` (:func:`_open_duties`), worked out when first called:
    most events close no duty and owe no feedback, so most never ask."""

    __slots__ = ("_found", "_known")

    def __init__(self, known: list[Entry]) -> None:
        self._known = known
        self._found: list[Entry] | None = None

    def __call__(self) -> list[Entry]:
        if self._found is None:
            self._found = _open_duties(self._known)
        return self._found


def _close(opened: Entry, when: datetime, *, waived: bool = False) -> NewEntry:
    return NewEntry("closed", opened.key, {"kind": opened.data["kind"],
                                           "key": opened.data["key"],
                                           "done_at": format_time(when), "waived": waived})

