"""The SVG timeline of a case: responsibility bands, custody, surveillance (eyes on and gaps),
incidents, notifications and milestones on one broken time axis.

Cases are bursts of activity separated by days of nothing (an operation, then feedback weeks
later), so the axis is piecewise: activity clusters are drawn to scale and every quiet stretch
longer than :data:`BREAK_AFTER` is cut to a narrow break marked with its length. Times are
shown in the port's time zone. The SVG is inline, uses no scripts or external resources, and
prints in colour (``print-color-adjust: exact`` in the page's CSS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from html import escape

from cdlog.canonical import parse_time
from cdlog.projections import models as m
from cdlog.projections.timefmt import duration_text
from cdlog.reports.build import EventRow

BREAK_AFTER = timedelta(hours=6)
WIDTH = 1100
LEFT = 190
RIGHT = 1080
BREAK_W = 26
MIN_CLUSTER = 40
ROW = 24
BAR = 14
TOP = 46

HOLDER_COLOURS = {"CBP": "#1f5fa8", "ICE": "#c2571a", "DOJ": "#6b46c1", "DEA": "#2c7a7b"}
MILESTONES = {
    "ContrabandDiscovered": "found", "InvestigativeNotificationSent": "OI notified",
    "CaseAccepted": "accepted", "CaseDeclined": "declined", "HoldReleased": "released",
    "ReleasedUnderPassThrough": "released (PT)", "DeliveryMade": "delivered",
    "ArrestMade": "arrest", "OperationTerminated": "terminated", "SeizureRecorded": "seized",
    "ForfeitureDeclared": "forfeited", "ProsecutionMilestone": "prosecution",
    "ActionItemCompleted": "item done", "CaseClosed": "closed",
}


@dataclass
class Segment:
    """A bar on a lane."""

    start: datetime
    end: datetime | None
    colour: str
    label: str = ""
    title: str = ""
    hatched: bool = False


@dataclass
class Mark:
    """A point on a lane (notification, incident, milestone)."""

    at: datetime
    shape: str
    colour: str
    label: str = ""
    title: str = ""
    until: datetime | None = None  # late entries: a dotted line to when it was recorded


@dataclass
class Lane:
    """One row of the timeline."""

    group: str
    label: str
    segments: list[Segment] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def holder_colour(holder: str | None) -> str:
    """Colour of a responsible agency or custodian (by agency prefix)."""
    if not holder:
        return "#c53030"
    prefix = holder.split("/")[0].split("-")[0].upper()
    return HOLDER_COLOURS.get(prefix, "#718096")


def _light(colour: str) -> str:
    return {"#1f5fa8": "#9cc3ec", "#c2571a": "#f4b98a", "#6b46c1": "#c6b5ee",
            "#2c7a7b": "#9ed6d6"}.get(colour, "#cbd5e0")


@dataclass
class Axis:
    """A piecewise-linear map from time to x, with breaks over quiet stretches."""

    clusters: list[tuple[datetime, datetime, float, float]]  # start, end, x0, x1
    breaks: list[tuple[float, float, timedelta]]

    @classmethod
    def build(cls, times: list[datetime]) -> Axis:
        """Lay out clusters of ``times`` over the plot width."""
        points = sorted(set(times))
        groups: list[list[datetime]] = []
        for p in points:
            if groups and p - groups[-1][-1] <= BREAK_AFTER:
                groups[-1].append(p)
            else:
                groups.append([p])
        if not groups:
            return cls([], [])
        spans = [(g[0], g[-1]) for g in groups]
        total = sum((e - s).total_seconds() for s, e in spans)
        room = (RIGHT - LEFT) - BREAK_W * (len(spans) - 1) - MIN_CLUSTER * len(spans)
        room = max(room, 0)
        clusters = []
        breaks = []
        x = float(LEFT)
        for i, (s, e) in enumerate(spans):
            share = ((e - s).total_seconds() / total) if total else 1 / len(spans)
            width = MIN_CLUSTER + room * share
            clusters.append((s, e, x + 8, x + width - 8))
            x += width
            if i + 1 < len(spans):
                breaks.append((x, x + BREAK_W, spans[i + 1][0] - e))
                x += BREAK_W
        return cls(clusters, breaks)

    def x(self, when: datetime | None) -> float:
        """The x of a time (open ends map to the right edge)."""
        if when is None or not self.clusters:
            return float(RIGHT)
        prev = None
        for s, e, x0, x1 in self.clusters:
            if when < s:
                if prev is None:
                    return x0
                _, pe, _, px1 = prev
                frac = (when - pe) / (s - pe)
                return px1 + (x0 - px1) * frac
            if when <= e:
                return x0 if e == s else x0 + (x1 - x0) * ((when - s) / (e - s))
            prev = (s, e, x0, x1)
        return self.clusters[-1][3]


def _custody_lanes(items: m.ItemLedger) -> list[Lane]:
    lanes: dict[tuple[str, str], Lane] = {}
    open_: dict[tuple[str, str], tuple[datetime, int]] = {}
    changes = sorted(((e.at, item.item, e) for item in items.items for e in item.entries
                      if e.kind in ("discovered", "transfer")), key=lambda x: x[0])
    held: dict[tuple[str, str], int] = {}

    def move(key: tuple[str, str], delta: int, at: datetime) -> None:
        before = held.get(key, 0)
        after = before + delta
        lane = lanes.setdefault(key, Lane("Custody", f"{key[0]} · {key[1]}"))
        if key in open_:
            start, count = open_.pop(key)
            lane.segments.append(Segment(start, at, _light(holder_colour(key[1])), f"×{count}",
                                         f"{key[1]} held {count} × {key[0]}"))
        held[key] = after
        if after > 0:
            open_[key] = (at, after)

    for at, item, e in changes:
        n = e.count or 0
        if e.kind == "discovered" and e.to:
            move((item, e.to), n, at)
        elif e.kind == "transfer" and e.from_ and e.to:
            if held.get((item, e.from_), 0) > 0:
                move((item, e.from_), -n, at)
            move((item, e.to), n, at)
    for key, (start, count) in open_.items():
        lanes[key].segments.append(Segment(start, None, _light(holder_colour(key[1])),
                                           f"×{count}", f"{key[1]} holds {count} × {key[0]}"))
    return list(lanes.values())


def _event_time(row: EventRow) -> datetime:
    text = row.occurred.split(" .. ")[-1]
    return parse_time(text)


def lanes_for(responsibility: m.Responsibility, items: m.ItemLedger,
              surveillance: m.SurveillanceCoverage, knowledge: m.KnowledgeTimeline,
              incidents: list[m.Incident], events: list[EventRow],
              highlight: str | None = None) -> list[Lane]:
    """The lanes of a case's timeline."""
    flagged = [f.cites for f in responsibility.findings]  # gaps R2 forbids are findings

    def holder_label(iv: m.ResponsibilityInterval) -> str:
        if iv.holder is not None:
            return iv.holder
        return "NOBODY" if iv.cites in flagged else "none named"

    lanes = [Lane("Responsibility", "Responsible (R2)", segments=[
        Segment(iv.start, iv.end, holder_colour(iv.holder), holder_label(iv),
                f"{iv.holder or 'nobody'}: {iv.note}",
                hatched=iv.holder is None and iv.cites in flagged)
        for iv in responsibility.intervals])]
    lanes += _custody_lanes(items)
    surv = Lane("Surveillance", "Eyes on / gaps")
    surv.segments += [Segment(e.start, e.end, "#2f855a", "eyes on",
                              f"eyes on, lead {e.team_lead}") for e in surveillance.eyes_on]
    surv.segments += [Segment(g.start, g.end, "#e53e3e", g.kind.replace("_", " "),
                              f"gap ({g.kind}) {g.duration or ''}", hatched=True)
                      for g in surveillance.gaps]
    if surv.segments:
        lanes.append(surv)
    if incidents:
        lane = Lane("Incidents", "Incidents")
        for i in incidents:
            if i.occurred_from != i.occurred_to:
                lane.segments.append(Segment(i.occurred_from, i.occurred_to, "#feb2b2", "",
                                             f"{i.incident_id} window", hatched=False))
            big = highlight == i.incident_id
            lane.marks.append(Mark(i.occurred_to, "diamond-big" if big else "diamond",
                                   "#c53030", i.incident_id,
                                   f"{i.incident_id} {i.incident_type}; responsible "
                                   f"{i.responsible or 'unclear'}",
                                   until=i.recorded if i.reported_late else None))
        lanes.append(lane)
    told = Lane("Notifications", "Told (who knew when)")
    for k in knowledge.entries:
        told.marks.append(Mark(k.at, "triangle-open" if k.late_entry else "triangle",
                               "#c53030" if k.late_entry else "#2d3748", "",
                               f"{k.kind}: {k.from_ or '?'} → {k.to or '?'}: {k.subject}"
                               + (f" (lag {k.lag})" if k.lag else "")
                               + (f"; entered {k.record_lag} late" if k.late_entry else ""),
                               until=k.recorded if k.late_entry else None))
    lanes.append(told)
    miles = Lane("Milestones", "Milestones")
    for row in events:
        label = MILESTONES.get(row.type)
        if label and row.case == responsibility.case.stream:
            miles.marks.append(Mark(_event_time(row), "dot", "#1a202c", label,
                                    f"v{row.version} {row.type}"))
    lanes.append(miles)
    return lanes


def _times(lanes: list[Lane]) -> list[datetime]:
    out: list[datetime] = []
    for lane in lanes:
        for s in lane.segments:
            out.append(s.start)
            if s.end is not None:
                out.append(s.end)
        for mk in lane.marks:
            out.append(mk.at)
            if mk.until is not None:
                out.append(mk.until)
    return out


def _local(when: datetime, zone: tzinfo) -> datetime:
    return when.astimezone(zone)


def render_svg(lanes: list[Lane], zone: tzinfo, zone_name: str, title: str) -> str:
    """The timeline as an inline SVG element."""
    axis = Axis.build(_times(lanes))
    height = TOP + ROW * len(lanes) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
           f'viewBox="0 0 {WIDTH} {height}" width="100%" '
           f'aria-label="{escape(title)}" font-family="Helvetica, Arial, sans-serif" '
           f'font-size="11">',
           f"<title>{escape(title)}</title>",
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fed7d7"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#c53030" stroke-width="3"/>'
           "</pattern></defs>"]
    bottom = TOP + ROW * len(lanes)
    # quiet stretches cut out of the axis
    for x0, x1, gap in axis.breaks:
        out.append(f'<rect class="break" x="{x0:.1f}" y="{TOP - 14}" width="{x1 - x0:.1f}" '
                   f'height="{bottom - TOP + 14}" fill="#edf2f7"/>')
        mid = (x0 + x1) / 2
        zig = " ".join(f"{mid + (3 if i % 2 else -3):.1f},{TOP - 14 + i * 8}"
                       for i in range((bottom - TOP + 14) // 8 + 1))
        out.append(f'<polyline points="{zig}" fill="none" stroke="#a0aec0" stroke-width="1"/>')
        out.append(f'<text x="{mid:.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'fill="#718096" font-size="9">+{escape(duration_text(gap))}</text>')
    # axis: day labels at cluster starts, hour ticks inside clusters
    last_label = -999.0
    day_end = [-999.0, -999.0]
    last_day = ""
    for s, e, x0, x1 in axis.clusters:
        ls = _local(s, zone)
        day = ls.strftime("%d %b %Y")
        if day != last_day:
            text = day if ls.year != (_local(axis.clusters[0][0], zone).year) or \
                not last_day else ls.strftime("%d %b")
            row = 0 if x0 > day_end[0] else 1
            if x0 > day_end[row]:
                out.append(f'<text x="{x0:.1f}" y="{12 + row * 11}" font-weight="bold" '
                           f'font-size="{11 - row}" fill="#2d3748">{escape(text)}</text>')
                day_end[row] = x0 + 6.5 * len(text)
            last_day = day
        step = _tick_step(e - s, x1 - x0)
        drawn = False
        tick = ls.replace(minute=0, second=0, microsecond=0)
        while tick <= _local(e, zone):
            if tick >= ls:
                tx = axis.x(tick)
                out.append(f'<line x1="{tx:.1f}" y1="{TOP - 8}" x2="{tx:.1f}" y2="{bottom}" '
                           'stroke="#e2e8f0" stroke-width="1"/>')
                if tx - last_label > 34:
                    out.append(f'<text x="{tx:.1f}" y="{TOP - 12}" text-anchor="middle" '
                               f'fill="#4a5568" font-size="9">{tick.strftime("%H:%M")}</text>')
                    last_label = tx
                    drawn = True
            tick += step
        if e == s and not drawn and x0 - last_label > 34:
            out.append(f'<text x="{x0:.1f}" y="{TOP - 12}" text-anchor="middle" fill="#4a5568" '
                       f'font-size="9">{ls.strftime("%H:%M")}</text>')
            last_label = x0
    # lanes
    group = ""
    for i, lane in enumerate(lanes):
        y = TOP + i * ROW
        if i % 2 == 0:
            out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="#f7fafc" '
                       'fill-opacity="0.6"/>')
        if lane.group != group:
            group = lane.group
            out.append(f'<line x1="0" y1="{y}" x2="{WIDTH}" y2="{y}" stroke="#cbd5e0"/>')
        out.append(f'<text x="8" y="{y + ROW / 2 + 4}" fill="#1a202c">'
                   f"{escape(_clip(lane.label, 30))}</text>")
        for seg in lane.segments:
            x0 = axis.x(seg.start)
            x1 = max(axis.x(seg.end), x0 + 2)
            fill = "url(#hatch)" if seg.hatched else seg.colour
            out.append(f'<rect x="{x0:.1f}" y="{y + (ROW - BAR) / 2}" width="{x1 - x0:.1f}" '
                       f'height="{BAR}" rx="2" fill="{fill}" stroke="#2d3748" '
                       f'stroke-width="0.3"><title>{escape(seg.title)}</title></rect>')
            if seg.label and (x1 - x0) > 6.2 * len(seg.label) + 6:
                dark = seg.colour in ("#1f5fa8", "#c2571a", "#2f855a", "#6b46c1", "#2c7a7b")
                colour = "#ffffff" if dark and not seg.hatched else "#1a202c"
                out.append(f'<text x="{x0 + 4:.1f}" y="{y + ROW / 2 + 4}" fill="{colour}" '
                           f'font-size="10">{escape(seg.label)}</text>')
        last_x = -999.0
        row_flip = False
        for mk in _merge(lane.marks, axis):
            x = axis.x(mk.at)
            cy = y + ROW / 2
            if mk.until is not None:
                ux = axis.x(mk.until)
                out.append(f'<line x1="{x:.1f}" y1="{cy}" x2="{ux:.1f}" y2="{cy}" '
                           f'stroke="{mk.colour}" stroke-dasharray="2,2"/>')
                out.append(f'<rect x="{ux - 3:.1f}" y="{cy - 3}" width="6" height="6" '
                           f'fill="none" stroke="{mk.colour}"><title>recorded '
                           f"{escape(mk.until.isoformat())}</title></rect>")
            out.append(_shape(mk, x, cy))
            if mk.label:
                row_flip = (not row_flip) if x - last_x < 6.0 * len(mk.label) else False
                ly = cy - 7 if not row_flip else cy + 13
                out.append(f'<text x="{x + 5:.1f}" y="{ly}" font-size="9" fill="#2d3748">'
                           f"{escape(mk.label)}</text>")
                last_x = x
    out.append("</svg>")
    return "\n".join(out)


def _merge(marks: list[Mark], axis: Axis) -> list[Mark]:
    """Marks in time order; labelled marks of the same label drawn within a few pixels of
    each other become one (``arrest ×3``)."""
    out: list[Mark] = []
    counts: list[int] = []
    for mk in sorted(marks, key=lambda k: k.at):
        if out and mk.label and out[-1].label.split(" ×")[0] == mk.label and \
                axis.x(mk.at) - axis.x(out[-1].at) < 12:
            counts[-1] += 1
            prev = out[-1]
            out[-1] = Mark(prev.at, prev.shape, prev.colour, f"{mk.label} ×{counts[-1]}",
                           f"{prev.title}; {mk.title}", prev.until)
            continue
        out.append(mk)
        counts.append(1)
    return out


def _shape(mk: Mark, x: float, cy: float) -> str:
    tip = f"<title>{escape(mk.title)}</title>"
    if mk.shape.startswith("diamond"):
        r = 8 if mk.shape == "diamond-big" else 6
        pts = f"{x:.1f},{cy - r} {x + r:.1f},{cy} {x:.1f},{cy + r} {x - r:.1f},{cy}"
        return f'<polygon points="{pts}" fill="{mk.colour}" stroke="#1a202c">{tip}</polygon>'
    if mk.shape.startswith("triangle"):
        pts = f"{x - 5:.1f},{cy + 5} {x + 5:.1f},{cy + 5} {x:.1f},{cy - 5}"
        fill = "#ffffff" if mk.shape == "triangle-open" else mk.colour
        return (f'<polygon points="{pts}" fill="{fill}" stroke="{mk.colour}" '
                f'stroke-width="1.5">{tip}</polygon>')
    return f'<circle cx="{x:.1f}" cy="{cy}" r="3.5" fill="{mk.colour}">{tip}</circle>'


def _tick_step(span: timedelta, width: float) -> timedelta:
    hours = span.total_seconds() / 3600
    if hours <= 0:
        return timedelta(hours=1)
    per_hour = width / hours
    for step in (1, 2, 3, 6, 12, 24):
        if per_hour * step >= 36:
            return timedelta(hours=step)
    return timedelta(days=2)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
