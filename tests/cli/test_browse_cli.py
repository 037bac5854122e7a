"""`cdlog cases` and `cdlog show` (issue 9, observations 3 and 8): read-only, complete when
piped (tab-separated, never truncated), `--json` for scripts, a missing store is an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.verify_cmd  # noqa: F401  (registers cases and show)
from cdlog.cli.main import cli

if TYPE_CHECKING:
    from conftest import RawStore, World

CDLOG = [sys.executable, "-m", "cdlog"]
LONG_REF = "OP-2006-A-REFERENCE-LONGER-THAN-ANY-TERMINAL-COLUMN-WOULD-SHOW-0001"
STREAM = f"case:{LONG_REF}"


def _case(world: World) -> str:
    """A case with a long reference, accepted with an OI case number."""
    i = world.id
    stream = world.open_case(LONG_REF, port="5201", at=0)
    world.rec(stream, "ContrabandDiscovered", {"items": [{
        "item_id": "X-1", "description": "brick", "category": "drug", "count": 3}]},
        by="cbpo", at=5)
    world.rec(stream, "InvestigativeNotificationSent", {
        "identified_at": world.t(5).isoformat(), "to": i("oi_duty"), "channel": "phone"},
        by="cbpo", at=8)
    world.rec(stream, "CaseAccepted", {"case_no": "MI-06-CD-0777", "lead_office": "SAC-Miami"},
              by="oi_duty", at=20)
    world.open_case("OP-SHORT", port="2704", at=30)
    return stream


def _snapshot(raw: RawStore) -> list[tuple[object, ...]]:
    return raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")


def _invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", url, *args])


def _piped(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command with stdout a pipe, as `cdlog cases | cut ...` does."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([*CDLOG, "--store", url, *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False, stdin=subprocess.DEVNULL)


def test_cases_piped_is_complete_tab_separated(world: World, store_url: str,
                                               raw: RawStore) -> None:
    """Observation 8: rich cut columns at 80 characters when piped; now every cell is whole."""
    _case(world)
    before = _snapshot(raw)
    run = _piped(store_url, "cases")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split("\t") == ["stream", "reference", "port", "events", "decision",
                                    "case_no"]
    rows = [line.split("\t") for line in lines[1:]]
    assert rows == [[STREAM, LONG_REF, "5201", "4", "accepted", "MI-06-CD-0777"],
                    ["case:OP-SHORT", "OP-SHORT", "2704", "1", "-", "-"]]
    assert "…" not in run.stdout
    assert _snapshot(raw) == before


def test_cases_json(world: World, store_url: str) -> None:
    """`cases --json`: one object per case, named by stream and case number."""
    _case(world)
    result = _invoke(store_url, "cases", "--json")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert [(d["stream"], d["reference"], d["port"], d["events"], d["decision"], d["case_no"])
            for d in docs] == [(STREAM, LONG_REF, "5201", 4, "accepted", "MI-06-CD-0777"),
                               ("case:OP-SHORT", "OP-SHORT", "2704", 1, None, None)]


def test_show_piped_and_json(world: World, store_url: str) -> None:
    """`show` piped prints whole rows with full hashes; `show --json` the same timeline."""
    stream = _case(world)
    hashes = [e.hash_hex for e in world.log.events(stream)]
    run = _piped(store_url, "show", "MI-06-CD-0777")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split("\t") == ["version", "occurred", "recorded", "type", "actor", "hash"]
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert [r[3] for r in rows] == ["CaseOpened", "ContrabandDiscovered",
                                    "InvestigativeNotificationSent", "CaseAccepted"]
    assert [r[5] for r in rows] == hashes
    result = _invoke(store_url, "show", LONG_REF, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["stream"], doc["reference"], doc["case_no"]) == (STREAM, LONG_REF,
                                                                 "MI-06-CD-0777")
    assert [e["hash"] for e in doc["events"]] == hashes
    assert doc["events"][0]["occurred"] == {"at": world.t(0).isoformat()}
    assert doc["events"][3]["actor"].endswith(world.id("oi_duty"))


def test_cli_runner_output_is_plain(world: World, store_url: str) -> None:
    """Under CliRunner (not a terminal) too: no table borders, nothing cut."""
    _case(world)
    out = _invoke(store_url, "cases").stdout
    assert "┃" not in out
    assert LONG_REF in out


@pytest.mark.parametrize("args", [["cases"], ["cases", "--json"], ["show", "OP-1"]])
def test_missing_store_is_an_error_and_not_created(tmp_path: Path, args: list[str]) -> None:
    """Observation 3: a mistyped store path is exit 2 naming it; nothing is created."""
    missing = tmp_path / "typo" / "cdlog.db"
    result = _invoke(f"sqlite:///{missing}", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cdlog: ")
    assert str(missing) in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "typo").exists()


def test_show_unknown_case(world: World, store_url: str, raw: RawStore) -> None:
    """An unknown case is one line, exit 2, and changes nothing."""
    _case(world)
    before = _snapshot(raw)
    result = _invoke(store_url, "show", "OP-NOPE")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "cdlog: not found: no case named 'OP-NOPE' (tried stream name, reference, operation "
        "id, OI case number and internal id)"]
    assert _snapshot(raw) == before
