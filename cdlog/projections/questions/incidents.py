"""Incidents: who was responsible, held the items and watched when each happened."""

from __future__ import annotations

from datetime import datetime

from cdlog.domain.config import provenance
from cdlog.errors import InputError, NotFoundError
from cdlog.projections import models as m
from cdlog.projections.questions.common import cite, cites, delta_s, opt
from cdlog.projections.questions.responsibility import ResponsibilityQueries
from cdlog.projections.questions.surveillance import SurveillanceQueries
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import duration_text


class IncidentQueries(ResponsibilityQueries, SurveillanceQueries):
    """The incident list and single incidents."""

    def incidents(self, case: str | None = None, *, recorded_by: datetime | None = None
                  ) -> m.IncidentList:
        """Every incident with who was responsible when it happened, and summaries per port
        and per office."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("incidents", stream=stream, recorded_by=recorded_by)
        out = [self._incident(e, entries, recorded_by)
               for e in entries if e.kind == "occurred"]
        refs = [self._ref(s, recorded_by) for s in self._streams(stream, recorded_by)]
        return m.IncidentList(recorded_by=recorded_by, incidents=out,
                              by_port=self._summaries(refs, "port", incidents=out),
                              by_office=self._summaries(refs, "office", incidents=out))

    def incident(self, incident_id: str, *, case: str | None = None,
                 recorded_by: datetime | None = None) -> m.Incident:
        """One incident by id."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("incidents", key=incident_id, stream=stream,
                            recorded_by=recorded_by)
        occurred = [e for e in entries if e.kind == "occurred"]
        if not occurred:
            raise NotFoundError(f"no incident {incident_id!r}")
        if len({e.stream for e in occurred}) > 1:
            raise InputError("case", f"incident {incident_id!r} is in several cases",
                             "--case naming one of them")
        mine = [e for e in entries if e.stream == occurred[0].stream]
        return self._incident(occurred[0], mine, recorded_by)

    def _incident(self, e: Entry, entries: list[Entry], recorded_by: datetime | None
                  ) -> m.Incident:
        ref = self._ref(e.stream, recorded_by)
        intervals, _ = self._intervals(e.stream, recorded_by)
        start, end = e.occurred_from, e.occurred_to
        during = [iv for iv in intervals if iv.overlaps(start, end)]
        holders = list(dict.fromkeys(iv.holder or "NOBODY" for iv in during))
        responsible = holders[0] if len(holders) == 1 and holders[0] != "NOBODY" else None
        findings: list[m.Finding] = []
        officers: list[m.ResponsibleOfficer] = []
        for iv in during:
            actor = iv.entry.data["actor"]
            why = {"opened": f"opened the case ({iv.note}; {iv.holder} responsible)",
                   "assumed": "assumed responsibility for the operation (R2)",
                   "released": "released responsibility"}[iv.entry.kind]
            officers.append(m.ResponsibleOfficer(officer=str(actor["id"]), why=why,
                                                 cites=[cite(iv.entry)]))
            ack = iv.entry.data.get("acknowledged_by_ofo")
            if iv.entry.kind == "assumed" and ack:
                officers.append(m.ResponsibleOfficer(
                    officer=str(ack), why="acknowledged the transfer for OFO (R2)",
                    cites=[cite(iv.entry)]))
        custody = self._sel("custody", stream=e.stream, kinds=["discovered", "transfer"],
                            recorded_by=recorded_by)
        affected = {str(i.get("item")) for i in e.data.get("items_affected") or []}
        for item, holders_now in sorted(self._fold_holders(custody, start).items()):
            if affected and item not in affected:
                continue
            for holder, (count, src) in sorted(holders_now.items()):
                officers.append(m.ResponsibleOfficer(
                    officer=holder, why=f"custodian of {count} x {item}", cites=[cite(src)]))
        eyes, _, _, _, _ = self._coverage(e.stream, recorded_by)
        for x in eyes:
            if x.lead and x.start <= start and (x.end is None or start < x.end):
                officers.append(m.ResponsibleOfficer(officer=x.lead, why="led surveillance",
                                                     cites=cites(x.entries[:1])))
        if len(holders) > 1:
            findings.append(m.Finding(rule="R2", text="responsibility changed during the "
                                      "incident window: " + ", ".join(holders),
                                      cites=cites(iv.entry for iv in during)))
        elif "NOBODY" in holders or not holders:
            findings.append(m.Finding(rule="R2", text="nobody was responsible when the "
                                      "incident occurred", cites=cites(iv.entry for iv in during)))
        lag = e.recorded - end
        late = lag > self.config.deadlines.late_entry_after
        if late:
            findings.append(m.Finding(rule="late", text=f"recorded {duration_text(lag)} after "
                                      "it happened; attributed by when it happened",
                                      cites=[cite(e)],
                                      source=provenance("deadlines.late_entry_after")))
        told = []
        for n in (x for x in entries if x.kind == "notified" and x.key == e.key):
            delay = n.at - end
            told.append(m.KnowledgeEntry(
                at=n.at, recorded=n.recorded, kind="notification", from_=opt(n.data["from"]),
                to=opt(n.data["to"]), channel=opt(n.data.get("channel")),
                subject=str(n.data.get("subject") or ""),
                reports=m.Reported(type="IncidentOccurred", at=end, cites=[cite(e)]),
                lag=duration_text(delay), lag_seconds=int(delta_s(delay)),
                late_entry=bool(n.data.get("late_entry")),
                record_lag=duration_text(n.recorded - n.at) if n.data.get("late_entry")
                else None, cites=[cite(n)]))
        if not told:
            findings.append(m.Finding(rule="knowledge", text="no notification about the "
                                      "incident is recorded", cites=[cite(e)]))
        updates = [str(x.data.get("findings")) for x in entries
                   if x.kind == "updated" and x.key == e.key]
        closed = next((x for x in entries if x.kind == "closed" and x.key == e.key), None)
        return m.Incident(
            case=ref, incident_id=e.key, incident_type=str(e.data["incident_type"]),
            severity=str(e.data.get("severity", "medium")), occurred_from=start,
            occurred_to=end, discovered_at=e.time("discovered_at"), recorded=e.recorded,
            reported_late=late, report_lag=duration_text(lag), responsible=responsible,
            responsible_during_window=holders, officers=officers,
            description=opt(e.data.get("description")), notifications=told,
            updates=updates, closed_at=closed.at if closed else None, findings=findings,
            cites=cites([e, *(iv.entry for iv in during), closed]))
