"""Inclusion and consistency proofs from a log, their JSON form and their verifiers."""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import StoredEvent

from cdlog.errors import InputError, NoteError, NotFoundError, ProofError
from cdlog.log.checkpoint_signing import sign_checkpoint
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import b64, consistency_proof, inclusion_proof, leaf_hash, unb64
from cdlog.log.note import NoteSigner
from cdlog.log.proofs import (
    CONSISTENCY_KEYS,
    INCLUSION_KEYS,
    prove_consistency,
    prove_inclusion,
    verify_consistency_doc,
    verify_inclusion_doc,
    verify_inclusion_proof,
)

if TYPE_CHECKING:
    from conftest import BareStore, World

VECTORS = Path(__file__).resolve().parent / "vectors"
PROBES = VECTORS / "transparency-dev-merkle" / "testdata"
TWELVE_BYTE_ROOTS_PROBE = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


def probes(kind: str) -> list[Path]:
    """The transparency-dev probe files of one kind (the run fails if they are missing)."""
    files = sorted((PROBES / kind).rglob("*.json"))
    if not files:
        msg = f"no {kind} probes under {PROBES}"
        raise RuntimeError(msg)
    return files


def probe_id(path: Path) -> str:
    """A probe's name relative to the testdata folder."""
    return path.relative_to(PROBES).as_posix()


def test_probe_counts() -> None:
    """All 98 + 98 probes are there."""
    assert len(probes("inclusion")) == 98
    assert len(probes("consistency")) == 98


@pytest.mark.parametrize("path", probes("inclusion"), ids=probe_id)
def test_inclusion_doc_verifier_passes_every_probe(path: Path) -> None:
    """verify_inclusion_doc accepts the good probes and rejects every mutated one."""
    p = json.loads(path.read_text())
    doc = {"leaf_index": p["leafIdx"], "tree_size": p["treeSize"], "leaf_hash": p["leafHash"],
           "root": p["root"], "proof": p["proof"] or []}
    if p["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion_doc(doc)
    else:
        verify_inclusion_doc(doc)


@pytest.mark.parametrize("path", probes("consistency"), ids=probe_id)
def test_consistency_doc_verifier_passes_every_probe(path: Path) -> None:
    """verify_consistency_doc accepts the good probes and rejects every mutated one."""
    p = json.loads(path.read_text())
    doc = {"size1": p["size1"], "size2": p["size2"], "root1": p["root1"], "root2": p["root2"],
           "proof": p["proof"] or []}
    if probe_id(path) == TWELVE_BYTE_ROOTS_PROBE:  # 12-byte roots: we require 32 bytes
        with pytest.raises(ProofError, match="12 bytes"):
            verify_consistency_doc(doc)
    elif p["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency_doc(doc)
    else:
        verify_consistency_doc(doc)


def test_reference_tree_from_the_store(bare: BareStore) -> None:
    """The CT 8-leaf reference tree, stored as eight events, has the reference nodes, roots
    and proofs."""
    ref = json.loads((VECTORS / "reference-tree-8-leaves.json").read_text())
    recorder = bare.recorder
    recorder.insert_events([StoredEvent(originator_id=uuid.uuid4(), originator_version=1,
                                        topic="t", state=bytes.fromhex(h))
                            for h in ref["leaf_inputs_hex"]])
    with recorder.read() as led:
        for level, hashes in enumerate(ref["node_hashes_hex_by_level"]):
            for idx, value in enumerate(hashes):
                assert led.read_hashes([(level, idx)])[0].hex() == value
        for size, root in ref["root_hashes_hex_by_size"].items():
            assert led.root(int(size)).hex() == root
        for case in ref["inclusion_proofs"]:
            proof = inclusion_proof(led, case["leaf_index_1based"] - 1, case["tree_size"])
            assert [h.hex() for h in proof] == case["audit_path_hex"]
        for case in ref["consistency_proofs"]:
            proof = consistency_proof(led, case["size1"], case["size2"])
            assert [h.hex() for h in proof] == case["proof_hex"]


# ----------------------------------------------------------------------------- from a log
@pytest.fixture
def signed(world: World) -> tuple[World, NoteSigner, str, int]:
    """A world with a case of three events and a checkpoint over it."""
    signer = NoteSigner(os.urandom(32), world.log.log_id)
    stream = world.open_case()
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "B1"}}, by="cbpo", at=1)
    world.rec(stream, "ExaminationReferred", {"reason": "NII anomaly"}, by="cbpo", at=2)
    cp = sign_checkpoint(world.log, signer)
    return world, signer, stream, cp.size


def test_inclusion_of_every_event_verifies(signed: tuple[World, NoteSigner, str, int]) -> None:
    """Every event of every stream has a proof that verifies end to end with its bytes."""
    world, signer, _, size = signed
    count = 0
    for stream in world.log.streams():
        for sealed in world.log.events(stream):
            doc = prove_inclusion(world.log, stream, sealed.version)
            assert tuple(doc) == INCLUSION_KEYS
            assert doc["tree_size"] == size
            assert doc["leaf_hash"] == b64(sealed.hash)
            cp, _ = verify_inclusion_proof(doc, signer.verifier(), sealed=sealed.sealed)
            assert cp.size == size
            count += 1
    assert count == size


def test_inclusion_json_example(signed: tuple[World, NoteSigner, str, int]) -> None:
    """The document is JSON with standard padded base64 and 0-based indices."""
    world, _, stream, size = signed
    doc = json.loads(json.dumps(prove_inclusion(world.log, stream, 3)))
    assert doc["leaf_index"] == size - 1
    assert all(len(unb64(h)) == 32 for h in [doc["leaf_hash"], doc["root"], *doc["proof"]])
    assert doc["checkpoint"].startswith(f"{world.log.log_id}\n{size}\n{doc['root']}\n"
                                        "cdlog/heads/v1 ")
    assert "\n\n— " in doc["checkpoint"]


def mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Single changes to an inclusion document that must each be rejected."""
    out = []
    for key, value in (("leaf_index", doc["leaf_index"] - 1), ("tree_size", doc["tree_size"] + 1),
                       ("leaf_hash", b64(b"\x00" * 32)), ("root", b64(b"\x01" * 32)),
                       ("proof", doc["proof"][:-1]), ("proof", [*doc["proof"], doc["root"]]),
                       ("proof", [b64(b"\x02" * 32), *doc["proof"][1:]]),
                       ("checkpoint", doc["checkpoint"].replace("\n", "\n\n", 1)),
                       ("extra", 1)):
        changed = copy.deepcopy(doc)
        changed[key] = value
        out.append((key, changed))
    return out


def test_tampered_inclusion_documents_are_rejected(
        signed: tuple[World, NoteSigner, str, int]) -> None:
    """Each single change to the document, and a wrong key or event, is rejected."""
    world, signer, stream, _ = signed
    doc = prove_inclusion(world.log, stream, 2)
    for key, changed in mutations(doc):
        with pytest.raises((ProofError, NoteError)):
            verify_inclusion_proof(changed, signer.verifier())
        assert key
    other = NoteSigner(os.urandom(32), world.log.log_id)
    with pytest.raises(NoteError):
        verify_inclusion_proof(doc, other.verifier())
    with pytest.raises(ProofError, match="event hashes to"):
        verify_inclusion_proof(doc, signer.verifier(), sealed=world.log.events(stream)[0].sealed)


def test_inclusion_against_an_older_checkpoint(signed: tuple[World, NoteSigner, str, int]
                                              ) -> None:
    """--size picks a signed checkpoint; an unsigned size or a later event is refused."""
    world, signer, stream, size = signed
    world.rec(stream, "ExaminationConducted", {"method": "devan", "result": "positive"},
              by="cbpo", at=3)
    with pytest.raises(NotFoundError, match="after the checkpoint"):
        prove_inclusion(world.log, stream, 4)
    sign_checkpoint(world.log, signer)
    new = prove_inclusion(world.log, stream, 4)
    assert new["tree_size"] == size + 1
    old = prove_inclusion(world.log, stream, 2, size=size)
    verify_inclusion_proof(old, signer.verifier())
    assert old["tree_size"] == size
    with pytest.raises(NotFoundError, match="signed sizes"):
        prove_inclusion(world.log, stream, 2, size=size - 1)
    with pytest.raises(NotFoundError, match="no event version 9"):
        prove_inclusion(world.log, stream, 9)


def test_no_checkpoint_yet(world: World) -> None:
    """A proof needs a signed checkpoint."""
    stream = world.open_case()
    with pytest.raises(NotFoundError, match="cdlog checkpoint"):
        prove_inclusion(world.log, stream, 1)


def test_consistency_between_checkpoints(signed: tuple[World, NoteSigner, str, int]) -> None:
    """A consistency proof between two checkpoints verifies and binds to both."""
    world, signer, stream, size = signed
    world.rec(stream, "ExaminationConducted", {"method": "devan", "result": "positive"},
              by="cbpo", at=3)
    new = sign_checkpoint(world.log, signer)
    doc = prove_consistency(world.log, size, new.size)
    assert tuple(doc) == CONSISTENCY_KEYS
    with read_ledger(world.log) as led:
        old_root = led.root(size)
    from cdlog.log.checkpoint_format import Checkpoint

    old = Checkpoint(world.log.log_id, size, old_root)
    verify_consistency_doc(doc, old, new.checkpoint)
    with pytest.raises(ProofError, match="old checkpoint"):
        verify_consistency_doc(doc, Checkpoint(world.log.log_id, size, b"\x00" * 32))
    bad = dict(doc, proof=[b64(b"\x03" * 32), *doc["proof"][1:]])
    with pytest.raises(ProofError):
        verify_consistency_doc(bad)


def test_consistency_edges(signed: tuple[World, NoteSigner, str, int]) -> None:
    """Old size 0 is refused; equal sizes give an empty proof; sizes past the tree are refused."""
    world, _, _, size = signed
    with pytest.raises(InputError, match="every tree extends the empty tree"):
        prove_consistency(world.log, 0, size)
    same = prove_consistency(world.log, size, size)
    assert same["proof"] == []
    assert same["root1"] == same["root2"]
    verify_consistency_doc(same)
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency_doc(dict(same, root2=b64(b"\x00" * 32)))
    with pytest.raises(InputError, match="larger than the tree"):
        prove_consistency(world.log, 1, size + 1)
    with pytest.raises(InputError):
        prove_consistency(world.log, size, 1)
    with pytest.raises(ProofError, match="size1 0"):
        verify_consistency_doc({"size1": 0, "size2": size, "root1": same["root1"],
                                "root2": same["root2"], "proof": []})


def test_leaf_hash_is_the_event_hash(signed: tuple[World, NoteSigner, str, int]) -> None:
    """The proven leaf is SHA-256(0x00 || sealed bytes), the event hash cases chain on."""
    world, _, stream, _ = signed
    events = world.log.events(stream)
    doc = prove_inclusion(world.log, stream, 3)
    assert unb64(doc["leaf_hash"]) == leaf_hash(events[2].sealed) == events[2].hash
    assert events[2].prev == events[1].hash_hex
