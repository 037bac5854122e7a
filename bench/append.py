"""Append: cdlog (validated, rule-checked, sealed, signed, Merkle-logged) against bare
eventsourcing saving the same payloads, alternating in rounds within one run.

The baseline is what an eventsourcing application would write without cdlog: one aggregate
per case, one event per step carrying the step's type, occurrence and recording times, the
acting officer (as the envelope names it) and the payload fields, stored through
eventsourcing's own mapper and JSON transcoder in the same kind of store. Both sides save
``per_save`` events per transaction (one case's ten events, or several cases').
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.workload import EVENTS_PER_CASE, Step, World, record, steps
from cdlog.application import CaseLog
from cdlog.canonical import format_time
from cdlog.log.facts import officer_json


class BareCase(Aggregate):
    """A case as plain eventsourcing would keep it: every step one event, no checks."""

    @event("Opened")
    def __init__(self, type: str, stream: str, occurred: dict[str, str], recorded: str,
                 actor: dict[str, str], payload: dict[str, Any]) -> None:
        self.steps = 1

    @event("Recorded")
    def record(self, type: str, stream: str, occurred: dict[str, str], recorded: str,
               actor: dict[str, str], payload: dict[str, Any]) -> None:
        self.steps += 1


class BareApplication(Application[Any]):
    """The baseline application (default mapper and JSON transcoder)."""

    name = "bare"


def _bare_fields(step: Step, world: World) -> dict[str, Any]:
    return {"type": step.type, "stream": step.stream,
            "occurred": {"at": format_time(step.at)}, "recorded": format_time(step.at),
            "actor": officer_json(world.officers[step.by], world.signers[step.by].key_id),
            "payload": step.fields}


@dataclass
class _Bare:
    app: BareApplication
    open_cases: dict[str, BareCase]

    def save(self, chunk: list[dict[str, Any]]) -> None:
        touched: dict[str, BareCase] = {}
        finished = []
        for fields in chunk:
            stream = fields["stream"]
            if fields["type"] == "CaseOpened":
                case = BareCase(**fields)
                self.open_cases[stream] = case
            else:
                case = self.open_cases[stream]
                case.record(**fields)
            touched[stream] = case
            if fields["type"] == "CaseDeclined":
                finished.append(stream)
        self.app.save(*touched.values())
        for stream in finished:
            del self.open_cases[stream]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def compare(cdlog_store: str, bare_env: dict[str, str], per_save: int, events: int,
            rounds: int) -> tuple[float, float]:
    """Append ``events`` case events to each side, ``per_save`` per transaction, alternating
    ``rounds`` times; return the median over the rounds of each side's rate (cdlog events/s,
    bare eventsourcing events/s), so one round disturbed by the machine does not decide."""
    world = World.create()
    log = CaseLog(cdlog_store)
    world.establish(log)
    bare = _Bare(BareApplication(env=bare_env), {})
    events -= events % (per_save * rounds)
    per_round = events // rounds
    # one warm-up save each, outside the timings (first statements, caches)
    warm = list(steps(world, 4_000_000, EVENTS_PER_CASE))  # a case of its own
    record(log, world, warm)
    bare.save([_bare_fields(s, world) for s in warm])
    all_steps = list(steps(world, 0, events))
    cdlog_chunks = _chunks(all_steps, per_save)
    bare_chunks = _chunks([_bare_fields(s, world) for s in all_steps], per_save)
    per_round_chunks = per_round // per_save
    rates: dict[str, list[float]] = {"cdlog": [], "bare": []}
    try:
        for r in range(rounds):
            lo, hi = r * per_round_chunks, (r + 1) * per_round_chunks
            order = ("bare", "cdlog") if r % 2 == 0 else ("cdlog", "bare")
            for side in order:
                start = time.perf_counter()
                if side == "bare":
                    for chunk in bare_chunks[lo:hi]:
                        bare.save(chunk)
                else:
                    for step_chunk in cdlog_chunks[lo:hi]:
                        record(log, world, step_chunk)
                rates[side].append(per_round / (time.perf_counter() - start))
    finally:
        log.close()
        bare.app.close()
    return statistics.median(rates["cdlog"]), statistics.median(rates["bare"])
