"""cdlog benchmarks: every number a ratio to a baseline measured in the same run, or an
absolute limit.

    python bench/run.py            # quick (a few minutes): stores of 10k and 50k events
    python bench/run.py --full     # stores of 10k, 100k and 1M events (tens of minutes)
    BENCH_FULL=1 make bench        # the same as --full

The latency rows (bench/latency.py) use stores of 10k events (and 1M with --full) on SQLite
and PostgreSQL, built once and cached under bench/.cache (``CDLOG_BENCH_CACHE``).

Prints a table and writes bench/results.json: one entry per benchmark with name, value, unit,
baseline, ratio and target (and whether it was met), and for the rows issue 12 sets a step
towards its target, that step target and whether it was met. PostgreSQL rows use
``scripts/pg-test-server`` on its own port (started, and stopped again, when not running), or
the server given by ``--pg-url``; ``--no-pg`` skips them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

import cdlog  # noqa: E402
from bench import breakdown, heads, latency  # noqa: E402
from bench.append import compare  # noqa: E402
from bench.measure import Result, absolute, machine, not_yet, relative  # noqa: E402
from bench.scale import CATCH_UP_PASSES, RAW_PASSES, ScaleRun, SizePoint, grow, median  # noqa: E402

PG_PORT = "54339"  # not the test suite's server


def say(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ PostgreSQL
@contextmanager
def pg_server(url: str | None) -> Iterator[str | None]:
    """A PostgreSQL server URL: the given one, or the throwaway server of the repository."""
    if url:
        yield url
        return
    script = ROOT / "scripts" / "pg-test-server"
    env = dict(os.environ, CDLOG_PG_PORT=PG_PORT,
               CDLOG_PG_DATA=f"{tempfile.gettempdir()}/cdlog-bench-pg-{PG_PORT}")
    running = subprocess.run([str(script), "status"], env=env, capture_output=True,
                             check=False).returncode == 0
    started = subprocess.run([str(script), "start"], env=env, capture_output=True, text=True,
                             check=False)
    if started.returncode != 0:
        say(f"PostgreSQL did not start: {started.stderr.strip()[-500:]}")
        yield None
        return
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        if not running:
            subprocess.run([str(script), "stop"], env=env, capture_output=True, check=False)


@contextmanager
def pg_schemas(server: str, home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A cdlog store URL and a bare eventsourcing environment, each in a fresh schema."""
    import psycopg

    from cdlog.store.urls import resolve_store

    names = [f"bench_{side}_{uuid.uuid4().hex[:8]}" for side in ("cdlog", "bare")]
    with psycopg.connect(server, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
    config = resolve_store(server)
    bare_env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": config.dbname,
                "POSTGRES_HOST": config.host, "POSTGRES_PORT": str(config.port),
                "POSTGRES_USER": config.user, "POSTGRES_PASSWORD": config.password,
                "POSTGRES_SCHEMA": names[1]}
    home.mkdir(parents=True, exist_ok=True)
    try:
        yield f"{server}?schema={names[0]}&home={home}", bare_env
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')


# ------------------------------------------------------------------ benchmarks
APPEND_TARGET = {1: 0.85, 100: 0.6}
STEP_TARGET = {  # issue 12's step towards the targets: (row, store) -> ratio
    ("append 1", "SQLite"): 0.6, ("append 100", "SQLite"): 0.35,
    ("append 100", "PostgreSQL"): 0.45, ("verify", ""): 0.55, ("projection", ""): 0.2,
}


def append_rows(store: str, folder: Path, pg_url: str | None, args: argparse.Namespace
                ) -> list[Result]:
    """Append ratios at 1 and 100 events per save, on the given kind of store."""
    out = []
    for per_save, events in ((1, args.append_single), (100, args.append_batch)):
        name = f"append {per_save}/save, {store}: cdlog ÷ bare eventsourcing"
        say(f"{name} ({events} events each side)")
        try:
            if store == "SQLite":
                sub = Path(tempfile.mkdtemp(dir=folder))
                pair = compare(f"sqlite:///{sub / 'cdlog.db'}",
                               {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(sub / "bare.db")},
                               per_save, events, args.rounds)
            else:
                assert pg_url is not None
                with pg_schemas(pg_url, folder / "pg-home") as (cdlog_url, bare_env):
                    pair = compare(cdlog_url, bare_env, per_save, events, args.rounds)
        except Exception as exc:
            say(f"  failed: {type(exc).__name__}: {exc}")
            out.append(not_yet(name, "events/s", f"ratio >= {APPEND_TARGET[per_save]}",
                               f"could not run: {type(exc).__name__}: {exc}"))
            continue
        cdlog_rate, bare_rate = pair
        say(f"  cdlog {cdlog_rate:.0f}/s, bare {bare_rate:.0f}/s")
        out.append(relative(name, cdlog_rate, bare_rate, "events/s", APPEND_TARGET[per_save],
                            f"medians of {args.rounds} alternating rounds of "
                            f"{events // args.rounds} events per side",
                            step=STEP_TARGET.get((f"append {per_save}", store)),
                            events=events, rounds=args.rounds))
    return out


def verify_scaling(point: SizePoint, first: SizePoint) -> Result:
    """Full-audit verify rate at a size against the rate at the first size (same processes);
    the shares of the Ed25519 limit measured alongside each are kept for reference."""
    return relative(f"verify scaling: {point.size} ÷ {first.size} events", point.verify_rate,
                    first.verify_rate, "events/s", 0.8,
                    f"{point.workers} processes at both sizes",
                    share_of_limit=point.verify_rate / point.limit["fastest"],
                    share_of_limit_first=first.verify_rate / first.limit["fastest"])


def first_pass_ratio(point: SizePoint) -> float | None:
    """The first verification's rate against the mean of the limit taken right before and
    right after it: the one-pass ratio the bench reported before it took the fastest pass."""
    if not point.verify_rates or "fastest_0" not in point.limit:
        return None
    return point.verify_rates[0] / ((point.limit["fastest_0"] + point.limit["fastest_1"]) / 2)


def scale_rows(run: ScaleRun) -> list[Result]:
    """Verify ratio, scaling, proofs, memory and projections from the growing store."""
    out = []
    top = run.points[-1]
    limit = top.limit
    out.append(relative(
        f"cdlog verify at {top.size} events: events/s ÷ Ed25519 verify limit",
        top.verify_rate, limit["fastest"], "events/s", 0.7,
        f"{top.workers} processes; the fastest of {len(top.verify_rates)} verifications "
        "against the limit's fastest measure (fastest binding on all cores, taken before, "
        "between and after them)", step=STEP_TARGET[("verify", "")], pynacl=limit["pynacl"],
        openssl=limit["openssl"],
        single_core_pynacl=limit["single_core_pynacl"], replay_only=top.replay_rate,
        seconds=top.verify_seconds, ok=top.verify_ok, threads=top.threads,
        rates=[round(r) for r in top.verify_rates], first_pass_ratio=first_pass_ratio(top)))
    first = run.points[0]
    for point in run.points[1:]:
        out.append(relative(f"append scaling: {point.size} ÷ {first.size} events",
                            point.append_rate, first.append_rate, "events/s", 0.8,
                            "1000 events per save; rate over the last events before the size"))
        out.append(verify_scaling(point, first))
    out.append(absolute(f"inclusion proof at {run.proof_size} events", median(run.inclusion_ms),
                        "ms", 5, "median of random leaves, against the latest checkpoint",
                        p95=sorted(run.inclusion_ms)[int(len(run.inclusion_ms) * 0.95)]))
    out.append(absolute(f"consistency proof at {run.proof_size} events",
                        median(run.consistency_ms), "ms", 5,
                        "median of random old sizes to the full tree",
                        p95=sorted(run.consistency_ms)[int(len(run.consistency_ms) * 0.95)]))
    cli = run.cli
    out.append(absolute(f"cdlog verify peak memory at {cli['size']} events", cli["peak_mib"],
                        "MiB", 300, "summed PSS of the command and its worker processes",
                        seconds=cli["seconds"], rate=cli["rate"], ok=cli["ok"]))
    proj = run.projection
    name = "projection catch-up ÷ raw notification-log read"
    if not proj or "error" in proj:
        out.append(not_yet(name, "events/s", "ratio >= 0.3",
                           proj.get("error", "not measured") if proj else "not measured"))
    else:
        out.append(relative(f"{name} ({proj['size']} events)", proj["rate"], proj["raw_rate"],
                            "events/s", 0.3, f"views: {', '.join(proj['views'])}; the fastest "
                            f"of {CATCH_UP_PASSES} catch-ups from empty views against the "
                            f"fastest of {RAW_PASSES} raw reads, taken in turn; split between "
                            f"two processes: {proj.get('split', 'n/a')}",
                            raw_rates=proj.get("raw_rates"), rates=proj.get("rates"),
                            first_pass_ratio=(proj["first_rate"] / proj["raw_rate"]
                                              if proj.get("first_rate") else None),
                            serial_rate=proj.get("serial_rate"),
                            serial_ratio=(proj["serial_rate"] / proj["raw_rate"]
                                          if proj.get("serial_rate") else None),
                            step=STEP_TARGET[("projection", "")]))
    return out


# ------------------------------------------------------------------ output
def table(results: list[Result]) -> str:
    """The results as a text table."""
    head = ("benchmark", "value", "baseline", "ratio", "target", "met", "step target", "met")
    rows = [head]
    said = {True: "yes", False: "NO", None: "n/a"}
    for r in results:
        value = "n/a" if r.value != r.value else f"{r.value:,.1f} {r.unit}"
        rows.append((r.name, value, "" if r.baseline is None else f"{r.baseline:,.1f}",
                     "" if r.ratio is None else f"{r.ratio:.2f}", r.target, said[r.met],
                     r.step_target, said[r.step_met] if r.step_target else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        default=os.environ.get("BENCH_FULL", "") not in ("", "0"),
                        help="stores of 10k, 100k and 1M events and longer append runs")
    parser.add_argument("--sizes", help="comma-separated store sizes (overrides the default)")
    parser.add_argument("--append-single", type=int, help="events per side at 1 per save")
    parser.add_argument("--append-batch", type=int, help="events per side at 100 per save")
    parser.add_argument("--rounds", type=int, default=8, help="alternations per append pair")
    parser.add_argument("--pg-url", help="PostgreSQL server to use (default: throwaway)")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument("--skip-append", action="store_true", help="skip the append rows")
    parser.add_argument("--latency-sizes",
                        help="store sizes for the latency rows (default 10k; 10k,1M --full)")
    parser.add_argument("--skip-latency", action="store_true", help="skip the latency rows")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--work", type=Path, help="folder for the stores (default: temporary)")
    args = parser.parse_args(argv)
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [10_000, 100_000, 1_000_000] if args.full else [10_000, 50_000])
    args.append_single = args.append_single or (4000 if args.full else 800)
    args.append_batch = args.append_batch or (40_000 if args.full else 8000)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    info = machine()
    info["native"] = cdlog.native_status()  # which build of the hot loops ran (cdlog._native)
    say(f"machine: {info.get('cpu')}, {info.get('cores')} cores, load {info.get('load_before')}")
    started = time.time()
    results: list[Result] = []
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)  # a folder named for the stores may be new
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        folder = Path(tmp)
        if not args.skip_append:
            results += append_rows("SQLite", folder, None, args)
            if not args.no_pg:
                with pg_server(args.pg_url) as url:
                    if url is None:
                        results += [not_yet(f"append {n}/save, PostgreSQL: cdlog ÷ bare "
                                            "eventsourcing", "events/s",
                                            f"ratio >= {APPEND_TARGET[n]}",
                                            "no PostgreSQL server") for n in (1, 100)]
                    else:
                        results += append_rows("PostgreSQL", folder, url, args)
        run = grow(folder, sizes, limit_seconds=3.0 if args.full else 2.0,
                   proof_samples=200 if args.full else 100,
                   window=min(10_000 if args.full else 5000, *sizes),
                   projection_at=max((s for s in sizes if s <= 100_000), default=sizes[0]),
                   say=say)
        results += scale_rows(run)
        say(f"stream-head map at {sizes[-1]} events: checkpoint cost and head proofs")
        results += heads.measure(sizes[-1], max(1, sizes[-1] // 10),
                                 run.points[-1].append_rate, folder=folder)
        say("cost breakdown per event (append at 100/save, serial replay, projections)")
        costs: dict[str, Any] = dict(breakdown.all_stages(folder, run.store))
        if info.get("native", "").startswith("native"):  # the same stages, pure: the before
            say("the same breakdown on the pure-Python build (CDLOG_PURE=1)")
            costs["pure_python"] = breakdown.pure_python(folder / "pure", run.store)
        latency_points: list[dict[str, Any]] = []
        if not args.skip_latency:
            lat_sizes = ([int(s) for s in args.latency_sizes.split(",")] if args.latency_sizes
                         else [10_000, 1_000_000] if args.full else [10_000])
            say(f"latencies at {lat_sizes} events (stores cached in {latency.cache_root()})")
            with (pg_server(args.pg_url) if not args.no_pg
                  else contextlib.nullcontext(None)) as url:
                lat_rows, latency_points = latency.run(lat_sizes, pg_url=url, work=folder,
                                                       say=say)
            results += lat_rows
    info["load_after"] = os.getloadavg()
    info["seconds"] = round(time.time() - started)
    doc: dict[str, Any] = {"machine": info, "sizes": sizes, "full": args.full,
                           "results": [r.as_json() for r in results],
                           "points": [vars(p) for p in run.points],
                           "cli": run.cli, "projection": run.projection,
                           "breakdown": costs, "latency": latency_points}
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(table(results))
    for title, stages in costs.items():
        print(f"\n{title}: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    print(f"\nwritten {args.out} ({info['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
