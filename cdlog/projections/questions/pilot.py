"""The R5 pilot: whether a Title 21 shadow was expected and assigned, case by case."""

from __future__ import annotations

from datetime import datetime, timedelta

from cdlog.domain.config import provenance
from cdlog.projections import models as m
from cdlog.projections.questions.cases import CaseQueries
from cdlog.projections.questions.common import cites

PILOT_SETTINGS = tuple(provenance(name) for name in (
    "pilot_locations", "title21_categories", "pilot_start", "pilot_days"))


class PilotQueries(CaseQueries):
    """The pilot report (R5)."""

    def _pilot_case(self, stream: str, recorded_by: datetime | None) -> m.PilotCase | None:
        entries = self._sel("cases", stream=stream, recorded_by=recorded_by)
        if not any(e.kind == "opened" for e in entries):
            return None
        ref = self._ref(stream, recorded_by)
        categories = {c for e in entries if e.kind == "items" for c in e.data["categories"]}
        c = self.config
        pilot_port = any(port in c.pilot_ports for port in ref.ports)
        title21 = bool(categories & set(c.title21_categories))
        accepted = ref.decision == "accepted"
        in_window = None
        if c.pilot_start is not None and ref.opened_at is not None:
            day = ref.opened_at.astimezone(c.zone(ref.port)).date()
            in_window = c.pilot_start <= day < c.pilot_start + timedelta(days=c.pilot_days)
        # whoever opened it: a Title 21 case OI leads at a pilot port (in the window)
        expected = pilot_port and title21 and ref.oi_leads and in_window is not False
        shadows = list(dict.fromkeys(e.key for e in entries
                                     if e.kind == "shadow" and e.data.get("assigned")))
        on_surv = list(dict.fromkeys(e.key for e in entries
                                     if e.kind == "shadow_on_surveillance"))
        finding = None
        if expected and not shadows:
            finding = ("R5: Title 21 case OI leads at a pilot port, and no CBP officer was "
                       "assigned to shadow the OI agent (the memo assigns shadows at the pilot "
                       "locations; it does not require one on every case)")
        why = [e for e in entries if e.kind in ("opened", "items", "decision", "shadow",
                                                "shadow_on_surveillance", "port")]
        return m.PilotCase(case=ref, pilot_port=pilot_port, title21=title21,
                           accepted=accepted, oi_leads=ref.oi_leads, in_window=in_window,
                           shadow_expected=expected, shadows=shadows,
                           shadow_on_surveillance=on_surv, finding=finding,
                           source="; ".join(PILOT_SETTINGS) if finding else None,
                           cites=cites(why))

    def pilot(self, *, recorded_by: datetime | None = None) -> m.PilotReport:
        """R5: for every case, whether a Title 21 shadow was expected and assigned."""
        out = [p for s in self._streams(None, recorded_by)
               if (p := self._pilot_case(s, recorded_by)) is not None]
        by_port: dict[str, list[m.PilotCase]] = {}
        for p in out:
            by_port.setdefault(p.case.port or "-", []).append(p)
        summaries = [m.Summary(key=k, name=(self.config.ports[k].name
                                            if k in self.config.ports else None),
                               cases=len(v)) for k, v in sorted(by_port.items())]
        return m.PilotReport(recorded_by=recorded_by,
                             pilot_ports=list(self.config.pilot_ports),
                             pilot_locations={k: list(v) for k, v
                                              in self.config.pilot_locations.items()},
                             cases=out,
                             by_port=summaries, settings=list(PILOT_SETTINGS))
