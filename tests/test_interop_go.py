"""Independent cross-check: Go's golang.org/x/mod/sumdb/tlog and sumdb/note verify cdlog's
checkpoints, cosignatures, inclusion and consistency proofs, and rebuild its roots.

The Go program is tests/interop/go/main.go, built against Debian's golang-golang-x-mod-dev
(`make interop-deps` installs it). A missing Go toolchain fails this test; it never skips.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import StoredEvent

from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.checkpoint_format import sign_checkpoint as sign_note_checkpoint
from cdlog.log.checkpoint_signing import (
    accept_cosigned,
    create_log_key,
    latest_checkpoint,
    sign_checkpoint,
)
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import b64, consistency_proof, inclusion_proof
from cdlog.log.note import NoteSigner, generate_cosigner
from cdlog.log.proofs import inclusion_doc, prove_consistency
from cdlog.verify.witness import Witness

if TYPE_CHECKING:
    from conftest import BareStore, World

SOURCE = Path(__file__).resolve().parent / "interop" / "go" / "main.go"
GOCODE = Path("/usr/share/gocode")


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the Go checker (offline, Debian packages only)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is missing: run `make interop-deps` "
                    "(apt-get install golang-go golang-golang-x-mod-dev)")
    if not (GOCODE / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog").is_dir():
        pytest.fail("golang.org/x/mod is missing under /usr/share/gocode: run "
                    "`make interop-deps` (apt-get install golang-golang-x-mod-dev)")
    root = tmp_path_factory.mktemp("gobuild")
    src = root / "src" / "cdlogcheck"
    src.mkdir(parents=True)
    shutil.copy(SOURCE, src / "main.go")
    binary = root / "cdlogcheck"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"{root}:{GOCODE}", "GOFLAGS": "",
           "GOPROXY": "off", "GOCACHE": str(root / "cache"), "CGO_ENABLED": "0"}
    result = subprocess.run([go, "build", "-o", str(binary), "."], cwd=src, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.fail(f"building the Go checker failed:\n{result.stderr}")
    return binary


def run(checker: Path, request: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run the Go checker on a request; return its JSON result."""
    path = tmp_path / f"request-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(request))
    result = subprocess.run([str(checker), str(path)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def flip_b64(value: str) -> str:
    """A base64 hash with one bit changed."""
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return b64(bytes(raw))


def test_go_verifies_a_real_log(world: World, checker: Path, tmp_path: Path) -> None:
    """x/mod opens cdlog's checkpoint (log signature + cosignature/v1), rebuilds its root
    from the sealed events, and checks every inclusion and consistency proof."""
    signer = create_log_key(world.log, b"pw")
    first = sign_checkpoint(world.log, signer)
    stream = world.open_case()
    for i in range(6):
        world.rec(stream, "ConveyanceArrived", {"refs": {"bol": f"G{i}"}}, by="cbpo", at=i + 1)
    second = sign_checkpoint(world.log, signer)
    cosigner = generate_cosigner("oig.example/witness")
    witness = Witness(tmp_path / "w.json", cosigner, clock=lambda: 1_700_000_000)
    witness.add_checkpoint(first.text, signer.verifier())
    cosigned = witness.add_checkpoint(second.text, signer.verifier(),
                                      prove_consistency(world.log, first.size, second.size))
    accept_cosigned(world.log, cosigned, [cosigner.verifier()])
    cp = latest_checkpoint(world.log)
    assert cp is not None
    with read_ledger(world.log) as led:
        records = [b64(e.state) for e in led.events_after(0)]
        inclusion = []
        for i in range(cp.size):
            doc = inclusion_doc(led, i, cp)
            del doc["checkpoint"]
            inclusion.append(doc)
        roots = [b64(led.root(n)) for n in range(cp.size + 1)]
    consistency = [prove_consistency(world.log, m, cp.size) for m in range(1, cp.size + 1)]
    consistency.append(prove_consistency(world.log, first.size, second.size))
    bad_inclusion = [dict(d, proof=[flip_b64(d["proof"][0]), *d["proof"][1:]])
                     for d in inclusion[:3]]
    bad_inclusion.append(dict(inclusion[0], leaf_index=1))
    bad_consistency = [dict(consistency[0], root2=flip_b64(consistency[0]["root2"])),
                       dict(consistency[-1], proof=consistency[-1]["proof"][:-1])]
    tampered_note = cp.text.replace(f"\n{cp.size}\n", f"\n{cp.size + 1}\n", 1)
    result = run(checker, {
        "vkey": signer.vkey, "checkpoint": cp.text, "witness_vkeys": [cosigner.vkey],
        "records": records, "inclusion": inclusion + bad_inclusion,
        "consistency": consistency + bad_consistency,
        "notes": [tampered_note, first.text]}, tmp_path)
    # the checkpoint carries the stream-head map extension line (SPEC §12); x/mod opens it
    assert cp.checkpoint.extensions[0].startswith("cdlog/heads/v1 ")
    assert result["checkpoint"]["ok"], result["checkpoint"]
    assert result["checkpoint"]["size"] == cp.size
    assert result["checkpoint"]["root"] == b64(cp.root)
    assert result["checkpoint"]["origin"] == world.log.log_id
    assert result["checkpoint"]["cosigners"] == {"oig.example/witness": 1_700_000_000}
    # Go's TreeHash(0) in x/mod 0.7.0 is all zeros; the empty root is SHA-256("") by RFC 6962.
    assert result["record_roots"][1:] == roots[1:]
    assert [r["ok"] for r in result["inclusion"]] == [True] * len(inclusion) + [False] * 4
    assert [r["ok"] for r in result["consistency"]] == [True] * len(consistency) + [False] * 2
    assert [r["ok"] for r in result["notes"]] == [False, True]


def test_go_checks_stored_proofs_at_every_size(checker: Path, tmp_path: Path,
                                               bare: BareStore) -> None:
    """Over a stored tree of 300 leaves, Go accepts cdlog's proofs at every size (sampled
    indices) and agrees on every root."""
    recorder = bare.recorder
    states = [b"leaf %d" % i for i in range(300)]
    recorder.insert_events([StoredEvent(originator_id=uuid.uuid4(), originator_version=1,
                                        topic="t", state=s) for s in states])
    inclusion, consistency, roots = [], [], []
    with recorder.read() as led:
        for size in range(1, 301):
            root = led.root(size)
            roots.append(b64(root))
            for index in sorted({0, size // 3, size // 2, size - 1}):
                inclusion.append({"leaf_index": index, "tree_size": size,
                                  "leaf_hash": b64(led.read_hashes([(0, index)])[0]),
                                  "root": b64(root), "proof": [
                                      b64(h) for h in inclusion_proof(led, index, size)]})
            for old in sorted({1, size // 2 or 1, max(size - 1, 1), size}):
                consistency.append({"size1": old, "size2": size,
                                    "root1": b64(led.root(old)), "root2": b64(root),
                                    "proof": [b64(h) for h in
                                              consistency_proof(led, old, size)]})
        signer = NoteSigner(bytes(range(32)), "cdlog.test/interop")
        note = sign_note_checkpoint(Checkpoint("cdlog.test/interop", 300, led.root()),
                                    signer)
    result = run(checker, {"vkey": signer.vkey, "checkpoint": note,
                           "records": [b64(s) for s in states], "inclusion": inclusion,
                           "consistency": consistency}, tmp_path)
    assert result["checkpoint"]["ok"], result["checkpoint"]
    assert result["record_roots"][1:] == roots
    assert all(r["ok"] for r in result["inclusion"]), [r for r in result["inclusion"]
                                                        if not r["ok"]][:3]
    assert all(r["ok"] for r in result["consistency"]), [r for r in result["consistency"]
                                                          if not r["ok"]][:3]
