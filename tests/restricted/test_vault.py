"""The record path of restricted values and erasure, on SQLite and PostgreSQL.

Values given for a class's fields are committed by cdlog and vaulted in the event's own
transaction (all or nothing); the KEK file wraps without its passphrase and unwraps with it;
scenario steps are vaulted the same way. After erasure ``cdlog verify`` (store and bundle)
passes and no API returns the value.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from restricted_kit import VALUES, events_of_type, ingest, now, vault_rows, vault_table

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain.values import Officer
from cdlog.errors import (
    AccessRefusedError,
    ConfigurationError,
    InputError,
    KeyStoreError,
    RuleViolationError,
    VerificationError,
)
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TRUST_FORMAT, TrustFile
from cdlog.log.checkpoint_signing import create_log_key, sign_checkpoint
from cdlog.restricted.audit import verify_vault
from cdlog.restricted.commitment import matches
from cdlog.restricted.vault import KeyRing, X25519KeyWrapper, open_value, read_vault
from cdlog.scenario import Replayer
from cdlog.verify.bundle import export_bundle, verify_bundle
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World

MONTH = 31 * 24 * 60


# ---------------------------------------------------------------------------- recording
def test_values_are_committed_and_vaulted(pworld: World, raw: RawStore,
                                          kek: X25519KeyWrapper) -> None:
    """The payload carries cdlog's commitments (the locator's in its old member too); each
    vault row opens to the value and salt that match the signed commitment."""
    w = pworld
    event = ingest(w, "K-1")
    signed = event.payload["commitments"]
    assert set(signed) == set(VALUES)
    assert event.payload["pnr_locator_commitment"] == signed["locator"]
    assert len(vault_rows(raw)) == len(VALUES)
    with read_vault(w.log) as vault:
        rows = vault.all()
    for row in rows:
        value, salt = open_value(w.log.log_id, row, kek, signed[row.field])
        assert value == VALUES[row.field]
        assert matches(row.field, value, salt, signed[row.field])
    assert verify_vault(w.log, w.log.vault_keys) == []
    assert verify_store(w.log).ok


def test_a_failed_command_vaults_nothing(pworld: World, raw: RawStore) -> None:
    """A batch that fails after the record was prepared, and a record the rules refuse
    (only CBP ingests EU PNR), leave no event and no vault row."""
    w = pworld
    def fails_later() -> None:
        with w.log.batch():
            ingest(w, "K-1")
            raise RuntimeError("a later step fails")

    with pytest.raises(RuntimeError, match="later step"):
        fails_later()
    with pytest.raises(RuleViolationError, match="R8"):
        ingest(w, "K-2", by="oi_ca")
    assert vault_rows(raw) == []
    assert w.log.events("pnr:K-1") == []
    assert w.log.events("pnr:K-2") == []


def test_without_a_kek_nothing_is_written(world: World, raw: RawStore) -> None:
    """No KEK for CBP: a one-line ConfigurationError naming the key file, nothing stored."""
    before = world.log.max_position()
    with pytest.raises(ConfigurationError, match=r"kek-CBP\.key"):
        ingest(world, "K-1")
    assert world.log.max_position() == before
    assert vault_rows(raw) == []


@pytest.mark.parametrize(("fields", "where"), [
    ({"commitments": {"locator": "sha256:" + "0" * 64}}, "commitments"),
    ({"locator": "ABC", "pnr_locator_commitment": "sha256:…"}, "pnr_locator_commitment"),
    ({"locator": None}, "locator"),
    ({"payment": 12.5}, "payment"),
])
def test_bad_restricted_input_is_refused(pworld: World, raw: RawStore, fields: dict[str, Any],
                                         where: str) -> None:
    """Commitments typed by the caller, a value and its commitment together, null and
    float values are refused naming the field; nothing is stored."""
    w = pworld
    base = {"received_at": w.t(0), "flight": "XX1", "key_id": "K-1"}
    with pytest.raises(InputError, match=where):
        w.rec("pnr:K-1", "PNRRecordIngested", {**base, **fields}, by="pnr", at=0)
    assert vault_rows(raw) == []


def test_a_caller_typed_commitment_still_records_but_cannot_be_read(pworld: World) -> None:
    """The old style (scenario A's ``pnr_locator_commitment: "sha256:…"``) still records; it
    has no vault row, so a read is refused (and recorded)."""
    w = pworld
    w.rec("pnr:K-1", "PNRRecordIngested", {"received_at": w.t(0), "flight": "XX1",
                                           "key_id": "K-1",
                                           "pnr_locator_commitment": "sha256:" + "a" * 64},
          by="pnr", at=0)
    now(w.log, w.t(5))
    with pytest.raises(AccessRefusedError, match="no value in the vault"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    assert verify_vault(w.log) == []


def test_the_kek_file_wraps_without_and_unwraps_with_its_passphrase(world: World) -> None:
    """KeyRing.create writes kek-CBP.key (0600); a log opened later wraps from its public
    header alone, reads only after unlock; a wrong passphrase is one line without it."""
    w = world
    ring = KeyRing(w.log.store.home)
    created = ring.create("CBP", b"correct horse")
    path = ring.path("CBP")
    assert path.stat().st_mode & 0o777 == 0o600
    assert "correct horse" not in path.read_text()
    ingest(w, "K-1")  # the log's own ring read the file's public header
    now(w.log, w.t(5))
    with pytest.raises(KeyStoreError, match="not unlocked"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    with pytest.raises(KeyStoreError) as err:
        w.log.vault_keys.unlock("CBP", b"wrong horse")
    assert "horse" not in str(err.value)
    assert w.log.vault_keys.unlock("CBP", b"correct horse").key_id == created.key_id
    now(w.log, w.t(6))
    got = w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    assert got.values == VALUES
    with pytest.raises(KeyStoreError, match="never overwritten"):
        ring.create("CBP", b"another")


def test_scenario_steps_are_vaulted(store_url: str, scenarios_dir: Path) -> None:
    """Scenario A with the locator given as a value: replayed, the step is committed and
    vaulted; its analyst reads it back; everything verifies."""
    doc = yaml.safe_load((scenarios_dir / "A-MIA-CD-ACCEPTED.yaml").read_text())
    step = next(s for s in doc["events"] if s["type"] == "PNRRecordIngested")
    del step["pnr_locator_commitment"]
    step.update(locator="ABC123", itinerary=["FRA", "MIA"])
    with CaseLog(store_url) as log:
        kek = X25519KeyWrapper.generate("CBP")
        log.vault_keys.add(kek)
        result = Replayer(log).replay(doc)
        event = log.events(step["stream"])[0]
        assert set(event.payload["commitments"]) == {"locator", "itinerary"}
        read_at = parse_time(str(step["t"]).replace("Z", "+00:00")) + timedelta(days=30)
        now(log, read_at)
        got = log.read_restricted(step["stream"], reader=result.signers["cbp_pnr"],
                                  purpose="scenario")
        assert got.values == {"locator": "ABC123", "itinerary": ["FRA", "MIA"]}
        assert verify_store(log).ok
        assert verify_vault(log, log.vault_keys) == []


# ---------------------------------------------------------------------------- erasure
def test_erasure_keeps_every_proof_and_the_value_is_gone(pworld: World, raw: RawStore,
                                                         kek: X25519KeyWrapper,
                                                         tmp_path: Path) -> None:
    """After erasure: the events before it are byte for byte unchanged, store verification
    and a bundle of a new checkpoint pass, the row keeps only its commitment, and no API
    returns the value (a read is refused and recorded; the row no longer opens)."""
    w = pworld
    event = ingest(w, "K-1")
    signer = create_log_key(w.log, b"pw")
    sign_checkpoint(w.log, signer)
    before = raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")
    now(w.log, w.t(10))
    erased = w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"],
                                    reason="legal_order", order_ref="ORDER-1",
                                    fields=["locator", "passenger"])
    assert erased.stream == "pnr:K-1"
    assert erased.payload["fields"] == ["locator", "passenger"]
    after = raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")
    assert after[:len(before)] == before
    rows = {r[2]: r for r in vault_rows(raw)}
    for name in ("locator", "passenger"):
        assert rows[name][6:9] == (None, None, None)
        assert rows[name][9] == erased.version
        assert rows[name][4] == event.payload["commitments"][name]
    assert rows["contact"][8] is not None
    status = {e.field: e.erased for e in w.log.restricted_status("pnr:K-1")}
    assert status == {"locator": True, "passenger": True, "itinerary": False, "contact": False}
    report = verify_store(w.log)
    assert report.ok, report.failures
    assert verify_vault(w.log, w.log.vault_keys) == []
    sign_checkpoint(w.log, signer)
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(w.log.context.registry.roots()),
                      log_vkey=signer.vkey)
    export_bundle(w.log, tmp_path / "bundle")
    assert verify_bundle(tmp_path / "bundle", trust).ok
    now(w.log, w.t(11))
    with pytest.raises(AccessRefusedError, match="erased"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x",
                              fields=["locator"])
    assert events_of_type(w, "RestrictedReadRefused")[-1].payload["fields"] == ["locator"]
    with read_vault(w.log) as vault:
        row = next(r for r in vault.all() if r.field == "locator")
    with pytest.raises(VerificationError, match="erased"):
        open_value(w.log.log_id, row, kek)
    dump = repr(raw.rows(f"SELECT * FROM {vault_table(raw)}"))
    assert "ABC123" not in dump
    now(w.log, w.t(12))
    got = w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    assert got.values == {"itinerary": VALUES["itinerary"], "contact": VALUES["contact"]}


def test_retention_and_ownership_are_checked(pworld: World, raw: RawStore) -> None:
    """``retention_ended`` before the (placeholder) retention end, a non-owner, an erased
    field or a legal order without reference are refused, and nothing changes; at the end of
    retention the owner erases everything left."""
    w = pworld
    ingest(w, "K-1")
    rows = vault_rows(raw)
    now(w.log, w.t(MONTH))
    with pytest.raises(RuleViolationError, match="retention"):
        w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"],
                               reason="retention_ended")
    now(w.log, w.t(10))
    with pytest.raises(RuleViolationError, match="CBP owns"):
        w.log.erase_restricted("pnr:K-1", signer=w.signers["oi_ca"], reason="legal_order",
                               order_ref="X")
    now(w.log, w.t(10))
    with pytest.raises(InputError, match="order_ref"):
        w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"], reason="legal_order")
    assert vault_rows(raw) == rows
    now(w.log, w.t(43 * MONTH))
    w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"], reason="retention_ended")
    assert all(r[8] is None for r in vault_rows(raw))
    now(w.log, w.t(44 * MONTH))
    with pytest.raises(InputError, match="no held value"):
        w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"],
                               reason="retention_ended")
    assert verify_store(w.log).ok


@settings(max_examples=15)
@given(erase=st.sets(st.sampled_from(sorted(VALUES)), min_size=1))
def test_after_any_erasure_verify_passes_and_no_api_returns_the_value(
        pworld: World, raw: RawStore, kek: X25519KeyWrapper, erase: set[str]) -> None:
    """Property: erase any set of fields of a fresh record; store verification passes, the
    erased fields' rows hold no data and no read or decryption returns them, and the other
    fields still read."""
    w = pworld
    n = len(w.log.streams("pnr"))
    key, base = f"K-{n}", n * 60
    ingest(w, key, at=base)
    now(w.log, w.t(base + 1))
    w.log.erase_restricted(f"pnr:{key}", signer=w.signers["pnr_sup"], reason="legal_order",
                           order_ref=f"ORDER-{n}", fields=sorted(erase))
    assert verify_store(w.log).ok
    assert verify_vault(w.log, w.log.vault_keys) == []
    for name in sorted(VALUES):
        if name in erase:
            now(w.log, w.t(base + 2))
            with pytest.raises(AccessRefusedError, match="erased"):
                w.log.read_restricted(f"pnr:{key}", reader=w.signers["pnr"], purpose="x",
                                      fields=[name])
        else:
            now(w.log, w.t(base + 2))
            got = w.log.read_restricted(f"pnr:{key}", reader=w.signers["pnr"], purpose="x",
                                        fields=[name])
            assert got.values == {name: VALUES[name]}
    with read_vault(w.log) as vault:
        rows = [r for r in vault.all() if r.field in erase and r.erased]
    assert len([r for r in rows if r.version == 1 and r.case_id in {
        e.case.replace("-", "") for e in w.log.events(f"pnr:{key}")}]) == len(erase)
    for row in rows:
        with pytest.raises(VerificationError, match="erased"):
            open_value(w.log.log_id, row, kek)


def test_ingest_pnr_command_vaults_its_values(pworld: World) -> None:
    """``log.ingest_pnr`` records the PNR stream's first event with cdlog's commitments."""
    w = pworld
    event = w.log.ingest_pnr("K-9", received_at=w.t(0), flight="XX9", values=VALUES,
                             signer=w.signers["pnr"], at=w.t(0), recorded=w.t(0))
    assert event.stream == "pnr:K-9"
    assert set(event.payload["commitments"]) == set(VALUES)
    assert {e.field for e in w.log.restricted_status("pnr:K-9")} == set(VALUES)


class _Hsm:
    """A KeyWrapper that keeps the data keys itself (as an HSM would) and destroys them."""

    key_id = "hsm:test-1"
    agency = "CBP"

    def __init__(self) -> None:
        self.keys: dict[bytes, tuple[bytes, bytes]] = {}

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        handle = os.urandom(16)
        self.keys[handle] = (data_key, aad)
        return handle

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        found = self.keys.get(wrapped)
        if found is None or found[1] != aad:
            raise ValueError("no such data key")
        return found[0]

    def destroy(self, wrapped: bytes) -> None:
        self.keys.pop(wrapped, None)


def test_old_backups_are_safe_only_when_the_data_keys_were_kept_apart(
        world: World, raw: RawStore) -> None:
    """An HSM KeyWrapper that keeps the data keys destroys them on erasure: a vault row
    restored from a backup taken before no longer opens. With the file KEK (data keys
    wrapped in the row itself) the same backup row still opens: what SPEC §13 says."""
    w = world
    hsm = _Hsm()
    w.log.vault_keys.add(hsm)
    ingest(w, "K-1")
    with read_vault(w.log) as vault:
        backup = {r.field: r for r in vault.all()}
    now(w.log, w.t(10))
    w.log.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"], reason="legal_order",
                           order_ref="ORDER-1", fields=["locator"])
    with pytest.raises(VerificationError, match="does not open"):
        open_value(w.log.log_id, backup["locator"], hsm)
    assert open_value(w.log.log_id, backup["contact"], hsm)[0] == VALUES["contact"]
    file_kek = X25519KeyWrapper.generate("CBP")
    w.log.vault_keys.add(file_kek)
    ingest(w, "K-2", at=20)
    with read_vault(w.log) as vault:
        backup = {r.field: r for r in vault.all() if r.kek_id == file_kek.key_id}
    now(w.log, w.t(30))
    w.log.erase_restricted("pnr:K-2", signer=w.signers["pnr_sup"], reason="legal_order",
                           order_ref="ORDER-2", fields=["locator"])
    assert open_value(w.log.log_id, backup["locator"], file_kek)[0] == VALUES["locator"]


def test_sqlite_erasure_leaves_the_ciphertext_in_no_file(tmp_path: Path) -> None:
    """SQLite: the erased row's ciphertext is in neither the store file nor its WAL after
    the erasure (secure_delete, then a WAL checkpoint)."""
    t0 = parse_time("2006-03-14T06:00:00-05:00")
    root, analyst = Ed25519Signer.generate(), Ed25519Signer.generate()
    officer = Officer(id="CBP-6203", role="PNRAnalyst", agency="CBP", office="OFO")
    with CaseLog(f"sqlite:///{tmp_path / 'cases.db'}") as log:
        log.establish_root("CBP", root, at=t0)
        log.certify_officer(root, officer, analyst.public_key, not_before=t0,
                            not_after=t0 + timedelta(days=365), at=t0)
        log.vault_keys.add(X25519KeyWrapper.generate("CBP"))
        log.ingest_pnr("K-1", received_at=t0, flight="XX1", values=VALUES, signer=analyst,
                       at=t0, recorded=t0)
        with read_vault(log) as vault:
            secret = next(r for r in vault.all() if r.field == "locator").ciphertext
        assert secret is not None
        assert any(secret in f.read_bytes() for f in tmp_path.glob("cases.db*"))
        now(log, t0 + timedelta(minutes=5))
        log.erase_restricted("pnr:K-1", signer=analyst, reason="legal_order",
                             order_ref="ORDER-1", fields=["locator"])
        assert not any(secret in f.read_bytes() for f in tmp_path.glob("cases.db*"))


def test_status_of_the_whole_vault_names_the_streams(pworld: World) -> None:
    """``restricted_status()`` lists every row with its stream, held or erased."""
    w = pworld
    ingest(w, "K-1")
    ingest(w, "K-2", at=1)
    now(w.log, w.t(5))
    w.log.erase_restricted("pnr:K-2", signer=w.signers["pnr_sup"], reason="legal_order",
                           order_ref="ORDER-1", fields=["contact"])
    status = {(e.stream, e.field): e.erased for e in w.log.restricted_status()}
    assert len(status) == 2 * len(VALUES)
    assert status[("pnr:K-2", "contact")] is True
    assert status[("pnr:K-1", "contact")] is False
