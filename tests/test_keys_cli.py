"""``cdlog keys``: roots and officer keys through the command line, with encrypted key files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import cdlog.cli.cases_cmd
import cdlog.cli.keys_cmd
import cdlog.cli.verify_cmd  # noqa: F401  (registers the commands)
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.keys.keyfile import read_key_file

PASS = "correct horse battery staple"


@pytest.fixture
def run(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """Invoke the CLI against a temporary store with a passphrase in the environment."""
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASS)
    monkeypatch.chdir(tmp_path)
    store = store_url

    def invoke(*args: str) -> object:
        return CliRunner().invoke(cli, ["--store", store, *args], catch_exceptions=False)

    invoke.store = store  # type: ignore[attr-defined]
    return invoke


def test_root_officer_list_rotate_revoke_export(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A root certifies an officer; list shows it; rotate and revoke change its state; the
    exported trust file lists the root; no key material or passphrase is ever printed."""
    r = run("keys", "init-root", "CBP", "--out", "cbp.key")
    assert r.exit_code == 0, r.output
    r = run("keys", "create-officer", "--root", "cbp.key", "--id", "CBP-1", "--role",
            "CBPO", "--agency", "CBP", "--office", "OFO", "--out", "o1.key")
    assert r.exit_code == 0, r.output
    key_id = read_key_file(tmp_path / "o1.key", PASS.encode()).key_id
    listing = run("keys", "list").output
    assert key_id in listing
    assert "CBP-1" in listing
    r = run("keys", "rotate", "--root", "cbp.key", key_id, "--reason", "scheduled",
            "--out", "o2.key")
    assert r.exit_code == 0, r.output
    new_id = read_key_file(tmp_path / "o2.key", PASS.encode()).key_id
    r = run("keys", "revoke", "--root", "cbp.key", new_id, "--reason", "lost laptop")
    assert r.exit_code == 0, r.output
    with CaseLog(run.store) as log:
        reg = log.context.registry
        assert reg.record(key_id).revoked_at is not None
        assert reg.record(new_id).revoked_at is not None
    r = run("keys", "export-trust", "--out", "trust.json")
    assert r.exit_code == 0
    trust = json.loads((tmp_path / "trust.json").read_text())
    assert [root["agency"] for root in trust["roots"]] == ["CBP"]
    everything = "".join(p.read_text(errors="ignore") for p in tmp_path.glob("*.json"))
    assert PASS not in everything
    r = run("verify", "--trust", "trust.json")
    assert r.exit_code == 0, r.output


def test_wrong_passphrase_is_refused(run, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A root key file cannot be used with the wrong passphrase; nothing is recorded."""
    run("keys", "init-root", "CBP", "--out", "cbp.key")
    monkeypatch.setenv("CDLOG_PASSPHRASE", "wrong")
    r = run("keys", "create-officer", "--root", "cbp.key", "--id", "CBP-1", "--role", "CBPO",
            "--agency", "CBP", "--office", "OFO", "--out", "o1.key")
    assert r.exit_code == 2
    assert "wrong" not in r.output.replace("wrong passphrase", "")
    assert not (tmp_path / "o1.key").exists()
    with CaseLog(run.store) as log:
        assert log.max_position() == 1


def test_verify_exit_codes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """verify: 0 on an intact store, 2 on a bad store URL or trust file."""
    run("keys", "init-root", "CBP", "--out", "cbp.key")
    assert run("verify").exit_code == 0
    r = CliRunner().invoke(cli, ["--store", "nosuch://x", "verify"])
    assert r.exit_code == 2
    (tmp_path / "bad.json").write_text("{}")
    assert run("verify", "--trust", "bad.json").exit_code == 2
