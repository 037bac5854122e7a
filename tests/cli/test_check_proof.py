"""`cdlog check-proof` (issue 9, observation 8): a saved inclusion or consistency proof and
its checkpoints checked against the log key, offline, with no store.

Exit 0 with one line naming what holds; 1 when a proof, signature or binding does not hold;
2 for unreadable or malformed files and keys. A property test changes any byte of a valid
proof, checkpoint or event: never exit 0, never a traceback, always one `cdlog:` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from hypothesis import assume, given
from hypothesis import strategies as st

from cdlog.cli import checkproof_cmd, log_cmd  # noqa: F401  (register the commands)
from cdlog.cli.main import cli
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_signing import create_log_key, log_verifier, sign_checkpoint
from cdlog.log.note import NoteSigner
from cdlog.verify.witness import Witness, create_witness_key, load_witness_key

if TYPE_CHECKING:
    from conftest import World

REF = "OP-PROOF-1"
STREAM = f"case:{REF}"


@dataclass
class Saved:
    """Proofs, checkpoints and an event saved from a store, and the log key."""

    dir: Path
    vkey: str
    inclusion: Path
    event: Path
    cp1: Path
    cp2: Path
    consistency: Path
    size1: int
    size2: int


def check(*args: str | Path) -> Result:
    """Run `cdlog check-proof` with a store URL that does not exist (it needs none)."""
    return CliRunner().invoke(cli, ["--store", "sqlite:////nonexistent/never.db",
                                    "check-proof", *(str(a) for a in args)])


def store_cli(url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--store", url, *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def saved(world: World, store_url: str, tmp_path: Path) -> Saved:
    """A case of 3 events, checkpoints before and after 2 more, and the proofs between."""
    stream = world.open_case(REF)
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "B1"}}, by="cbpo", at=1)
    world.rec(stream, "ExaminationReferred", {"reason": "NII anomaly"}, by="cbpo", at=2)
    signer = create_log_key(world.log, b"pw")
    first = sign_checkpoint(world.log, signer)
    world.rec(stream, "ExaminationConducted", {"method": "devan", "result": "positive"},
              by="cbpo", at=3)
    world.rec(stream, "ConveyanceArrived", {"refs": {"bol": "B2"}}, by="cbpo", at=4)
    second = sign_checkpoint(world.log, signer)
    cp1, cp2 = tmp_path / "cp1.txt", tmp_path / "cp2.txt"
    cp1.write_text(first.text, encoding="utf-8")
    cp2.write_text(second.text, encoding="utf-8")
    inclusion, event = tmp_path / "inclusion.json", tmp_path / "event.sealed"
    inclusion.write_text(store_cli(store_url, "prove", "inclusion", REF, "2", "--event-out",
                                   str(event)).stdout, encoding="utf-8")
    consistency = tmp_path / "consistency.json"
    consistency.write_text(store_cli(store_url, "prove", "consistency", str(first.size),
                                     str(second.size)).stdout, encoding="utf-8")
    return Saved(tmp_path, signer.verifier().vkey, inclusion, event, cp1, cp2, consistency,
                 first.size, second.size)


def one_line(result: Result, code: int, *needles: str) -> str:
    """Assert the exit code and one line on stdout (0) or one `cdlog:` line on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = (result.stdout if code == 0 else result.stderr).splitlines()
    assert len(lines) == 1, lines
    if code:
        assert lines[0].startswith("cdlog: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------- what holds
def test_inclusion_with_event_names_case_version_and_size(saved: Saved) -> None:
    """The event's bytes hash to the proven leaf; the OK line names its stream and version."""
    line = one_line(check(saved.inclusion, "--log-key", saved.vkey, "--event", saved.event),
                    0, f"OK: {STREAM} v2 (ConveyanceArrived, leaf ",
                    f"at tree size {saved.size2}")
    assert line.startswith("OK: ")


def test_inclusion_without_event_says_what_was_not_checked(saved: Saved) -> None:
    """Without --event the leaf is proven, and the line says the event was not checked."""
    one_line(check(saved.inclusion, "--log-key", saved.vkey), 0, "OK: leaf ",
             "the event itself was not checked")


def test_inclusion_against_a_saved_checkpoint(saved: Saved) -> None:
    """--checkpoint binds the proof to a checkpoint saved earlier: same one ok, older not."""
    one_line(check(saved.inclusion, "--log-key", saved.vkey, "--checkpoint", saved.cp2,
                   "--event", saved.event), 0, f"{STREAM} v2")
    one_line(check(saved.inclusion, "--log-key", saved.vkey, "--checkpoint", saved.cp1), 1,
             "verification failed", f"--size {saved.size1}")


def test_consistency_between_saved_checkpoints(saved: Saved) -> None:
    """The newer checkpoint extends the older one; swapped, the proof does not bind."""
    one_line(check(saved.consistency, "--log-key", saved.vkey, "--old", saved.cp1, "--new",
                   saved.cp2), 0, f"at tree size {saved.size2}",
             f"extends its checkpoint of size {saved.size1}")
    one_line(check(saved.consistency, "--log-key", saved.vkey, "--old", saved.cp2, "--new",
                   saved.cp1), 1, "verification failed")


def test_cosigned_checkpoint_names_the_witness(saved: Saved, world: World) -> None:
    """A witness cosignature on the new checkpoint is verified and named with --witness-key."""
    cosigner = create_witness_key(saved.dir / "w.key", "oig.example/w", b"wpw")
    witness = Witness(saved.dir / "state.json", load_witness_key(saved.dir / "w.key", b"wpw"))
    verifier = log_verifier(world.log)
    witness.add_checkpoint(saved.cp1.read_text(), verifier, None)
    cosigned = witness.add_checkpoint(saved.cp2.read_text(), verifier,
                                      json.loads(saved.consistency.read_text()))
    new = saved.dir / "cosigned.txt"
    new.write_text(cosigned, encoding="utf-8")
    one_line(check(saved.consistency, "--log-key", saved.vkey, "--old", saved.cp1, "--new",
                   new, "--witness-key", cosigner.vkey), 0, "cosigned by oig.example/w")


# ---------------------------------------------------------------------------- refusals
def test_another_log_key_is_exit_1(saved: Saved) -> None:
    """A valid key that did not sign the checkpoint: the signature check fails, exit 1."""
    other = NoteSigner(Ed25519Signer.generate().seed(), saved.vkey.split("+")[0]).verifier()
    one_line(check(saved.inclusion, "--log-key", other.vkey), 1, "verification failed",
             "checkpoint")
    one_line(check(saved.consistency, "--log-key", other.vkey, "--old", saved.cp1, "--new",
                   saved.cp2), 1, "--old", "checkpoint")


@pytest.mark.parametrize(("args", "needles"), [
    (["--log-key", "garbage"], ["configuration error", "--log-key"]),
    (["--log-key", "VKEY", "--old", "CP1"], ["--old and --new are for consistency"]),
    (["--log-key", "VKEY", "--checkpoint", "NOTES"], ["--checkpoint", "not a signed "
                                                      "checkpoint"]),
    (["--log-key", "VKEY", "--event", "MISSING"], ["--event", "no such file"]),
    (["--log-key", "VKEY", "--witness-key", "VKEY"], ["--witness-key"]),
])
def test_usage_errors_on_inclusion(saved: Saved, args: list[str], needles: list[str]) -> None:
    """Malformed keys and files, or options of the other kind of proof: exit 2."""
    notes = saved.dir / "notes.md"
    notes.write_text("# notes\n")
    names = {"VKEY": saved.vkey, "CP1": str(saved.cp1), "NOTES": str(notes),
             "MISSING": str(saved.dir / "missing.sealed")}
    one_line(check(saved.inclusion, *[names.get(a, a) for a in args]), 2, *needles)


def test_usage_errors_on_consistency_and_files(saved: Saved) -> None:
    """Missing checkpoints for a consistency proof, a non-JSON or unknown proof: exit 2."""
    one_line(check(saved.consistency, "--log-key", saved.vkey, "--old", saved.cp1), 2,
             "--old FILE and --new FILE")
    one_line(check(saved.consistency, "--log-key", saved.vkey, "--event", saved.event), 2,
             "--checkpoint and --event are for inclusion proofs")
    one_line(check(saved.cp1, "--log-key", saved.vkey), 2, "not JSON")
    other = saved.dir / "other.json"
    other.write_text('{"hello": 1}')
    one_line(check(other, "--log-key", saved.vkey), 2, "neither an inclusion nor a "
             "consistency proof")
    one_line(check(saved.dir / "nope.json", "--log-key", saved.vkey), 2, "no such file")
    one_line(check(saved.dir, "--log-key", saved.vkey), 2)


def test_needs_no_store(saved: Saved, tmp_path: Path) -> None:
    """check-proof opens no store: the default store path is never created."""
    result = CliRunner().invoke(cli, ["check-proof", str(saved.inclusion), "--log-key",
                                      saved.vkey])
    assert result.exit_code == 0, result.output
    assert not (Path.cwd() / ".cdlog" / "never").exists()
    assert not Path("/nonexistent").exists()


# ---------------------------------------------------------------------------- properties
def _flip(data: bytes, index: int, byte: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([byte]) + data[index + 1:]


def _same_json(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def _never_ok(result: Result) -> None:
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cdlog: "), lines


@given(index=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_changed_inclusion_proof_never_passes(saved: Saved, index: int, byte: int) -> None:
    """Any changed byte of the inclusion proof (that changes the document) is refused."""
    data = saved.inclusion.read_bytes()
    changed = _flip(data, index, byte)
    assume(changed != data and not _same_json(changed, data))
    path = saved.dir / "changed.json"
    path.write_bytes(changed)
    _never_ok(check(path, "--log-key", saved.vkey, "--event", saved.event))


@given(index=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_changed_consistency_proof_never_passes(saved: Saved, index: int, byte: int) -> None:
    """Any changed byte of the consistency proof (that changes the document) is refused."""
    data = saved.consistency.read_bytes()
    changed = _flip(data, index, byte)
    assume(changed != data and not _same_json(changed, data))
    path = saved.dir / "changed.json"
    path.write_bytes(changed)
    _never_ok(check(path, "--log-key", saved.vkey, "--old", saved.cp1, "--new", saved.cp2))


@given(which=st.sampled_from(["cp1", "cp2", "event"]), index=st.integers(min_value=0),
       byte=st.integers(min_value=0, max_value=255))
def test_changed_checkpoint_or_event_never_passes(saved: Saved, which: str, index: int,
                                                  byte: int) -> None:
    """Any changed byte of a saved checkpoint or of the event is refused."""
    original: Path = getattr(saved, which)
    data = original.read_bytes()
    changed = _flip(data, index, byte)
    assume(changed != data)
    path = saved.dir / f"changed-{which}"
    path.write_bytes(changed)
    if which == "event":
        result = check(saved.inclusion, "--log-key", saved.vkey, "--event", path)
    elif which == "cp2":
        result = check(saved.inclusion, "--log-key", saved.vkey, "--checkpoint", path)
    else:
        result = check(saved.consistency, "--log-key", saved.vkey, "--old", path, "--new",
                       saved.cp2)
    _never_ok(result)


@given(field=st.sampled_from(["leaf_index", "tree_size", "leaf_hash", "root", "proof",
                              "checkpoint"]),
       value=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=60),
                       st.lists(st.text(max_size=44), max_size=4),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)))
def test_changed_inclusion_field_never_passes(saved: Saved, field: str, value: object) -> None:
    """Any field of the inclusion proof replaced by another JSON value is refused."""
    doc = json.loads(saved.inclusion.read_text())
    assume(doc[field] != value)
    doc[field] = value
    path = saved.dir / "changed.json"
    path.write_text(json.dumps(doc))
    _never_ok(check(path, "--log-key", saved.vkey, "--event", saved.event))
