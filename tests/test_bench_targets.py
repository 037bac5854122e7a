"""The benchmark table reports issue 12's step targets beside the goals: each ratio row the
issue names carries its step target and whether this run met it, in the table and in
bench/results.json; no timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from bench.measure import relative  # noqa: E402
from bench.run import STEP_TARGET, first_pass_ratio, table  # noqa: E402
from cdlog.application import CaseLog  # noqa: E402


def test_the_step_targets_are_the_issues() -> None:
    """The five step targets of issue 12, by row."""
    assert STEP_TARGET == {
        ("append 1", "SQLite"): 0.6, ("append 100", "SQLite"): 0.35,
        ("append 100", "PostgreSQL"): 0.45, ("verify", ""): 0.55, ("projection", ""): 0.2}


@given(value=st.floats(1, 1e6), baseline=st.floats(1, 1e6), step=st.sampled_from([0.2, 0.55]))
def test_a_step_is_met_by_the_ratio(value: float, baseline: float, step: float) -> None:
    """A row's step is met exactly when its ratio reaches it; the goal is judged apart."""
    row = relative("r", value, baseline, "events/s", 0.7, step=step)
    assert row.step_target == f"ratio >= {step}"
    assert row.step_met is (value / baseline >= step)
    assert row.met is (value / baseline >= 0.7)
    assert row.as_json()["step_target"] == row.step_target


def test_the_table_shows_step_targets() -> None:
    """A row with a step shows it and its verdict; a row without one leaves both blank."""
    rows = [relative("verify", 30.0, 100.0, "events/s", 0.7, step=0.55),
            relative("catch-up", 25.0, 100.0, "events/s", 0.3, step=0.2),
            relative("scaling", 90.0, 100.0, "events/s", 0.8)]
    lines = table(rows).splitlines()
    assert "step target" in lines[0]
    verify, catch_up, scaling = lines[2:]
    assert verify.endswith("ratio >= 0.55  NO")
    assert catch_up.endswith("ratio >= 0.2   yes")
    assert scaling.endswith("ratio >= 0.8  yes")


def test_the_catch_up_baseline_is_the_fastest_raw_read(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The projection row's baseline is the fastest of the raw reads taken around and between
    the catch-ups (one pass alone ran at half the rate of another in the same store), so a
    slow pass cannot flatter the ratio; every pass is kept in the result."""
    rates = iter([150_000.0, 300_000.0, 200_000.0, 250_000.0, 320_000.0, 180_000.0])
    monkeypatch.setattr(scale, "_raw_read_rate", lambda recorder: next(rates))
    log = CaseLog(f"sqlite:///{tmp_path / 'cdlog.db'}")
    try:
        got = scale._projection(log, tmp_path / "views")
    finally:
        log.close()
    assert "error" not in got, got
    assert got["raw_rates"] == [150_000, 300_000, 200_000, 250_000, 320_000, 180_000]
    assert got["raw_rate"] == 320_000.0
    assert got["events"] == 0
    assert scale.RAW_PASSES == 6


def test_the_catch_up_rate_is_its_fastest_pass_taken_in_turn_with_the_raw_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sides of the ratio are their least disturbed pass: the catch-ups alternate with
    the raw reads (raw, catch-up, raw, raw, catch-up, raw, raw, catch-up, raw) and the
    fastest catch-up is the rate; the first pass's rate is kept beside it."""
    order: list[str] = []
    raw = iter([100.0, 90.0, 95.0, 120.0, 80.0, 110.0])
    passes = iter([(1000, 4.0, "process", ["a"]), (1000, 2.0, "process", ["a"]),
                   (1000, 2.5, "thread", ["a"])])

    def fake_raw(recorder: object) -> float:
        order.append("raw")
        return next(raw)

    def fake_pass(log: object, folder: Path) -> tuple[int, float, str, list[str]]:
        order.append("catch-up")
        return next(passes)

    monkeypatch.setattr(scale, "_raw_read_rate", fake_raw)
    monkeypatch.setattr(scale, "_catch_up_pass", fake_pass)
    monkeypatch.setattr(scale, "_serial_catch_up", lambda log, folder: 300.0)
    log = CaseLog(f"sqlite:///{tmp_path / 'cdlog.db'}")
    try:
        got = scale._projection(log, tmp_path / "views")
    finally:
        log.close()
    assert order == ["raw", "catch-up", "raw", "raw", "catch-up", "raw", "raw", "catch-up",
                     "raw"]
    assert got["rates"] == [250, 500, 400]
    assert got["rate"] == 500.0
    assert got["first_rate"] == 250.0
    assert got["seconds"] == 2.0
    assert got["split"] == "process"
    assert got["raw_rate"] == 120.0


def test_verification_is_its_fastest_pass_against_the_limits_fastest_measure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two verifications alternate with three measures of the Ed25519 limit (before, between,
    after); the rate is the fastest pass and the limit each binding's fastest measure, so both
    sides are their least disturbed pass. The first pass against the mean of the measures
    around it (the bench's earlier one-pass ratio) is kept beside it."""
    order: list[str] = []
    limits = iter([30_000.0, 34_000.0, 32_000.0])

    def fake_limit(message: bytes, secs: float) -> dict[str, float]:
        order.append("limit")
        fast = next(limits)
        return {"pynacl": fast, "openssl": fast / 2, "single_core_pynacl": fast / 2,
                "fastest": fast}

    class _Report:
        events = 1_000_000
        ok = True

    def fake_verify(log: object) -> _Report:
        order.append("verify")
        return _Report()

    clock = iter([0.0, 50.0, 100.0, 140.0])  # pass 1 takes 50 s, pass 2 takes 40 s
    monkeypatch.setattr(scale, "_limit", fake_limit)
    monkeypatch.setattr(scale, "verify_log", fake_verify)
    rate, took, ok, limit, rates = scale._verify_passes(
        object(), b"m", 1.0, clock=lambda: next(clock))  # type: ignore[arg-type]
    assert order == ["limit", "verify", "limit", "verify", "limit"]
    assert rates == [20_000.0, 25_000.0]
    assert rate == 25_000.0
    assert took == 40.0
    assert ok
    assert limit["fastest"] == 34_000.0
    assert limit["pynacl"] == 34_000.0
    assert (limit["fastest_0"], limit["fastest_1"], limit["fastest_2"]) == (30_000.0, 34_000.0,
                                                                          32_000.0)
    point = scale.SizePoint(1_000_000, 1.0, rate, took, ok, 2, limit=limit, verify_rates=rates)
    assert first_pass_ratio(point) == 20_000.0 / 32_000.0
