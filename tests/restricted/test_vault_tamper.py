"""The hidden-field tamper campaign: whoever changes a vaulted value, a salt, a commitment or
any other column of the vault (or the signed commitment itself) is found, and the finding names
the case, the version and the field. Hypothesis picks the change and the row, on SQLite and
PostgreSQL; every change is undone after each example.

Without keys, store verification sees the vault's structure (rows against the signed
commitments, rows present, erasures matching); with the owner's KEK, every held value is
opened and checked against its commitment, and a read of a changed value is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from restricted_kit import ingest, load_kek, now, vault_rows, vault_table

from cdlog.errors import VerificationError
from cdlog.log.sealing import SealedEvent
from cdlog.restricted.audit import verify_vault
from cdlog.restricted.vault import X25519KeyWrapper, seal_value
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World

COLUMNS = ("case_id, version, field, class, commitment, kek_id, wrapped_key, nonce, "
           "ciphertext, erased_by")
STRUCTURAL = ("commitment", "class", "delete", "emptied", "move", "revive")
"""Changes store verification finds without any key."""
CRYPTO = ("ciphertext", "nonce", "wrapped_key", "value", "salt")
"""Changes found by opening the value with the owner's KEK."""


@pytest.fixture
def campaign(world: World) -> tuple[World, X25519KeyWrapper, list[SealedEvent]]:
    """Two EU PNR records; one field of the second is erased."""
    kek = load_kek(world)
    first = ingest(world, "K-1")
    second = ingest(world, "K-2", at=1)
    now(world.log, world.t(5))
    world.log.erase_restricted("pnr:K-2", signer=world.signers["pnr_sup"],
                               reason="legal_order", order_ref="ORDER-9", fields=["contact"])
    return world, kek, [first, second]


def _restore(raw: RawStore, rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join(["?"] * 10)
    raw.execute(f"DELETE FROM {vault_table(raw)}",
                *[(f"INSERT INTO {vault_table(raw)} ({COLUMNS}) VALUES ({marks})", row)
                  for row in rows])


def _flip(blob: bytes, at: int) -> bytes:
    i = at % len(blob)
    return blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1:]


@settings(max_examples=40)
@given(kind=st.sampled_from(STRUCTURAL + CRYPTO), pick=st.integers(0, 1000),
       at=st.integers(0, 10_000))
def test_every_vault_change_is_found_and_located(
        campaign: tuple[World, X25519KeyWrapper, list[SealedEvent]], raw: RawStore,
        kind: str, pick: int, at: int) -> None:
    """Each change gives a ``vault`` failure at the record's case and version naming the
    field (with the KEK for changes inside the ciphertext); undone, the vault is clean."""
    w, kek, records = campaign
    original = vault_rows(raw)
    held = [r for r in original if r[9] is None]
    erased = [r for r in original if r[9] is not None]
    row = held[pick % len(held)]
    table = vault_table(raw)
    where = "WHERE case_id = ? AND version = ? AND field = ?"
    key = (row[0], row[1], row[2])
    event = next(e for e in records if e.case.replace("-", "") == row[0])
    field = row[2]
    if kind == "commitment":
        raw.execute((f"UPDATE {table} SET commitment = ? {where}", ("sha256:" + "0" * 64, *key)))
    elif kind == "class":
        raw.execute((f"UPDATE {table} SET class = ? {where}", ("INFORMANT", *key)))
    elif kind == "delete":
        raw.execute((f"DELETE FROM {table} {where}", key))
    elif kind == "emptied":
        raw.execute((f"UPDATE {table} SET ciphertext = NULL, nonce = NULL, wrapped_key = NULL "
                     f"{where}", key))
    elif kind == "move":  # the row claims another field of the same event
        raw.execute((f"UPDATE {table} SET field = ? {where}", ("payment", *key)))
    elif kind == "revive":  # an erased row gets data back
        dead = erased[pick % len(erased)]
        raw.execute((f"UPDATE {table} SET wrapped_key = ?, nonce = ?, ciphertext = ? "
                     "WHERE case_id = ? AND version = ? AND field = ?",
                     (row[6], row[7], row[8], dead[0], dead[1], dead[2])))
        event = next(e for e in records if e.case.replace("-", "") == dead[0])
        field = dead[2]
    elif kind in ("ciphertext", "nonce", "wrapped_key"):
        column = {"ciphertext": 8, "nonce": 7, "wrapped_key": 6}[kind]
        raw.execute((f"UPDATE {table} SET {kind} = ? {where}", (_flip(row[column], at), *key)))
    else:  # an insider with the KEK re-encrypts another value, or the value with another salt
        value = "FORGED" if kind == "value" else _real(w, event, field)
        forged = seal_value(w.log.log_id, event.case, row[1], field, row[3], row[4], value,
                            bytes([at % 256]) * 32, kek)
        raw.execute((f"UPDATE {table} SET wrapped_key = ?, nonce = ?, ciphertext = ? {where}",
                     (forged.wrapped_key, forged.nonce, forged.ciphertext, *key)))
    try:
        found = verify_vault(w.log, w.log.vault_keys)
        assert found, kind
        assert {(f.case, f.version, f.check) for f in found} == {(event.case, 1, "vault")}, found
        assert any(repr(field) in f.detail or (kind == "move" and "'payment'" in f.detail)
                   for f in found), found
        structural = verify_vault(w.log)
        if kind in STRUCTURAL:
            assert structural, kind
            report = verify_store(w.log)
            assert not report.ok
            assert any(f.check == "vault" and f.case == event.case for f in report.failures)
        else:
            assert structural == [], structural
            now(w.log, w.t(10 + w.log.max_position()))
            with pytest.raises(VerificationError) as err:
                w.log.read_restricted(event.stream, reader=w.signers["pnr"], purpose="audit",
                                      fields=[field])
            assert err.value.failures[0].case == event.case
    finally:
        _restore(raw, original)
    assert verify_vault(w.log, w.log.vault_keys) == []


def _real(w: World, event: SealedEvent, field: str) -> Any:
    """The true value of ``field`` (read by the owner: an access event is recorded)."""
    now(w.log, w.t(10 + w.log.max_position()))
    got = w.log.read_restricted(event.stream, reader=w.signers["pnr"], purpose="audit",
                                fields=[field])
    return got.values[field]


def test_a_changed_commitment_in_the_event_breaks_its_signature(
        campaign: tuple[World, X25519KeyWrapper, list[SealedEvent]], raw: RawStore) -> None:
    """Changing the signed commitment in the stored event is found by store verification at
    the event's case and version (signature and Merkle leaf), and by the vault check."""
    w, _, records = campaign
    event = records[0]
    old = event.payload["commitments"]["itinerary"]
    new = "sha256:" + ("1" if old[7] != "1" else "2") + old[8:]
    state = event.sealed.replace(old.encode(), new.encode())
    raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = (SELECT {nid} FROM {events} "
                 "WHERE originator_id = ? AND originator_version = 1)",
                 (state, event.case.replace("-", "") if raw.kind == "sqlite" else event.case)))
    try:
        report = verify_store(w.log)
        assert not report.ok
        located = {(f.case, f.version, f.check) for f in report.failures}
        assert (event.case, 1, "signature") in located, report.failures
        assert (event.case, 1, "vault") in located, report.failures
    finally:
        raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = (SELECT {nid} FROM {events} "
                     "WHERE originator_id = ? AND originator_version = 1)",
                     (event.sealed,
                      event.case.replace("-", "") if raw.kind == "sqlite" else event.case)))
    assert verify_store(w.log).ok
