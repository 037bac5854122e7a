"""The Merkle-log commands end to end: demo, checkpoint, log-key, prove, witness, export,
verify --bundle, and verify on a tampered store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.cases_cmd
import cdlog.cli.keys_cmd
import cdlog.cli.log_cmd
import cdlog.cli.verify_cmd  # noqa: F401  (registers the commands)
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.note import NoteVerifier
from cdlog.log.proofs import verify_consistency_doc, verify_inclusion_proof
from cdlog.log.sealing import stream_id
from cdlog.store.urls import resolve_store

if TYPE_CHECKING:
    from conftest import RawStore

PASS = "correct horse battery staple"
CASE = "case:OP-2006-0001"


class Cli:
    """Invoke the CLI against one temporary store."""

    def __init__(self, tmp_path: Path, store: str) -> None:
        self.dir = tmp_path
        self.store = store
        self.home = resolve_store(store).home  # the store's folder (keys, bundles)

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, ["--store", self.store, *args],
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result


@pytest.fixture
def run(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A CLI on a fresh store, with the key-file passphrase in the environment."""
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASS)
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path, store_url)


def grow(run: Cli) -> None:
    """Append one event (a new agency's trust root) through the API."""
    with CaseLog(run.store) as log:
        log.establish_root("XYZ", Ed25519Signer.generate(), at=datetime.now(UTC))


def write(path: Path, text: str) -> Path:
    """Write a file and return its path."""
    path.write_text(text)
    return path


def test_demo_ends_with_checkpoint_and_bundle(run: Cli) -> None:
    """`cdlog demo` signs a checkpoint and exports a bundle that `verify --bundle` accepts."""
    out = run("demo", "--fresh").output
    assert "checkpoint (size " in out
    bundle = run.home / "bundles" / "case-OP-2006-0001"
    assert f"bundle of {CASE}: " in out
    assert f"{bundle}: OK" in out
    assert f"cdlog verify --bundle {bundle} --log-key " in out
    vkey = run("log-key").output.strip()
    assert f"--log-key {vkey}" in out
    verified = run("verify", "--bundle", str(bundle), "--log-key", vkey).output
    assert verified.startswith("OK: ")
    assert "every event proven" in verified


def test_log_commands_end_to_end(run: Cli) -> None:
    """log-key, checkpoint, prove, witness, accept-cosignature, export and verify."""
    run("demo", "--fresh")
    vkey = run("log-key").output.strip()
    verifier = NoteVerifier.from_vkey(vkey)
    same = run("checkpoint")
    assert "has not grown" in same.output
    cp1 = write(run.dir / "cp1.txt", same.stdout)
    size1 = int(cp1.read_text().split("\n")[1])

    doc = json.loads(run("prove", "inclusion", "OP-2006-0001", "3").stdout)
    assert list(doc) == ["leaf_index", "tree_size", "leaf_hash", "root", "proof", "checkpoint"]
    with CaseLog(run.store) as log:
        sealed = log.events(CASE)[2].sealed
    verify_inclusion_proof(doc, verifier, sealed=sealed)

    grow(run)
    signed = run("checkpoint")
    assert f"signed a checkpoint of size {size1 + 1}" in signed.output
    cp2 = write(run.dir / "cp2.txt", signed.stdout)
    old = json.loads(run("prove", "inclusion", "OP-2006-0001", "3", "--size",
                         str(size1)).stdout)
    assert old["tree_size"] == size1
    proof_text = run("prove", "consistency", str(size1), str(size1 + 1)).stdout
    verify_consistency_doc(json.loads(proof_text))
    proof = write(run.dir / "proof.json", proof_text)
    assert "every tree extends the empty tree" in run("prove", "consistency", "0", "3",
                                                      code=2).output

    wvkey = run("witness-key", "--name", "oig.example/witness", "--out", "w.key").stdout.strip()
    assert wvkey.startswith("oig.example/witness+")
    state = str(run.dir / "witness.json")
    run("witness", "--state", state, "--log-key", vkey, "--key", "w.key", str(cp1))
    refused = run("witness", "--state", state, "--log-key", vkey, "--key", "w.key", str(cp2),
                  code=1)
    assert "consistency proof is needed" in refused.output
    cosigned = run("witness", "--state", state, "--log-key", vkey, "--key", "w.key",
                   "--proof", str(proof), str(cp2), "--out", "cosigned.txt")
    assert f"cosigned {verifier.name} at size {size1 + 1}" in cosigned.output
    rollback = run("witness", "--state", state, "--log-key", vkey, "--key", "w.key", str(cp1),
                   code=1)
    assert "verification failed" in rollback.output
    assert "rollback refused" in rollback.output

    accepted = run("accept-cosignature", "cosigned.txt", "--witness-key", wvkey)
    assert "oig.example/witness" in accepted.output
    assert accepted.stdout == (run.dir / "cosigned.txt").read_text()

    run("export", "--out", "bundle", "--case", "OP-2006-0001")
    ok = run("verify", "--bundle", "bundle", "--log-key", vkey, "--witness-key", wvkey)
    assert "cosigned by oig.example/witness" in ok.output
    as_json = json.loads(run("verify", "--bundle", "bundle", "--json",
                             "--self-consistent-only").stdout)
    assert as_json["ok"] is True
    assert as_json["scope"] == "cases"

    manifest = json.loads((run.dir / "bundle" / "bundle.json").read_text())
    entry = next(e for e in manifest["events"] if e["stream"] == CASE and e["version"] == 4)
    event = run.dir / "bundle" / entry["file"]
    event.write_bytes(event.read_bytes().replace(b"devan", b"xray!"))
    bad = run("verify", "--bundle", "bundle", "--log-key", vkey, code=1)
    assert f"{CASE} v4: merkle: {entry['file']}" in bad.output

    store_ok = run("verify", "--checkpoint", str(cp1), "--log-key", vkey).output
    assert f"Merkle tree: {size1 + 1} leaves" in store_ok
    assert "latest size" in store_ok


def test_verify_locates_a_removed_newest_event(run: Cli, raw: RawStore) -> None:
    """After a checkpoint, deleting a case's newest event makes `cdlog verify` fail there."""
    run("demo", "--fresh")
    cp = write(run.dir / "cp.txt", run("checkpoint").stdout)
    [(nid, version)] = raw.rows(
        "SELECT {nid}, originator_version FROM {events} WHERE originator_id = ? "
        "ORDER BY originator_version DESC LIMIT 1", (stream_id(CASE).hex,))
    raw.execute(("DELETE FROM {events} WHERE {nid} = ?", (nid,)))
    result = run("verify", "--checkpoint", str(cp), code=1)
    assert f"{CASE} v{version}: merkle: " in result.output
    assert "missing from the store" in result.output
    report: dict[str, Any] = json.loads(run("verify", "--json", code=1).stdout)
    assert report["tree"]["latest_checkpoint"] is not None
    assert any(f["version"] == version and f["check"] == "merkle" for f in report["failures"])
    refused = run("checkpoint", code=1)
    assert "refusing to sign" in refused.output


def test_demo_says_the_demo_passphrase_once(tmp_path: Path) -> None:
    """Without CDLOG_PASSPHRASE, `cdlog demo` names the demo passphrase once, however many
    times it opens a demo key (a real process: the note is once per process)."""
    env = {k: v for k, v in os.environ.items() if k != "CDLOG_PASSPHRASE"}
    store = f"sqlite:///{tmp_path / 's.db'}"
    done = subprocess.run([sys.executable, "-m", "cdlog", "--store", store, "demo", "--fresh"],
                          capture_output=True, text=True, env=env, check=False,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("CDLOG_PASSPHRASE is not set") == 1, done.stderr
