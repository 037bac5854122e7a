"""The native rows of the views (cdlog/_native/views.c) equal their pure-Python references.

``view_rows`` is :func:`cdlog.projections.store.rows_pure` wherever it answers, for any
entries (random documents, documents naming their own actor or cosigners, values orjson
refuses, entries that are not :class:`NewEntry`, documents that are not dicts), and answers
for every list of entries the views make. ``view_shared`` is
:func:`cdlog.projections.store.shared_pure` wherever it answers (times of any offset and
microsecond, stored texts canonical, not canonical, of another time or another type, missing,
no envelope, cosigners or none) and answers for every instant; both keep no memory. The
tests use the compiled module whenever it is built, also in the pure pass of ``make test``;
without a build there is nothing to compare and the pure path is what cdlog uses.
"""

from __future__ import annotations

import contextlib
import importlib
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog import _native
from cdlog.canonical import format_time
from cdlog.domain.values import Occurred, Officer
from cdlog.log.facts import new_fact
from cdlog.projections import store
from cdlog.projections.store import NewEntry, Processed, actor_json, rows_pure, shared_pure


def _built() -> ModuleType | None:
    try:
        module = importlib.import_module("cdlog._native._speedups")
    except ImportError:
        return None
    if getattr(module, "ABI", None) != _native.ABI or not hasattr(module, "view_rows"):
        return None
    return module


NATIVE = _built()
needs_native = pytest.mark.skipif(NATIVE is None, reason="the native extension is not built")

_KEYS = st.sampled_from(["actor", "cosigners", "a", "b", "kind", "z", "é", "Actor"])
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=8))
_JSON = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_KEYS | st.text(max_size=4), inner,
                                                 max_size=3)), max_leaves=8)
_DOC = st.dictionaries(_KEYS | st.text(max_size=6), _JSON, max_size=5)
_ENTRY = st.builds(NewEntry, st.text(max_size=6), st.text(max_size=6), _DOC)
_HEAD = st.tuples(st.text(max_size=8), st.integers(1, 10**6), st.text(max_size=8),
                  st.text(max_size=8))
_TAIL = st.tuples(st.text(max_size=8), st.text(max_size=8), st.integers(), st.text(max_size=8),
                  st.integers())
_ACTOR = st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3)
_COSIGNERS = st.none() | st.lists(st.text(max_size=4), max_size=2)


def _native_rows(position: int, head: Any, tail: Any, actor: Any, cosigners: Any,
                 new: Any) -> Any:
    assert NATIVE is not None
    return NATIVE.view_rows(position, head, tail, actor, cosigners, new, orjson.dumps,
                            orjson.OPT_SORT_KEYS, NewEntry)


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "rows", fn(*args)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@needs_native
@settings(max_examples=300)
@given(position=st.integers(0, 2**62), head=_HEAD, tail=_TAIL, actor=_ACTOR,
       cosigners=_COSIGNERS, new=st.lists(_ENTRY, max_size=4))
def test_rows_equal_the_reference(position: int, head: Any, tail: Any, actor: Any,
                                  cosigners: Any, new: list[NewEntry]) -> None:
    """Every list of entries is answered, with the reference's rows, byte for byte; the
    documents given are not changed."""
    before = [dict(e.data) for e in new]
    native = _native_rows(position, head, tail, actor, cosigners, new)
    assert native is not None
    assert native == rows_pure(position, head, tail, actor, cosigners, new)
    assert [type(v) for row in native for v in row] == [
        type(v) for row in rows_pure(position, head, tail, actor, cosigners, new) for v in row]
    assert [e.data for e in new] == before


class _Other(tuple[Any, ...]):
    pass


@needs_native
@given(new=st.lists(_ENTRY, min_size=1, max_size=3), which=st.integers(0, 2),
       how=st.sampled_from(["tuple", "subclass", "not a dict", "short", "tuple list",
                            "head", "tail"]))
def test_other_shapes_are_handed_back(new: list[NewEntry], which: int, how: str) -> None:
    """Anything but a list of NewEntry with dict documents, a 4-column head and a 5-column
    tail is handed back (None): the reference decides."""
    at = which % len(new)
    head: Any = ("s", 1, "h", "T")
    tail: Any = ("a", "b", 1, "c", 2)
    entries: Any = list(new)
    kind, key, data = new[at]
    if how == "tuple":
        entries[at] = (kind, key, data)
    elif how == "subclass":
        entries[at] = _Other((kind, key, data))
    elif how == "not a dict":
        entries[at] = NewEntry(kind, key, list(data.items()))  # type: ignore[arg-type]
    elif how == "short":
        entries[at] = (kind, key)
    elif how == "tuple list":
        entries = tuple(entries)
    elif how == "head":
        head = list(head)
    else:
        tail = (*tail, "more")
    assert _native_rows(1, head, tail, {}, None, entries) is None


@needs_native
@given(bad=st.sampled_from([float("nan"), 2**64, object(), {1: "x"}, "\ud800"]),
       where=st.sampled_from(["data", "actor", "cosigners"]))
def test_values_orjson_refuses_raise_the_same_error(bad: Any, where: str) -> None:
    """A value orjson cannot write raises what the reference raises (or both write it)."""
    data = {"x": bad} if where == "data" else {}
    actor = {"id": bad} if where == "actor" else {"id": "a"}
    cosigners = [bad] if where == "cosigners" else None
    args = (1, ("s", 1, "h", "T"), ("a", "b", 1, "c", 2), actor, cosigners,
            [NewEntry("k", "key", data)])
    assert _outcome(_native_rows, *args) == _outcome(rows_pure, *args)


@needs_native
def test_no_memory_is_kept() -> None:
    """100,000 calls (rows and errors) leave no memory behind."""
    new = [NewEntry("k", "key", {"a": [1, "x", {"b": None}]}), NewEntry("j", "k2", {})]
    args = (7, ("s", 1, "h", "T"), ("a", "b", 1, "c", 2), {"id": "A"}, ["B"], new)
    bad = (7, ("s", 1, "h", "T"), ("a", "b", 1, "c", 2), {"id": object()}, None, new)
    for _ in range(1000):
        _native_rows(*args)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50_000):
            _native_rows(*args)
            with contextlib.suppress(TypeError):
                _native_rows(*bad)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024


def test_cdlog_uses_the_native_rows_when_active() -> None:
    """The projector's rows come from the native twin exactly when the build is active."""
    active = _native.speedups is not None and hasattr(_native.speedups, "view_rows")
    assert (store._VIEW_ROWS is not None) == active


# ---------------------------------------------------------------- the shared columns
_OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.one_of(_OFFSETS, st.just(UTC)))
_OFFICERS = st.builds(Officer, id=st.sampled_from(["CBP-1", "ICE-2", "DEA-3"]),
                      role=st.just("CBPO"), agency=st.sampled_from(["CBP", "ICE"]),
                      office=st.just("OFO"), unit=st.none() | st.just("U"))


def _stored_text(value: datetime) -> st.SearchStrategy[Any]:
    """What an envelope may hold for a time: its canonical text, another form of it, another
    time, another type, or nothing."""
    return st.one_of(st.just(format_time(value)), st.just(value.isoformat(timespec="microseconds")),
                     st.just(format_time(value).replace("+00:00", "Z")),
                     st.just("2006-03-14T09:12:00+00:00"), st.just("not a time"), st.none(),
                     st.integers(), st.just(["x"]))


@st.composite
def _events(draw: st.DrawFn) -> tuple[Any, Any, str]:
    window = draw(st.booleans()) and draw(st.booleans())  # a window in a quarter
    start = draw(_TIMES)
    end = start + draw(st.timedeltas(timedelta(0), timedelta(days=3))) if window else start
    occurred = Occurred.model_validate({"from": start, "to": end} if window else {"at": start})
    recorded = draw(_TIMES)
    cosigners = tuple(draw(st.lists(_OFFICERS, max_size=2)))
    fact = new_fact(type=draw(st.sampled_from(["CaseOpened", "HoldPlaced"])), payload=None,
                    occurred=occurred, recorded=recorded, actor=draw(_OFFICERS),
                    cosigners=cosigners, version=draw(st.integers(1, 99)),
                    stream=draw(st.sampled_from(["case:A", "pnr:B"])), late=False)
    kind = draw(st.sampled_from(["envelope", "none", "odd occurred"]))
    if kind == "none":
        return fact, None, "ab" * 32
    times: Any = ({"from": draw(_stored_text(start)), "to": draw(_stored_text(end))}
                  if window else {"at": draw(_stored_text(start))})
    if kind == "odd occurred":
        times = draw(st.sampled_from([None, "x", [1], {"to": None}, {}]))
    env: dict[str, Any] = {"occurred": times, "recorded": draw(_stored_text(recorded))}
    if draw(st.booleans()):
        del env["recorded"]
    return fact, env, "ab" * 32


def _native_shared(fact: Any, env: Any, hash_hex: str) -> Any:
    assert NATIVE is not None
    return NATIVE.view_shared(fact, env, hash_hex, NATIVE.canonical_time, format_time,
                              actor_json)


@needs_native
@settings(max_examples=400)
@given(event=_events())
def test_shared_columns_equal_the_reference(event: tuple[Any, Any, str]) -> None:
    """Every instant is answered with the reference's columns (same texts, same numbers);
    a window is handed back."""
    fact, env, hash_hex = event
    assert NATIVE is not None
    native = _native_shared(fact, env, hash_hex)
    if fact.occurred.at is None:
        assert native is None
        return
    with pytest.MonkeyPatch.context() as m:  # the reference as the native build runs it,
        m.setattr(store, "_CANONICAL_TIME", NATIVE.canonical_time)  # also in the pure pass
        reference = shared_pure(fact, env, hash_hex)
        assert Processed(1, hash_hex, fact)._shared() == shared_pure(fact, None, hash_hex)
    assert native == reference
    assert [type(v) for part in native[:2] for v in part] == [
        type(v) for part in reference[:2] for v in part]


@needs_native
@given(how=st.sampled_from(["naive", "naive recorded", "no occurred", "bad cosigners"]))
def test_odd_facts_are_handed_back_or_fail_alike(how: str) -> None:
    """Naive times are handed back (the reference raises); a missing attribute raises the
    reference's error."""
    when = datetime(2006, 3, 14, 9, 12, tzinfo=UTC)
    occurred: Any = Occurred(at=when)
    recorded: Any = when
    cosigners: Any = ()
    if how == "naive":
        occurred = type("O", (), {"at": datetime(2006, 3, 14), "start": None, "end": None})()
    elif how == "naive recorded":
        recorded = datetime(2006, 3, 14)
    elif how == "no occurred":
        occurred = object()
    else:
        cosigners = (object(),)
    fact = new_fact(type="T", payload=None, occurred=occurred, recorded=recorded,
                    actor=Officer(id="A", role="R", agency="CBP", office="OFO"),
                    cosigners=cosigners, version=1, stream="case:A", late=False)
    native = _outcome(_native_shared, fact, None, "h")
    reference = _outcome(shared_pure, fact, None, "h")
    if how.startswith("naive"):
        assert native == ("rows", None)
        assert reference[0] != "rows"
    else:
        assert native == reference


@needs_native
def test_shared_keeps_no_memory() -> None:
    """100,000 calls leave no memory behind."""
    when = datetime(2006, 3, 14, 9, 12, tzinfo=timezone(timedelta(hours=-5)))
    officer = Officer(id="A", role="R", agency="CBP", office="OFO")
    fact = new_fact(type="T", payload=None, occurred=Occurred(at=when), recorded=when,
                    actor=officer, cosigners=(officer,), version=1, stream="case:A",
                    late=False)
    env = {"occurred": {"at": format_time(when)}, "recorded": "x"}
    bad = new_fact(type="T", payload=None, occurred=Occurred(at=when), recorded=when,
                   actor=officer, cosigners=(object(),), version=1, stream="case:A",
                   late=False)
    for _ in range(1000):
        _native_shared(fact, env, "h")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50_000):
            _native_shared(fact, env, "h")
            with contextlib.suppress(AttributeError):
                _native_shared(bad, env, "h")
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024
