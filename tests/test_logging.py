"""Logs carry event types and counts, never key material, passphrases or payload values."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
import structlog

from cdlog.keys.keyfile import read_key_file, write_key_file
from cdlog.logging import capture_logs


def test_recording_logs_no_secrets_or_payload(world: Any, tmp_path: Any) -> None:
    """Recording a command logs its event types only; no seed, key or payload text appears."""
    case = world.open_case()
    with capture_logs() as logs:
        world.rec(case, "ContrabandDiscovered", {"items": [
            {"item_id": "A-1", "description": "SECRET-PAYLOAD-TEXT", "category": "drug"}]},
            by="cbpo", at=5)
    assert logs, "recording should log something"
    text = repr(logs)
    assert "ContrabandDiscovered" in text
    assert "SECRET-PAYLOAD-TEXT" not in text
    for signer in world.signers.values():
        assert signer.seed().hex() not in text
        assert base64.b64encode(signer.seed()).decode() not in text
    path = tmp_path / "k.key"
    with capture_logs() as logs:
        write_key_file(path, world.signers["cbpo"], b"pass-phrase-xyz", label="x")
        read_key_file(path, b"pass-phrase-xyz")
    assert "pass-phrase-xyz" not in repr(logs)
    assert "pass-phrase-xyz" not in repr(world.signers["cbpo"])


def test_batch_logs_type_counts_not_every_type(world: Any) -> None:
    """A command of many events logs each type once with its count, so the line stays short."""
    cases = [world.open_case(f"OP-LOG-{i}", at=i) for i in range(3)]
    with capture_logs() as logs, world.log.batch() as b:
        for i, case in enumerate(cases):
            for step in range(2):
                b.record(case, "ConveyanceArrived",
                         {"conveyance": f"FLT-{i}-{step}"},
                         signer=world.signers["cbpo"], at=world.t(10 + step),
                         recorded=world.t(10 + step))
        b.record(cases[0], "ExaminationReferred", {"reason": "targeting rule"},
                 signer=world.signers["cbpo"], at=world.t(20), recorded=world.t(20))
    recorded = [e for e in logs if e["event"] == "recorded"]
    assert len(recorded) == 1
    assert recorded[0]["events"] == 7
    assert recorded[0]["types"] == "ConveyanceArrived=6,ExaminationReferred=1"


def _quiet_cdlog_logger() -> None:
    """Undo any handler the command line attached in an earlier test of this process."""
    root = logging.getLogger("cdlog")
    for handler in list(root.handlers):
        if not isinstance(handler, logging.NullHandler):
            root.removeHandler(handler)
    root.setLevel(logging.NOTSET)


def test_library_is_silent_by_default(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 9 (7): recording prints nothing on stdout or stderr unless the host configures
    logging (it used to print a line per command on stdout)."""
    _quiet_cdlog_logger()
    structlog.reset_defaults()  # the host never configured structlog either
    capsys.readouterr()
    case = world.open_case("OP-QUIET-1")
    world.rec(case, "ConveyanceArrived", {"conveyance": "FLT-1"}, by="cbpo", at=5)
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == ""


def test_host_logging_configuration_is_obeyed(world: Any,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """cdlog logs through the standard logging tree: a host that sets levels on ``cdlog``
    sees its lines, or silences them."""
    _quiet_cdlog_logger()
    case = world.open_case("OP-HOST-1")
    with caplog.at_level(logging.INFO, logger="cdlog"):
        world.rec(case, "ConveyanceArrived", {"conveyance": "FLT-1"}, by="cbpo", at=5)
    lines = [r for r in caplog.records if r.name == "cdlog"]
    assert lines, "an INFO-level host sees the recorded line"
    assert lines[-1].getMessage().startswith("recorded events=1")
    assert lines[-1].cdlog["types"] == "ConveyanceArrived"  # type: ignore[attr-defined]
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="cdlog"):
        world.rec(case, "ConveyanceArrived", {"conveyance": "FLT-2"}, by="cbpo", at=6)
    assert not [r for r in caplog.records if r.name.startswith("cdlog")]


def test_host_structlog_configuration_is_left_alone(world: Any) -> None:
    """cdlog does not change structlog's global configuration, and a host's structlog set-up
    (here: capture everything) does not make cdlog print through it."""
    from structlog.testing import capture_logs as host_capture

    before = structlog.get_config()
    case = world.open_case("OP-HOST-2")
    with host_capture() as host:
        world.rec(case, "ConveyanceArrived", {"conveyance": "FLT-1"}, by="cbpo", at=5)
    assert host == []
    assert structlog.get_config() == before
