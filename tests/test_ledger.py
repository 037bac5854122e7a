"""The Merkle log in the store: leaves appended with the events, roots and proofs from the
stored tree, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.errors import (
    ConfigurationError,
    ContextChangedError,
    NotFoundError,
    VerificationError,
)
from cdlog.keys.signer import Ed25519Signer
from cdlog.log import ledger as ledger_module
from cdlog.log.ledger import CdlogSQLiteApplicationRecorder, LedgerCursor, read_ledger, recorder_of
from cdlog.log.ledger_sql import LedgerSQL
from cdlog.log.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from cdlog.log.pgledger import CdlogPostgresApplicationRecorder
from cdlog.log.sealing import stream_id
from cdlog.store.urls import resolve_store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from conftest import BareStore, LedgerApplicationRecorder, RawStore, World


def open_recorder(path: Path) -> CdlogSQLiteApplicationRecorder:
    """A bare Merkle-log recorder on an SQLite file (no sealing: any bytes are a leaf)."""
    recorder = CdlogSQLiteApplicationRecorder(SQLiteDatastore(str(path)))
    recorder.create_table()
    return recorder


def state(i: int) -> bytes:
    """The stored bytes of synthetic event ``i``."""
    return b"event %d" % i


def insert(recorder: LedgerApplicationRecorder, case: uuid.UUID, first: int,
           count: int) -> None:
    """Store events ``first .. first+count-1`` (versions of ``case``) in one transaction."""
    recorder.insert_events([StoredEvent(originator_id=case, originator_version=v, topic="t",
                                        state=state(v)) for v in range(first, first + count)])


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH by the RFC 6962 definition, for cross-checking."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


@pytest.fixture
def recorder(bare: BareStore) -> LedgerApplicationRecorder:
    """A fresh bare recorder (SQLite file or PostgreSQL schema)."""
    return bare.recorder


@pytest.fixture
def sqlite_recorder(tmp_path: Path) -> Iterator[CdlogSQLiteApplicationRecorder]:
    """A fresh bare recorder on SQLite (for tests of SQLite's query plans and statements)."""
    rec = open_recorder(tmp_path / "ledger.db")
    yield rec
    rec.datastore.close()


def test_store_selects_the_ledger_recorder(world: World, store_kind: str) -> None:
    """Each store kind uses its recorder that keeps the tree; the leaves match the events."""
    recorder = recorder_of(world.log)
    if store_kind == "sqlite":
        assert isinstance(recorder, CdlogSQLiteApplicationRecorder)
    else:
        assert isinstance(recorder, CdlogPostgresApplicationRecorder)
    assert "APPLICATION_RECORDER_TOPIC" in resolve_store("sqlite:///x.db").environment()
    env = resolve_store("postgresql://u:p@h/d").environment()
    assert env["APPLICATION_RECORDER_TOPIC"].endswith(":CdlogPostgresApplicationRecorder")
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == "no"
    with read_ledger(world.log) as led:
        size, last = led.size(), led.last_leaf()
        assert last is not None
        assert size == led.leaf_count() == world.log.max_position() == last.notification_id
        events = led.events_after(0)
        assert [leaf_hash(e.state) for e in events] == led.read_hashes(
            [(0, i) for i in range(size)])
        assert led.root() == naive_root([leaf_hash(e.state) for e in events])


def test_leaves_follow_log_order_and_name_their_event(world: World) -> None:
    """Each leaf row names the notification, case and version of its event, in log order."""
    stream = world.open_case()
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "B1"}}, by="cbpo", at=1)
    with read_ledger(world.log) as led:
        leaves = led.leaves(0)
        events = led.events_after(0)
        assert [leaf.leaf_index for leaf in leaves] == list(range(len(events)))
        assert [(lf.notification_id, lf.originator_id, lf.originator_version) for lf in leaves] \
            == [(e.notification_id, e.originator_id, e.originator_version) for e in events]
        leaf = led.leaf_of_event(stream_id(stream), 2)
        assert leaf is not None
        assert leaf.leaf_index == len(events) - 1
        assert led.leaf_at(leaf.leaf_index) == leaf
        assert led.leaf_of_notification(leaf.notification_id) == leaf
        assert led.leaf_of_event(stream_id(stream), 3) is None


def test_a_command_hands_its_sealed_hashes_to_the_tree(world: World,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's Merkle rows take each event's leaf hash from its sealed event (not hashed
    again), and each is the leaf hash of the very row stored; a caller without them gets the
    rows hashed."""
    stream = world.open_case()
    hashed: list[bytes] = []
    real = leaf_hash

    def counting(state: bytes) -> bytes:
        hashed.append(state)
        return real(state)

    monkeypatch.setattr(ledger_module, "leaf_hash", counting)
    with world.log.batch() as b:
        for minute in (1, 2, 3):
            b.record(stream, "ConveyanceArrived", {"refs": {"bol": f"B{minute}"}},
                     signer=world.signers["cbpo"], at=world.t(minute),
                     recorded=world.t(minute))
    assert hashed == []
    with read_ledger(world.log) as led:
        events = led.events_after(0)
        assert led.read_hashes([(0, i) for i in range(len(events))]) == [real(e.state)
                                                                         for e in events]
    ids = [uuid.uuid4(), uuid.uuid4()]
    stored = [StoredEvent(ids[0], 1, "t", b"one"), StoredEvent(ids[1], 1, "t", b"two")]
    assert ledger_module.leaf_rows([8, 7], stored) == [(7, ids[1].hex, 1, real(b"two")),
                                                       (8, ids[0].hex, 1, real(b"one"))]
    assert len(hashed) == 2


def test_stored_tree_every_size_to_300(recorder: LedgerApplicationRecorder) -> None:
    """Appended in batches of 1..24 events, the stored tree gives the naive root and the
    reference proofs at every size 0..300, and the proofs verify."""
    case = uuid.uuid4()
    leaves: list[bytes] = []
    version = 1
    for batch in range(1, 25):
        insert(recorder, case, version, batch)
        version += batch
        leaves.extend(leaf_hash(state(v)) for v in range(version - batch, version))
        with recorder.read() as led:
            assert led.size() == len(leaves)
            assert led.root() == naive_root(leaves)
    assert len(leaves) == 300
    memory = MemoryHashStore()
    for leaf in leaves:
        memory.append(leaf)
    rng = random.Random(6962)
    with recorder.read() as led:
        assert led.node_count() == 2 * 300 - (300).bit_count()
        for size in range(301):
            root = tree_root(led, size)
            assert root == tree_root(memory, size) == naive_root(leaves[:size])
            picks = range(size) if size <= 40 else sorted(
                {0, size - 1, size // 2, *rng.sample(range(size), 6)})
            for index in picks:
                proof = inclusion_proof(led, index, size)
                assert proof == inclusion_proof(memory, index, size)
                verify_inclusion(leaves[index], index, size, proof, root)
            olds = range(1, size + 1) if size <= 40 else sorted(
                {1, size - 1, size, size // 2, *rng.sample(range(1, size + 1), 5)})
            for old in olds:
                proof = consistency_proof(led, old, size)
                assert proof == consistency_proof(memory, old, size)
                verify_consistency(old, size, tree_root(led, old), root, proof)


@settings(max_examples=8)
@given(size=st.integers(301, 2500), data=st.data())
def test_stored_tree_random_large(open_bare: Callable[[], BareStore], size: int,
                                  data: st.DataObject) -> None:
    """At random larger sizes, appended in random batches, stored proofs round-trip."""
    recorder = open_bare().recorder
    case, done = uuid.uuid4(), 0
    while done < size:
        batch = min(size - done, data.draw(st.integers(1, 400), label="batch"))
        insert(recorder, case, done + 1, batch)
        done += batch
    leaves = [leaf_hash(state(v)) for v in range(1, size + 1)]
    with recorder.read() as led:
        root = led.root()
        assert root == naive_root(leaves)
        for _ in range(5):
            index = data.draw(st.integers(0, size - 1), label="index")
            verify_inclusion(leaves[index], index, size,
                             inclusion_proof(led, index, size), root)
            old = data.draw(st.integers(1, size), label="old")
            verify_consistency(old, size, naive_root(leaves[:old]), root,
                               consistency_proof(led, old, size))


def test_gappy_notification_ids_give_gap_free_leaves(bare: BareStore) -> None:
    """Leaf indices stay 0, 1, 2... where notification ids skip (as PostgreSQL's may)."""
    recorder = bare.recorder
    with recorder.datastore.transaction(commit=True) as c:
        for nid in (3, 7, 8, 20):
            c.execute(bare.raw.sql("INSERT INTO {events} ({nid}, originator_id, "
                                   "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)"),
                      (nid, uuid.uuid4().hex, 1, "t", state(nid)))
        recorder.ledger(c).append_events([(nid, "x", nid, leaf_hash(state(nid)))
                                            for nid in (3, 7, 8, 20)])
    with recorder.read() as led:
        assert [(lf.leaf_index, lf.notification_id) for lf in led.leaves(0)] == [
            (0, 3), (1, 7), (2, 8), (3, 20)]
        assert led.root() == naive_root([leaf_hash(state(n)) for n in (3, 7, 8, 20)])


def test_ids_skipped_by_a_refused_insert_leave_no_leaf_gap(bare: BareStore) -> None:
    """A refused insert uses up PostgreSQL sequence values; the next leaves follow on."""
    recorder = bare.recorder
    case = uuid.uuid4()
    insert(recorder, case, 1, 2)
    for _ in range(3):
        with pytest.raises(ESIntegrityError):
            recorder.insert_events([StoredEvent(originator_id=case, originator_version=v,
                                                topic="t", state=b"dup %d" % v)
                                    for v in (3, 4, 2)])
    insert(recorder, case, 3, 2)
    with recorder.read() as led:
        leaves = led.leaves(0)
        assert [lf.leaf_index for lf in leaves] == [0, 1, 2, 3]
        ids = [lf.notification_id for lf in leaves]
        assert ids == sorted(ids)
        assert led.root() == naive_root([leaf_hash(state(v)) for v in (1, 2, 3, 4)])
    if bare.kind == "postgresql":
        assert ids[2] - ids[1] > 1, "the refused inserts used up ids: a gap, not tampering"


def test_a_refused_insert_appends_no_leaf(recorder: LedgerApplicationRecorder) -> None:
    """Events and leaves are one transaction: a conflicting batch leaves neither behind."""
    case = uuid.uuid4()
    insert(recorder, case, 1, 3)
    with pytest.raises(ESIntegrityError):
        recorder.insert_events([
            StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="t",
                        state=b"new"),
            StoredEvent(originator_id=case, originator_version=2, topic="t", state=b"dup")])
    with recorder.read() as led:
        assert led.size() == led.leaf_count() == 3
        assert led.node_count() == 2 * 3 - 2


def test_events_written_behind_the_recorders_back_block_appends(bare: BareStore) -> None:
    """An event inserted without its leaf makes the next append refuse, writing nothing."""
    recorder = bare.recorder
    insert(recorder, uuid.uuid4(), 1, 2)
    bare.raw.execute(("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                      "VALUES (?, ?, ?, ?)", (uuid.uuid4().hex, 1, "t", b"sneaked in")))
    with pytest.raises(VerificationError, match="have no leaf"):
        insert(recorder, uuid.uuid4(), 1, 1)
    with recorder.read() as led:
        assert led.size() == 2


def test_store_written_before_the_tree_catches_up(bare: BareStore) -> None:
    """Opening a store whose events have no Merkle tables yet gives them their leaves once."""
    recorder, raw = bare.recorder, bare.raw
    raw.execute(*(f"DROP TABLE {{{t}}}" for t in ("cosignatures", "checkpoints", "nodes",
                                                   "leaves")))
    raw.execute(*(("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                   "VALUES (?, ?, ?, ?)", (uuid.uuid4().hex, 1, "t", state(i)))
                  for i in range(5)))
    recorder.create_table()  # what opening the store does
    with recorder.read() as led:
        assert led.root() == naive_root([leaf_hash(state(i)) for i in range(5)])
    recorder.create_table()  # a second open changes nothing
    insert(recorder, uuid.uuid4(), 1, 1)
    with recorder.read() as led:
        assert led.size() == 6


def test_missing_node_is_reported(bare: BareStore) -> None:
    """A proof over a removed node row raises NotFoundError, not a wrong proof."""
    insert(bare.recorder, uuid.uuid4(), 1, 8)
    bare.raw.execute("DELETE FROM {nodes} WHERE level = 2 AND idx = 1")
    with bare.recorder.read() as led, pytest.raises(NotFoundError, match="merkle_nodes"):
        inclusion_proof(led, 0, 8)


def test_proof_reads_are_logarithmic(sqlite_recorder: CdlogSQLiteApplicationRecorder) -> None:
    """A root or proof over 4096 leaves runs one node query of at most log2(n) positions."""
    recorder = sqlite_recorder
    insert(recorder, uuid.uuid4(), 1, 4095)
    statements: list[str] = []
    with recorder.read() as led:
        led._c.sqlite_cursor.connection.set_trace_callback(statements.append)
        try:
            proof = inclusion_proof(led, 1234, 4095)
            consistency_proof(led, 1000, 4095)
        finally:
            led._c.sqlite_cursor.connection.set_trace_callback(None)
    node_queries = [s for s in statements if "merkle_nodes" in s]
    assert len(node_queries) == 2
    assert len(proof) <= 12
    assert all(s.count("), (") < 2 * 13 for s in node_queries)


def hot_statements(sql: LedgerSQL, events: str) -> list[tuple[str, tuple[object, ...]]]:
    """The statements run per append, root or proof, with sample parameters."""
    return [
        (sql.select_nodes.format(", ".join([sql.node_values] * 2)), (0, 1, 2, 0)),
        (sql.last_leaf, ()),
        (sql.tail.format(events=events), (-1,)),
        (sql.count_events_after.format(events=events), (1,)),
        (sql.leaf_by_event, ("a", 1)),
        (sql.leaf_by_index, (1,)),
        (sql.leaf_by_notification, (1,)),
        (sql.event_by_notification.format(events=events), (1,)),
        (sql.select_level_range, (0, 1, 9)),
    ]


def test_hot_statements_never_scan_a_table(
        sqlite_recorder: CdlogSQLiteApplicationRecorder) -> None:
    """What runs per append, root or proof is an index lookup (EXPLAIN QUERY PLAN)."""
    recorder = sqlite_recorder
    sql = recorder.ledger_sql
    events = recorder.events_table_name
    hot = hot_statements(sql, events)
    with recorder.datastore.transaction(commit=False) as c:
        for statement, params in hot:
            c.execute("EXPLAIN QUERY PLAN " + statement, params)
            plan = [str(row[3]) for row in c.fetchall()]
            scans = [p for p in plan if p.startswith("SCAN") and "CONSTANT ROW" not in p
                     and p not in ("SCAN v", "SCAN one")]
            assert scans == [], (statement, plan)


def test_postgres_hot_statements_can_use_an_index(open_bare: Callable[[], BareStore],
                                                  store_kind: str) -> None:
    """On PostgreSQL every statement run per append, root or proof has an index to use
    (EXPLAIN with sequential scans disabled shows none)."""
    if store_kind != "postgresql":
        return  # the SQLite plans are checked above
    bare = open_bare()
    recorder = bare.recorder
    insert(recorder, uuid.uuid4(), 1, 20)
    sql = recorder.ledger_sql
    events = bare.raw.names["events"]
    hot = hot_statements(sql, events)
    with recorder.datastore.transaction(commit=False) as c:
        c.execute("SET LOCAL enable_seqscan = off")
        for statement, params in hot:
            c.execute("EXPLAIN " + statement, params)
            plan = [str(next(iter(row.values()))) for row in c.fetchall()]
            scans = [p for p in plan if "Seq Scan" in p]
            assert scans == [], (statement, plan)


def test_store_without_ledger_is_refused() -> None:
    """recorder_of refuses a log whose recorder does not keep the tree."""
    fake = SimpleNamespace(app=SimpleNamespace(recorder=object()),
                           store=SimpleNamespace(url="postgresql://x/y"))
    with pytest.raises(ConfigurationError, match="keeps no Merkle log"):
        recorder_of(fake)


def test_lock_free_insert_function_is_refused() -> None:
    """POSTGRES_ENABLE_DB_FUNCTIONS (inserts without the table lock) is refused."""
    datastore = SimpleNamespace(enable_db_functions=True)
    with pytest.raises(ConfigurationError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        CdlogPostgresApplicationRecorder(datastore)  # type: ignore[arg-type]


def test_case_log_reopens_with_same_tree(store_url: str, raw: RawStore) -> None:
    """Closing and reopening a log keeps the tree and appends after it."""
    log = CaseLog(store_url)
    log.establish_root("CBP", Ed25519Signer.generate(), at=datetime(2006, 3, 13, tzinfo=UTC))
    with read_ledger(log) as led:
        first = led.root()
    log.close()
    log = CaseLog(store_url)
    try:
        with read_ledger(log) as led:
            assert led.root() == first
            assert led.size() == 1
    finally:
        log.close()
    assert raw.rows("SELECT COUNT(*) FROM {leaves}") == [(1,)]


@settings(max_examples=12, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 9), st.booleans()),
                      min_size=1, max_size=25))
def test_frontier_cache_follows_every_writer(open_bare: Callable[..., BareStore],
                                             steps: list[tuple[int, int, bool]]) -> None:
    """Three recorders on one store append in random turns, some inserts refused: each
    recorder's remembered frontier is used only while the tree is the one it committed, so
    the stored tree always equals the tree of the stored events."""
    first = open_bare()
    writers = [first, open_bare(same_as=first), open_bare(same_as=first)]
    case = uuid.uuid4()
    leaves: list[bytes] = []
    version = 1
    for who, count, refused in steps:
        recorder = writers[who].recorder
        if refused:  # a clash on the last stored version rolls the whole batch back
            clash = [StoredEvent(originator_id=case, originator_version=v, topic="t",
                                 state=b"clash %d" % v)
                     for v in range(version, version + count)]
            clash.append(StoredEvent(originator_id=case, originator_version=max(version - 1, 1),
                                     topic="t", state=b"clash"))
            if version > 1:
                with pytest.raises(ESIntegrityError):
                    recorder.insert_events(clash)
                continue
        insert(recorder, case, version, count)
        leaves.extend(leaf_hash(state(v)) for v in range(version, version + count))
        version += count
        with writers[(who + 1) % 3].recorder.read() as led:
            assert led.size() == len(leaves)
            assert led.root() == naive_root(leaves)
    with first.recorder.read() as led:
        assert led.node_count() == 2 * len(leaves) - len(leaves).bit_count()
        for level, idx in ((lv, i) for lv in range(len(leaves).bit_length())
                           for i in range(len(leaves) >> lv)):
            assert led.read_hashes([(level, idx)]) == [
                naive_root(leaves[idx << level:(idx + 1) << level])]


def test_frontier_cache_spares_the_node_reads(recorder: LedgerApplicationRecorder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorder appending after its own commit reads no node rows: the left siblings it
    needs are the frontier it wrote."""
    case = uuid.uuid4()
    insert(recorder, case, 1, 3)
    node_reads: list[str] = []
    original = LedgerCursor._all

    def counting(self: LedgerCursor, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        if statement.startswith(self.sql.select_nodes.split("{")[0]):
            node_reads.append(statement)
        return original(self, statement, params)

    monkeypatch.setattr(LedgerCursor, "_all", counting)
    for first in range(4, 40, 3):
        insert(recorder, case, first, 3)
    assert node_reads == []
    with recorder.read() as led:
        assert led.root() == naive_root([leaf_hash(state(v)) for v in range(1, 40)])


def test_frontier_of_a_rolled_back_insert_is_forgotten(open_bare: Callable[..., BareStore],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An insert that fails after its leaves were staged rolls back, and the frontier it
    computed is not remembered: another writer then fills those leaf positions with other
    events, and the first recorder's next append still builds on the stored tree."""
    first = open_bare()
    other = open_bare(same_as=first)
    case = uuid.uuid4()
    insert(first.recorder, case, 1, 5)
    original = LedgerCursor.append_events

    def append_then_fail(self: LedgerCursor, rows: Sequence[tuple[int, str, int, bytes]],
                         context_since: int | None = None,
                         context_topics: Sequence[str] = (),
                         tail: Sequence[Any] | None = None) -> None:
        original(self, rows, context_since, context_topics, tail)
        msg = "the connection dropped before COMMIT"
        raise RuntimeError(msg)

    monkeypatch.setattr(LedgerCursor, "append_events", append_then_fail)
    with pytest.raises(RuntimeError, match="before COMMIT"):
        first.recorder.insert_events([StoredEvent(originator_id=case, originator_version=v,
                                                  topic="t", state=b"lost %d" % v)
                                      for v in (6, 7)])
    monkeypatch.setattr(LedgerCursor, "append_events", original)
    insert(other.recorder, case, 6, 2)  # the same positions (SQLite reuses the row ids)
    insert(first.recorder, case, 8, 5)  # leaf 7 needs leaf 6 and the pair (4, 5)
    with first.recorder.read() as led:
        assert led.root() == naive_root([leaf_hash(state(v)) for v in range(1, 13)])
        assert led.node_count() == 2 * 12 - (12).bit_count()


def test_insert_refused_when_context_changed_after_preparing(
        open_bare: Callable[..., BareStore]) -> None:
    """An insert prepared at position p is refused (and writes nothing) when another writer
    committed an event of a context topic after p; events of other topics, and its own
    context events, do not refuse it."""
    first = open_bare()
    other = open_bare(same_as=first)
    topics = ("cdlog:OfficerKeyRevoked", "cdlog:OfficerKeyCertified")
    case, theirs = uuid.uuid4(), uuid.uuid4()
    insert(first.recorder, case, 1, 2)
    with first.recorder.read() as led:
        prepared_at = led.last_leaf().notification_id  # type: ignore[union-attr]
    other.recorder.insert_events([StoredEvent(originator_id=theirs, originator_version=1,
                                              topic="cdlog:CaseOpened", state=b"opened")])
    own = [StoredEvent(originator_id=case, originator_version=3, topic=topics[0],
                       state=b"own revocation")]
    first.recorder.insert_events(own, context_since=prepared_at, context_topics=topics)
    with first.recorder.read() as led:
        prepared_at = led.last_leaf().notification_id  # type: ignore[union-attr]
    other.recorder.insert_events([StoredEvent(originator_id=theirs, originator_version=2,
                                              topic=topics[1], state=b"certified")])
    with pytest.raises(ContextChangedError, match="OfficerKeyCertified event was recorded"):
        first.recorder.insert_events(
            [StoredEvent(originator_id=case, originator_version=4, topic="t", state=b"late")],
            context_since=prepared_at, context_topics=topics)
    with first.recorder.read() as led:
        assert led.size() == led.leaf_count() == 5
        assert [lf.originator_version for lf in led.leaves(0)] == [1, 2, 1, 3, 2]
