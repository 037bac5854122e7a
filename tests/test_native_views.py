"""The native rows of the views (cdlog/_native/views.c) equal their pure-Python reference.

``view_rows`` is :func:`cdlog.projections.store.rows_pure` wherever it answers, for any
entries (random documents, documents naming their own actor or cosigners, values orjson
refuses, entries that are not :class:`NewEntry`, documents that are not dicts), and answers
for every list of entries the views make; it keeps no memory. The tests use the compiled
module whenever it is built, also in the pure pass of ``make test``; without a build there
is nothing to compare and the pure path is what cdlog uses.
"""

from __future__ import annotations

import contextlib
import importlib
import tracemalloc
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog import _native
from cdlog.projections import store
from cdlog.projections.store import NewEntry, rows_pure


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
