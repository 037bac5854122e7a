"""Tamper detection: every way of changing a stored row is found and located by verification.

One realistic base store is built per module (the conftest world, both example scenarios and a
small case of our own, with a revoked key and two keys with short validity windows). Each
hypothesis example copies its SQLite file, opens the copy as a :class:`CaseLog`, tampers with
the rows through ``sqlite3`` alongside it, and runs :func:`cdlog.verify.runner.verify_store`. Every
test asserts the failure's place: the case id, the version and the check that failed.

Deleting the newest event of a case is not detectable without checkpoints and is not claimed.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.values import Officer
from cdlog.errors import Failure
from cdlog.keys.signer import Ed25519Signer, Signer
from cdlog.log.facts import officer_json, payload_json
from cdlog.log.sealing import SealedEvent, build_envelope, seal, stream_id
from cdlog.verify.replay import Report
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import (
        T0,
        World,
        opened_copy,
        stored_rows,
        world_with_scenarios,
    )
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import (
        T0,
        World,
        opened_copy,
        stored_rows,
        world_with_scenarios,
    )

T = TypeVar("T")

OWN_CASE = "case:OP-TAMPER"
UNFORESEEN = "event cannot be checked"  # the verifier's last-resort failure detail
ROW_CHECKS = {"decode", "placement", "signature", "key"}
"""Checks a change to a row's own bytes can fail (anything else would be a later symptom)."""

EXTRA = {  # handle -> (officer, not_before, not_after) of the keys the key tests forge with
    "revoked": (Officer(id="CBP-7001", role="CBPO", agency="CBP", office="OFO"),
                T0 - timedelta(days=1), T0 + timedelta(days=3650)),
    "expired": (Officer(id="CBP-7002", role="CBPO", agency="CBP", office="OFO"),
                T0 - timedelta(days=1), T0 + timedelta(minutes=30)),
    "future": (Officer(id="CBP-7003", role="CBPO", agency="CBP", office="OFO"),
               T0 + timedelta(days=10), T0 + timedelta(days=20)),
}
REVOKED_AT = 20  # minutes after T0; the own case's last event is recorded at T0 + 12 min
PORT_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("ExaminationReferred", {"reason": "anomaly on the NII image"}),
    ("ExaminationConducted", {"method": "K9", "result": "alert"}),
    ("ConveyanceArrived", {"conveyance": "truck, trailer 53ft"}),
]


@dataclass(frozen=True)
class Row:
    """One stored row of the base store."""

    rowid: int
    originator_id: str  # as stored: 32 hex digits
    version: int
    topic: str
    state: bytes = field(repr=False)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Row(rowid={self.rowid}, case={self.case}, v{self.version}, {self.topic})")

    @property
    def case(self) -> str:
        """The case id as verification failures name it."""
        return str(uuid.UUID(self.originator_id))


@dataclass(repr=False)
class Base:
    """The pristine store every example starts from, and what built it."""

    path: Path
    world: World
    extra: dict[str, Ed25519Signer]
    rows: list[Row]
    versions: dict[str, list[int]] = field(default_factory=dict)  # hex case id -> versions

    def __post_init__(self) -> None:
        for row in self.rows:
            self.versions.setdefault(row.originator_id, []).append(row.version)

    @property
    def middle_rows(self) -> list[Row]:
        """Rows that are not the newest event of their case."""
        return [r for r in self.rows if r.version < max(self.versions[r.originator_id])]

    def __repr__(self) -> str:
        return f"Base({len(self.rows)} rows in {len(self.versions)} cases)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def cases_without(self, version: int, but: str = "") -> list[str]:
        """Hex ids of the cases (other than ``but``) that have no event of ``version``."""
        return sorted(c for c, vs in self.versions.items() if c != but and version not in vs)

    def next_version(self, originator_id: str) -> int:
        """The version the next event of a case would have."""
        return max(self.versions[originator_id]) + 1


def _build_base(folder: Path) -> Base:
    """Build the base store in ``folder`` and read its rows back."""
    path = folder / "base.db"
    world = world_with_scenarios(path)
    log = world.log
    extra = {}
    for handle, (officer, not_before, not_after) in EXTRA.items():
        extra[handle] = Ed25519Signer.generate()
        log.certify_officer(world.roots["CBP"], officer, extra[handle].public_key,
                            not_before=not_before, not_after=not_after, at=T0 - timedelta(1))
    world.open_case("OP-TAMPER", at=0)
    world.rec(OWN_CASE, "ConveyanceArrived", {"conveyance": "truck"}, by="cbpo", at=5)
    world.rec(OWN_CASE, "ExaminationReferred", {"reason": "seal tampered"}, by="cbpo", at=10)
    log.record(OWN_CASE, "ExaminationConducted", {"method": "NII", "result": "positive"},
               signer=extra["revoked"], at=world.t(12), recorded=world.t(12))
    log.revoke_key(world.roots["CBP"], "CBP", extra["revoked"].key_id, "device lost",
                   at=world.t(REVOKED_AT))
    log.close()
    rows = [Row(*r) for r in stored_rows(path)]
    return Base(path=path, world=world, extra=extra, rows=rows)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """The base store, built once for this module."""
    return _build_base(tmp_path_factory.mktemp("tamper-base"))


def tampered(base: Base, mutate: Callable[[sqlite3.Connection, CaseLog], T]) -> tuple[Report, T]:
    """Apply ``mutate`` to a copy of the base store with sqlite3, then verify the copy."""
    with opened_copy(base.path) as (log, conn):
        result = mutate(conn, log)
        conn.commit()
        return verify_store(log), result


def failures_at(report: Report, case: str, version: int | None,
                checks: set[str] | None = None) -> list[Failure]:
    """The failures located at ``case`` v``version`` (of the given checks)."""
    return [f for f in report.failures if f.case == case and f.version == version
            and (checks is None or f.check in checks)]


def assert_located(report: Report, case: str, version: int | None, checks: set[str]) -> None:
    """Verification failed, and some failure names ``case``, ``version`` and one of ``checks``."""
    assert not report.ok
    assert failures_at(report, case, version, checks), (
        f"no {sorted(checks)} failure at {case} v{version}; got:\n"
        + "\n".join(str(f) for f in report.failures))
    unforeseen = [f for f in report.failures if UNFORESEEN in f.detail]
    assert not unforeseen, f"the verifier met a shape it does not check: {unforeseen}"


def insert(conn: sqlite3.Connection, originator_id: str, version: object, topic: str,
           state: bytes, rowid: int | None = None) -> None:
    """Insert a row (at the end of the log unless ``rowid`` is given)."""
    if rowid is None:
        conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, "
                     "state) VALUES (?, ?, ?, ?)", (originator_id, version, topic, state))
    else:
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                     "topic, state) VALUES (?, ?, ?, ?, ?)",
                     (rowid, originator_id, version, topic, state))


def insert_sealed(conn: sqlite3.Connection, sealed: SealedEvent) -> None:
    """Insert a sealed event where its envelope says it belongs, at the end of the log."""
    insert(conn, uuid.UUID(sealed.case).hex, sealed.version, sealed.topic, sealed.sealed)


def forge(log: CaseLog, stream: str, type_: str, fields: dict[str, Any], *, signer: Signer,
          officer: Officer, at: datetime, log_id: str | None = None,
          late: bool = False) -> SealedEvent:
    """Seal the next event of ``stream`` with a correct chain link, as a key holder could."""
    last = log.events(stream)[-1]
    payload = payload_json(ev.payload_model(type_).model_validate(fields))
    envelope = build_envelope(
        log=log_id or log.log_id, stream=stream, version=last.version + 1, type_=type_,
        occurred={"at": format_time(at)}, recorded=format_time(at),
        actor=officer_json(officer, signer.key_id), cosigners=[], payload=payload,
        prev=last.hash_hex, late=late)
    return seal(envelope, [signer])


def own_case_id() -> str:
    """The case id of the module's own case."""
    return str(stream_id(OWN_CASE))


# --- the untouched store -------------------------------------------------------------------


def test_untouched_copy_verifies(base: Base) -> None:
    """A copy of the base store that nobody touched verifies with no failure."""
    report, _ = tampered(base, lambda conn, log: None)
    assert report.ok, report.failures
    assert report.events == len(base.rows) > 80
    assert report.cases == len(base.versions)
    assert len(base.middle_rows) > 50


def test_base_has_what_the_tests_need(base: Base) -> None:
    """The base store holds several cases, trust streams and the own case's four events."""
    topics = {r.topic for r in base.rows}
    assert {"cdlog:TrustRootEstablished", "cdlog:OfficerKeyCertified", "cdlog:OfficerKeyRevoked",
            "cdlog:CaseOpened", "cdlog:ContrabandDiscovered"} <= topics
    assert base.versions[uuid.UUID(own_case_id()).hex] == [1, 2, 3, 4]
    assert len(base.versions) >= 6


# --- a byte of a stored event changed --------------------------------------------------------


@settings(max_examples=40)
@given(data=st.data())
def test_flipped_byte_is_located(base: Base, data: st.DataObject) -> None:
    """Any byte of any stored event XOR-ed with any mask fails at that event's case and version."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    structural = [i for i, b in enumerate(row.state) if b in b'{}[]":,\n']
    index = data.draw(st.integers(0, len(row.state) - 1) | st.sampled_from(structural)
                      | st.sampled_from(structural).map(lambda i: max(i - 1, 0)), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    state = bytearray(row.state)
    state[index] ^= mask

    report, _ = tampered(base, lambda conn, log: conn.execute(
        "UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), row.rowid)))
    assert_located(report, row.case, row.version, ROW_CHECKS)


@pytest.mark.parametrize("where", ["envelope", "signature"])
def test_flipped_byte_at_every_offset_of_one_event(base: Base, where: str) -> None:
    """Single-bit changes spread over one event's envelope or signature half are all located."""
    row = next(r for r in base.rows if r.topic == "cdlog:ContrabandDiscovered")
    cut = row.state.index(b"\n")
    offsets = range(cut) if where == "envelope" else range(cut, len(row.state))
    with opened_copy(base.path) as (log, conn):
        for index in offsets[::11]:
            state = bytearray(row.state)
            state[index] ^= 1 << (index % 8)
            conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                         (bytes(state), row.rowid))
            conn.commit()
            assert_located(verify_store(log), row.case, row.version, ROW_CHECKS)


def test_signature_padding_bits_are_located(base: Base) -> None:
    """Changing the unused low bits of a signature's last base64 digit fails as ``decode``.

    The decoded signature is the same, so only the canonical-form check can see the change.
    """
    row = base.middle_rows[len(base.middle_rows) // 2]
    head, _, tail = row.state.partition(b"\n")
    text = tail.decode()
    digit = text.index("==") - 1  # 64 bytes: the digit before "==" carries 2 data bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = alphabet.index(text[digit])
    changed = text[:digit] + alphabet[value ^ 0b0101] + text[digit + 1:]
    first_sig = base64.b64decode(text.split('"sig":"')[1].split('"')[0])
    assert base64.b64decode(changed.split('"sig":"')[1].split('"')[0]) == first_sig
    state = head + b"\n" + changed.encode()

    report, _ = tampered(base, lambda conn, log: conn.execute(
        "UPDATE stored_events SET state = ? WHERE rowid = ?", (state, row.rowid)))
    assert_located(report, row.case, row.version, {"decode"})


# --- a column changed ------------------------------------------------------------------------


@settings(max_examples=30)
@given(data=st.data())
def test_changed_topic_column_is_located(base: Base, data: st.DataObject) -> None:
    """A row whose topic column no longer names its event type fails ``placement`` there."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    topics = sorted({r.topic for r in base.rows} | {"cdlog:Bogus", "", "CaseOpened"})
    topic = data.draw(st.sampled_from(topics).filter(lambda t: t != row.topic), label="topic")

    report, _ = tampered(base, lambda conn, log: conn.execute(
        "UPDATE stored_events SET topic = ? WHERE rowid = ?", (topic, row.rowid)))
    assert_located(report, row.case, row.version, {"placement"})


@settings(max_examples=40)
@given(data=st.data())
def test_changed_originator_id_column_is_located(base: Base, data: st.DataObject) -> None:
    """A row moved to another case id fails ``placement`` where it now sits, naming its own case;
    the case it left reports the gap at the next version."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    others = base.cases_without(row.version)
    targets = [st.uuids().map(lambda u: (u.hex, str(u))),
               st.text(max_size=40).filter(lambda t: not _is_uuid(t)).map(lambda t: (t, t))]
    if others:
        targets.append(st.sampled_from(others).map(lambda c: (c, str(uuid.UUID(c)))))
    target = data.draw(st.one_of(targets), label="new id")
    stored, named = target

    report, _ = tampered(base, lambda conn, log: conn.execute(
        "UPDATE stored_events SET originator_id = ? WHERE rowid = ?", (stored, row.rowid)))
    assert_located(report, named, row.version, {"placement"})
    assert any(row.case in f.detail for f in failures_at(report, named, row.version))
    if row.version < max(base.versions[row.originator_id]):
        assert_located(report, row.case, row.version + 1, {"version"})


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@settings(max_examples=40)
@given(data=st.data())
def test_changed_version_column_is_located(base: Base, data: st.DataObject) -> None:
    """A row renumbered (or given a non-integer version) fails ``placement`` at that row; the
    version it left is reported missing at the next one."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    taken = set(base.versions[row.originator_id])
    new = data.draw(st.one_of(
        st.integers(-3, 300).filter(lambda v: v not in taken),
        st.sampled_from([None, "x", "", 2.5, b"\x01"]),
    ), label="new version")

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> object:
        conn.execute("UPDATE stored_events SET originator_version = ? WHERE rowid = ?",
                     (new, row.rowid))
        return conn.execute("SELECT originator_version FROM stored_events WHERE rowid = ?",
                            (row.rowid,)).fetchone()[0]

    report, stored = tampered(base, mutate)
    expected_version = stored if type(stored) is int else None
    assert_located(report, row.case, expected_version, {"placement"})
    if row.version < max(taken):
        assert_located(report, row.case, row.version + 1, {"version"})


# --- a row deleted -----------------------------------------------------------------------------


@settings(max_examples=40)
@given(data=st.data())
def test_deleted_row_is_reported_at_the_next_version(base: Base, data: st.DataObject) -> None:
    """Deleting an event from the middle of a case fails ``version`` and ``chain`` at the next
    version of that case."""
    row = data.draw(st.sampled_from(base.middle_rows), label="row")

    report, _ = tampered(base, lambda conn, log: conn.execute(
        "DELETE FROM stored_events WHERE rowid = ?", (row.rowid,)))
    assert_located(report, row.case, row.version + 1, {"version"})
    assert_located(report, row.case, row.version + 1, {"chain"})


# --- a row duplicated --------------------------------------------------------------------------


@settings(max_examples=30)
@given(data=st.data())
def test_row_duplicated_under_a_new_version_is_located(base: Base, data: st.DataObject) -> None:
    """A copy of a row inserted into its own case under a free version fails ``placement``."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    taken = set(base.versions[row.originator_id])
    version = data.draw(st.integers(1, max(taken) + 5).filter(lambda v: v not in taken)
                        | st.just(max(taken) + 1), label="version")

    report, _ = tampered(base, lambda conn, log: insert(
        conn, row.originator_id, version, row.topic, row.state))
    assert_located(report, row.case, version, {"placement"})


@settings(max_examples=30)
@given(data=st.data())
def test_row_duplicated_into_another_case_is_located(base: Base, data: st.DataObject) -> None:
    """A copy of a row inserted into another case under the same version fails ``placement``
    there, and the failure names the case the event was signed for."""
    rows = [r for r in base.rows if base.cases_without(r.version, r.originator_id)]
    row = data.draw(st.sampled_from(rows), label="row")
    other = data.draw(st.sampled_from(base.cases_without(row.version, row.originator_id)),
                      label="other case")

    report, _ = tampered(base, lambda conn, log: insert(
        conn, other, row.version, row.topic, row.state))
    other_case = str(uuid.UUID(other))
    assert_located(report, other_case, row.version, {"placement"})
    assert any(row.case in f.detail for f in failures_at(report, other_case, row.version))


@settings(max_examples=30)
@given(data=st.data())
def test_row_duplicated_in_place_is_located(base: Base, data: st.DataObject) -> None:
    """A copy of a row in its own case and version (the id spelled with dashes, so the primary
    key lets it in) fails ``version`` and ``chain`` at that version."""
    row = data.draw(st.sampled_from(base.rows), label="row")

    report, _ = tampered(base, lambda conn, log: insert(
        conn, row.case, row.version, row.topic, row.state))
    assert_located(report, row.case, row.version, {"version"})
    assert_located(report, row.case, row.version, {"chain"})


# --- rows reordered ----------------------------------------------------------------------------


def _two_rows_of_one_case(data: st.DataObject, base: Base) -> tuple[Row, Row]:
    cases = sorted(c for c, vs in base.versions.items() if len(vs) >= 2)
    case = data.draw(st.sampled_from(cases), label="case")
    rows = [r for r in base.rows if r.originator_id == case]
    first, second = data.draw(st.lists(st.sampled_from(rows), min_size=2, max_size=2,
                                       unique_by=lambda r: r.rowid), label="rows")
    return (first, second) if first.rowid < second.rowid else (second, first)


@settings(max_examples=30)
@given(data=st.data())
def test_swapped_states_are_located(base: Base, data: st.DataObject) -> None:
    """Swapping the stored events of two rows of one case fails ``placement`` at both rows."""
    first, second = _two_rows_of_one_case(data, base)

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> None:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (second.state, first.rowid))
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (first.state, second.rowid))

    report, _ = tampered(base, mutate)
    assert_located(report, first.case, first.version, {"placement"})
    assert_located(report, second.case, second.version, {"placement"})


@settings(max_examples=30)
@given(data=st.data())
def test_swapped_log_positions_are_located(base: Base, data: st.DataObject) -> None:
    """Two whole rows of one case exchanging their log positions (columns kept consistent) fail
    ``version`` at both: the later version skips ahead, the earlier one goes back."""
    first, second = _two_rows_of_one_case(data, base)

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> None:
        conn.execute("DELETE FROM stored_events WHERE rowid IN (?, ?)",
                     (first.rowid, second.rowid))
        insert(conn, second.originator_id, second.version, second.topic, second.state,
               rowid=first.rowid)
        insert(conn, first.originator_id, first.version, first.topic, first.state,
               rowid=second.rowid)

    report, _ = tampered(base, mutate)
    assert_located(report, second.case, second.version, {"version"})
    assert_located(report, first.case, first.version, {"version"})


@settings(max_examples=30)
@given(data=st.data())
def test_row_moved_to_the_end_of_the_log_is_located(base: Base, data: st.DataObject) -> None:
    """A middle event deleted and re-inserted as the newest row of the log fails ``version`` at
    the version after it (a gap) and at its own version (it goes back)."""
    row = data.draw(st.sampled_from(base.middle_rows), label="row")

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> None:
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (row.rowid,))
        insert(conn, row.originator_id, row.version, row.topic, row.state)

    report, _ = tampered(base, mutate)
    assert_located(report, row.case, row.version + 1, {"version"})
    assert_located(report, row.case, row.version, {"version"})


# --- rows inserted -----------------------------------------------------------------------------


def test_forged_event_by_a_certified_officer_verifies(base: Base) -> None:
    """Control: the forging helper builds events that verify when the signer may sign them."""
    world = base.world

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, "ExaminationReferred", {"reason": "second look"},
                       signer=world.signers["scbpo"], officer=world.officers["scbpo"],
                       at=world.t(REVOKED_AT + 5))
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert report.ok, report.failures
    assert report.events == len(base.rows) + 1
    assert sealed.version == 5


@settings(max_examples=25)
@given(data=st.data())
def test_event_signed_by_an_uncertified_key_is_located(base: Base, data: st.DataObject) -> None:
    """A correctly chained event signed by a key no root certified fails ``key`` at its place."""
    world = base.world
    handle = data.draw(st.sampled_from(["cbpo", "scbpo", "pd", "shadow"]), label="claims to be")
    type_, fields = data.draw(st.sampled_from(PORT_EVENTS), label="event")
    minutes = data.draw(st.integers(REVOKED_AT + 1, 60 * 24 * 365), label="minutes")

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, type_, fields, signer=Ed25519Signer.generate(),
                       officer=world.officers[handle], at=world.t(minutes))
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert_located(report, own_case_id(), sealed.version, {"key"})
    assert {f.check for f in report.failures} == {"key"}, report.failures


@settings(max_examples=25)
@given(data=st.data())
def test_signed_event_inserted_before_position_one_is_located(base: Base,
                                                              data: st.DataObject) -> None:
    """A genuine event copied to a log position below 1 (the id respelled so the primary key
    lets it in) is still replayed and fails ``placement`` at its case and version."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    rowid = data.draw(st.integers(-5, 0), label="rowid")

    report, _ = tampered(base, lambda conn, log: insert(
        conn, row.case, row.version, row.topic, row.state, rowid=rowid))
    assert_located(report, row.case, row.version, {"placement"})
    assert any("position" in f.detail for f in failures_at(report, row.case, row.version))


def test_event_of_another_log_is_located(base: Base) -> None:
    """A correctly signed and chained event that names another log fails ``placement``."""
    world = base.world

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, "ExaminationReferred", {"reason": "second look"},
                       signer=world.signers["cbpo"], officer=world.officers["cbpo"],
                       at=world.t(REVOKED_AT + 5), log_id="other.example/log")
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert_located(report, own_case_id(), sealed.version, {"placement"})
    assert [f.check for f in report.failures] == ["placement"]


# --- a row copied from another case ------------------------------------------------------------


@settings(max_examples=30)
@given(data=st.data())
def test_row_copied_from_another_case_is_located(base: Base, data: st.DataObject) -> None:
    """An event of one case copied in as the next version of another case fails ``placement``
    at that case and version, naming the case it was signed for."""
    row = data.draw(st.sampled_from(base.rows), label="row")
    other = data.draw(st.sampled_from(sorted(c for c in base.versions
                                             if c != row.originator_id)), label="into case")
    version = base.next_version(other)

    report, _ = tampered(base, lambda conn, log: insert(
        conn, other, version, row.topic, row.state))
    other_case = str(uuid.UUID(other))
    assert_located(report, other_case, version, {"placement"})
    assert any(row.case in f.detail for f in failures_at(report, other_case, version))


# --- keys: revoked, outside validity, wrong agency --------------------------------------------


@settings(max_examples=25)
@given(data=st.data())
def test_event_signed_by_a_revoked_key_is_located(base: Base, data: st.DataObject) -> None:
    """After its revocation, a key's correctly chained signature fails ``key`` (and only that)."""
    type_, fields = data.draw(st.sampled_from(PORT_EVENTS), label="event")
    minutes = data.draw(st.integers(REVOKED_AT - 5, 60 * 24 * 365), label="minutes")
    officer = EXTRA["revoked"][0]

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, type_, fields, signer=base.extra["revoked"],
                       officer=officer, at=base.world.t(minutes))
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert_located(report, own_case_id(), sealed.version, {"key"})
    assert len(report.failures) == 1, report.failures
    assert "revoked" in report.failures[0].detail


@settings(max_examples=25)
@given(data=st.data())
def test_event_signed_outside_the_key_validity_is_located(base: Base,
                                                          data: st.DataObject) -> None:
    """A certified, unrevoked key signing at a recorded time outside its certificate's window
    fails ``key`` (and only that)."""
    handle = data.draw(st.sampled_from(["expired", "future"]), label="key")
    officer, not_before, not_after = EXTRA[handle]
    if handle == "expired":  # recorded after not_after
        offset = data.draw(st.integers(1, 60 * 24 * 400), label="minutes after")
        at = not_after + timedelta(minutes=offset)
    else:  # recorded before not_before, after the own case's last event
        offset = data.draw(st.integers(1, 60 * 24 * 9), label="minutes before")
        at = max(not_before - timedelta(minutes=offset), base.world.t(13))
    type_, fields = data.draw(st.sampled_from(PORT_EVENTS), label="event")

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, type_, fields, signer=base.extra[handle],
                       officer=officer, at=at)
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert_located(report, own_case_id(), sealed.version, {"key"})
    assert len(report.failures) == 1, report.failures
    assert "valid from" in report.failures[0].detail


@settings(max_examples=25)
@given(data=st.data())
def test_event_by_an_officer_of_the_wrong_agency_is_located(base: Base,
                                                            data: st.DataObject) -> None:
    """A properly signed, certified ICE officer recording ``ContrabandDiscovered`` (inserted
    directly, past the command-time checks) fails ``rule`` R1 (and only that)."""
    world = base.world
    handle = data.draw(st.sampled_from(["oi_duty", "oi_ca", "oi_gs", "oi_sac"]), label="by")
    count = data.draw(st.integers(1, 500), label="count")
    item = {"item_id": "X-1", "description": "bricks, white powder", "category": "drug",
            "count": count, "gross_weight_kg": "12.5"}

    def mutate(conn: sqlite3.Connection, log: CaseLog) -> SealedEvent:
        sealed = forge(log, OWN_CASE, "ContrabandDiscovered", {"items": [item]},
                       signer=world.signers[handle], officer=world.officers[handle],
                       at=world.t(REVOKED_AT + 10))
        insert_sealed(conn, sealed)
        return sealed

    report, sealed = tampered(base, mutate)
    assert_located(report, own_case_id(), sealed.version, {"rule"})
    assert len(report.failures) == 1, report.failures
    assert "[R1]" in report.failures[0].detail
