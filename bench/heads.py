"""The stream-head map (docs/SPEC.md §12): what it costs and how fast its proofs are.

The map is computed when a checkpoint is signed, never when an event is appended, so the
append path is unchanged (overhead 0 by construction). What it costs is checkpoint time: the
map is updated from the last one and the leaves added since, in the signing transaction. Here
that cost is measured on a ledger of ``events`` leaves over ``streams`` streams (leaf rows and
leaf hashes written directly, as the recorder would have), and expressed per event of the
checkpoint interval, against the cost of appending one event (``append_rate``, measured by
the scale run on the real append path). Head proofs are timed at the latest checkpoint (the
stored map) for random present and absent streams.

    python -m bench.heads --events 1000000 --streams 100000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.measure import Result, absolute, not_yet

INTERVAL = 10_000  # events between two checkpoints, for the per-event figure


def _stream(i: int) -> uuid.UUID:
    return uuid.uuid5(uuid.UUID("6f1c3a2e-3c1b-5b7e-9a51-1e0c0d1a7c05"), f"case:BENCH-{i}")


def _fill(path: Path, start: int, stop: int, streams: int, versions: dict[int, int],
          mode: str = "cases", per_case: int = 10) -> None:
    """Write leaf rows and level-0 hashes for leaves ``start..stop-1``, as the recorder would
    have. ``cases``: the bench workload's shape, each case's events in a row (a new stream
    every ``per_case`` leaves); ``random``: every leaf of a random stream (the worst
    case: an interval touches as many streams as it has events)."""
    rng = random.Random(start)
    conn = sqlite3.connect(path)
    try:
        leaves, nodes = [], []
        for index in range(start, stop):
            if mode == "cases":
                s = index // per_case
            else:
                s = rng.randrange(streams) if index >= streams else index
            versions[s] = versions.get(s, 0) + 1
            leaves.append((index, index + 1, _stream(s).hex, versions[s]))
            nodes.append((0, index, hashlib.sha256(index.to_bytes(8, "big")).digest()))
        conn.executemany("INSERT INTO merkle_leaves VALUES (?, ?, ?, ?)", leaves)
        conn.executemany("INSERT INTO merkle_nodes VALUES (?, ?, ?)", nodes)
        conn.commit()
    finally:
        conn.close()


def measure(events: int, streams: int, append_rate: float | None, *, samples: int = 200,
            folder: Path | None = None, mode: str = "cases") -> list[Result]:
    """The map's checkpoint cost per event and head-proof times at ``events`` leaves."""
    from cdlog.application import CaseLog
    from cdlog.log.checkpoint_format import Checkpoint
    from cdlog.log.headproofs import head_proof
    from cdlog.log.heads import heads_line, heads_of
    from cdlog.log.headstore import heads_between, update_map
    from cdlog.log.ledger import read_ledger, write_ledger

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "heads.db"
        log = CaseLog(f"sqlite:///{path}")
        try:
            versions: dict[int, int] = {}
            per_case = max(1, events // max(1, streams))
            base = events - INTERVAL
            for lo in range(0, base, 200_000):
                _fill(path, lo, min(base, lo + 200_000), streams, versions, mode, per_case)
            start = time.perf_counter()
            with write_ledger(log) as led:
                count, root = update_map(led, base, None)
            full = time.perf_counter() - start
            last = Checkpoint(log.log_id, base, b"\0" * 32, (heads_line(count, root),))
            _fill(path, base, events, streams, versions, mode, per_case)
            with write_ledger(log) as led:
                # the leaves signing reads anyway (it checks each new event's hash); their
                # heads are handed to the map, as sign_checkpoint does
                delta = heads_between(led, base, events)
                start, cpu = time.perf_counter(), time.process_time()
                count, root = update_map(led, events, last, delta)
            step = time.perf_counter() - start
            step_cpu = time.process_time() - cpu
            cp = Checkpoint(log.log_id, events, b"\0" * 32, (heads_line(count, root),))
            assert heads_of(cp) == (count, root)
            from cdlog.log.checkpoint_signing import StoredCheckpoint

            stored = StoredCheckpoint(cp, "", "")
            rng = random.Random(7)
            times = []
            with read_ledger(log) as led:
                for i in range(samples):
                    name = (f"case:BENCH-{rng.randrange(streams)}" if i % 2 else
                            f"case:ABSENT-{i}")
                    t0 = time.perf_counter()
                    head_proof(led, name, stored)
                    times.append((time.perf_counter() - t0) * 1000)
        finally:
            log.close()
    per_event_us = step / INTERVAL * 1e6
    out = [absolute(f"head proof at {events} events ({count} streams)",
                    statistics.median(times), "ms", 5,
                    "median of present and absent streams, against the latest checkpoint "
                    "(stored map)", p95=sorted(times)[int(len(times) * 0.95)])]
    name = (f"stream-head map per event at {events} events ÷ append cost per event"
            + ("" if mode == "cases" else f" ({mode} streams)"))
    if append_rate:
        append_us = 1e6 / append_rate
        ratio = per_event_us / append_us
        out.append(Result(name, per_event_us, "µs", append_us, ratio, "ratio <= 0.1",
                          ratio <= 0.1, f"map update at a checkpoint every {INTERVAL} events "
                          f"({step:.2f} s), spread over them; appends themselves do no map "
                          "work", {"full_rebuild_seconds": round(full, 2),
                                   "update_seconds": round(step, 3),
                                   "update_cpu_seconds": round(step_cpu, 3), "streams": count,
                                   "load": os.getloadavg()}))
    else:
        out.append(not_yet(name, "µs", "ratio <= 0.1", "no append rate measured"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the map benchmark alone."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--mode", choices=("cases", "random"), default="cases")
    parser.add_argument("--append-rate", type=float, default=None,
                        help="events/s of the real append path, for the ratio")
    args = parser.parse_args(argv)
    for r in measure(args.events, args.streams, args.append_rate, mode=args.mode):
        extra: dict[str, Any] = r.extra
        print(f"{r.name}: {r.value:,.3f} {r.unit} (baseline {r.baseline}, ratio {r.ratio}, "
              f"met {r.met}) {r.note} {extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
