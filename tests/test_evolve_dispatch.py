"""evolve skips its per-type match for a payload no case names (issue 12, round 4).

Each case of the match is an ``isinstance`` through pydantic's ``ABCMeta``; an event of a type
without a case (``ConveyanceArrived``, ``ExaminationReferred``...) tried all 33 of them. The
classes the match names are listed once (``CASE_CLASSES``): these tests hold the list to the
match's source and the folded states to the match tried for every event.
"""

from __future__ import annotations

import ast
import copy
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.domain import evolve as evolve_module
from cdlog.domain.case import CaseState, Fact
from cdlog.domain.config import Config
from cdlog.domain.events import CATALOGUE
from cdlog.domain.evolve import CASE_CLASSES, evolve, start_state
from cdlog.domain.values import Occurred, Officer
from cdlog.log.facts import fact_of

if TYPE_CHECKING:
    from conftest import world_with_scenarios
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import world_with_scenarios


class _Always(dict[type, bool]):
    """A type cache that says every type has a case: evolve then tries the match each time,
    as before the skip."""

    def get(self, key: Any, default: Any = None) -> bool:
        return True


def _evolve_plain(state: CaseState, fact: Fact, config: Config,
                  monkeypatch: pytest.MonkeyPatch) -> CaseState:
    with monkeypatch.context() as m:
        m.setattr(evolve_module, "_HAS_CASE", _Always())
        return evolve(state, fact, config)


def test_the_listed_classes_are_the_matchs() -> None:
    tree = ast.parse(inspect.getsource(evolve_module._fold))
    named = {node.cls.attr for node in ast.walk(tree) if isinstance(node, ast.MatchClass)
             and isinstance(node.cls, ast.Attribute)}
    assert named == {c.__name__ for c in CASE_CLASSES}
    assert len(named) == len(CASE_CLASSES)
    plain = [node for node in ast.walk(tree) if isinstance(node, ast.MatchClass)]
    assert all(isinstance(node.cls, ast.Attribute) for node in plain)  # ev.X() patterns only


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_type_folds_as_with_the_match_tried(name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """For every catalogue type (a payload of its defaults only), a state folds to the same
    state, or fails alike, whether the match is skipped or tried."""
    payload = CATALOGUE[name].model_construct()
    at = datetime(2006, 3, 14, 9, 12, tzinfo=UTC)
    actor = Officer(id="CBP-1", role="CBPO", agency="CBP", office="OFO")
    fact = Fact(type=name, payload=payload, occurred=Occurred(at=at), recorded=at,
                actor=actor, version=2, stream="case:OP-1")
    base = start_state("case:OP-1")
    base.version, base.reference, base.port = 1, "OP-1", "5201"

    def outcome(fold: Any) -> Any:
        state = copy.deepcopy(base)
        try:
            return fold(state)
        except Exception as exc:
            return type(exc), str(exc)

    config = Config()
    skipped = outcome(lambda s: evolve(s, fact, config))
    tried = outcome(lambda s: _evolve_plain(s, fact, config, monkeypatch))
    assert skipped == tried
    assert evolve_module._HAS_CASE[CATALOGUE[name]] == any(
        isinstance(payload, c) for c in CASE_CLASSES)


def test_the_scenarios_fold_as_with_the_match_tried(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stream of the example scenarios folds to the same states, event by event."""
    world = world_with_scenarios(tmp_path / "cdlog.db")
    try:
        streams = world.log.streams()
        assert streams
        for stream in streams:
            skipped, tried = start_state(stream), start_state(stream)
            for sealed in world.log.events(stream):
                fact = fact_of(sealed)
                evolve(skipped, fact, world.log.config)
                _evolve_plain(tried, fact, world.log.config, monkeypatch)
                assert skipped == tried
    finally:
        world.log.close()
