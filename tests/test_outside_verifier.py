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

import base64
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import cdlog.cli.keys_cmd
import cdlog.cli.log_cmd
import cdlog.cli.verify_cmd  # noqa: F401  (these register the commands)
from cdlog.application import CaseLog
from cdlog.canonical import canonical_bytes, format_time
from cdlog.cli.demo_keys import DEMO_PASSPHRASE, root_source
from cdlog.cli.main import cli
from cdlog.domain.config import Config, Deadlines
from cdlog.errors import InputError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.checkpoint_signing import accept_cosigned, create_log_key, sign_checkpoint
from cdlog.log.merkle import MemoryHashStore, b64, consistency_proof, tree_root
from cdlog.log.merkle import leaf_hash as merkle_leaf
from cdlog.log.note import CosignatureSigner, NoteSigner, generate_cosigner, sign_note
from cdlog.log.proofs import prove_consistency
from cdlog.log.sealing import SealedEvent, parse, seal, stream_id
from cdlog.scenario import Replayer
from cdlog.store.mapper import SealedRecord
from cdlog.verify.bundle import export_bundle, verify_bundle
from cdlog.verify.pinning import check_saved_checkpoints, missing_cosignatures
from cdlog.verify.runner import verify_store
from cdlog.verify.witness import Witness

if TYPE_CHECKING:
    from conftest import World, build_world
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import World, build_world

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


# ------------------------------------------------------------ 6: the write path's checks
@dataclass
class Forged:
    """A store holding events the write path refuses, written around it, and a bundle."""

    world: World
    twice: SealedEvent
    late: SealedEvent
    bundle: Path
    vkey: str


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Forged:
    """Case OP-T-1: opened, a conveyance cosigned by another officer, then (written straight
    to the store) the same event co-signed by its own actor's key, then one whose ``late``
    flag is false although it was entered two days after it happened."""
    home = tmp_path_factory.mktemp("forged")
    world = build_world(f"sqlite:///{home}/w.db")
    stream = world.open_case("OP-T-1")
    legit = world.rec(stream, "ConveyanceArrived", {"refs": {"container": "EXMU0000101"}},
                      by="cbpo", at=5, cosign=("scbpo",))
    env = dict(legit.envelope)
    env.update(version=legit.version + 1, prev=legit.hash_hex, cosigners=[env["actor"]])
    twice = seal(env, [world.signers["cbpo"], world.signers["cbpo"]])
    env = dict(legit.envelope)
    env.update(version=twice.version + 1, prev=twice.hash_hex, cosigners=[],
               recorded=format_time(world.t(5 + 2 * 24 * 60)), late=False)
    late = seal(env, [world.signers["cbpo"]])
    world.log.app.save_records((SealedRecord(twice), SealedRecord(late)))
    signer = create_log_key(world.log, b"pw")
    sign_checkpoint(world.log, signer)
    export_bundle(world.log, home / "bundle", [stream])
    return Forged(world, twice, late, home / "bundle", signer.verifier().vkey)


def test_one_key_signing_twice_is_rejected(forged: Forged) -> None:
    """`verify --bundle` accepted a CaseAccepted "co-decided" by one key; the write path
    refuses it ("the same key signs twice"), and so do store and bundle verification now."""
    with pytest.raises(InputError, match="the same key signs twice"):
        forged.world.rec("case:OP-T-1", "ConveyanceArrived",
                         {"refs": {"container": "EXMU0000102"}}, by="cbpo", at=5 + 3 * 24 * 60,
                         cosign=("cbpo",))
    key = forged.twice.envelope["actor"]["key"]
    for report in (verify_store(forged.world.log),
                   verify_bundle(forged.bundle, log_vkey=forged.vkey)):
        twice = [f for f in report.failures if f.version == forged.twice.version]
        assert [(f.case, f.check) for f in twice] == [(forged.twice.case, "signature")]
        assert f"key {key} signs twice" in twice[0].detail


def test_late_flag_is_checked(forged: Forged) -> None:
    """The write path sets `late` from the configuration; verification never looked at it."""
    for report in (verify_store(forged.world.log),
                   verify_bundle(forged.bundle, log_vkey=forged.vkey)):
        late = [f for f in report.failures if f.version == forged.late.version]
        assert [(f.case, f.check) for f in late] == [(forged.late.case, "late")]
        assert "late is false" in late[0].detail
        assert "deadlines.late_entry_after (12:00:00)" in late[0].detail
    relaxed = Config(deadlines=Deadlines(late_entry_after=timedelta(days=3)))
    report = verify_bundle(forged.bundle, log_vkey=forged.vkey, config=relaxed)
    assert not [f for f in report.failures if f.check == "late"]


def test_a_trust_root_with_cosigners_is_rejected(tmp_path: Path) -> None:
    """The write path refuses cosigners on TrustRootEstablished; verification did not."""
    world = build_world(f"sqlite:///{tmp_path}/w.db")
    root, other = Ed25519Signer.generate(), world.signers["cbpo"]
    first = world.log.establish_root("NPS", root, at=world.t(0))
    env = dict(first.envelope)
    env.update(version=1, stream="trust:FWS", case=str(stream_id("trust:FWS")),
               payload={**env["payload"], "agency": "FWS"},
               actor={**env["actor"], "id": "root:FWS", "agency": "FWS"},
               cosigners=[forged_party(world, "cbpo")])
    sneaked = seal(env, [root, other])
    world.log.app.save_records((SealedRecord(sneaked),))
    failures = [f for f in verify_store(world.log).failures if f.case == sneaked.case]
    assert "a trust root is established by the root key alone, without cosigners" in [
        f.detail for f in failures]


def forged_party(world: World, handle: str) -> dict[str, object]:
    """The envelope party of a cast member."""
    officer = world.officers[handle]
    party: dict[str, object] = {k: v for k, v in officer.model_dump(mode="json").items()
                                if v is not None}
    party["key"] = world.signers[handle].key_id
    return party


# ------------------------------------------------------------ 2: saved checkpoints, bundled
def _signed(p: Pinned, size: int, root: bytes, tmp_path: Path, name: str) -> Path:
    """A checkpoint of ``size`` and ``root`` signed by the log's own key (a forked log)."""
    path = tmp_path / name
    path.write_text(sign_note(Checkpoint(p.signer.name, size, root).body(), [p.signer]))
    return path


def test_saved_checkpoints_are_proven_against_the_bundle(pinned: Pinned,
                                                         tmp_path: Path) -> None:
    """`--checkpoint FILE` was ignored with `--bundle`: now each must be consistent."""
    key = ["--log-key", pinned.vkey]
    with_proof = tmp_path / "pinned"
    done = pinned("export", "--out", str(with_proof), "--case", CASE_A, "--consistency-from",
                  str(pinned.size1))
    assert done.exit_code == 0, done.output
    listed = json.loads((with_proof / "bundle.json").read_text())["consistency"]
    assert listed == [{"size1": pinned.size1, "file": f"consistency/{pinned.size1:012d}.json"}]
    ok = pinned("verify", "--bundle", str(with_proof), *key, "--checkpoint", str(pinned.cp1),
                "--checkpoint", str(pinned.cp2))
    assert ok.exit_code == 0, ok.output
    unproven = pinned("verify", "--bundle", str(pinned.bundle), *key, "--checkpoint",
                      str(pinned.cp1))
    assert unproven.exit_code == 1, unproven.output
    assert (f"carries no consistency proof from size {pinned.size1} to {pinned.size2}; "
            f"export it with --consistency-from {pinned.size1}") in unproven.output
    fork = _signed(pinned, pinned.size1, bytes(32), tmp_path, "fork1.txt")
    bad = pinned("verify", "--bundle", str(with_proof), *key, "--checkpoint", str(fork))
    assert bad.exit_code == 1, bad.output
    assert f"--checkpoint {fork}: the saved checkpoint of size {pinned.size1} is not " \
           f"consistent with the bundle's of size {pinned.size2}" in bad.output
    same = _signed(pinned, pinned.size2, bytes(32), tmp_path, "fork2.txt")
    forked = pinned("verify", "--bundle", str(pinned.bundle), *key, "--checkpoint", str(same))
    assert forked.exit_code == 1
    assert "the log forked" in forked.output
    newer = _signed(pinned, pinned.size2 + 5, bytes(32), tmp_path, "newer.txt")
    ahead = pinned("verify", "--bundle", str(pinned.bundle), *key, "--checkpoint", str(newer))
    assert ahead.exit_code == 1
    assert "is newer than the bundle's" in ahead.output
    stranger = NoteSigner(bytes(range(32)), pinned.signer.name)
    other = tmp_path / "other.txt"
    other.write_text(sign_note(Checkpoint(pinned.signer.name, pinned.size1, bytes(32)).body(),
                               [stranger]))
    unsigned = pinned("verify", "--bundle", str(with_proof), *key, "--checkpoint", str(other))
    assert unsigned.exit_code == 1
    assert f"--checkpoint {other}: " in unsigned.output
    proof_file = with_proof / listed[0]["file"]
    doc = json.loads(proof_file.read_text())
    doc["proof"][0] = doc["proof"][-1] if len(doc["proof"]) > 1 else "A" * 43 + "="
    proof_file.write_text(json.dumps(doc))
    tampered = pinned("verify", "--bundle", str(with_proof), *key, "--checkpoint",
                      str(pinned.cp1))
    assert tampered.exit_code == 1
    assert "is not consistent" in tampered.output


def test_saved_checkpoint_against_a_whole_log_bundle(pinned: Pinned, tmp_path: Path) -> None:
    """A whole-log bundle rebuilds the saved checkpoint's root from its first events."""
    whole = tmp_path / "all"
    assert pinned("export", "--out", str(whole)).exit_code == 0
    ok = pinned("verify", "--bundle", str(whole), "--log-key", pinned.vkey, "--checkpoint",
                str(pinned.cp1))
    assert ok.exit_code == 0, ok.output
    fork = _signed(pinned, pinned.size1, bytes(32), tmp_path, "fork1.txt")
    bad = pinned("verify", "--bundle", str(whole), "--log-key", pinned.vkey, "--checkpoint",
                 str(fork))
    assert bad.exit_code == 1
    assert f"the bundle's first {pinned.size1} events have root" in bad.output


@pytest.mark.parametrize("content", [b"# notes\n", b"", b"\xff\xfe", b"cdlog.local/x\n4\n"])
def test_a_file_that_is_no_checkpoint_is_a_usage_error(pinned: Pinned, tmp_path: Path,
                                                       content: bytes) -> None:
    """`--checkpoint notes.md` with `--bundle` passed; it is a usage error (exit 2)."""
    notes = tmp_path / "notes.md"
    notes.write_bytes(content)
    refused = pinned("verify", "--bundle", str(pinned.bundle), "--log-key", pinned.vkey,
                     "--checkpoint", str(notes))
    assert refused.exit_code == 2, refused.output
    assert refused.output.startswith("cdlog: ")
    assert "--checkpoint" in refused.output


def test_consistency_from_a_size_the_bundle_cannot_prove(pinned: Pinned,
                                                         tmp_path: Path) -> None:
    """Asking for a proof from beyond the checkpoint is an input error; nothing is written."""
    out = tmp_path / "x"
    refused = pinned("export", "--out", str(out), "--case", CASE_A, "--consistency-from",
                     str(pinned.size2 + 1))
    assert refused.exit_code == 2, refused.output
    assert "--consistency-from" in refused.output
    assert not out.exists()


# ------------------------------------------------------------ 5: the log clock and key clock
def test_the_log_clock_never_goes_back(tmp_path: Path) -> None:
    """A clock stepped back (NTP, a restored VM) made the next command fail on its own
    stream, and let `recorded` go back across streams; the log now keeps its clock."""
    world = build_world(f"sqlite:///{tmp_path}/w.db")
    now = [world.t(60)]
    world.log.clock = lambda: now[0]
    stream = world.log.open_case("OP-CLK-1", port="5201", signer=world.signers["cbpo"],
                                 at=world.t(0))
    now[0] = world.t(30)  # the clock steps back half an hour
    back = world.log.record(stream, "ConveyanceArrived", {"refs": {"container": "EXMU0000101"}},
                            signer=world.signers["cbpo"], at=world.t(10))
    assert back.envelope["recorded"] == format_time(world.t(60))
    keys = world.log.certify_officer(world.roots["CBP"], world.officers["shadow"],
                                     Ed25519Signer.generate().public_key,
                                     not_before=world.t(0), not_after=world.t(10_000),
                                     at=world.t(120))
    assert keys.certificate.not_after == world.t(10_000)
    other = world.log.open_case("OP-CLK-2", port="5201", signer=world.signers["cbpo"],
                                at=world.t(20))
    first = verify_store(world.log)
    assert first.ok, first.failures
    sealed = [s for s in _sealed_events(world) if s.stream == other]
    assert sealed[0].envelope["recorded"] == format_time(world.t(120))


def _sealed_events(world: World) -> list[SealedEvent]:
    """Every event of the world's log, in log order."""
    rows = world.log.app.recorder.select_notifications(start=1, limit=10_000)
    return [parse(r.state) for r in rows]


def test_an_expired_key_cannot_sign_with_a_backdated_recorded_time(tmp_path: Path) -> None:
    """Key validity was judged on the event's own `recorded`, which its writer chooses: a key
    that expired could still sign an event dated inside its window. Once the log's key clock
    (the latest trust event) has passed the key's not_after, it signs nothing more."""
    world = build_world(f"sqlite:///{tmp_path}/w.db")
    brief = Ed25519Signer.generate()
    world.log.certify_officer(world.roots["CBP"], world.officers["shadow"], brief.public_key,
                              not_before=world.t(-60), not_after=world.t(24 * 60),
                              at=world.t(-60))
    stream = world.open_case("OP-EXP-1")
    world.rec(stream, "ConveyanceArrived", {"refs": {"container": "EXMU0000101"}},
              by="cbpo", at=5)
    world.log.certify_officer(world.roots["CBP"], world.officers["pd"],  # two days later
                              Ed25519Signer.generate().public_key, not_before=world.t(0),
                              not_after=world.t(10_000), at=world.t(2 * 24 * 60))
    backdated = world.t(12 * 60)  # inside the brief key's window, after it expired for the log
    with pytest.raises(InputError, match="key clock"):
        world.log.record(stream, "ExaminationReferred", {"reason": "x-ray"}, signer=brief,
                         at=backdated, recorded=backdated)
    template = _sealed_events(world)[-2]  # the conveyance, by cbpo
    assert template.type == "ConveyanceArrived"
    env = dict(template.envelope)
    actor = forged_party(world, "shadow")
    actor["key"] = brief.key_id
    env.update(version=template.version + 1, prev=template.hash_hex, actor=actor,
               type="ExaminationReferred", payload={"reason": "x-ray"},
               occurred={"at": format_time(backdated)}, recorded=format_time(backdated))
    sneaked = seal(env, [brief])
    world.log.app.save_records((SealedRecord(sneaked),))
    signer = create_log_key(world.log, b"pw")
    sign_checkpoint(world.log, signer)
    export_bundle(world.log, tmp_path / "bundle", [stream])
    for report in (verify_store(world.log),
                   verify_bundle(tmp_path / "bundle", log_vkey=signer.verifier().vkey)):
        assert [(f.case, f.version, f.check) for f in report.failures] == [
            (sneaked.case, sneaked.version, "key")]
        assert f"key {brief.key_id} of " in report.failures[0].detail
        assert "key clock had already reached" in report.failures[0].detail


def test_witness_key_with_the_store(pinned: Pinned) -> None:
    """`verify --witness-key` on the store was silently ignored: now a named witness must
    have cosigned a stored checkpoint."""
    wkey = pinned.witness.verifier().vkey
    ok = pinned("verify", "--witness-key", wkey)
    assert ok.exit_code == 0, ok.output
    other = generate_cosigner("court.example/witness").verifier().vkey
    bad = pinned("verify", "--witness-key", wkey, "--witness-key", other)
    assert bad.exit_code == 1, bad.output
    assert f"no stored checkpoint carries a valid cosignature by witness {other}" in bad.output
    assert f"witness {wkey}" not in bad.output


def test_a_trust_root_signing_as_someone_else_is_rejected(tmp_path: Path) -> None:
    """The write path records a root as `root:<AGENCY>`, role TrustRoot; verification
    skipped the party of a TrustRootEstablished altogether."""
    world = build_world(f"sqlite:///{tmp_path}/w.db")
    root = Ed25519Signer.generate()
    first = world.log.establish_root("NPS", root, at=world.t(0))
    assert verify_store(world.log).ok
    fws = Ed25519Signer.generate()
    env = dict(first.envelope)
    env.update(stream="trust:FWS", case=str(stream_id("trust:FWS")),
               payload={"agency": "FWS", "key_id": fws.key_id,
                        "public_key": base64.b64encode(fws.public_key).decode()},
               actor={**env["actor"], "id": "CBP-4417", "role": "SAC", "agency": "FWS",
                      "key": fws.key_id})
    sneaked = seal(env, [fws])
    world.log.app.save_records((SealedRecord(sneaked),))
    failures = [f for f in verify_store(world.log).failures if f.case == sneaked.case]
    assert [(f.check, f.detail) for f in failures] == [
        ("key", "a trust root signs as FWS/ROOT TrustRoot root:FWS, not as FWS/ROOT SAC "
                "CBP-4417")]


def test_check_proof_requires_each_witness(pinned: Pinned, tmp_path: Path) -> None:
    """`check-proof --witness-key` named a cosignature when there was one and said nothing
    when there was none; a named witness must have cosigned."""
    proof = tmp_path / "inclusion.json"
    made = pinned("prove", "inclusion", CASE_A, "1")
    assert made.exit_code == 0, made.output
    proof.write_text(made.stdout)
    wkey = pinned.witness.verifier().vkey
    ok = pinned("check-proof", str(proof), "--log-key", pinned.vkey, "--witness-key", wkey)
    assert ok.exit_code == 0, ok.output
    assert "cosigned by oig.example/witness" in ok.output
    other = generate_cosigner("court.example/witness").verifier().vkey
    bad = pinned("check-proof", str(proof), "--log-key", pinned.vkey, "--witness-key", other)
    assert bad.exit_code == 1, bad.output
    assert f"no cosignature by witness {other}" in bad.output
    consistency = tmp_path / "consistency.json"
    consistency.write_text(pinned("prove", "consistency", str(pinned.size1),
                                  str(pinned.size2)).stdout)
    old = ["check-proof", str(consistency), "--log-key", pinned.vkey, "--old", str(pinned.cp1)]
    assert pinned(*old, "--new", str(pinned.cp2), "--witness-key", wkey).exit_code == 0
    plain = tmp_path / "cp2-plain.txt"
    plain.write_text("".join(x + "\n" for x in pinned.cp2.read_text().splitlines()
                             if not x.startswith("— oig.example/witness ")))
    missing = pinned(*old, "--new", str(plain), "--witness-key", wkey)
    assert missing.exit_code == 1, missing.output
    assert f"no cosignature by witness {wkey}" in missing.output


# ------------------------------------------------------------ properties (hypothesis)
_LOG = NoteSigner(bytes(range(100, 132)), "cdlog.example/prop")
_WITNESS = CosignatureSigner(bytes(range(140, 172)), "oig.example/prop")


def _tree(n: int) -> MemoryHashStore:
    store = MemoryHashStore()
    for i in range(n):
        store.append(merkle_leaf(i.to_bytes(4, "big")))
    return store


def _note(size: int, root: bytes) -> str:
    return sign_note(Checkpoint(_LOG.name, size, root).body(), [_LOG])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.data())
def test_saved_checkpoint_property(n: int, data: st.DataObject) -> None:
    """A saved checkpoint passes against the bundle's exactly when its root is the tree's
    at its size and the proof is the honest one; any flipped byte of the saved root or of
    a proof hash, or a missing proof, fails."""
    store = _tree(n)
    old = data.draw(st.integers(1, n - 1))
    cp = Checkpoint(_LOG.name, n, tree_root(store, n))
    doc: dict[str, Any] = {"size1": old, "size2": n, "root1": b64(tree_root(store, old)),
                           "root2": b64(cp.root),
                           "proof": [b64(h) for h in consistency_proof(store, old, n)]}
    honest = check_saved_checkpoints([("s", _note(old, tree_root(store, old)))],
                                     _LOG.verifier(), cp, {old: doc}, lambda _: None)
    assert honest == []
    what = data.draw(st.sampled_from(["root", "proof", "size"]))
    saved_root = tree_root(store, old)
    proofs: dict[int, dict[str, Any] | None] = {old: doc}
    if what == "root":
        flip = data.draw(st.integers(0, 31))
        saved_root = bytes(b ^ (1 if i == flip else 0) for i, b in enumerate(saved_root))
    elif what == "proof" and doc["proof"]:
        k = data.draw(st.integers(0, len(doc["proof"]) - 1))
        raw = bytearray(base64.b64decode(doc["proof"][k]))
        raw[data.draw(st.integers(0, 31))] ^= 0x80
        proofs = {old: {**doc, "proof": [*doc["proof"][:k], b64(bytes(raw)),
                                         *doc["proof"][k + 1:]]}}
    else:
        proofs = {}
    failures = check_saved_checkpoints([("s", _note(old, saved_root))], _LOG.verifier(), cp,
                                       proofs, lambda _: None)
    if what == "proof" and not doc["proof"]:
        assert failures == []
    else:
        assert len(failures) == 1
        assert failures[0].check == "checkpoint"
        assert failures[0].detail.startswith("--checkpoint s: ")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**40), st.sampled_from(["keep", "drop", "flip"]), st.integers(0, 75))
def test_required_witness_property(stamp: int, what: str, at: int) -> None:
    """A named witness passes only with its own valid cosignature line on the note."""
    note = _note(5, bytes(32))
    body = note.split("\n\n", 1)[0] + "\n"
    line = _WITNESS.cosignature_line(body, stamp)
    if what == "drop":
        line = ""
    elif what == "flip":
        name, blob = line.rstrip("\n").rsplit(" ", 1)
        raw = bytearray(base64.b64decode(blob))
        raw[4 + at % (len(raw) - 4)] ^= 1
        line = f"{name} {base64.b64encode(bytes(raw)).decode()}\n"
    failures = missing_cosignatures(note + line, _LOG.verifier(), [_WITNESS.verifier()], "n")
    assert (failures == []) == (what == "keep")
