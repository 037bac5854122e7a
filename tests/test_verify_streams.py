"""The replay's case states survive the spill file unchanged (``cdlog/verify/streams.py``).

States of random content (times, duties, holdings, sets, the case fields) pickled compactly
come back equal to what the default pickling gives back, in fewer bytes; an instance that is
not the plain dataclass (an attribute added) is pickled the default way and keeps it; a table
with a small memory bound hands back every state it spilled, equal to the one kept.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cdlog.domain.case import CaseState, Duty, Holding
from cdlog.domain.evolve import start_state
from cdlog.verify.streams import _Stream, _StreamTable, dumps

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1),
                     timezones=st.just(UTC))
texts = st.text(max_size=8)
duties = st.builds(Duty, kind=st.sampled_from(["briefing", "action_item", "feedback"]),
                   key=texts, owner=texts, opened_at=times, due=st.none() | times,
                   what=texts, to=texts)
holdings = st.builds(Holding, category=st.none() | texts, initial_count=st.none()
                     | st.integers(0, 99), holders=st.dictionaries(texts, st.integers(0, 99),
                                                                   max_size=3))


@st.composite
def states(draw: st.DrawFn) -> _Stream:
    state = start_state(draw(st.sampled_from(["case:OP-1", "trust:CBP", "case:ß ∆"])))
    state.version = draw(st.integers(0, 10**6))
    state.reference = draw(texts)
    state.ports = draw(st.lists(texts, max_size=3))
    state.port_acted = draw(st.booleans())
    state.holdings = draw(st.dictionaries(texts, holdings, max_size=3))
    state.notified_at = draw(st.none() | times)
    state.duties = draw(st.lists(duties, max_size=4))
    state.shadows = draw(st.sets(texts, max_size=3))
    state.last_recorded = draw(st.none() | times)
    if draw(st.booleans()) and state.duties:
        state.duties[0].done_at = state.duties[0].opened_at + timedelta(days=1)
    return _Stream(state, draw(st.integers(0, 99)), draw(st.none() | st.text(max_size=64)))


@given(stream=states())
def test_compact_pickling_round_trips(stream: _Stream) -> None:
    data = dumps(stream)
    assert pickle.loads(data) == pickle.loads(pickle.dumps(stream)) == stream
    assert len(data) < len(pickle.dumps(stream, pickle.HIGHEST_PROTOCOL))


@given(stream=states())
def test_an_instance_with_more_than_its_fields_is_pickled_the_default_way(
        stream: _Stream) -> None:
    stream.state.extra = "kept"  # type: ignore[attr-defined]
    back = pickle.loads(dumps(stream))
    assert back == stream
    assert back.state.extra == "kept"
    assert isinstance(back.state, CaseState)


@given(streams=st.lists(states(), min_size=1, max_size=40))
def test_a_small_table_gives_back_every_spilled_state(streams: list[_Stream]) -> None:
    table = _StreamTable(limit=8)
    try:
        for i, stream in enumerate(streams):
            table.add(f"c{i}", stream)
        for i, stream in reversed(list(enumerate(streams))):
            assert table.get(f"c{i}") == stream
        assert table.get("never") is None
    finally:
        table.close()
