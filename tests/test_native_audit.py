"""The tree audit's native page step (cdlog/_native/audit.c) gives exactly the audit the Python
loop gives (cdlog/log/tree_audit.py, the reference).

:func:`audit_tree` is run with the native step and without it on the same store as a read
transaction sees it, clean and after random damage to its rows (every kind the audit names:
events and leaves removed, rewritten, moved or added, leaf indices gapped, versions and case ids
changed, node rows removed, rewritten or cut short, checkpoints removed or rewritten), at page
sizes from 1 leaf to the real one, so page boundaries fall everywhere; the sizes, roots,
checkpoints and every failure (text, place, order) must be equal. ``audit_page`` itself is fed
random values (no crash: a state or None), and keeps no memory per call. Under ``CDLOG_PURE=1``
there is no native step and the equalities hold trivially (the reference against itself).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdlog._native import libcrypto_paths, speedups
from cdlog.application import CaseLog
from cdlog.log import tree_audit
from cdlog.log.checkpoint_signing import create_log_key, sign_checkpoint
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.note import NoteSigner
from cdlog.log.tree_audit import audit_tree
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import RawStore, World

PASS = b"test passphrase"
NATIVE = tree_audit._NATIVE_PAGE
PAGES = (1, 2, 3, 4, 7, 16, 1000)
Statement = tuple[str, tuple[object, ...]]


@dataclass
class Store:
    """A closed log with three signed checkpoints (the last over all of it)."""

    url: str
    raw: RawStore
    origin: str
    signer: NoteSigner
    checkpoints: list[str]


def add_case(world: World, ref: str, events: int) -> str:
    """Open a case and record a few more events in it."""
    stream = world.open_case(ref)
    for i in range(events - 1):
        world.rec(stream, "ConveyanceArrived", {"refs": {"bol": f"B{i}"}}, by="cbpo", at=i + 1)
    return stream


@pytest.fixture
def store(world: World, raw: RawStore) -> Store:
    add_case(world, "OP-T-1", 4)
    signer = create_log_key(world.log, PASS)
    texts = [sign_checkpoint(world.log, signer).text]
    add_case(world, "OP-T-2", 3)
    texts.append(sign_checkpoint(world.log, signer).text)
    add_case(world, "OP-T-3", 5)
    texts.append(sign_checkpoint(world.log, signer).text)
    world.log.close()
    return Store(world.log.store.url, raw, world.log.log_id, signer, texts)


def outcome(led: LedgerCursor, store: Store, native: bool | Callable[..., Any],
            page: int) -> Any:
    """The audit as ``led`` sees it, with or without the native step, at a page size."""
    step = (NATIVE if native is True else None) if isinstance(native, bool) else native
    saved = tree_audit.PAGE, tree_audit._NATIVE_PAGE
    tree_audit.PAGE, tree_audit._NATIVE_PAGE = page, step
    try:
        found = audit_tree(led, store.origin, store.signer.verifier(),
                           known=store.checkpoints[:1])
    except Exception as exc:  # the reference's refusal must be the native one's too
        return type(exc), str(exc)
    finally:
        tree_audit.PAGE, tree_audit._NATIVE_PAGE = saved
    return (found.size, found.root, found.checkpoints, found.latest_checkpoint,
            [(f.case, f.version, f.check, f.detail) for f in found.failures])


def flip(blob: object) -> bytes:
    assert isinstance(blob, bytes)
    return blob[:-1] + bytes([blob[-1] ^ 0x01])


def mutations(raw: RawStore) -> list[Statement]:
    """Every kind of damage the tree audit names, at every row it can hit."""
    out: list[Statement] = []
    events = raw.rows("SELECT {nid}, originator_id, state FROM {events} ORDER BY {nid}")
    for nid, case, state in events:
        text = str(case).replace("-", "")
        hyphenated = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
        out += [("DELETE FROM {events} WHERE {nid} = ?", (nid,)),
                ("UPDATE {events} SET state = ? WHERE {nid} = ?", (flip(state), nid)),
                ("UPDATE {events} SET originator_version = originator_version + 1000 "
                 "WHERE {nid} = ?", (nid,)),
                ("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                 "SELECT originator_id, originator_version + 2000, topic, state FROM {events} "
                 "WHERE {nid} = ?", (nid,)),
                ("UPDATE {leaves} SET originator_id = ? WHERE notification_id = ?",
                 (text.upper(), nid)),
                ("UPDATE {leaves} SET originator_id = ? WHERE notification_id = ?",
                 (hyphenated, nid)),
                ("UPDATE {leaves} SET originator_id = ? WHERE notification_id = ?",
                 ("z" * 32, nid))]
        if raw.kind == "sqlite":  # a case id the events table holds in another spelling
            out += [("UPDATE {events} SET originator_id = ? WHERE {nid} = ?",
                     (text.upper(), nid)),
                    ("UPDATE {events} SET state = CAST(state AS TEXT) WHERE {nid} = ?", (nid,))]
    for (index,) in raw.rows("SELECT leaf_index FROM {leaves}"):
        out += [("DELETE FROM {leaves} WHERE leaf_index = ?", (index,)),
                ("UPDATE {leaves} SET notification_id = notification_id + 1000 "
                 "WHERE leaf_index = ?", (index,)),
                ("UPDATE {leaves} SET leaf_index = leaf_index + 1000 WHERE leaf_index = ?",
                 (index,)),
                ("UPDATE {leaves} SET originator_version = originator_version + 1000 "
                 "WHERE leaf_index = ?", (index,)),
                ("UPDATE {leaves} SET originator_version = 0 WHERE leaf_index = ?", (index,))]
    for level, idx, value in raw.rows("SELECT level, idx, hash FROM {nodes}"):
        where = "WHERE level = ? AND idx = ?"
        out += [("DELETE FROM {nodes} " + where, (level, idx)),
                ("UPDATE {nodes} SET hash = ? " + where, (flip(value), level, idx)),
                ("UPDATE {nodes} SET hash = ? " + where, (bytes(value)[:31], level, idx))]
    out.append(("INSERT INTO {nodes} (level, idx, hash) VALUES (?, ?, ?)", (0, 10_000, b"x")))
    for size, root in raw.rows("SELECT size, root FROM {checkpoints}"):
        out += [("DELETE FROM {checkpoints} WHERE size = ?", (size,)),
                ("UPDATE {checkpoints} SET root = ? WHERE size = ?", (flip(root), size))]
    return out


def test_clean_store_takes_the_native_step(store: Store) -> None:
    """On a clean store every page is the native step's (when built), and equal."""
    calls: list[bool] = []

    def spy(*args: Any) -> Any:
        assert NATIVE is not None
        got = NATIVE(*args)
        calls.append(got is not None)
        return got

    for page in PAGES:
        with store.raw.trial() as (_, led):
            expected = outcome(led, store, False, page)
            assert expected[-1] == []
            assert expected[0] > 20
            assert outcome(led, store, True, page) == expected
            assert outcome(led, store, spy if NATIVE is not None else False, page) == expected
    if NATIVE is not None:
        assert calls
        assert all(calls)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_native_audit_equals_the_reference_on_damaged_stores(store: Store,
                                                             data: st.DataObject) -> None:
    """Random damage (one to three rows), random page size: the same audit either way."""
    options = mutations(store.raw)
    chosen = data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=3))
    page = data.draw(st.sampled_from(PAGES))
    with store.raw.trial() as (run, led):
        for statement, params in chosen:
            try:
                run(statement, params)
            except Exception:  # a constraint the second change breaks: nothing to compare
                return
        assert outcome(led, store, True, page) == outcome(led, store, False, page)


def test_every_single_damage_is_equal(store: Store) -> None:
    """Each kind of damage alone, at a page size that splits the log: equal, and reported."""
    for statement, params in mutations(store.raw):
        with store.raw.trial() as (run, led):
            run(statement, params)
            native, pure = outcome(led, store, True, 3), outcome(led, store, False, 3)
            assert native == pure, statement


def test_full_verification_report_is_the_same(store: Store) -> None:
    """Through ``verify_log`` (the store's own reader: SQLite's Row cursor put back after)."""
    log = CaseLog(store.url)
    try:
        reports = []
        for native in (True, False):
            saved = tree_audit._NATIVE_PAGE
            tree_audit._NATIVE_PAGE = NATIVE if native else None
            try:
                report = verify_log(log, log_vkey=store.signer.vkey,
                                    known=store.checkpoints)
            finally:
                tree_audit._NATIVE_PAGE = saved
            reports.append(report.as_json())
            with read_ledger(log) as led:  # the cursor reads Rows again after the audit
                assert led.leaves(0, 1)[0].leaf_index == 0
        assert reports[0] == reports[1]
        assert reports[0]["tree"]["checkpoints"] == 3
    finally:
        log.close()


def clean_page(store: Store) -> tuple[Any, ...]:
    """The arguments of ``audit_page`` for the store's first leaves (a clean page)."""
    with store.raw.trial() as (_, led):
        leaves = led.leaf_tuples(0, 8)
        events = led.event_tuples(0, 8)
        levels = [led.level_tuples(level, 0, 8 >> level) for level in range(4)]
    return leaves, events, levels, [None] * 64, 0, 0, [8]


def pure_build() -> bool:
    """True (after checking there is no native step at all) on the pure build."""
    if NATIVE is not None:
        return False
    assert getattr(speedups, "audit_page", None) is None or tree_audit._native_page() is None
    return True


def test_audit_page_keeps_no_memory(store: Store) -> None:
    """Many clean pages and handed-back pages leave no objects behind."""
    if pure_build():
        return
    assert NATIVE is not None
    args = clean_page(store)
    assert NATIVE(*args) is not None
    bad = (args[0], args[1][:-1], *args[2:])
    for _ in range(200):
        NATIVE(*args)
        NATIVE(*bad)
    before = sys.getallocatedblocks()
    for _ in range(5000):
        NATIVE(*args)
        NATIVE(*bad)
    assert sys.getallocatedblocks() - before < 200


values = st.recursive(
    st.none() | st.integers(min_value=-2**70, max_value=2**70) | st.binary(max_size=40)
    | st.text(max_size=40) | st.booleans() | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.tuples(inner, inner, inner, inner) | st.tuples(inner, inner, inner, inner, inner),
    max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_audit_page_survives_any_values(store: Store, data: st.DataObject) -> None:
    """Random values in every argument, and a clean page with one value replaced: a state or
    None, never a crash."""
    if pure_build():
        return
    assert NATIVE is not None
    args = list(clean_page(store))
    which = data.draw(st.integers(0, 6))
    if data.draw(st.booleans()):
        args[which] = data.draw(values)
    else:
        container = args[which]
        if isinstance(container, list) and container:
            i = data.draw(st.integers(0, len(container) - 1))
            row = container[i]
            if isinstance(row, tuple) and row and data.draw(st.booleans()):
                j = data.draw(st.integers(0, len(row) - 1))
                row = (*row[:j], data.draw(values), *row[j + 1:])
                container = [*container[:i], row, *container[i + 1:]]
            else:
                container = [*container[:i], data.draw(values), *container[i + 1:]]
            args[which] = container
    got = NATIVE(*args)
    assert got is None or (isinstance(got, tuple) and len(got) == 4)


def test_frontier_restore_round_trips() -> None:
    """What the native step hands back is the frontier the Python keeps."""
    tree = tree_audit.Frontier()
    for i in range(37):
        tree.append(bytes([i]) * 32)
    copy = tree_audit.Frontier()
    copy.restore([tree.node_at(level) for level in range(64)], tree.size)
    assert copy.root() == tree.root()
    assert copy.append(b"\x07" * 32) == tree.append(b"\x07" * 32)




def test_both_ways_of_hashing_give_the_reference(store: Store) -> None:
    """Bound with OpenSSL's low-level SHA256_Init/Update/Final (where the library exports
    them, as OpenSSL 3 does) and with its one-shot SHA256 alone, the native step gives the
    reference's audit on the clean store and on every single damage."""
    if pure_build():
        return
    paths = libcrypto_paths()
    assert speedups is not None
    assert speedups.audit_hashing() == "low-level"  # this machine's OpenSSL 3 has them
    assert NATIVE is not None
    page = clean_page(store)
    states = []
    try:
        for low_level in (False, True):
            assert any(speedups.audit_bind(path, low_level) for path in paths)
            assert speedups.audit_hashing() == ("low-level" if low_level else "one-shot")
            states.append(NATIVE(*page))
            assert states[-1] is not None  # the clean page is taken natively either way
            with store.raw.trial() as (_, led):
                assert outcome(led, store, True, 2) == outcome(led, store, False, 2)
            for statement, params in mutations(store.raw)[::3]:
                with store.raw.trial() as (run, led):
                    run(statement, params)
                    assert outcome(led, store, True, 2) == outcome(led, store, False, 2)
    finally:
        assert any(speedups.audit_bind(path) for path in paths)
    assert speedups.audit_hashing() == "low-level"
    assert states[0] == states[1]
