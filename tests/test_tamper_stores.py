"""Tampering with the rows of either store, done with the store's own driver.

:mod:`tests.test_tamper` covers every mutation class on SQLite files copied per example. This
module runs the important classes on both stores (on PostgreSQL through ``psycopg``, as a
database administrator could): a flipped byte in a stored event, a deleted middle event, rows
swapped, a row slipped in behind cdlog, a leaf hash rewritten after a signed checkpoint, and an
event rewritten after it. Each failure is located by case, version and check. Notification-id
gaps (a PostgreSQL sequence skips values after a refused insert) are shown not to be tampering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.errors import ConcurrencyError, Failure, VerificationError
from cdlog.log.checkpoint_signing import create_log_key, load_log_signer, sign_checkpoint
from cdlog.log.ledger import read_ledger
from cdlog.log.proofs import prove_consistency, prove_inclusion, verify_inclusion_proof
from cdlog.log.sealing import stream_id
from cdlog.verify.replay import Report
from cdlog.verify.runner import verify_log, verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World

PASS = b"tamper passphrase"
ROW_CHECKS = {"decode", "placement", "signature", "key"}


def add_case(world: World, ref: str, events: int) -> str:
    """Open a case and record ``events - 1`` more events in it; return its stream."""
    stream = world.open_case(ref)
    for i in range(events - 1):
        world.rec(stream, "ConveyanceArrived", {"refs": {"bol": f"B{i}"}}, by="cbpo", at=i + 1)
    return stream


def case_rows(raw: RawStore, stream: str) -> list[tuple[int, int, bytes]]:
    """``(notification id, version, state)`` of a stream's rows, by version."""
    return [(int(r[0]), int(r[1]), bytes(r[2])) for r in raw.rows(
        "SELECT {nid}, originator_version, state FROM {events} WHERE originator_id = ? "
        "ORDER BY originator_version", (stream_id(stream).hex,))]


def located(report: Report, case: str, version: int | None, checks: set[str]) -> list[Failure]:
    """The failures at ``case`` v``version`` of one of ``checks``."""
    return [f for f in report.failures
            if f.case == case and f.version == version and f.check in checks]


def assert_located(report: Report, case: str, version: int | None, checks: set[str]) -> None:
    """Verification failed at ``case`` v``version`` with one of ``checks``."""
    assert not report.ok
    assert located(report, case, version, checks), (
        f"no {sorted(checks)} failure at {case} v{version}; got:\n"
        + "\n".join(str(f) for f in report.failures))


@settings(max_examples=12)
@given(data=st.data())
def test_flipped_byte_of_a_stored_event_is_located(world: World, raw: RawStore,
                                                   data: st.DataObject) -> None:
    """Any byte of a stored event XOR-ed with any mask fails at that event's case and version
    (the row is restored after each example)."""
    if not hasattr(world, "_tamper_case"):
        world._tamper_case = add_case(world, "OP-FLIP", 4)  # type: ignore[attr-defined]
    stream = world._tamper_case  # type: ignore[attr-defined]
    nid, version, state = data.draw(st.sampled_from(case_rows(raw, stream)), label="row")
    index = data.draw(st.integers(0, len(state) - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(state)
    flipped[index] ^= mask
    raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?", (bytes(flipped), nid)))
    try:
        assert_located(verify_store(world.log), str(stream_id(stream)), version, ROW_CHECKS)
    finally:
        raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?", (state, nid)))
    assert verify_store(world.log).ok


@pytest.mark.parametrize("version", [1, 2, 3])
def test_deleted_middle_event_is_located(world: World, raw: RawStore, version: int) -> None:
    """Deleting a case's event other than its newest fails the next version (version, chain)."""
    stream = add_case(world, "OP-DEL", 4)
    nid = next(n for n, v, _ in case_rows(raw, stream) if v == version)
    raw.execute(("DELETE FROM {events} WHERE {nid} = ?", (nid,)))
    report = verify_log(world.log)
    case = str(stream_id(stream))
    assert_located(report, case, version + 1, {"version"})
    assert_located(report, case, version + 1, {"chain"})
    assert_located(report, case, version, {"merkle"})  # its leaf names a missing event


def test_swapped_rows_are_located(world: World, raw: RawStore) -> None:
    """Two events' stored bytes swapped between rows fail ``placement`` at both."""
    stream = add_case(world, "OP-SWAP", 3)
    (n1, v1, s1), (n2, v2, s2) = case_rows(raw, stream)[:2]
    raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?", (s2, n1)),
                ("UPDATE {events} SET state = ? WHERE {nid} = ?", (s1, n2)))
    report = verify_store(world.log)
    case = str(stream_id(stream))
    assert_located(report, case, v1, {"placement"})
    assert_located(report, case, v2, {"placement"})


def test_row_slipped_in_behind_cdlog_is_located_and_blocks_appends(world: World,
                                                                  raw: RawStore) -> None:
    """A copy of a real event inserted as a new version, without a leaf: verification names
    it, and the next append refuses instead of hiding it in the tree."""
    stream = add_case(world, "OP-SLIP", 2)
    _, _, state = case_rows(raw, stream)[-1]
    raw.execute(("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                 "VALUES (?, ?, ?, ?)", (stream_id(stream).hex, 3, "cdlog:ConveyanceArrived",
                                         state)))
    report = verify_log(world.log)
    case = str(stream_id(stream))
    assert_located(report, case, 3, {"placement"})
    assert any(f.case == case and f.version == 3 and f.check == "merkle"
               and "has no leaf" in f.detail for f in report.failures), report.failures
    with pytest.raises(VerificationError, match="have no leaf"):
        world.open_case("OP-AFTER")


@pytest.fixture
def signed(world: World) -> tuple[str, str]:
    """A case and a signed checkpoint over the whole log; returns (stream, checkpoint text)."""
    stream = add_case(world, "OP-CP", 4)
    signer = create_log_key(world.log, PASS)
    return stream, sign_checkpoint(world.log, signer).text


def test_rewritten_leaf_after_a_checkpoint_is_located(world: World, raw: RawStore,
                                                      signed: tuple[str, str]) -> None:
    """A leaf hash rewritten after a checkpoint: the rebuilt tree differs at that leaf, the
    signed root is no longer reproduced, and no new checkpoint is signed."""
    stream, checkpoint = signed
    with read_ledger(world.log) as led:
        leaf = led.leaf_of_event(stream_id(stream), 2)
    assert leaf is not None
    [(value,)] = raw.rows("SELECT hash FROM {nodes} WHERE level = 0 AND idx = ?",
                          (leaf.leaf_index,))
    raw.execute(("UPDATE {nodes} SET hash = ? WHERE level = 0 AND idx = ?",
                 (bytes(32) if value != bytes(32) else b"\x01" * 32, leaf.leaf_index)))
    report = verify_log(world.log, known=[checkpoint])
    case = str(stream_id(stream))
    assert any(f.case == case and f.version == 2 and f.check == "merkle"
               and f"leaf {leaf.leaf_index}" in f.detail for f in report.failures), \
        report.failures
    with pytest.raises(VerificationError):
        prove_inclusion(world.log, stream, 2)
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "late"}}, by="cbpo", at=30)
    with CaseLog(world.log.store.url) as reopened, \
            pytest.raises(VerificationError, match="refusing to sign"):
        sign_checkpoint(reopened, load_log_signer(reopened, PASS))  # audits the whole tree


def test_rewritten_event_after_a_checkpoint_is_located(world: World, raw: RawStore,
                                                       signed: tuple[str, str]) -> None:
    """An event rewritten (and re-chained by nobody) after a checkpoint fails its signature
    and its leaf, and the checkpoint's root is no longer rebuilt from the events."""
    stream, checkpoint = signed
    nid, _, state = next(r for r in case_rows(raw, stream) if r[1] == 3)
    rewritten = state.replace(b'"B1"', b'"B7"')
    assert rewritten != state
    raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?", (rewritten, nid)))
    report = verify_log(world.log, known=[checkpoint])
    case = str(stream_id(stream))
    assert_located(report, case, 3, {"signature"})
    assert any(f.case == case and f.version == 3 and f.check == "merkle"
               and "rewritten" in f.detail for f in report.failures), report.failures
    assert any(f.check == "checkpoint" and "differs from the root" in f.detail
               for f in report.failures), report.failures


def test_notification_id_gaps_are_not_tampering(world: World, raw: RawStore,
                                                store_kind: str) -> None:
    """Refused concurrent writes use up PostgreSQL sequence values (and the sequence may jump
    further): the log still verifies, leaf indices stay gap-free, and proofs work."""
    stream = add_case(world, "OP-GAP", 2)

    def race(stale: CaseLog, i: int) -> None:
        with stale.batch() as b:
            b.record(stream, "ConveyanceArrived", {"refs": {"bol": f"stale {i}"}},
                     signer=world.signers["cbpo"], at=world.t(10 + i), recorded=world.t(10 + i))
            world.rec(stream, "ConveyanceArrived", {"refs": {"bol": f"first {i}"}},
                      by="cbpo", at=10 + i)  # another writer commits that version first

    with CaseLog(world.log.store.url) as stale:
        for i in range(3):
            with pytest.raises(ConcurrencyError):
                race(stale, i)
    if store_kind == "postgresql":
        raw.execute("SELECT setval(pg_get_serial_sequence('{events}', 'notification_id'), "
                    "(SELECT MAX(notification_id) FROM {events}) + 1000)")
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "after"}}, by="cbpo", at=20)
    ids = [int(r[0]) for r in raw.rows("SELECT {nid} FROM {events} ORDER BY {nid}")]
    if store_kind == "postgresql":
        assert ids[-1] - ids[0] + 1 > len(ids) + 1000, "expected gaps in the notification ids"
    report = verify_log(world.log)
    assert report.ok, report.failures
    assert report.tree_size == len(ids)
    with read_ledger(world.log) as led:
        leaves = led.leaves(0)
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(ids)))
    assert [leaf.notification_id for leaf in leaves] == ids
    signer = create_log_key(world.log, PASS)
    cp = sign_checkpoint(world.log, signer)
    verify_inclusion_proof(prove_inclusion(world.log, stream, 5), signer.verifier())
    assert prove_consistency(world.log, 1, cp.size)["size2"] == cp.size
