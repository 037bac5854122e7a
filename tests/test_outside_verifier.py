"""Issue 14, findings 1, 2, 4, 5 and 6 of the verifier written from docs/SPEC.md alone.

1. ``--witness-key`` makes that witness's valid cosignature mandatory.
2. ``--checkpoint FILE`` with ``--bundle``: each saved checkpoint is proven consistent with
   the bundle's; a file that is no signed checkpoint is a usage error.
4. The trust file carries the log key; keys taken only from the bundle fail unless asked for.
5. Key validity is judged against the log's time, which a backdated ``recorded`` cannot turn
   back; the log clock never goes back on the write path.
6. Verification applies the write path's checks: one key signing twice, the ``late`` flag.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.keys_cmd
import cdlog.cli.log_cmd
import cdlog.cli.verify_cmd  # noqa: F401  (these register the commands)
from cdlog.application import CaseLog
from cdlog.canonical import canonical_bytes
from cdlog.checkpoints import accept_cosigned, create_log_key, sign_checkpoint
from cdlog.cli.demo_keys import DEMO_PASSPHRASE, root_source
from cdlog.cli.main import cli
from cdlog.note import CosignatureSigner, NoteSigner, generate_cosigner, sign_note
from cdlog.proofs import prove_consistency
from cdlog.scenario import Replayer
from cdlog.witness import Witness

CASE_A = "case:OP-2006-0001"


@dataclass
class Pinned:
    """Scenario A, checkpoint 1, scenario C, checkpoint 2 cosigned by a witness, a bundle."""

    home: Path
    url: str
    signer: NoteSigner
    witness: CosignatureSigner
    cp1: Path
    cp2: Path
    size1: int
    size2: int
    bundle: Path

    @property
    def vkey(self) -> str:
        """The log's verifier key."""
        return self.signer.verifier().vkey

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--store", self.url, *args],
                                  env={"CDLOG_PASSPHRASE": DEMO_PASSPHRASE.decode()})


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> Pinned:
    """The store, its checkpoints and a per-case bundle of case A."""
    home = tmp_path_factory.mktemp("pinned")
    url = f"sqlite:///{home}/store/cdlog.db"
    log = CaseLog(url)
    replayer = Replayer(log, root_source(log.store.home, DEMO_PASSPHRASE))
    with resources.as_file(resources.files("cdlog") / "demo_data") as folder:
        replayer.replay(Path(folder) / "A-MIA-CD-ACCEPTED.yaml")
        signer = create_log_key(log, DEMO_PASSPHRASE)
        first = sign_checkpoint(log, signer)
        replayer.replay(Path(folder) / "C-SYS-DECLINED-ADMIN.yaml")
    second = sign_checkpoint(log, signer)
    witness = generate_cosigner("oig.example/witness")
    w = Witness(home / "w.json", witness, clock=lambda: 1_700_000_000)
    w.add_checkpoint(first.text, signer.verifier())
    cosigned = w.add_checkpoint(second.text, signer.verifier(),
                                prove_consistency(log, first.size, second.size))
    accept_cosigned(log, cosigned, [witness.verifier()])
    log.close()
    cp1, cp2 = home / "cp1.txt", home / "cp2.txt"
    cp1.write_text(first.text)
    cp2.write_text(cosigned)
    p = Pinned(home, url, signer, witness, cp1, cp2, first.size, second.size, home / "bundle")
    done = p("export", "--out", str(p.bundle), "--case", CASE_A)
    assert done.exit_code == 0, done.output
    return p


def copy(p: Pinned, tmp_path: Path) -> Path:
    """A private copy of the bundle to change."""
    return Path(shutil.copytree(p.bundle, tmp_path / "b"))


def lines(result: Result) -> list[str]:
    """The output lines."""
    return result.output.splitlines()


# ------------------------------------------------------------ 1: --witness-key is required
def test_missing_cosignature_of_a_named_witness_fails(pinned: Pinned, tmp_path: Path) -> None:
    """Deleting the witness's cosignature line from checkpoint.txt passed with exit 0."""
    wkey = pinned.witness.verifier().vkey
    ok = pinned("verify", "--bundle", str(pinned.bundle), "--log-key", pinned.vkey,
                "--witness-key", wkey)
    assert ok.exit_code == 0, ok.output
    assert "cosigned by oig.example/witness" in ok.output
    folder = copy(pinned, tmp_path)
    note = (folder / "checkpoint.txt").read_text()
    stripped = "".join(line + "\n" for line in note.splitlines()
                       if not line.startswith("— oig.example/witness "))
    assert stripped != note
    (folder / "checkpoint.txt").write_text(stripped)
    bad = pinned("verify", "--bundle", str(folder), "--log-key", pinned.vkey,
                 "--witness-key", wkey)
    assert bad.exit_code == 1, bad.output
    assert f"no cosignature by witness {wkey}" in bad.output
    other = generate_cosigner("court.example/witness").verifier().vkey
    unknown = pinned("verify", "--bundle", str(pinned.bundle), "--log-key", pinned.vkey,
                     "--witness-key", wkey, "--witness-key", other)
    assert unknown.exit_code == 1, unknown.output
    assert f"no cosignature by witness {other}" in unknown.output
    assert f"witness {wkey}" not in unknown.output


# ------------------------------------------------------------ 4: the auditor's own log key
def _resign(p: Pinned, folder: Path) -> NoteSigner:
    """Re-sign the bundle's checkpoint and trust file with a log key of one's own."""
    mine = NoteSigner(bytes(range(32)), p.signer.name)
    body = (folder / "checkpoint.txt").read_text().split("\n\n", 1)[0] + "\n"
    (folder / "checkpoint.txt").write_text(sign_note(body, [mine]))
    trust = json.loads((folder / "trust.json").read_text())
    trust["log_vkey"] = mine.verifier().vkey
    (folder / "trust.json").write_bytes(canonical_bytes(trust) + b"\n")
    return mine


def test_trust_file_carries_the_log_key(pinned: Pinned, tmp_path: Path) -> None:
    """`keys export-trust` wrote "log_vkey": null; a trust file alone now pins the log."""
    out = tmp_path / "trust.json"
    done = pinned("keys", "export-trust", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["log_vkey"] == pinned.vkey
    ok = pinned("verify", "--bundle", str(pinned.bundle), "--trust", str(out))
    assert ok.exit_code == 0, ok.output
    forged = copy(pinned, tmp_path)
    _resign(pinned, forged)
    bad = pinned("verify", "--bundle", str(forged), "--trust", str(out))
    assert bad.exit_code == 1, bad.output
    assert "checkpoint.txt" in bad.output


def test_keys_only_from_the_bundle_fail_unless_asked(pinned: Pinned, tmp_path: Path) -> None:
    """A bundle re-signed with anyone's log key passed with exit 0 and a `note:` line."""
    roots_only = tmp_path / "roots.json"
    trust = json.loads((pinned.bundle / "trust.json").read_text())
    trust["log_vkey"] = None
    roots_only.write_bytes(canonical_bytes(trust) + b"\n")
    forged = copy(pinned, tmp_path)
    mine = _resign(pinned, forged)
    for args in ([], ["--trust", str(roots_only)]):
        for folder in (pinned.bundle, forged):
            refused = pinned("verify", "--bundle", str(folder), *args)
            assert refused.exit_code == 1, refused.output
            assert "no log key given" in refused.output
            assert "--self-consistent-only" in refused.output
    checked = pinned("verify", "--bundle", str(forged), "--self-consistent-only")
    assert checked.exit_code == 0, checked.output
    warning = [line for line in lines(checked) if line.startswith("warning:")]
    assert len(warning) == 1
    assert "NOT that it comes from the log" in warning[0]
    as_json = json.loads(pinned("verify", "--bundle", str(forged), "--self-consistent-only",
                                "--json").stdout)
    assert as_json["ok"] is True
    assert as_json["key_source"] == "log key from the bundle, trust roots from the bundle"
    assert mine.verifier().vkey != pinned.vkey
    pinned_ok = pinned("verify", "--bundle", str(forged), "--log-key", pinned.vkey)
    assert pinned_ok.exit_code == 1
    usage = pinned("verify", "--self-consistent-only")
    assert usage.exit_code == 2
    assert "--self-consistent-only needs --bundle" in usage.output
