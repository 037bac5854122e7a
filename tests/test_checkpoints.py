"""Signed checkpoints of the store's tree, the log key, and detection of every row mutation."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cdlog.application import CaseLog
from cdlog.errors import (
    InputError,
    KeyStoreError,
    NoteError,
    NotFoundError,
    VerificationError,
)
from cdlog.log.checkpoint_format import open_checkpoint
from cdlog.log.checkpoint_signing import (
    accept_cosigned,
    checkpoint_at,
    create_log_key,
    latest_checkpoint,
    list_checkpoints,
    load_log_signer,
    log_key_path,
    log_verifier,
    sign_checkpoint,
)
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.merkle import EMPTY_ROOT, b64
from cdlog.log.note import NoteSigner, generate_cosigner
from cdlog.log.sealing import stream_id
from cdlog.log.tree_audit import audit_tree
from cdlog.verify.runner import verify_log
from cdlog.verify.witness import Witness

if TYPE_CHECKING:
    from conftest import RawStore, World

PASS = b"test passphrase"


def signer_for(log: CaseLog) -> NoteSigner:
    """A fresh note signer named after the log's origin."""
    return NoteSigner(os.urandom(32), log.log_id)


def add_case(world: World, ref: str = "OP-T-1", events: int = 3) -> str:
    """Open a case and record a few more events in it; return its stream."""
    stream = world.open_case(ref)
    for i in range(events - 1):
        world.rec(stream, "ConveyanceArrived", {"refs": {"bol": f"B{i}"}}, by="cbpo", at=i + 1)
    return stream


def test_sign_store_and_read(world: World) -> None:
    """A checkpoint names the origin, the tree size and root; it is stored and re-read."""
    signer = signer_for(world.log)
    cp = sign_checkpoint(world.log, signer)
    with read_ledger(world.log) as led:
        assert (cp.size, cp.root) == (led.size(), led.root())
    assert cp.checkpoint.origin == world.log.log_id
    opened, cosigned = open_checkpoint(cp.text, signer.verifier(), world.log.log_id)
    assert opened == cp.checkpoint
    assert cosigned == []
    assert latest_checkpoint(world.log) == cp
    assert checkpoint_at(world.log, cp.size) == cp
    with pytest.raises(NotFoundError, match="signed sizes"):
        checkpoint_at(world.log, cp.size + 1)


def test_no_new_signature_until_the_tree_grows(world: World) -> None:
    """Signing again without new events returns the stored checkpoint; growth signs anew."""
    signer = signer_for(world.log)
    first = sign_checkpoint(world.log, signer)
    assert sign_checkpoint(world.log, signer) == first
    add_case(world)
    second = sign_checkpoint(world.log, signer)
    assert second.size == first.size + 3
    assert [c.size for c in list_checkpoints(world.log)] == [first.size, second.size]


def test_origin_is_per_log_and_must_name_the_key(store_url: str) -> None:
    """The origin is the log id given at creation; a key of another name is refused."""
    log = CaseLog(store_url, log_id="cbp.example/cd-log/miami")
    try:
        assert log.log_id == "cbp.example/cd-log/miami"
        cp = sign_checkpoint(log, signer_for(log))
        # the empty log's checkpoint carries the empty stream-head map (docs/SPEC.md §12)
        assert cp.text.startswith("cbp.example/cd-log/miami\n0\n" + b64(EMPTY_ROOT) + "\n"
                                  "cdlog/heads/v1 0 " + b64(EMPTY_ROOT) + "\n\n")
        with pytest.raises(InputError, match="origin"):
            sign_checkpoint(log, NoteSigner(os.urandom(32), "other.example/log"))
    finally:
        log.close()


def test_log_key_file(world: World) -> None:
    """The log key is an encrypted file; its public header gives the verifier key."""
    created = create_log_key(world.log, PASS)
    assert log_key_path(world.log) == Path(world.log.store.home) / "keys" / "log.key"
    assert log_verifier(world.log) == created.verifier()
    assert load_log_signer(world.log, PASS).vkey == created.vkey
    with pytest.raises(KeyStoreError):
        load_log_signer(world.log, b"wrong")
    with pytest.raises(KeyStoreError, match="exists"):
        create_log_key(world.log, PASS)


def test_no_key_yet(world: World) -> None:
    """Asking for the verifier of a log without a key says how to create one."""
    with pytest.raises(NotFoundError, match="cdlog log-key"):
        log_verifier(world.log)


def test_accept_cosigned_checkpoint(world: World, tmp_path: Path) -> None:
    """The log stores verified witness cosignatures and serves them with the checkpoint."""
    signer = create_log_key(world.log, PASS)
    cp = sign_checkpoint(world.log, signer)
    cosigner = generate_cosigner("oig.example/witness")
    cosigned = Witness(tmp_path / "w.json", cosigner, clock=lambda: 1_700_000_000
                       ).add_checkpoint(cp.text, signer.verifier())
    with pytest.raises(NoteError, match="no valid cosignature"):
        accept_cosigned(world.log, cosigned, [generate_cosigner("other").verifier()])
    stored = accept_cosigned(world.log, cosigned, [cosigner.verifier()])
    assert stored.text == cosigned
    assert latest_checkpoint(world.log) == stored
    _, cosigners = open_checkpoint(stored.text, signer.verifier(), world.log.log_id,
                                   [cosigner.verifier()])
    assert cosigners == [("oig.example/witness", 1_700_000_000)]
    forged = sign_checkpoint_text(world.log, cp.size, cosigner, signer)
    with pytest.raises(NoteError, match="never signed"):
        accept_cosigned(world.log, forged, [cosigner.verifier()])


def sign_checkpoint_text(log: CaseLog, size: int, cosigner: object,
                         signer: NoteSigner) -> str:
    """A validly signed and cosigned checkpoint the log never stored (another root)."""
    from cdlog.log.checkpoint_format import Checkpoint, add_cosignature
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note_checkpoint
    from cdlog.log.note import CosignatureSigner

    assert isinstance(cosigner, CosignatureSigner)
    note = sign_note_checkpoint(Checkpoint(log.log_id, size, b"\x01" * 32), signer)
    return add_cosignature(note, cosigner, 1)


# ----------------------------------------------------------------------------- tampering
@dataclass
class Sealed:
    """A log with a signed checkpoint, closed, ready to be tampered with."""

    url: str
    raw: RawStore
    origin: str
    signer: NoteSigner
    checkpoint: str
    stream: str
    case_versions: dict[str, int]


@pytest.fixture
def sealed(world: World, raw: RawStore) -> Sealed:
    """Two cases, a checkpoint over everything, then the store is closed."""
    first = add_case(world, "OP-T-1", 4)
    second = add_case(world, "OP-T-2", 2)
    signer = create_log_key(world.log, PASS)
    cp = sign_checkpoint(world.log, signer)
    versions = {first: 4, second: 2}
    world.log.close()
    return Sealed(world.log.store.url, raw, world.log.log_id, signer, cp.text, first, versions)


def audit(led: LedgerCursor, sealed: Sealed) -> list[str]:
    """Rebuild and compare the tree as ``led`` sees it; return the failure texts."""
    found = audit_tree(led, sealed.origin, sealed.signer.verifier(), known=[sealed.checkpoint])
    return [str(f) for f in found.failures]


def flip(blob: object) -> bytes:
    """The same bytes with the last one changed."""
    assert isinstance(blob, bytes)
    return blob[:-1] + bytes([blob[-1] ^ 0x01])


def single_row_mutations(raw: RawStore) -> Iterator[tuple[str, tuple[str, tuple[object, ...]]]]:
    """Every deletion and every rewrite of one row of the tables the Merkle log relies on."""
    for nid, state in raw.rows("SELECT {nid}, state FROM {events}"):
        yield (f"delete event {nid}", ("DELETE FROM {events} WHERE {nid} = ?", (nid,)))
        yield (f"rewrite event {nid}",
               ("UPDATE {events} SET state = ? WHERE {nid} = ?", (flip(state), nid)))
    for (index,) in raw.rows("SELECT leaf_index FROM {leaves}"):
        yield (f"delete leaf {index}", ("DELETE FROM {leaves} WHERE leaf_index = ?", (index,)))
        yield (f"move leaf {index}", ("UPDATE {leaves} SET notification_id = "
                                      "notification_id + 1000 WHERE leaf_index = ?", (index,)))
    for level, idx, value in raw.rows("SELECT level, idx, hash FROM {nodes}"):
        yield (f"delete node {level},{idx}",
               ("DELETE FROM {nodes} WHERE level = ? AND idx = ?", (level, idx)))
        yield (f"rewrite node {level},{idx}",
               ("UPDATE {nodes} SET hash = ? WHERE level = ? AND idx = ?",
                (flip(value), level, idx)))
    for size, root, note in raw.rows("SELECT size, root, note FROM {checkpoints}"):
        yield (f"delete checkpoint {size}", ("DELETE FROM {checkpoints} WHERE size = ?",
                                             (size,)))
        yield (f"rewrite checkpoint root {size}",
               ("UPDATE {checkpoints} SET root = ? WHERE size = ?", (flip(root), size)))
        assert isinstance(note, str)
        yield (f"rewrite checkpoint note {size}",
               ("UPDATE {checkpoints} SET note = ? WHERE size = ?",
                (note.replace("\n", "\n\n", 1), size)))


def test_every_single_row_mutation_is_detected(sealed: Sealed) -> None:
    """Deleting or rewriting any one row after a checkpoint makes the tree audit fail.

    Each mutation runs in a transaction that reads the tree back and is then rolled back.
    """
    with sealed.raw.trial() as (_, led):
        assert audit(led, sealed) == []
    mutations = list(single_row_mutations(sealed.raw))
    assert len(mutations) > 100
    undetected = []
    for name, (statement, params) in mutations:
        with sealed.raw.trial() as (run, led):
            run(statement, params)
            if not audit(led, sealed):
                undetected.append(name)
    assert undetected == []


@dataclass
class Tampered:
    """The sealed store after one named mutation, opened as a log."""

    log: CaseLog
    failures: list[str]


@pytest.fixture
def tampered(sealed: Sealed) -> Iterator[Callable[..., Tampered]]:
    """Apply SQL to the sealed store, open it and run the full store verification."""
    opened: list[CaseLog] = []

    def run(*statements: tuple[str, tuple[object, ...]]) -> Tampered:
        sealed.raw.execute(*statements)
        log = CaseLog(sealed.url)
        opened.append(log)
        report = verify_log(log, log_vkey=sealed.signer.vkey, known=[sealed.checkpoint])
        return Tampered(log, [str(f) for f in report.failures])

    yield run
    for log in opened:
        log.close()


def newest_nid(raw: RawStore, stream: str) -> int:
    """The notification id of the newest event of a stream."""
    [(nid,)] = raw.rows("SELECT {nid} FROM {events} WHERE originator_id = ? "
                        "ORDER BY originator_version DESC LIMIT 1", (stream_id(stream).hex,))
    assert isinstance(nid, int)
    return nid


def test_removed_newest_event_of_a_case_is_located(sealed: Sealed,
                                                   tampered: Callable[..., Tampered]) -> None:
    """Deleting a case's newest event (which its chain cannot show) is named by case/version."""
    nid = newest_nid(sealed.raw, sealed.stream)
    result = tampered(("DELETE FROM {events} WHERE {nid} = ?", (nid,)))
    case = str(stream_id(sealed.stream))
    assert any(f.startswith(f"{case} v4: merkle:") and "missing from the store" in f
               for f in result.failures), result.failures
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_checkpoint(result.log, sealed.signer)


def test_truncated_log_is_located(sealed: Sealed, tampered: Callable[..., Tampered]) -> None:
    """Removing the newest events with their leaves and nodes is reported as truncation."""
    size = sealed.raw.rows("SELECT COUNT(*) FROM {leaves}")[0][0]
    assert isinstance(size, int)
    keep = size - 3
    result = tampered(
        ("DELETE FROM {events} WHERE {nid} IN (SELECT notification_id FROM {leaves} "
         "WHERE leaf_index >= ?)", (keep,)),
        ("DELETE FROM {leaves} WHERE leaf_index >= ?", (keep,)),
        ("DELETE FROM {nodes} WHERE ((idx + 1) << level) > ?", (keep,)))
    assert any("truncated" in f and f"leaves {keep}..{size - 1}" in f
               for f in result.failures), result.failures
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_checkpoint(result.log, sealed.signer)


def test_rewritten_leaf_state_is_located(sealed: Sealed,
                                         tampered: Callable[..., Tampered]) -> None:
    """Rewriting an event's stored bytes is named by case, version and leaf index."""
    nid = newest_nid(sealed.raw, sealed.stream)
    [(state,)] = sealed.raw.rows("SELECT state FROM {events} WHERE {nid} = ?", (nid,))
    assert isinstance(state, bytes)
    rewritten = state.replace(b'"B2"', b'"B9"')
    assert rewritten != state
    result = tampered(("UPDATE {events} SET state = ? WHERE {nid} = ?", (rewritten, nid)))
    case = str(stream_id(sealed.stream))
    assert any(f.startswith(f"{case} v4: merkle: leaf ") and "rewritten" in f
               for f in result.failures), result.failures
    assert any(f.startswith(f"{case} v4: signature:") for f in result.failures)
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_checkpoint(result.log, sealed.signer)


def test_rewritten_merkle_node_is_located(sealed: Sealed,
                                          tampered: Callable[..., Tampered]) -> None:
    """Rewriting an inner node is named by level and index; signing is refused."""
    [(value,)] = sealed.raw.rows("SELECT hash FROM {nodes} WHERE level = 2 AND idx = 1")
    result = tampered(("UPDATE {nodes} SET hash = ? WHERE level = 2 AND idx = 1",
                       (flip(value),)))
    assert any("merkle node (level 2, index 1) over leaves 4..7 differs" in f
               for f in result.failures), result.failures
    with pytest.raises(VerificationError, match="refusing to sign"):
        sign_checkpoint(result.log, sealed.signer)


def test_untouched_store_verifies_and_extends(sealed: Sealed,
                                              tampered: Callable[..., Tampered]) -> None:
    """Without tampering the store verifies against its and the saved checkpoint."""
    result = tampered()
    assert result.failures == []
    assert sign_checkpoint(result.log, sealed.signer).text == sealed.checkpoint


def test_same_process_refuses_after_node_rewrite(world: World, raw: RawStore) -> None:
    """Within one process, a node rewritten after a checkpoint stops the next signature."""
    signer = signer_for(world.log)
    first = sign_checkpoint(world.log, signer)
    add_case(world)
    top = first.size.bit_length() - 1  # the largest complete subtree under the signed root
    raw.execute(("UPDATE {nodes} SET hash = ? WHERE level = ? AND idx = 0",
                 (b"\x00" * 32, top)))
    with pytest.raises(VerificationError, match="does not reproduce the root"):
        sign_checkpoint(world.log, signer)


def test_same_process_refuses_a_rewritten_new_leaf(world: World, raw: RawStore) -> None:
    """Leaves added since the last checkpoint must hash from their stored events."""
    signer = signer_for(world.log)
    sign_checkpoint(world.log, signer)
    stream = add_case(world)
    nid = newest_nid(raw, stream)
    [(state,)] = raw.rows("SELECT state FROM {events} WHERE {nid} = ?", (nid,))
    raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?", (state + b"x", nid)))
    with pytest.raises(VerificationError, match="does not hash"):
        sign_checkpoint(world.log, signer)


def test_spec_worked_examples_are_exact() -> None:
    """The checkpoint, cosignature and proof examples of docs/SPEC.md §7-9 are reproduced."""
    import json

    from cdlog.log.checkpoint_format import Checkpoint, add_cosignature
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note_checkpoint
    from cdlog.log.merkle import (
        MemoryHashStore,
        consistency_proof,
        inclusion_proof,
        leaf_hash,
        tree_root,
    )
    from cdlog.log.note import CosignatureSigner

    root_dir = Path(__file__).resolve().parents[1]
    spec = (root_dir / "docs" / "SPEC.md").read_text(encoding="utf-8")
    ref = json.loads((root_dir / "tests" / "vectors" /
                      "reference-tree-8-leaves.json").read_text())
    tree = MemoryHashStore()
    for data in ref["leaf_inputs_hex"]:
        tree.append(leaf_hash(bytes.fromhex(data)))
    origin = "cdlog.example/cd-log/miami"
    signer = NoteSigner(bytes(range(32)), origin)
    witness = CosignatureSigner(bytes(range(32, 64)), "oig.example/witness")
    note = sign_note_checkpoint(Checkpoint(origin, 8, tree_root(tree, 8)), signer)
    cosigned = add_cosignature(note, witness, 1_700_000_000)
    assert f"vkey: {signer.vkey}\n\n{note}```" in spec
    assert f"vkey `{witness.vkey}`" in spec
    assert cosigned[len(note):] in spec
    for value in [*inclusion_proof(tree, 2, 8), *consistency_proof(tree, 6, 8),
                  tree_root(tree, 6), leaf_hash(bytes.fromhex(ref["leaf_inputs_hex"][2]))]:
        assert f'"{b64(value)}"' in spec
    assert b64(EMPTY_ROOT) in spec
