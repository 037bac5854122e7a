"""The witness: cosigns checkpoints that extend what it accepted; refuses rollbacks and forks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cdlog.application import CaseLog
from cdlog.errors import ConfigurationError, NoteError, WitnessError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.checkpoint_format import sign_checkpoint as sign_note_checkpoint
from cdlog.log.checkpoint_signing import StoredCheckpoint, sign_checkpoint
from cdlog.log.merkle import EMPTY_ROOT
from cdlog.log.note import CosignatureSigner, NoteSigner, generate_cosigner
from cdlog.log.proofs import prove_consistency
from cdlog.verify.witness import STATE_FORMAT, Witness, create_witness_key, load_witness_key

if TYPE_CHECKING:
    from conftest import World, copy_store
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import copy_store

NOW = 1_750_000_000


class Clock:
    """A settable clock for cosignature timestamps."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        self.now += 60
        return self.now


@pytest.fixture
def cosigner() -> CosignatureSigner:
    """The oversight body's cosigning key."""
    return generate_cosigner("oig.example/witness")


@pytest.fixture
def log_signer(world: World) -> NoteSigner:
    """The log's checkpoint key."""
    return NoteSigner(os.urandom(32), world.log.log_id)


def grow(world: World, log: CaseLog | None = None, ref: str = "OP-W-1", n: int = 1) -> None:
    """Record ``n`` events in a new case of ``log`` (default the world's)."""
    target = log or world.log
    stream = f"case:{ref}"
    target.open_case(ref, port="5201", signer=world.signers["cbpo"], at=world.t(0),
                     recorded=world.t(0))
    for i in range(n - 1):
        target.record(stream, "ConveyanceArrived", {"refs": {"bol": f"W{i}"}},
                      signer=world.signers["cbpo"], at=world.t(i + 1), recorded=world.t(i + 1))


def test_first_checkpoint_is_accepted_and_cosigned(world: World, log_signer: NoteSigner,
                                                   cosigner: CosignatureSigner,
                                                   tmp_path: Path) -> None:
    """The first checkpoint of an origin is accepted on trust and cosigned (cosignature/v1)."""
    cp = sign_checkpoint(world.log, log_signer)
    witness = Witness(tmp_path / "state.json", cosigner, clock=Clock())
    cosigned = witness.add_checkpoint(cp.text, log_signer.verifier())
    opened, cosigners = open_checkpoint(cosigned, log_signer.verifier(), world.log.log_id,
                                        [cosigner.verifier()])
    assert opened == cp.checkpoint
    assert cosigners == [("oig.example/witness", NOW + 60)]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["format"] == STATE_FORMAT
    assert state["witness"] == cosigner.vkey
    assert state["logs"][world.log.log_id]["size"] == cp.size
    accepted = witness.last(world.log.log_id)
    assert accepted is not None
    assert accepted.checkpoint == cosigned


def test_growth_needs_a_valid_consistency_proof(world: World, log_signer: NoteSigner,
                                                cosigner: CosignatureSigner,
                                                tmp_path: Path) -> None:
    """A larger checkpoint is cosigned only with a proof from the accepted size."""
    first = sign_checkpoint(world.log, log_signer)
    witness = Witness(tmp_path / "state.json", cosigner, clock=Clock())
    witness.add_checkpoint(first.text, log_signer.verifier())
    grow(world, n=3)
    second = sign_checkpoint(world.log, log_signer)
    with pytest.raises(WitnessError, match=f"cdlog prove consistency {first.size} "
                                           f"{second.size}"):
        witness.add_checkpoint(second.text, log_signer.verifier())
    proof = prove_consistency(world.log, first.size, second.size)
    bad = dict(proof, proof=list(reversed(proof["proof"])))
    with pytest.raises(WitnessError, match="fork refused"):
        witness.add_checkpoint(second.text, log_signer.verifier(), bad)
    cosigned = witness.add_checkpoint(second.text, log_signer.verifier(), proof)
    assert open_checkpoint(cosigned, log_signer.verifier(), world.log.log_id,
                           [cosigner.verifier()])[1]
    accepted = witness.last(world.log.log_id)
    assert accepted is not None
    assert accepted.size == second.size
    # the same checkpoint again is simply cosigned again (no proof needed)
    again = witness.add_checkpoint(second.text, log_signer.verifier())
    assert again.count("— oig.example/witness ") == 1


def test_rollback_is_refused(world: World, log_signer: NoteSigner, cosigner: CosignatureSigner,
                             tmp_path: Path) -> None:
    """A checkpoint smaller than the accepted one is refused with a clear message."""
    first = sign_checkpoint(world.log, log_signer)
    grow(world, n=2)
    second = sign_checkpoint(world.log, log_signer)
    witness = Witness(tmp_path / "state.json", cosigner)
    witness.add_checkpoint(second.text, log_signer.verifier())
    with pytest.raises(WitnessError, match=f"rollback refused: .* size {first.size} is smaller "
                                           f"than the size {second.size}"):
        witness.add_checkpoint(first.text, log_signer.verifier())
    reloaded = Witness(tmp_path / "state.json", cosigner)  # the state survives a restart
    with pytest.raises(WitnessError, match="rollback refused"):
        reloaded.add_checkpoint(first.text, log_signer.verifier())


@pytest.fixture
def forked(world: World, log_signer: NoteSigner, more_stores: Callable[[str], str]
           ) -> Iterator[tuple[StoredCheckpoint, CaseLog]]:
    """A checkpoint of the world's log, then a copy of the store that goes its own way."""
    base = sign_checkpoint(world.log, log_signer)
    copy = more_stores("fork")
    copy_store(world.log.store.url, copy)
    other = CaseLog(copy)
    yield base, other
    other.close()


def test_fork_at_the_same_size_is_refused(world: World, log_signer: NoteSigner,
                                          cosigner: CosignatureSigner, tmp_path: Path,
                                          forked: tuple[StoredCheckpoint, CaseLog]) -> None:
    """Two checkpoints of one size with different roots: the second is a fork."""
    base, other = forked
    grow(world, ref="OP-A", n=2)
    grow(world, other, ref="OP-B", n=2)
    mine = sign_checkpoint(world.log, log_signer)
    theirs = sign_checkpoint(other, log_signer)
    assert mine.size == theirs.size
    assert mine.root != theirs.root
    witness = Witness(tmp_path / "state.json", cosigner)
    witness.add_checkpoint(base.text, log_signer.verifier())
    witness.add_checkpoint(mine.text, log_signer.verifier(),
                           prove_consistency(world.log, base.size, mine.size))
    with pytest.raises(WitnessError, match=f"fork refused: .* size {mine.size} has root"):
        witness.add_checkpoint(theirs.text, log_signer.verifier(),
                               prove_consistency(other, base.size, theirs.size))


def test_fork_that_grows_is_refused(world: World, log_signer: NoteSigner,
                                    cosigner: CosignatureSigner, tmp_path: Path,
                                    forked: tuple[StoredCheckpoint, CaseLog]) -> None:
    """A larger checkpoint of a forked log has no proof from what the witness accepted."""
    base, other = forked
    grow(world, ref="OP-A", n=2)
    grow(world, other, ref="OP-B", n=4)
    mine = sign_checkpoint(world.log, log_signer)
    theirs = sign_checkpoint(other, log_signer)
    witness = Witness(tmp_path / "state.json", cosigner)
    witness.add_checkpoint(mine.text, log_signer.verifier())
    for proof in (prove_consistency(other, mine.size, theirs.size),
                  prove_consistency(other, base.size, theirs.size)):
        with pytest.raises(WitnessError, match=r"fork refused: .* not proven consistent"):
            witness.add_checkpoint(theirs.text, log_signer.verifier(), proof)


def test_wrong_log_key_or_origin_is_refused(world: World, log_signer: NoteSigner,
                                            cosigner: CosignatureSigner, tmp_path: Path) -> None:
    """A checkpoint not signed by the given log key, or of another origin, is not cosigned."""
    cp = sign_checkpoint(world.log, log_signer)
    witness = Witness(tmp_path / "state.json", cosigner)
    with pytest.raises(NoteError):
        witness.add_checkpoint(cp.text, NoteSigner(os.urandom(32), world.log.log_id).verifier())
    other = NoteSigner(os.urandom(32), "other.example/log")
    foreign = sign_note_checkpoint(Checkpoint(world.log.log_id, 1, EMPTY_ROOT), other)
    with pytest.raises(NoteError, match="origin"):
        witness.add_checkpoint(foreign, other.verifier())
    assert not (tmp_path / "state.json").exists()


def test_after_an_empty_tree_any_tree_extends_it(tmp_path: Path,
                                                 cosigner: CosignatureSigner) -> None:
    """An accepted size-0 checkpoint needs no proof for the next one (every tree extends it)."""
    signer = NoteSigner(os.urandom(32), "cdlog.test/empty")
    empty = sign_note_checkpoint(Checkpoint("cdlog.test/empty", 0, EMPTY_ROOT), signer)
    grown = sign_note_checkpoint(Checkpoint("cdlog.test/empty", 5, b"\x07" * 32), signer)
    witness = Witness(tmp_path / "state.json", cosigner)
    witness.add_checkpoint(empty, signer.verifier())
    witness.add_checkpoint(grown, signer.verifier())
    with pytest.raises(WitnessError, match="rollback"):
        witness.add_checkpoint(empty, signer.verifier())


def test_state_of_another_witness_or_corrupt_is_refused(tmp_path: Path,
                                                        cosigner: CosignatureSigner) -> None:
    """A state file is bound to its witness key; a corrupt one is a configuration error."""
    signer = NoteSigner(os.urandom(32), "cdlog.test/x")
    Witness(tmp_path / "s.json", cosigner).add_checkpoint(
        sign_note_checkpoint(Checkpoint("cdlog.test/x", 0, EMPTY_ROOT), signer),
        signer.verifier())
    with pytest.raises(ConfigurationError, match="belongs to witness"):
        Witness(tmp_path / "s.json", generate_cosigner("someone.else"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="witness state"):
        Witness(tmp_path / "bad.json", cosigner)


def test_witness_key_file(tmp_path: Path) -> None:
    """A witness key file keeps the witness name; it loads back as the same cosigner."""
    created = create_witness_key(tmp_path / "w.key", "oig.example/witness", b"pw")
    loaded = load_witness_key(tmp_path / "w.key", b"pw")
    assert loaded.vkey == created.vkey
    assert loaded.vkey.startswith("oig.example/witness+")
