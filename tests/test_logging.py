"""Logs carry event types and counts, never key material, passphrases or payload values."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from cdlog.keys.keyfile import read_key_file, write_key_file


@pytest.fixture(autouse=True)
def _info_level() -> Any:
    """Let info-level events through for the duration of a test."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


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
