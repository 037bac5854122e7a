"""The views' decode of a page (``projector._decode``): each event's ``Fact`` is the one
``fact_of`` makes of it, or the event is skipped where ``fact_of`` fails.

The decode parses the recorded time once where its stored text is canonical and hands it to
``fact_of``, which then takes it as the occurrence of an event that occurred when it was
recorded, without validating ``occurred`` again. Held here on random recorded and occurred
texts (canonical, ``Z``, naive, odd offsets, fractions, not times at all), the same or not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.canonical import format_time
from cdlog.errors import VerificationError
from cdlog.log.facts import fact_of
from cdlog.log.sealing import parse
from cdlog.logging import capture_logs
from cdlog.projections.pages import read_page
from cdlog.projections.projector import _decode, _recorded

if TYPE_CHECKING:
    from conftest import World, build_world
    from test_views import SPINE, record_case
else:
    from tests.conftest import World, build_world
    from tests.projections.test_views import SPINE, record_case


class Row(NamedTuple):
    id: int
    originator_id: str
    originator_version: int
    state: bytes


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    world: World = build_world(f"sqlite:///{tmp_path_factory.mktemp('decode') / 'log.db'}")
    record_case(world, 1, [(name, 5, k, False) for name, k in SPINE])
    rows = [bytes(r.state) for r in read_page(world.log.app.recorder, 1, 100)]
    world.log.close()
    return rows


texts = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30)),
         timezone(timedelta(seconds=90))])).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),  # naive
    st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.datetimes(timezones=st.just(UTC)).map(format_time),
    st.text(max_size=12),
)


def _fact(raw: bytes) -> Any:
    try:
        return fact_of(parse(raw))
    except VerificationError:
        return None


@settings(max_examples=300)
@given(data=st.data())
def test_decode_gives_fact_of_or_skips(stored: list[bytes], data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(stored))
    head, _, tail = raw.partition(b"\n")
    envelope = orjson.loads(head)
    recorded = data.draw(texts)
    envelope["recorded"] = recorded
    envelope["occurred"] = data.draw(st.sampled_from([
        {"at": recorded}, {"at": data.draw(texts)}, {"at": recorded, "to": recorded}]))
    changed = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS) + b"\n" + tail
    want = _fact(changed)
    with capture_logs() as logs:
        got = _decode([Row(9, envelope["case"], envelope["version"], changed)])
    if want is None:
        assert got == []
        assert [e["position"] for e in logs if e.get("log_level") == "warning"] == [9]
    else:
        [processed] = got
        assert processed.fact == want
        assert processed.fact.occurred.start.tzinfo == want.occurred.start.tzinfo
        assert processed.fact.recorded.tzinfo == want.recorded.tzinfo


def test_stored_events_take_the_quick_way(stored: list[bytes]) -> None:
    """Every event cdlog wrote has a canonical recorded time that is parsed once, and its
    fact is ``fact_of``'s."""
    rows = [Row(k, orjson.loads(raw.partition(b"\n")[0])["case"], 1, raw)
            for k, raw in enumerate(stored, 1)]
    decoded = _decode(rows)
    assert len(decoded) == len(stored) > 10
    for processed, raw in zip(decoded, stored, strict=True):
        assert _recorded(parse(raw).envelope) == processed.fact.recorded
        assert processed.fact == _fact(raw)


def test_the_recorded_time_is_parsed_only_when_canonical() -> None:
    assert _recorded({"recorded": "2006-03-14T10:00:00-05:00"}) == datetime(
        2006, 3, 14, 15, 0, tzinfo=UTC)
    for text in ("2006-03-14T10:00:00Z", "2006-03-14T10:00:00", "2006-03-14T10:00:00.000-05:00",
                 "not a time", 5, None):
        assert _recorded({"recorded": text}) is None
    assert _recorded([]) is None
