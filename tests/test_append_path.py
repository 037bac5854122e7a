"""The append path's shortcuts (issue 12, round 3) give exactly what the plain code gives.

* cdlog's Ed25519 signer calls libsodium without PyNaCl's wrapper objects: its signatures are
  PyNaCl's, byte for byte;
* an instant's canonical JSON is written directly: it is pydantic's dump;
* a sealed event is built with its read fields remembered: it equals the one its stored bytes
  decode to, field by field, in both builds;
* the record saved for an event names the event's case and version.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.domain.values import Occurred
from cdlog.errors import InputError, NotFoundError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import MemoryHashStore, tree_root
from cdlog.log.sealing import (
    STREAM_NAMESPACE,
    SealedEvent,
    case_id,
    leaf_hash,
    parse,
    parse_pure,
    seal,
    stream_id,
)
from cdlog.store.mapper import SealedMapper, SealedRecord
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import World

REMEMBERED = ("stream", "case", "version", "type", "hash_hex")


@settings(max_examples=200, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=3000))
def test_signatures_are_pynacls(seed: bytes, message: bytes) -> None:
    signer = Ed25519Signer(seed)
    expected = nacl.signing.SigningKey(seed).sign(message).signature
    assert signer.sign(message) == expected
    with pytest.raises(TypeError):  # not bytes: through PyNaCl's API, which refuses it
        signer.sign(bytearray(message))  # type: ignore[arg-type]
    nacl.signing.VerifyKey(signer.public_key).verify(message, signer.sign(message))


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m)))
times = st.builds(lambda d, tz: d.replace(tzinfo=tz),
                  st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                  offsets)


@settings(max_examples=300, deadline=None)
@given(at=times, other=times)
def test_an_instants_json_is_pydantics(at: datetime, other: datetime) -> None:
    for occurred in (Occurred(at=at), Occurred.model_validate({"at": at.isoformat()})):
        dumped = occurred.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert occurred.as_json() == dumped
        assert list(occurred.as_json()) == list(dumped)
    lo, hi = sorted((at, other))
    window = Occurred.model_validate({"from": lo, "to": hi})
    assert window.as_json() == window.model_dump(mode="json", by_alias=True, exclude_none=True)


def _fields(event: SealedEvent) -> dict[str, object]:
    return {name: getattr(event, name) for name in
            ("envelope", "envelope_bytes", "signatures", "sealed", "hash", *REMEMBERED)}


def test_sealed_events_equal_their_decoded_bytes(world: World) -> None:
    """Every event a batch seals (keys, a case, a cosigned one) is, field by field, what its
    stored bytes decode to (natively and in Python), and what the store holds."""
    case = world.open_case("OP-APPEND-1", at=1)
    with world.log.batch() as batch:
        world.rec(case, "ExaminationReferred", {"reason": "rule 1"}, by="cbpo", at=2)
        world.rec(case, "ExaminationConducted", {"method": "K9", "result": "alert"},
                  by="cbpo", at=3)
    made = batch.events
    assert len(made) == 2
    stored = {e.hash: e for s in world.log.streams() for e in world.log.events(s)}
    for event in made:
        assert set(REMEMBERED) <= set(vars(event))  # remembered, not computed on first use
        for decoded in (parse(event.sealed), parse_pure(event.sealed), stored[event.hash]):
            assert _fields(decoded) == _fields(event)
        assert event == parse_pure(event.sealed)


def test_a_saved_record_names_its_case_and_version(world: World) -> None:
    case = world.open_case("OP-APPEND-2", at=1)
    event = world.log.events(case)[-1]
    given = SealedRecord(event, uuid.UUID(event.case))
    read = SealedRecord(event)
    for record in (given, read):
        assert record.originator_id == uuid.UUID(event.case)
        assert record.originator_version == event.version
        row = SealedMapper().to_stored_event(record)
        assert (row.originator_id, row.originator_version, row.topic, row.state) == (
            uuid.UUID(event.case), event.version, "cdlog:CaseOpened", event.sealed)
        assert SealedMapper().to_domain_event(row) == record
    assert given == read
    assert hash(given) == hash(read)
    assert "CaseOpened" in repr(read)


def test_seal_gives_the_decoded_event_for_any_signers(world: World) -> None:
    """seal() with a cosigner: the same event its bytes decode to."""
    case = world.open_case("OP-APPEND-3", at=1)
    event = world.rec(case, "ExaminationReferred", {"reason": "rule 1"}, by="cbpo", at=2,
                      cosign=("scbpo",))
    again = seal(event.envelope, [world.signers["cbpo"], world.signers["scbpo"]])
    assert _fields(again) == _fields(event) == _fields(parse(event.sealed))


def test_merkle_rows_in_multi_row_inserts_make_the_same_tree(world: World) -> None:
    """Batches around the multi-row insert size (SQLite) store the leaf and node rows that
    the in-memory tree makes of the same events; the store verifies."""
    log = world.log
    before = log.max_position()  # the world's roots and certificates
    opened = 0
    for size in BATCH_SIZES:
        with log.batch():
            for _ in range(size):
                world.open_case(f"OP-M-{opened}", at=opened)
                opened += 1
    with read_ledger(log) as led:
        leaves = led.leaves(0, 10_000)
        stored = {(level, idx): h for level in range(12)
                  for idx, h in led.level_range(level, 0, 10_000).items()}
        root = led.root()
        states = [led.event(leaf.notification_id) for leaf in leaves]
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(states)))
    assert len(leaves) == before + opened
    memory = MemoryHashStore()
    for state in states:
        assert state is not None
        memory.append(leaf_hash(state.state))
    assert stored == {pos: memory.read_hashes([pos])[0] for pos in memory_positions(memory)}
    assert root == tree_root(memory, len(leaves))
    assert verify_log(log).ok


BATCH_SIZES = (1, 31, 32, 33, 64, 65, 2, 100)


def memory_positions(memory: MemoryHashStore) -> list[tuple[int, int]]:
    """Every complete subtree of the in-memory tree."""
    return [(level, idx) for level in range(12) for idx in range(memory.size >> level)]


def test_a_typed_command_looks_at_the_log_once(world: World,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """open_case and a command in a case check the case and record in one batch: one
    freshness read of the log each, and no copy of the case state."""
    log = world.log
    reads: list[int] = []
    newest = log.max_position
    copies: list[object] = []

    def read() -> int:
        reads.append(1)
        return newest()

    def deepcopy(value: object) -> object:
        copies.append(value)
        return value

    monkeypatch.setattr(log, "max_position", read)
    monkeypatch.setattr(copy, "deepcopy", deepcopy)
    case = world.open_case("OP-TYPED-1", at=1)
    assert len(reads) == 1
    log.record_arrival(case, signer=world.signers["cbpo"], at=world.t(2),
                       recorded=world.t(2))
    assert len(reads) == 2
    assert copies == []
    assert [e.type for e in log.events(case)] == ["CaseOpened", "ConveyanceArrived"]
    with pytest.raises(InputError, match="already exists"):
        world.open_case("OP-TYPED-1", at=3)
    with pytest.raises(NotFoundError, match="never opened"):
        log.record_arrival("OP-TYPED-2", signer=world.signers["cbpo"], at=world.t(4))
    assert log.max_position() == newest()
    assert len(log.events(case)) == 2
    assert not log.in_batch


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=60))
def test_remembered_case_ids_are_the_stream_ids(name: str) -> None:
    assert case_id(name) == str(stream_id(name)) == str(uuid.uuid5(STREAM_NAMESPACE, name))
    assert case_id(name) == case_id(str(name))
