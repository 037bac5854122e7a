"""The latency benchmark (bench/latency.py) runs end to end at a tiny size, on SQLite and on
PostgreSQL, so it cannot rot; no timing is asserted. Also: a case named by its reference or
stream is found through the cases view's stream index, not by reading every case."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import latency  # noqa: E402
from bench.measure import Result  # noqa: E402
from bench.workload import World, fill  # noqa: E402
from cdlog.application import CaseLog  # noqa: E402
from cdlog.errors import NotFoundError  # noqa: E402
from cdlog.log.sealing import stream_id  # noqa: E402
from cdlog.projections.queries import Queries  # noqa: E402

if TYPE_CHECKING:
    from conftest import world_with_scenarios
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import world_with_scenarios

SIZE = 67  # the world's 7 events and six bench cases
TINY = latency.Plan(record_samples=6, query_runs=2, report_runs=2, process_runs=1,
                    budget_s=60)
KINDS_OF_ROW = ("record 1 event/save p50", "record 1 event/save p99",
                "query responsibility (one case)", "report case --format html",
                "first answer of a new process")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(latency.CACHE_ENV, str(folder))
    return folder


def _check_rows(results: list[Result], points: list[dict[str, Any]], kind: str) -> None:
    assert [p["store"] for p in points] == [kind]
    point = points[0]
    assert point["size"] == SIZE
    assert point["case"] == latency.probe_case(SIZE)
    assert point["record_ms"]["samples"] == TINY.record_samples
    assert 0 < point["record_ms"]["p50"] <= point["record_ms"]["p99"] <= \
        point["record_ms"]["max"]
    report = point["report_case_html"]
    assert report["runs"] == TINY.report_runs
    assert 0 < report["verify_median_ms"] < report["median_ms"]
    assert point["report_bytes"] > 1000
    names = [r.name for r in results]
    assert len(names) == len(KINDS_OF_ROW)
    for name, what in zip(names, KINDS_OF_ROW, strict=True):
        assert name == f"latency: {what}, {kind}, {SIZE} events"
    for r in results:
        assert r.unit == "ms"
        assert r.value > 0
        assert not math.isnan(r.value)
        assert r.as_json()["name"] == r.name
    targets = {r.name.split(",")[0]: r.target for r in results}
    assert targets["latency: query responsibility (one case)"] == "< 200 ms"
    assert targets["latency: report case --format html"] == "< 200 ms"
    p99 = targets["latency: record 1 event/save p99"]
    assert p99 == ("< 10 ms" if kind == "SQLite" else "(none; < 10 ms is SQLite's)")


def test_sqlite_latencies_and_the_cache(cache: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny SQLite store is built once, cached, measured on a copy and reused."""
    results, points = latency.run([SIZE], pg_url=None, plan=TINY, work=tmp_path)
    _check_rows(results, points, "SQLite")
    built = cache / f"sqlite-{SIZE}-{latency.code_version()}"
    assert (built / "complete").is_file()
    with CaseLog(f"sqlite:///{built / 'cdlog.db'}", create=False) as log:
        assert log.max_position() == SIZE  # the copy took the recorded events, not the cache

    def no_build(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the cached store was built again")

    monkeypatch.setattr(latency, "build", no_build)
    assert latency.sqlite_store(SIZE) == built
    stale = cache / f"sqlite-{SIZE}-000000000000"
    stale.mkdir()
    (built / "complete").unlink()  # a build that did not finish is not used
    monkeypatch.undo()
    monkeypatch.setenv(latency.CACHE_ENV, str(cache))
    assert latency.sqlite_store(SIZE) == built
    assert (built / "complete").is_file()
    assert not stale.exists()


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A database of the test's own on the test server (the benchmark's schema name is fixed
    by its dump, so concurrent runs of the suite must not share a database)."""
    import uuid

    import psycopg

    name = f"cdlog_bench_{uuid.uuid4().hex[:10]}"
    base = pg_server.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_latencies_and_the_cached_dump(cache: Path, tmp_path: Path,
                                                pg_database: str) -> None:
    """A tiny PostgreSQL store is built and dumped once, then restored from the dump."""
    pg_server = pg_database
    results, points = latency.run([SIZE], pg_url=pg_server, sqlite=False, plan=TINY,
                                  work=tmp_path)
    _check_rows(results, points, "PostgreSQL")
    dump = cache / f"pg-{SIZE}-{latency.code_version()}.dump"
    assert dump.is_file()
    url = latency.pg_store(pg_server, SIZE, tmp_path / "home")
    try:
        with CaseLog(url, create=False) as log, Queries(log) as q:
            assert log.max_position() == SIZE
            assert q.views.positions() == dict.fromkeys(q.views.positions(), SIZE)
    finally:
        latency.PgServer.from_url(pg_server).execute(
            f'DROP SCHEMA IF EXISTS "bench_latency_{SIZE}" CASCADE')


def test_a_case_is_found_by_its_stream_without_reading_every_case(tmp_path: Path) -> None:
    """stream_of finds a case by stream name or reference with the stream index (the old code
    read every case's opening entry: a second per query in a 1M-event store); other names
    (internal id) still work and unknown ones are refused."""
    with CaseLog(f"sqlite:///{tmp_path / 'cdlog.db'}") as log:
        world = World.create()
        world.establish(log)
        fill(log, world, 50)
        with Queries(log) as q:
            calls: list[dict[str, Any]] = []
            select = q.views.select

            def spy(view: str, **kw: Any) -> Any:
                calls.append({"view": view, **kw})
                return select(view, **kw)

            q.views.select = spy  # type: ignore[method-assign]
            assert q.stream_of("OP-B-0000003") == "case:OP-B-0000003"
            assert q.stream_of("case:OP-B-0000004") == "case:OP-B-0000004"
            assert all(c.get("stream") is not None for c in calls), calls
            calls.clear()
            internal = str(stream_id("case:OP-B-0000002"))
            assert q.stream_of(internal) == "case:OP-B-0000002"
            with pytest.raises(NotFoundError, match="OP-NOPE"):
                q.stream_of("OP-NOPE")


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseLog]:
    """The example scenarios: cases with OI case numbers and operation ids."""
    world = world_with_scenarios(tmp_path_factory.mktemp("names") / "cdlog.db")
    yield world.log
    world.log.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.one_of(st.integers(0, 3).map(lambda i: ("case", i)),
                                st.text(max_size=12).map(lambda t: ("text", t))),
                      min_size=1, max_size=6),
       mangle=st.sampled_from(["", "case:", " ", "x"]))
def test_stream_of_answers_as_the_scan_did(demo_log: CaseLog, picks: list[tuple[str, Any]],
                                           mangle: str) -> None:
    """For any name (a case's reference, stream name or internal id, OI case number or
    operation id, a near miss, or any text), stream_of finds the case the full scan found, or
    refuses the name the scan did not find."""
    with Queries(demo_log) as q:
        names: list[str] = []
        refs = q.cases().cases
        for kind, value in picks:
            if kind == "text":
                names.append(value)
                continue
            ref = refs[value % len(refs)]
            names += [n for n in (ref.reference, ref.stream, ref.case_id, ref.case_no,
                                  ref.operation_id) if n]
            names.append(mangle + ref.reference)  # near misses too
        for name in names:
            want = q._stream_by_scan(name)  # every case's opening, in log order
            if want is None:
                with pytest.raises(NotFoundError):
                    q.stream_of(name)
            else:
                assert q.stream_of(name) == want, name
