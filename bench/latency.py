"""Latencies a case system and an auditor feel (issue 12), on SQLite and PostgreSQL stores of
a given size built from the bench workload (:mod:`bench.workload`), views caught up:

* one command: ``CaseLog.record`` of one event per save, p50 and p99 over many saves;
* a case report (``cdlog report case REF --format html --out FILE``) and a responsibility
  query (``cdlog query responsibility REF``), each the command run in this process (store
  opened, views checked, answer written, store closed), warm; a checkpoint of the whole store
  is signed first (untimed), so the report proves the case against it;
* time to first answer: ``python -m cdlog query responsibility REF`` as a new process on the
  existing store (interpreter start, imports, open, views already caught up, answer), beside
  ``python -c "import cdlog.cli"`` (what start-up alone costs).

Big stores take minutes to build, so a built store is cached under :func:`cache_root`, keyed by
its size and :func:`code_version` (a digest of the code that writes the events and views): a
SQLite store as its folder (the database and its views), a PostgreSQL store as a ``pg_dump``
of its schema, restored into the server of the run. Measurements run on a copy, so the cache
stays as built.

    python bench/latency.py --sizes 10000 --no-pg      # alone; bench/run.py runs it too
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.measure import Result, absolute  # noqa: E402
from bench.workload import EVENTS_PER_CASE, World, fill, record, steps  # noqa: E402

CACHE_ENV = "CDLOG_BENCH_CACHE"
"""Environment variable naming the cache folder (default ``bench/.cache``)."""
REUSE_ENV = "CDLOG_BENCH_REUSE"
"""Set to 1 to measure a cached store of the right size built by another code version when
none was built by this one (an older store is what a deployment holds; its views are caught
up, or rebuilt when their schema changed, before anything is timed)."""
RECORD_P99_MS = 10.0
"""Target: p99 of one command (1 event per save) on SQLite, milliseconds."""
ANSWER_MS = 200.0
"""Target: a case report and a responsibility query of one case, warm views, milliseconds."""
FIRST_ANSWER_MS = 1000.0
"""Target (ours; the issue sets none): first answer of a new process, milliseconds."""
FRESH_CASE = 3_000_000
"""Bench case index of the first case the record-latency run writes (well past any store)."""
CACHE_FORMAT = 1
"""Bump to drop every cached store."""
PROBE_EVENTS = 57
"""Events of the small store whose content keys the cache."""
PG_MODULES = ("cdlog/store/mapper.py", "cdlog/log/pgledger.py", "cdlog/projections/pgstore.py")
_VERSION: str | None = None

Say = Callable[[str], None]


def _quiet(text: str) -> None:
    del text


# ------------------------------------------------------------------ the cache
def cache_root() -> Path:
    """Where built stores are cached: ``$CDLOG_BENCH_CACHE`` or ``bench/.cache``."""
    return Path(os.environ.get(CACHE_ENV) or ROOT / "bench" / ".cache")


def code_version() -> str:
    """What decides a built store's content, as a short digest: the bytes of a small store
    built by the same code (its events, every view's rows and schema fingerprint), the
    PostgreSQL-specific modules, and :data:`CACHE_FORMAT`. Code that changes what is stored
    changes the digest; code that only reads (queries, reports, the command line, compiled
    hot loops) does not, so the cache survives it."""
    global _VERSION  # noqa: PLW0603 - computed once per process
    if _VERSION is None:
        from cdlog.application import CaseLog
        from cdlog.projections.projector import Projections

        digest = hashlib.sha256(f"format {CACHE_FORMAT}\0".encode())
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/cdlog.db"
            build(url, PROBE_EVENTS)
            log = CaseLog(url)
            try:
                for row in log.app.recorder.select_notifications(start=1, limit=10_000):
                    digest.update(f"{row.id} {row.originator_id} {row.originator_version} "
                                  f"{row.topic}\0".encode() + bytes(row.state))
                with Projections(log, catch_up=False) as views:
                    dumped = views.dump()
                    schemas = {name: view.fingerprint() for name, view in views.views.items()}
                digest.update(repr(sorted(dumped.items())).encode())
                digest.update(repr(sorted(schemas.items())).encode())
            finally:
                log.close()
        for name in PG_MODULES:
            digest.update((ROOT / name).read_bytes())
        _VERSION = digest.hexdigest()[:12]
    return _VERSION


USED: dict[str, str] = {}
"""The cache entry each store was taken from, by ``<kind>-<size>``."""


def _reusable(pattern: str) -> Path | None:
    """The newest cache entry matching ``pattern`` when :data:`REUSE_ENV` allows it."""
    if os.environ.get(REUSE_ENV, "") in ("", "0"):
        return None
    found = [p for p in cache_root().glob(pattern)
             if p.suffix == ".dump" or (p / "complete").is_file()]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def _drop_stale(prefix: str, keep: str) -> None:
    """Remove cached entries of the same kind and size built by other code versions."""
    root = cache_root()
    if not root.is_dir():
        return
    for old in root.glob(prefix + "*"):
        if old.name != keep and not old.name.startswith(keep):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def case_count(size: int) -> int:
    """Bench cases in a store of ``size`` events (the world's events come first)."""
    return -(-(size - _world_events()) // EVENTS_PER_CASE)


def _world_events() -> int:
    world = World.create()
    return len(world.roots) + len(world.officers)


def probe_case(size: int) -> str:
    """The reference of the case the read latencies ask about: a whole case in the middle of
    the store."""
    return f"OP-B-{max(case_count(size) // 2 - 1, 0):07d}"


def build(url: str, size: int, say: Say = _quiet) -> None:
    """Write a store of ``size`` events at ``url`` (the world, then bench cases in saves of
    1000 events) and catch its views up."""
    from cdlog.application import CaseLog
    from cdlog.projections.queries import Queries

    log = CaseLog(url)
    try:
        world = World.create()
        made = world.establish(log)
        start = time.perf_counter()
        step = 100_000
        while made < size:
            chunk = min(step, size - made)
            fill(log, world, chunk, 1000, (made - _world_events()) // EVENTS_PER_CASE)
            made += chunk
            say(f"    {made} events ({made / (time.perf_counter() - start):.0f}/s)")
        start = time.perf_counter()
        with Queries(log):
            pass
        say(f"    views caught up in {time.perf_counter() - start:.0f} s")
    finally:
        log.close()


def sqlite_store(size: int, say: Say = _quiet) -> Path:
    """The cached SQLite store of ``size`` events (built when missing): its folder, holding
    ``cdlog.db`` and ``views/``."""
    name = f"sqlite-{size}-{code_version()}"
    folder = cache_root() / name
    if (folder / "complete").is_file():
        say(f"  SQLite store of {size} events: cached ({folder})")
        USED[f"sqlite-{size}"] = name
        return folder
    older = _reusable(f"sqlite-{size}-*[!g]")  # not one still .building
    if older is not None:
        say(f"  SQLite store of {size} events: built by another code version ({older})")
        USED[f"sqlite-{size}"] = older.name
        return older
    _drop_stale(f"sqlite-{size}-", name)
    building = folder.with_name(name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    say(f"  building the SQLite store of {size} events (cached in {folder})")
    build(f"sqlite:///{building / 'cdlog.db'}", size, say)
    (building / "complete").write_text(f"{size}\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    return folder


@dataclass(frozen=True)
class PgServer:
    """Connection details of a PostgreSQL server (from a store URL without a schema)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> PgServer:
        from cdlog.store.urls import resolve_store

        config = resolve_store(url)
        return cls(config.host or "127.0.0.1", int(config.port or 5432), config.user or "",
                   config.password or "", config.dbname or "")

    def env(self) -> dict[str, str]:
        """Environment for the PostgreSQL client programs (the password stays out of argv)."""
        return dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user,
                    PGPASSWORD=self.password, PGDATABASE=self.dbname)

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             password=self.password, dbname=self.dbname,
                             autocommit=True) as conn:
            conn.execute(sql)  # built from fixed names only


def _pg_bin(program: str) -> str:
    found = shutil.which(program)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / program).is_file():
            return str(folder / program)
    raise FileNotFoundError(f"{program} not found (install PostgreSQL's client programs)")


def pg_store(server_url: str, size: int, home: Path, say: Say = _quiet) -> str:
    """A PostgreSQL store of ``size`` events in schema ``bench_latency_<size>`` of the server:
    restored from the cached dump, or built (and dumped for the next run). Returns its URL."""
    server = PgServer.from_url(server_url)
    schema = f"bench_latency_{size}"
    name = f"pg-{size}-{code_version()}.dump"
    dump = cache_root() / name
    server.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    home.mkdir(parents=True, exist_ok=True)
    url = f"{server_url}?schema={schema}&home={home}"
    older = None if dump.is_file() else _reusable(f"pg-{size}-*.dump")
    if older is not None:
        say(f"  PostgreSQL store of {size} events: built by another code version")
        dump = older
    if dump.is_file():
        USED[f"pg-{size}"] = dump.name
        say(f"  PostgreSQL store of {size} events: restoring the cached dump ({dump})")
        start = time.perf_counter()
        subprocess.run([_pg_bin("pg_restore"), "--no-owner", "-j", "2", "-d", server.dbname,
                        str(dump)], env=server.env(), check=True, capture_output=True)
        server.execute("ANALYZE")
        say(f"    restored in {time.perf_counter() - start:.0f} s")
        return url
    _drop_stale(f"pg-{size}-", name)
    server.execute(f'CREATE SCHEMA "{schema}"')
    say(f"  building the PostgreSQL store of {size} events (dump cached in {dump})")
    build(url, size, say)
    dump.parent.mkdir(parents=True, exist_ok=True)
    partial = dump.with_name(name + ".partial")
    subprocess.run([_pg_bin("pg_dump"), "-Fc", "-n", schema, "-f", str(partial)],
                   env=server.env(), check=True, capture_output=True)
    partial.rename(dump)
    USED[f"pg-{size}"] = dump.name
    return url


# ------------------------------------------------------------------ measuring
def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` (0..1) of the sorted values (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


@dataclass
class Timings:
    """Durations of repeated runs of one thing, in milliseconds."""

    ms: list[float] = field(default_factory=list)
    verify_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"runs": len(self.ms), "median_ms": statistics.median(self.ms),
                               "min_ms": min(self.ms), "max_ms": max(self.ms),
                               "first_ms": self.ms[0]}
        if self.verify_ms:
            doc["verify_median_ms"] = statistics.median(self.verify_ms)
            doc["without_verify_median_ms"] = statistics.median(
                a - b for a, b in zip(self.ms, self.verify_ms, strict=True))
        return doc


VERIFICATIONS = ("verify_store", "verify_streams")
"""What a report calls to verify: the whole store (``--verify store``), or the cases it cites
with what they depend on (``--verify cases``, the default)."""


@contextlib.contextmanager
def _timing_store_verification(into: list[float]) -> Iterator[None]:
    """Time each verification a report runs (:data:`VERIFICATIONS`, as the report module
    calls them)."""
    from cdlog.reports import build as report_build

    originals = {name: getattr(report_build, name) for name in VERIFICATIONS}

    def timing(original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                into.append((time.perf_counter() - start) * 1000)
        return timed

    for name, original in originals.items():
        setattr(report_build, name, timing(original))  # patched for the timing
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(report_build, name, original)


def sign_checkpoint(store: str) -> float:
    """Sign a checkpoint of the whole store (a log key is made in the store's home if it has
    none), as a case system does now and then; a report proves its events against the latest
    one. Return the milliseconds it took (not part of any latency)."""
    from cdlog.application import CaseLog
    from cdlog.log.checkpoint_signing import load_log_signer
    from cdlog.log.checkpoint_signing import sign_checkpoint as sign

    start = time.perf_counter()
    with CaseLog(store, create=False) as log:
        sign(log, load_log_signer(log, b"bench log key", create=True))
    return (time.perf_counter() - start) * 1000


def run_command(args: list[str]) -> str:
    """Run a ``cdlog`` command in this process; return what it printed (stdout)."""
    from cdlog.cli import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        cli.main(args=args, prog_name="cdlog", standalone_mode=False)
    return out.getvalue()


def time_command(store: str, args: list[str], runs: int, budget_s: float,
                 report: bool = False) -> Timings:
    """Run a command ``runs`` times, fewer once ``budget_s`` is spent (a report of a
    1M-event store runs once: its whole-store verification takes minutes)."""
    timings = Timings()
    spent = time.perf_counter()
    verify: list[float] = []
    for _ in range(runs):
        before = len(verify)
        with _timing_store_verification(verify) if report else contextlib.nullcontext():
            start = time.perf_counter()
            run_command(["--store", store, *args])
            timings.ms.append((time.perf_counter() - start) * 1000)
        if report:
            timings.verify_ms.append(sum(verify[before:]))
        if time.perf_counter() - spent > budget_s:
            break
    return timings


def time_process(argv: list[str], runs: int, env: dict[str, str] | None = None) -> Timings:
    """Wall time of ``argv`` as a new process, ``runs`` times; it must succeed."""
    timings = Timings()
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        timings.ms.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}: "
                               f"{done.stderr.strip()[-300:]}")
    return timings


def record_latency(store: str, samples: int, warmup: int = 20) -> list[float]:
    """Milliseconds of each ``CaseLog.record`` (one event per save) of fresh bench cases,
    after ``warmup`` unrecorded ones, in a log opened once."""
    from cdlog.application import CaseLog

    world = World.create()
    log = CaseLog(store)
    try:
        out: list[float] = []
        for i, step in enumerate(steps(world, FRESH_CASE, warmup + samples)):
            start = time.perf_counter()
            record(log, world, [step])
            if i >= warmup:
                out.append((time.perf_counter() - start) * 1000)
        return out
    finally:
        log.close()


@dataclass
class Plan:
    """How much to measure."""

    record_samples: int = 2000
    query_runs: int = 20
    report_runs: int = 5
    process_runs: int = 5
    budget_s: float = 120.0


def measure(store: str, size: int, kind: str, plan: Plan, work: Path, say: Say = _quiet
            ) -> dict[str, Any]:
    """Every latency of one store (views caught up); the store gains the recorded events."""
    from cdlog.application import CaseLog
    from cdlog.projections.queries import Queries

    ref = probe_case(size)
    start = time.perf_counter()  # views caught up (a no-op unless a view's schema changed)
    with CaseLog(store, create=False) as log, Queries(log):
        pass
    caught_up_ms = (time.perf_counter() - start) * 1000
    say(f"  {kind} {size}: first answer of a new process")
    env = dict(os.environ, CDLOG_STORE=store)
    env.pop("CDLOG_DEBUG", None)
    startup = time_process([sys.executable, "-c", "import cdlog.cli"], plan.process_runs)
    first = time_process([sys.executable, "-m", "cdlog", "query", "responsibility", ref],
                         plan.process_runs, env=env)
    say(f"  {kind} {size}: signing a checkpoint (untimed)")
    checkpoint_ms = sign_checkpoint(store)
    say(f"  {kind} {size}: responsibility query, case report")
    query = time_command(store, ["query", "responsibility", ref], plan.query_runs,
                         plan.budget_s)
    html = work / f"{ref}.html"
    report = time_command(store, ["report", "case", ref, "--format", "html", "--out",
                                  str(html)], plan.report_runs, plan.budget_s, report=True)
    say(f"  {kind} {size}: {plan.record_samples} commands of one event each")
    records = record_latency(store, plan.record_samples)
    return {"store": kind, "size": size, "case": ref,
            "record_ms": {"samples": len(records), "p50": percentile(records, 0.5),
                          "p90": percentile(records, 0.9), "p99": percentile(records, 0.99),
                          "max": max(records), "mean": statistics.fmean(records)},
            "query_responsibility": query.summary(), "report_case_html": report.summary(),
            "first_answer": first.summary(), "import_only": startup.summary(),
            "report_bytes": html.stat().st_size, "views_caught_up_ms": caught_up_ms,
            "checkpoint_sign_ms": checkpoint_ms}


def rows(point: dict[str, Any], load: tuple[float, ...] | None = None) -> list[Result]:
    """The results.json rows of one measured store."""
    kind, size = point["store"], point["size"]
    at = f"{kind}, {size} events"
    rec = point["record_ms"]
    note = f"load {tuple(round(x, 2) for x in load)}" if load else ""
    out = [Result(f"latency: record 1 event/save p50, {at}", rec["p50"], "ms", None, None,
                  "(p99 is the target)", None, f"{rec['samples']} saves; {note}".strip("; "),
                  dict(rec))]
    if kind == "SQLite":
        out.append(absolute(f"latency: record 1 event/save p99, {at}", rec["p99"], "ms",
                            RECORD_P99_MS, f"{rec['samples']} saves; {note}".strip("; "),
                            **rec))
    else:
        out.append(Result(f"latency: record 1 event/save p99, {at}", rec["p99"], "ms", None,
                           None, "(none; < 10 ms is SQLite's)", None,
                           f"{rec['samples']} saves; {note}".strip("; "), dict(rec)))
    query, report = point["query_responsibility"], point["report_case_html"]
    out.append(absolute(f"latency: query responsibility (one case), {at}", query["median_ms"],
                        "ms", ANSWER_MS, f"command in process, warm views, median of "
                        f"{query['runs']}; {note}".strip("; "), **query))
    out.append(absolute(f"latency: report case --format html, {at}", report["median_ms"],
                        "ms", ANSWER_MS, f"command in process, warm views, median of "
                        f"{report['runs']}; verification of the cited cases "
                        f"{report.get('verify_median_ms', 0):.0f} ms of it; {note}"
                        .strip("; "), **report))
    first = point["first_answer"]
    out.append(absolute(f"latency: first answer of a new process, {at}", first["median_ms"],
                        "ms", FIRST_ANSWER_MS, "python -m cdlog query responsibility, views "
                        f"caught up, median of {first['runs']}; import alone "
                        f"{point['import_only']['median_ms']:.0f} ms; {note}".strip("; "),
                        **first))
    return out


def run(sizes: list[int], *, pg_url: str | None, sqlite: bool = True, plan: Plan | None = None,
        work: Path | None = None, say: Say = _quiet) -> tuple[list[Result], list[dict[str, Any]]]:
    """Build (or take from the cache) and measure a store of each size on each kind of store;
    return the rows and the raw measurements."""
    plan = plan or Plan()
    results: list[Result] = []
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        folder = Path(tmp)
        for size in sizes:
            kinds = (["SQLite"] if sqlite else []) + (["PostgreSQL"] if pg_url else [])
            for kind in kinds:
                if kind == "SQLite":
                    cached = sqlite_store(size, say)
                    copy = folder / f"sqlite-{size}"
                    shutil.copytree(cached, copy)
                    store = f"sqlite:///{copy / 'cdlog.db'}"
                else:
                    assert pg_url is not None
                    store = pg_store(pg_url, size, folder / f"pg-home-{size}", say)
                try:
                    point = measure(store, size, kind, plan, folder, say)
                finally:
                    if kind == "SQLite":
                        shutil.rmtree(folder / f"sqlite-{size}", ignore_errors=True)
                    else:
                        PgServer.from_url(pg_url or "").execute(
                            f'DROP SCHEMA IF EXISTS "bench_latency_{size}" CASCADE')
                point["load"] = os.getloadavg()
                point["cache_entry"] = USED.get(f"{'sqlite' if kind == 'SQLite' else 'pg'}-"
                                                f"{size}")
                point["code_version"] = code_version()
                points.append(point)
                results += rows(point, point["load"])
                rec = point["record_ms"]
                say(f"  {kind} {size}: record p50 {rec['p50']:.2f} ms p99 {rec['p99']:.2f} "
                    f"ms; query {point['query_responsibility']['median_ms']:.0f} ms; report "
                    f"{point['report_case_html']['median_ms']:.0f} ms; first answer "
                    f"{point['first_answer']['median_ms']:.0f} ms")
    return results, points


def main(argv: list[str] | None = None) -> int:
    """Run the latency benchmark alone and print its rows as JSON."""
    import structlog

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000", help="comma-separated store sizes")
    parser.add_argument("--pg-url", help="PostgreSQL server (default: no PostgreSQL rows)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite stores")
    parser.add_argument("--samples", type=int, default=Plan.record_samples,
                        help="commands timed for the record latency")
    parser.add_argument("--out", type=Path, help="write the rows and measurements as JSON")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results, points = run([int(s) for s in args.sizes.split(",")], pg_url=args.pg_url,
                          sqlite=not args.no_sqlite, plan=Plan(record_samples=args.samples),
                          say=say)
    doc = {"results": [r.as_json() for r in results], "latency": points}
    text = json.dumps(doc, indent=2, default=str) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
