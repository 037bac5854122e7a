"""The base of the questions: the views, which case a name means, its names, the list of cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

from cdlog.application import CaseLog
from cdlog.errors import NotFoundError
from cdlog.log.sealing import stream_id
from cdlog.projections import models as m
from cdlog.projections.projector import Projections
from cdlog.projections.questions.common import cites, opt
from cdlog.projections.store import Entry


class CaseQueries:
    """The views of one log (caught up when opened), and the cases in them."""

    def __init__(self, log: CaseLog, projections: Projections | None = None) -> None:
        self.log = log
        self.config = log.config
        self._own = projections is None
        self.views = projections or Projections(log)

    @classmethod
    def open(cls, log: CaseLog) -> Self:
        """Open (and catch up) the views of ``log``."""
        return cls(log)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the views (when this object opened them)."""
        if self._own:
            self.views.close()

    def refresh(self) -> int:
        """Catch the views up with the log."""
        return self.views.catch_up()

    def _sel(self, view: str, **kw: Any) -> list[Entry]:
        return self.views.select(view, **kw)

    def cases(self, *, recorded_by: datetime | None = None) -> m.CaseList:
        """Every case in the log, in order of opening."""
        opened = self._sel("cases", kinds=["opened"], recorded_by=recorded_by)
        return m.CaseList(recorded_by=recorded_by,
                          cases=[self._ref(e.stream, recorded_by) for e in opened])

    def stream_of(self, name: str) -> str:
        """The stream of a case named by stream name, reference, operation id, OI case
        number or internal id.

        A stream name, or a reference whose stream is ``case:<reference>``, is found with the
        view's stream index (two lookups, whatever the size of the log); other names are
        looked for among every case."""
        direct = [e for stream in dict.fromkeys((name, f"case:{name}"))
                  for e in self._sel("cases", stream=stream, kinds=["opened"])]
        if direct:
            return min(direct, key=lambda e: e.position).stream
        found = self._stream_by_scan(name)
        if found is None:
            raise NotFoundError(f"no case named {name!r} (tried stream name, reference, "
                                "operation id, OI case number and internal id)")
        return found

    def _stream_by_scan(self, name: str) -> str | None:
        """The stream of the case ``name`` names, looked for among every case's opening (and
        decision) in log order, without the stream index; ``None`` when no case has it."""
        opened = self._sel("cases", kinds=["opened"])
        for e in opened:
            if name in (e.stream, e.stream.partition(":")[2]):
                return e.stream
        for e in opened:
            if name in (e.data.get("reference"), e.data.get("operation_id"),
                        str(stream_id(e.stream))):
                return e.stream
        for e in self._sel("cases", kinds=["decision"]):
            if e.data.get("case_no") == name:
                return e.stream
        for e in opened:  # a case OI leads from its opening has its number from the origin
            if e.data.get("case_no") == name:
                return e.stream
        return None

    def case(self, name: str, *, recorded_by: datetime | None = None) -> m.CaseRef:
        """The case named ``name`` and all its names."""
        return self._ref(self.stream_of(name), recorded_by)

    def _ref(self, stream: str, recorded_by: datetime | None) -> m.CaseRef:
        entries = self._sel("cases", stream=stream, recorded_by=recorded_by)
        opened = next((e for e in entries if e.kind == "opened"), None)
        decision = next((e for e in entries if e.kind == "decision"), None)
        ack = next((e for e in entries if e.kind == "acknowledged"), None)
        port = opt(opened.data.get("port")) if opened else None
        entry = self.config.ports.get(port or "")
        origin = str(opened.data.get("origin") or "ofo_interdiction") if opened else \
            "ofo_interdiction"
        office = None
        if decision is not None:
            office = decision.data.get("lead_office") or decision.data["actor"].get("aor")
        if office is None and ack is not None:
            office = ack.data["actor"].get("aor")
        if office is None and origin != "ofo_interdiction":
            # a case OI leads from its opening: the office that plans its operation, else
            # the office of whoever opened it
            planned = next((e for e in entries if e.kind == "operation"), None)
            office = (planned.data["actor"].get("aor") if planned else None) or (
                opened.data["actor"].get("aor") if opened else None)
        case_no = (decision.data.get("case_no") if decision else None) or (
            opened.data.get("case_no") if opened else None)
        ports = list(dict.fromkeys([*([port] if port else []),
                                    *(str(e.data["port"]) for e in entries
                                      if e.kind == "port")]))
        decided = opt(decision.data.get("decision")) if decision else None
        return m.CaseRef(
            stream=stream, case_id=str(stream_id(stream)),
            reference=str(opened.data["reference"]) if opened else stream.partition(":")[2],
            operation_id=opt(opened.data.get("operation_id")) if opened else None,
            case_no=opt(case_no), port=port, port_name=entry.name if entry else None,
            ports=ports, office=opt(office), origin=origin,
            origin_agency=str(opened.data.get("origin_agency") or "CBP") if opened else "CBP",
            oi_leads=decided == "accepted" or origin != "ofo_interdiction",
            decision=decided, opened_at=opened.occurred_from if opened else None,
            cites=cites([opened, decision]))

    def _streams(self, stream: str | None, recorded_by: datetime | None) -> list[str]:
        if stream is not None:
            return [stream]
        return [e.stream for e in self._sel("cases", kinds=["opened"], recorded_by=recorded_by)]

    def _summaries(self, refs: Sequence[m.CaseRef], by: str, *,
                   overdue: Sequence[m.DutyStatus] = (),
                   incidents: Sequence[m.Incident] = ()) -> list[m.Summary]:
        keyed: dict[str, list[str]] = {}
        for ref in refs:
            keyed.setdefault(str(getattr(ref, by) or "-"), []).append(ref.stream)
        if by == "port":  # a duty counts at the port where it arose (a case may span two)
            for x in overdue:
                keyed.setdefault(x.port or "-", [])
        out = []
        for key, streams in sorted(keyed.items()):
            name = None
            if by == "port":
                entry = self.config.ports.get(key)
                name = entry.name if entry else None
                late = sum(1 for x in overdue if (x.port or "-") == key)
            else:
                late = sum(1 for x in overdue if x.case in streams)
            out.append(m.Summary(key=key, name=name, cases=len(streams), overdue=late,
                                 incidents=sum(1 for x in incidents
                                               if x.case.stream in streams)))
        return out
