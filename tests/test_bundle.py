"""Offline audit bundles: export, verify untouched, locate tampering, reveal no other case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cdlog.application import CaseLog
from cdlog.cli.demo_keys import DEMO_PASSPHRASE, root_source
from cdlog.errors import InputError, NotFoundError
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TRUST_FORMAT, TrustFile, TrustRoot
from cdlog.log.checkpoint_signing import accept_cosigned, create_log_key, sign_checkpoint
from cdlog.log.note import NoteSigner, generate_cosigner
from cdlog.log.sealing import parse, stream_id
from cdlog.scenario import Replayer
from cdlog.verify.bundle import export_bundle, verify_bundle
from cdlog.verify.witness import Witness

if TYPE_CHECKING:
    from conftest import STORE_KINDS, fresh_store
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import STORE_KINDS, fresh_store

CASE_A = "case:OP-2006-0001"
CASE_C = "case:C-SYS-DECLINED-ADMIN"


@dataclass
class Demo:
    """The two demo scenarios in one log, a cosigned checkpoint and two exported bundles."""

    log: CaseLog
    signer: NoteSigner
    trust: TrustFile
    witness_vkey: str
    case_bundle: Path
    log_bundle: Path


@pytest.fixture(scope="module", params=STORE_KINDS)
def demo(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Replay both demo scenarios, sign and cosign a checkpoint, export two bundles (from an
    SQLite and from a PostgreSQL store)."""
    home = tmp_path_factory.mktemp("bundle")
    with fresh_store(request.param, home / "store", request) as url:
        yield from _demo(home, url)


def _demo(home: Path, url: str) -> Iterator[Demo]:
    log = CaseLog(url)
    replayer = Replayer(log, root_source(log.store.home, DEMO_PASSPHRASE))
    with resources.as_file(resources.files("cdlog") / "demo_data") as folder:
        for name in ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"):
            replayer.replay(Path(folder) / name)
    signer = create_log_key(log, b"pw")
    cp = sign_checkpoint(log, signer)
    cosigner = generate_cosigner("oig.example/witness")
    cosigned = Witness(home / "w.json", cosigner, clock=lambda: 1_700_000_000).add_checkpoint(
        cp.text, signer.verifier())
    accept_cosigned(log, cosigned, [cosigner.verifier()])
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(log.context.registry.roots()),
                      log_vkey=signer.vkey)
    export_bundle(log, home / "case-a", [CASE_A])
    export_bundle(log, home / "all")
    yield Demo(log, signer, trust, cosigner.vkey, home / "case-a", home / "all")
    log.close()


@pytest.fixture
def case_copy(demo: Demo, tmp_path: Path) -> Path:
    """A private copy of the per-case bundle to tamper with."""
    return Path(shutil.copytree(demo.case_bundle, tmp_path / "b"))


def manifest(folder: Path) -> dict[str, object]:
    """The bundle manifest."""
    data: dict[str, object] = json.loads((folder / "bundle.json").read_text())
    return data


def entries(folder: Path) -> list[dict[str, object]]:
    """The manifest's event entries."""
    events = manifest(folder)["events"]
    assert isinstance(events, list)
    return events


def failures(folder: Path, demo: Demo) -> list[str]:
    """Verify with the trusted keys; return the failure texts."""
    return [str(f) for f in verify_bundle(folder, demo.trust).failures]


def test_untouched_case_bundle_verifies(demo: Demo) -> None:
    """The per-case bundle verifies with the trust file, with a vkey only, and alone only as a
    self-consistency check."""
    report = verify_bundle(demo.case_bundle, demo.trust)
    assert report.ok, report.failures
    assert report.scope == "cases"
    assert report.streams == [CASE_A]
    assert report.key_source == "given"
    assert report.events == len(entries(demo.case_bundle))
    from cdlog.log.note import CosignatureVerifier

    witnessed = verify_bundle(demo.case_bundle, log_vkey=demo.signer.vkey,
                              witnesses=[CosignatureVerifier.from_vkey(demo.witness_vkey)])
    assert witnessed.ok
    assert witnessed.cosigners == [("oig.example/witness", 1_700_000_000)]
    from_path = verify_bundle(demo.case_bundle, demo.case_bundle / "trust.json")
    assert from_path.ok
    assert from_path.key_source == "given"
    alone = verify_bundle(demo.case_bundle)
    assert [f.detail[:17] for f in alone.failures] == ["no log key given "]
    assert alone.key_source == "log key from the bundle, trust roots from the bundle"
    assert verify_bundle(demo.case_bundle, self_consistent_only=True).ok
    assert verify_bundle(demo.case_bundle, log_vkey=demo.signer.vkey).key_source == (
        "log key given, trust roots from the bundle")


def test_untouched_log_bundle_verifies(demo: Demo) -> None:
    """The whole-log bundle rebuilds the checkpoint's root from every event."""
    report = verify_bundle(demo.log_bundle, demo.trust)
    assert report.ok, report.failures
    assert report.scope == "log"
    assert report.events == report.tree_size == demo.log.max_position()


def test_case_bundle_reveals_no_other_case(demo: Demo) -> None:
    """Only the case's events, trust events and its disclosure authorisation are included;
    no file mentions the other case."""
    case_no = demo.log.state(CASE_A).case_no
    roles: dict[str, int] = {}
    for entry in entries(demo.case_bundle):
        sealed = parse((demo.case_bundle / str(entry["file"])).read_bytes())
        role = str(entry["role"])
        roles[role] = roles.get(role, 0) + 1
        if role == "case":
            assert sealed.stream == CASE_A
        elif role == "trust":
            assert sealed.stream.startswith("trust:")
        else:
            assert role == "dependency"
            assert sealed.type == "ThirdPartyDisclosureAuthorized"
            assert sealed.payload["case_no"] == case_no
    assert roles["case"] == len(demo.log.events(CASE_A))
    assert roles["dependency"] == 1
    other = [CASE_C, str(stream_id(CASE_C)), "C-SYS", "pnr-access", "PNRRecordIngested",
             *(e.hash_hex for e in demo.log.events(CASE_C))]
    for path in demo.case_bundle.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8")
            for needle in other:
                assert needle not in text, (path, needle)


def test_tampered_event_file_is_located(demo: Demo, case_copy: Path) -> None:
    """Changing one byte of an event file names the case, version and file."""
    entry = next(e for e in entries(case_copy) if e["type"] == "HoldPlaced")
    path = case_copy / str(entry["file"])
    original = path.read_bytes()
    path.write_bytes(original.replace(b"quiet_hold_pending_OI", b"quiet_hold_pending_OX"))
    assert path.read_bytes() != original
    found = failures(case_copy, demo)
    where = f"{stream_id(CASE_A)} v{entry['version']}"
    assert any(f.startswith(f"{where}: merkle: {entry['file']}") and "not proven" in f
               for f in found), found
    assert any(f.startswith(f"{where}: signature") for f in found), found


def test_tampered_proof_file_is_located(demo: Demo, case_copy: Path) -> None:
    """Changing a proof hash names the event and the proof file."""
    entry = next(e for e in entries(case_copy) if e["role"] == "case" and e["version"] == 7)
    path = case_copy / str(entry["proof"])
    doc = json.loads(path.read_text())
    doc["proof"][0] = doc["proof"][1]
    path.write_text(json.dumps(doc))
    found = failures(case_copy, demo)
    assert found == [f"{stream_id(CASE_A)} v7: merkle: {entry['file']} (leaf "
                     f"{entry['leaf_index']}) is not proven in the checkpoint by "
                     f"{entry['proof']}: inclusion proof for index {entry['leaf_index']} does "
                     f"not lead to the root of size {manifest(case_copy)['tree_size']}"]


def test_tampered_checkpoint_is_refused(demo: Demo, case_copy: Path) -> None:
    """A checkpoint note that was changed no longer opens with the log key."""
    path = case_copy / "checkpoint.txt"
    lines = path.read_text().split("\n")
    lines[1] = str(int(lines[1]) + 1)
    path.write_text("\n".join(lines))
    found = failures(case_copy, demo)
    assert len(found) == 1
    assert found[0].startswith("<bundle>: checkpoint: checkpoint.txt: ")


def test_removed_and_added_files_are_located(demo: Demo, case_copy: Path) -> None:
    """A missing event file and a file the manifest does not list are both reported."""
    entry = next(e for e in entries(case_copy) if e["role"] == "case" and e["version"] == 3)
    (case_copy / str(entry["file"])).unlink()
    (case_copy / "events" / "999999999999.sealed").write_bytes(b"extra")
    found = failures(case_copy, demo)
    assert any(f.startswith(f"{stream_id(CASE_A)} v3: bundle: {entry['file']}: cannot read")
               for f in found), found
    assert any("events/999999999999.sealed is not listed" in f for f in found), found


def test_event_of_another_case_cannot_pose_as_the_case(demo: Demo, case_copy: Path) -> None:
    """A manifest entry relabelled to another role or stream is caught."""
    data = manifest(case_copy)
    events = data["events"]
    assert isinstance(events, list)
    trust_entry = next(e for e in events if e["role"] == "trust")
    trust_entry["role"] = "case"
    (case_copy / "bundle.json").write_text(json.dumps(data))
    found = failures(case_copy, demo)
    assert any("cannot have role 'case'" in f for f in found), found


def test_untrusted_roots_are_refused(demo: Demo) -> None:
    """With a trust file that does not hold the log's roots, the key checks fail."""
    stranger = TrustRoot.for_key("CBP", Ed25519Signer.generate().public_key)
    other = TrustFile(format=TRUST_FORMAT, roots=(stranger,), log_vkey=demo.signer.vkey)
    found = [str(f) for f in verify_bundle(demo.case_bundle, other).failures]
    assert any(": key: " in f for f in found), found


def test_wrong_log_key_is_refused(demo: Demo) -> None:
    """A checkpoint not signed by the given log key fails the bundle."""
    other = NoteSigner(bytes(32), demo.log.log_id)
    report = verify_bundle(demo.case_bundle, log_vkey=other.vkey)
    assert not report.ok
    assert str(report.failures[0]).startswith("<bundle>: checkpoint: checkpoint.txt:")


def test_tampered_log_bundle_fails_its_root(demo: Demo, tmp_path: Path) -> None:
    """In a whole-log bundle a changed event changes the rebuilt root."""
    folder = Path(shutil.copytree(demo.log_bundle, tmp_path / "all"))
    entry = entries(folder)[-1]
    path = folder / str(entry["file"])
    path.write_bytes(path.read_bytes() + b" ")
    found = failures(folder, demo)
    assert any("is not the checkpoint's root" in f for f in found), found


def test_export_refusals(demo: Demo, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Export needs a new folder and a checkpoint, and names a case that exists."""
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        export_bundle(demo.log, tmp_path / "full", [CASE_A])
    with pytest.raises(NotFoundError):
        export_bundle(demo.log, tmp_path / "n", ["NO-SUCH-CASE"])
    with fresh_store(demo.log.store.kind, tmp_path / "e", request) as url, \
            CaseLog(url) as empty, pytest.raises(NotFoundError, match="no signed checkpoint"):
        export_bundle(empty, tmp_path / "e2")
