"""The replay's case states survive the spill file unchanged (``cdlog/verify/streams.py``).

States of random content (times, duties, holdings, sets, the case fields) pickled compactly
come back equal to what the default pickling gives back, in fewer bytes; an instance that is
not the plain dataclass (an attribute added) is pickled the default way and keeps it; a table
with a small memory bound hands back every state it spilled, equal to the one kept. The filter
of spilled ids never says "not there" of an id put in (across its rebuilds), and spares the
file's query for nearly every new case.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdlog.domain.case import CaseState, Duty, Holding
from cdlog.domain.evolve import start_state
from cdlog.verify.streams import _MaybeSpilled, _Stream, _StreamTable, dumps

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


@given(keys=st.lists(st.text(max_size=40), max_size=300), bits=st.sampled_from([8, 64, 1 << 16]))
def test_the_filter_never_forgets_an_id(keys: list[str], bits: int) -> None:
    maybe = _MaybeSpilled(bits)
    for key in keys:
        maybe.add(key)
    assert all(maybe.may_hold(key) for key in keys)
    assert maybe.count == len(keys)
    assert maybe.full() is (len(keys) * 10 > bits)
    assert not _MaybeSpilled(bits).may_hold(keys[0] if keys else "x")


def test_a_table_spilling_thousands_keeps_every_state_and_asks_the_file_rarely(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the filter's first size (rebuilt from the file's ids), every spilled state comes
    back, unseen cases are None, and the file is asked about few of the new cases."""
    asked: list[str] = []
    unspill = _StreamTable._unspill

    def spy(self: _StreamTable, case: str) -> _Stream | None:
        asked.append(case)
        return unspill(self, case)

    monkeypatch.setattr(_StreamTable, "_unspill", spy)
    table = _StreamTable(limit=64)
    count = 20_000
    try:
        for i in range(count):
            assert table.get(f"case-{i}") is None  # new: the filter (mostly) answers
            table.add(f"case-{i}", _Stream(start_state(f"case:{i}"), i))
        assert table._maybe._mask + 1 > 1 << 16  # rebuilt larger at least once
        assert len(asked) < count // 20
        asked.clear()
        for i in range(0, count, 7):
            back = table.get(f"case-{i}")
            assert back is not None
            assert back.version == i
            assert back.state.stream == f"case:{i}"
        assert table.get("never") is None
    finally:
        table.close()
    assert table._maybe.count == 0

