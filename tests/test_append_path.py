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
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import nacl.signing
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import TzInfo

from cdlog.app.writing import WritePath
from cdlog.canonical import canonical_bytes, format_time
from cdlog.domain.events import CATALOGUE
from cdlog.domain.values import Occurred, _whole_minute_offset, instant
from cdlog.errors import InputError, NotFoundError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import payload_json, validation_to_input_error
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import MemoryHashStore, tree_root
from cdlog.log.sealing import (
    STREAM_NAMESPACE,
    SealedEvent,
    build_envelope,
    case_id,
    leaf_hash,
    owned_envelope,
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


# --- round 4: the per-event preparation without its copies and wrappers ---------------------

any_zone = (offsets | st.timezones()
            | st.integers(min_value=-86_399, max_value=86_399).map(
                lambda s: timezone(timedelta(seconds=s)))
            | st.integers(min_value=-10**6, max_value=10**6).map(
                lambda us: timezone(timedelta(microseconds=us))))
any_time = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.one_of(st.none(), any_zone))


def _outcome(make: Callable[[], object]) -> object:
    try:
        return make()
    except ValidationError as exc:
        return ("ValidationError", str(exc))
    except InputError as exc:
        return ("InputError", str(exc))


@settings(max_examples=400, deadline=None)
@given(at=any_time)
def test_an_instant_made_directly_is_pydantics(at: datetime) -> None:
    """instant(at) is Occurred(at=at): equal, the same fields set, the very time kept, the
    same dump; or the same refusal (naive, an offset with seconds)."""
    made, validated = _outcome(lambda: instant(at)), _outcome(lambda: Occurred(at=at))
    if not isinstance(validated, Occurred):
        assert made == validated
        return
    assert isinstance(made, Occurred)
    assert made == validated
    assert made.at is validated.at is at
    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                 "__pydantic_private__"):
        assert getattr(made, name) == getattr(validated, name)
    assert made.as_json() == validated.model_dump(mode="json", by_alias=True,
                                                   exclude_none=True)
    assert hash(made) == hash(validated)
    assert repr(made) == repr(validated)


def _format_time_plain(value: datetime) -> str:
    """format_time as it was written before round 4 (the reference)."""
    off = value.utcoffset()
    if off is None:
        raise InputError("time", f"{value.isoformat()} has no UTC offset",
                         "a timezone-aware time such as 2006-03-14T09:12:00-05:00")
    if off.total_seconds() % 60:
        raise InputError("time", f"{value.isoformat()} has a UTC offset with seconds",
                         "an offset in whole minutes such as -05:00")
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")


@settings(max_examples=400, deadline=None)
@given(at=any_time)
def test_format_time_is_the_plain_reference(at: datetime) -> None:
    assert _outcome(lambda: format_time(at)) == _outcome(lambda: _format_time_plain(at))


def test_an_owned_envelope_is_build_envelopes() -> None:
    parts = ("log-1", "case:OP-1", 3, "HoldPlaced", {"at": "2006-03-14T09:12:00+00:00"},
             "2006-03-14T09:13:00+00:00", {"id": "A", "key": "k1"}, [{"id": "B", "key": "k2"}],
             {"reason": "r", "hold_type": "t"}, "ab" * 32, True)
    built = build_envelope(log=parts[0], stream=parts[1], version=parts[2], type_=parts[3],
                           occurred=parts[4], recorded=parts[5], actor=parts[6],
                           cosigners=parts[7], payload=parts[8], prev=parts[9], late=parts[10])
    owned = owned_envelope(*parts)
    assert owned == built
    assert list(owned) == list(built)
    assert canonical_bytes(owned) == canonical_bytes(built)


def _seal_refusal_plain(envelope: Mapping[str, Any], signers: list[Ed25519Signer]) -> str | None:
    expected = [envelope["actor"]["key"], *(c["key"] for c in envelope["cosigners"])]
    given = [s.key_id for s in signers]
    if given != expected:
        return str(InputError("signers", f"keys {given} do not match the envelope",
                              f"signers with keys {expected}, in that order"))
    return None


@settings(max_examples=60, deadline=None)
@given(actor=st.integers(0, 2), cosigners=st.lists(st.integers(0, 2), max_size=3),
       chosen=st.lists(st.integers(0, 2), max_size=4))
def test_seal_refuses_signers_that_do_not_match_as_before(actor: int, cosigners: list[int],
                                                          chosen: list[int]) -> None:
    keys = [Ed25519Signer(bytes([i + 1]) * 32) for i in range(3)]
    envelope = build_envelope(
        log="log-1", stream="case:OP-1", version=1, type_="HoldPlaced",
        occurred={"at": "2006-03-14T09:12:00+00:00"}, recorded="2006-03-14T09:13:00+00:00",
        actor={"id": "A", "key": keys[actor].key_id},
        cosigners=[{"id": "B", "key": keys[c].key_id} for c in cosigners],
        payload={"reason": "r"}, prev=None, late=False)
    signers = [keys[c] for c in chosen]
    expected = _seal_refusal_plain(envelope, signers)
    if expected is None:
        sealed = seal(envelope, signers)
        assert [s.key for s in sealed.signatures] == [s.key_id for s in signers]
        assert sealed == parse_pure(sealed.sealed)
    else:
        with pytest.raises(InputError) as caught:
            seal(envelope, signers)
        assert str(caught.value) == expected


field_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(type_=st.sampled_from(sorted(CATALOGUE)), data=st.data())
def test_a_payload_validated_directly_is_model_validates(type_: str, data: st.DataObject
                                                         ) -> None:
    """WritePath._payload of a type name is model_validate of a copy of the fields: the same
    payload, or the same refusal word for word (random fields of the type's names)."""
    model = CATALOGUE[type_]
    names = [*sorted(model.model_fields), "unknown"]
    fields = data.draw(st.dictionaries(st.sampled_from(names), field_values, max_size=4))

    def plain() -> object:
        try:
            return model.model_validate(dict(fields))
        except ValidationError as exc:
            raise validation_to_input_error(exc, type_) from None

    assert _outcome(lambda: WritePath._payload(type_, fields)) == _outcome(plain)
    assert _outcome(lambda: WritePath._payload(type_, MappingProxyType(fields))) == \
        _outcome(plain)


BENCH_PAYLOADS = [  # bench/workload.py's case, a payload of each shape it records
    ("CaseOpened", {"reference": "OP-B-0000007", "port": "5201",
                    "refs": {"bol": "EXLN0000000007"}}),
    ("ContrabandDiscovered", {
        "items": [{"item_id": "A-1", "description": "brick, white powder", "category": "drug",
                   "count": 42, "gross_weight_kg": 46.2}],
        "concealment": "hollowed pallet bases",
        "field_test": {"kit": "NIK-type", "result": "cocaine presumptive positive"}}),
    ("InvestigativeNotificationSent", {"identified_at": "2006-03-14T09:12:00-05:00",
                                       "to": "ICE-7781", "channel": "phone"}),
    ("NotificationAcknowledged", None),
]


@pytest.mark.parametrize(("type_", "fields"), BENCH_PAYLOADS)
def test_the_bench_payloads_validate_directly_as_model_validate(
        type_: str, fields: dict[str, Any] | None) -> None:
    plain = CATALOGUE[type_].model_validate(dict(fields or {}))
    got = WritePath._payload(type_, fields)
    assert got == plain
    assert payload_json(got) == payload_json(plain)


@settings(max_examples=300, deadline=None)
@given(at=times)
def test_a_parsed_time_has_the_standard_librarys_offset(at: datetime) -> None:
    """A time parsed from text (payloads, certificates, occurred) is the time the text names,
    with its offset and canonical text, held by datetime.timezone (not pydantic's TzInfo,
    whose every comparison with another class of tzinfo costs about 0.5 us)."""
    text = format_time(at)
    parsed = Occurred.model_validate({"at": text}).at
    assert parsed is not None
    assert parsed == datetime.fromisoformat(text) == at
    assert parsed.utcoffset() == at.utcoffset()
    assert type(parsed.tzinfo) is timezone
    assert format_time(parsed) == text
    assert instant(parsed) == Occurred(at=parsed)
    with pytest.raises(ValidationError, match="whole minutes"):
        Occurred(at=at.replace(tzinfo=timezone(timedelta(seconds=30))))


class _Moment(datetime):
    """A datetime subclass (kept as it is given)."""


@settings(max_examples=500, deadline=None)
@given(at=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
       minutes=st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
       fold=st.integers(0, 1), subclass=st.booleans())
@example(at=datetime(1, 1, 1), minutes=60, fold=0, subclass=False)  # UTC before year 1
@example(at=datetime(9999, 12, 31, 23, 59), minutes=-60, fold=0, subclass=False)
def test_pydantics_offset_is_swapped_for_the_standard_one_field_for_field(
        at: datetime, minutes: int, fold: int, subclass: bool) -> None:
    """_whole_minute_offset puts datetime.timezone in place of pydantic's TzInfo: the result is
    ``value.replace(tzinfo=timezone(offset))`` (the reference) in every field, fold, class and
    offset, also at the ends of the calendar, where the UTC time would overflow."""
    zone = TzInfo(minutes * 60)
    value = at.replace(tzinfo=zone, fold=fold)
    if subclass:
        value = _Moment(value.year, value.month, value.day, value.hour, value.minute,
                        value.second, value.microsecond, tzinfo=zone, fold=fold)
    got = _whole_minute_offset(value)
    want = value.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    fields = ("year", "month", "day", "hour", "minute", "second", "microsecond", "fold")
    assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
    assert type(got) is type(want)
    assert type(got.tzinfo) is timezone
    assert got.utcoffset() == want.utcoffset() == timedelta(minutes=minutes)
