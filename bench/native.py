"""The native hot loops against their Python references, function by function (issue 12).

    python -m bench.native [STORE] [--events N]

For the first N stored events of STORE (default: a 5,000-event SQLite store made for the
purpose), the microseconds per call of each compiled function and of the Python function it
replaces, in this process, alternating, best of 7: the canonical-JSON walk, the canonical time
check, decoding a stored event, and decoding plus the form check (what the verifier runs per
event). Prints JSON. The numbers choose between the builds; the stage costs of a whole run are
in ``bench/run.py``'s breakdown (native and pure in the same run).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cdlog import _native, canonical  # noqa: E402
from cdlog.application import CaseLog  # noqa: E402
from cdlog.log import sealing  # noqa: E402
from cdlog.verify import replay as verify_module  # noqa: E402


def per_call(fn: Callable[[Any], Any], inputs: list[Any], repeat: int = 7) -> float:
    """Best microseconds per call of ``fn`` over ``inputs`` (results dropped at once)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for x in inputs:
            fn(x)
        best = min(best, time.perf_counter() - start)
    return best / len(inputs) * 1e6


def compare(store: str, events: int) -> dict[str, Any]:
    """Python and native microseconds per call, for each twin."""
    native = _native.speedups
    if native is None:
        return {"native": _native.status(), "error": "the native hot loops are not active"}
    log = CaseLog(store)
    rows = []
    for row in verify_module.iter_notifications(log.app.recorder):
        rows.append(bytes(row.state))
        if len(rows) == events:
            break
    log.close()

    def checked_pure(data: bytes) -> sealing.SealedEvent:
        event = sealing.parse_pure(data)
        verify_module._check_form(event, event.case, event.version)
        return event

    envelopes = [sealing.parse_pure(r).envelope for r in rows]
    times = [e["recorded"] for e in envelopes]
    twins: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], list[Any]]] = {
        "canonical-JSON walk of an envelope": (canonical._fast_path_ok_pure,
                                               native.fast_path_ok, envelopes),
        "canonical time check": (canonical.is_canonical_time, native.canonical_time, times),
        "decode a stored event (parse)": (sealing.parse_pure,
                                          lambda d: native.parse(d, False), rows),
        "decode and form check (the verifier's step)": (checked_pure,
                                                        lambda d: native.parse(d, True), rows),
    }
    out: dict[str, Any] = {"native": _native.status(), "events": len(rows), "us_per_call": {}}
    gc.collect()
    for name, (pure, fast, inputs) in twins.items():
        assert all(fast(x) is not None for x in inputs[:100])  # the native twin answers
        p, n = [], []
        for _ in range(3):  # alternating
            p.append(per_call(pure, inputs))
            n.append(per_call(fast, inputs))
        out["us_per_call"][name] = {"python": round(min(p), 2), "native": round(min(n), 2),
                                    "speed-up": round(min(p) / min(n), 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", nargs="?", help="store URL (default: a new 5,000-event store)")
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args(argv)
    if args.store:
        print(json.dumps(compare(args.store, args.events), indent=1))
        return 0
    from bench.workload import World, fill

    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'native.db'}"
        log = CaseLog(store)
        world = World.create()
        world.establish(log)
        fill(log, world, args.events, 1000)
        log.close()
        print(json.dumps(compare(store, args.events), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
