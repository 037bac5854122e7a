"""The stream-head map (docs/SPEC.md §12): map proofs, `cdlog prove head`, complete per-case
bundles, store verification of the map and the witness's forward-only heads."""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdlog.cli.checkproof_cmd  # registers the commands
import cdlog.cli.log_cmd  # noqa: F401
from cdlog.cli.main import cli
from cdlog.errors import NoteError, ProofError
from cdlog.keys.trust import TRUST_FORMAT, TrustFile
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.checkpoint_signing import create_log_key, latest_checkpoint, sign_checkpoint
from cdlog.log.headproofs import prove_head
from cdlog.log.heads import (
    EMPTY_MAP_ROOT,
    HeadEntry,
    build_levels,
    heads_line,
    heads_of,
    link,
    map_root,
    prove_in_memory,
    root_of,
    verify_head_doc,
    verify_head_proof,
)
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import b64
from cdlog.log.note import NoteSigner
from cdlog.log.sealing import leaf_hash, stream_id
from cdlog.verify.bundle import export_bundle, verify_bundle

if TYPE_CHECKING:
    from conftest import World

PASS = "correct horse battery staple"
SLOW = settings(deadline=None, max_examples=25,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# ---------------------------------------------------------------------------- the map alone
def signed_map(entries: list[HeadEntry], size: int = 10_000) -> Checkpoint:
    """A checkpoint body committing to the map over ``entries`` (no signature needed here)."""
    return Checkpoint("cdlog.test/heads", size, EMPTY_MAP_ROOT,
                      (heads_line(len(entries), map_root(entries)),))


def entries_for(names: list[str]) -> list[HeadEntry]:
    """One linked entry per stream name (in the order given, as streams first appear), with
    versions and hashes derived from the name."""
    heads = []
    for i, name in enumerate(dict.fromkeys(names)):
        digest = leaf_hash(name.encode())
        heads.append((stream_id(name).bytes, 1 + digest[0], i, digest))
    return link(heads)


names = st.lists(st.text(alphabet="abcdefgh:-0123", min_size=1, max_size=6), max_size=40,
                 unique=True)


@given(names, st.text(alphabet="abcdefgh:-0123", min_size=1, max_size=6))
@settings(max_examples=200)
def test_every_stream_proves_its_head_and_every_other_its_absence(present: list[str],
                                                                 probe: str) -> None:
    """Presence proofs verify for every stream of the map; any other name gets an absence
    proof that verifies, and neither kind can be passed off as the other's."""
    entries = entries_for(present)
    cp = signed_map(entries)
    for name in present:
        doc = prove_in_memory(entries, name, 10_000)
        proven = verify_head_doc(doc, name, checkpoint=cp)
        assert proven.head is not None
        assert proven.head.stream_id == stream_id(name).bytes
    doc = prove_in_memory(entries, probe, 10_000)
    proven = verify_head_doc(doc, probe, checkpoint=cp)
    assert (proven.head is None) == (probe not in present)
    if probe not in present:
        gap = doc["gap"]
        assert (gap is None) == (not present)
        if gap is not None:  # the gap entry links the ids just below and above the probe
            ids = sorted(e.stream_id for e in entries)
            key = stream_id(probe).bytes
            below = [i for i in ids if i < key]
            above = [i for i in ids if i > key]
            assert uuid.UUID(gap["case"]).bytes == (below or ids)[-1]
            assert uuid.UUID(gap["next"]).bytes == (above or ids)[0]
        for name in present:  # an absence proof cannot deny a stream the map holds
            with pytest.raises(ProofError):
                verify_head_doc(dict(doc, stream=name, case=str(stream_id(name))),
                                checkpoint=cp)


def _mutations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every single-field change of a head document that must be rejected."""
    items = [("head", doc["head"])] if doc["head"] else (
        [("gap", doc["gap"])] if doc["gap"] else [])
    for where, item in items:
        for key in ("position", "version", "leaf_index"):
            yield f"{where}.{key}", _set(doc, where, dict(item, **{key: item[key] + 1}))
        if where == "gap":
            yield f"{where}.next", _set(doc, where, dict(item, next=str(uuid.UUID(
                int=uuid.UUID(item["next"]).int ^ 1))))
            yield f"{where}.next_event_hash", _set(doc, where, dict(
                item, next_event_hash=_flip(item["next_event_hash"])))
        else:
            yield f"{where}.link", _set(doc, where, dict(item, link=_flip(item["link"])))
        yield f"{where}.event_hash", _set(doc, where, dict(item, event_hash=_flip(
            item["event_hash"])))
        for i in range(len(item["proof"])):
            proof = list(item["proof"])
            proof[i] = _flip(proof[i])
            yield f"{where}.proof[{i}]", _set(doc, where, dict(item, proof=proof))
        if item["proof"]:
            yield f"{where}.proof short", _set(doc, where, dict(item, proof=item["proof"][:-1]))
    yield "heads_root", dict(doc, heads_root=_flip(doc["heads_root"]))
    yield "heads_size", dict(doc, heads_size=doc["heads_size"] + 1)
    if doc["gap"]:
        yield "gap dropped", dict(doc, gap=None)
        yield "gap as head", dict(doc, gap=None, head=doc["gap"])
    if doc["head"]:
        yield "head as gap", dict(doc, head=None, gap=doc["head"])


def _set(doc: dict[str, Any], where: str, item: dict[str, Any]) -> dict[str, Any]:
    return dict(doc, **{where: item})


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1
    return b64(bytes(raw))


@given(names.filter(lambda n: len(n) >= 1), st.data())
@settings(max_examples=100)
def test_any_changed_field_of_a_head_proof_is_rejected(present: list[str],
                                                       data: st.DataObject) -> None:
    """Tampering: a changed position, version, leaf index, event hash, audit-path hash, map
    root or size, a dropped or swapped neighbour: the proof no longer verifies."""
    entries = entries_for(present)
    probe = data.draw(st.sampled_from([*present, "absent:" + present[0]]))
    doc = prove_in_memory(entries, probe, 10_000)
    cp = signed_map(entries)
    verify_head_doc(doc, probe, checkpoint=cp)
    for label, changed in _mutations(doc):
        with pytest.raises(ProofError):  # noqa: PT012 - the label names what was accepted
            verify_head_doc(changed, probe, checkpoint=cp)
            pytest.fail(f"accepted with a changed {label}")


def test_map_hashing_is_domain_separated_and_shaped_as_rfc6962() -> None:
    """Entries hash with 0x02, nodes with 0x03; the empty map's root is SHA-256(""); the tree
    splits as RFC 6962 (checked against a recursive definition)."""
    import hashlib

    entries = entries_for([f"s{i}" for i in range(11)])
    assert map_root([]) == EMPTY_MAP_ROOT == hashlib.sha256(b"").digest()
    assert entries[0].hash() == hashlib.sha256(b"\x02" + entries[0].encode()).digest()
    assert len(entries[0].encode()) == 96

    def mth(items: list[HeadEntry]) -> bytes:
        if len(items) == 1:
            return items[0].hash()
        k = 1 << ((len(items) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x03" + mth(items[:k]) + mth(items[k:])).digest()

    for n in range(1, 12):
        assert root_of(build_levels(entries[:n])) == mth(entries[:n])


def test_heads_line_is_strict() -> None:
    """A heads line must be 'cdlog/heads/v1 <count> <root>', once, count within the tree."""
    root = b64(EMPTY_MAP_ROOT)
    ok = Checkpoint("o", 5, EMPTY_MAP_ROOT, (f"cdlog/heads/v1 2 {root}",))
    assert heads_of(ok) == (2, EMPTY_MAP_ROOT)
    assert heads_of(Checkpoint("o", 5, EMPTY_MAP_ROOT)) is None
    assert heads_of(Checkpoint("o", 5, EMPTY_MAP_ROOT, ("other/ext 1",))) is None
    for bad in (f"cdlog/heads/v1 02 {root}", f"cdlog/heads/v1 6 {root}",
                "cdlog/heads/v1 1 abc=", f"cdlog/heads/v1 1 {root} x", "cdlog/heads/v1"):
        with pytest.raises(NoteError):
            heads_of(Checkpoint("o", 5, EMPTY_MAP_ROOT, (bad,)))
    with pytest.raises(NoteError):
        heads_of(Checkpoint("o", 5, EMPTY_MAP_ROOT, (f"cdlog/heads/v1 1 {root}",) * 2))


# ---------------------------------------------------------------------------- a real log
@dataclass
class Log:
    """A world with two cases, a revocation, and a signed checkpoint after each stage."""

    world: World
    signer: NoteSigner
    case: str
    other: str
    sizes: list[int]


def _grow(world: World, signer: NoteSigner) -> Log:
    sizes = [sign_checkpoint(world.log, signer).size]
    case = world.open_case("OP-H-1")
    other = world.open_case("OP-H-2", at=1)
    for i in range(3):
        world.rec(case, "ConveyanceArrived", {"refs": {"bol": f"H{i}"}}, by="cbpo", at=2 + i)
    sizes.append(sign_checkpoint(world.log, signer).size)
    world.rec(case, "ExaminationReferred", {"reason": "NII anomaly"}, by="cbpo", at=6)
    world.rec(other, "ConveyanceArrived", {"refs": {"bol": "X"}}, by="cbpo", at=7)
    world.log.revoke_key(world.roots["CBP"], "CBP", world.signers["shadow"].key_id,
                         "left the unit", at=world.t(8))
    sizes.append(sign_checkpoint(world.log, signer).size)
    return Log(world, signer, case, other, sizes)


@pytest.fixture
def grown(world: World) -> Log:
    """The world grown and signed three times."""
    return _grow(world, create_log_key(world.log, b"pw"))


def test_checkpoint_heads_match_the_log(grown: Log) -> None:
    """Each checkpoint's heads line commits to every stream's newest event at its size; the
    proof at the latest checkpoint (stored map) and at older ones (rebuilt) agree with it."""
    log = grown.world.log
    latest = latest_checkpoint(log)
    assert latest is not None
    assert heads_of(latest.checkpoint) is not None
    events = log.events(grown.case)
    for size in grown.sizes:
        doc = prove_head(log, grown.case, size)
        proven, cp = verify_head_proof(doc, grown.signer.verifier(), stream=grown.case)
        assert cp.size == size
        if size == grown.sizes[0]:
            assert proven.head is None  # the case did not exist yet
            continue
        with read_ledger(log) as led:
            leaves = list(led.leaves_of_case(stream_id(grown.case), size))
        assert proven.head is not None
        assert proven.head.version == len(leaves)
        assert proven.head.leaf_index == leaves[-1].leaf_index
        assert proven.head.event_hash == leaf_hash(events[len(leaves) - 1].sealed)
    trust = prove_head(log, "trust:CBP")
    head = verify_head_doc(trust, "trust:CBP", checkpoint=latest.checkpoint).head
    assert head is not None
    assert head.version == len(log.events("trust:CBP"))
    absent = prove_head(log, "case:NOT-IN-THE-LOG")
    assert verify_head_doc(absent, checkpoint=latest.checkpoint).head is None
    count = heads_of(latest.checkpoint)
    assert count is not None
    assert count[0] == len(log.streams())


def test_the_stored_map_and_the_rebuilt_map_give_the_same_proofs(grown: Log) -> None:
    """The O(log n) proof from the stored map equals the proof rebuilt from the leaves."""
    from cdlog.log.headstore import entries_at

    log = grown.world.log
    latest = latest_checkpoint(log)
    assert latest is not None
    with read_ledger(log) as led:
        entries = entries_at(led, latest.size)
    for stream in [*log.streams(), "case:NOPE", "trust:ZZZ"]:
        stored = prove_head(log, stream)
        del stored["checkpoint"]
        assert stored == prove_in_memory(entries, stream, latest.size)


def test_the_checkpoint_changes_when_only_a_head_would(grown: Log) -> None:
    """The heads line is signed: a checkpoint whose heads line is changed fails to open, and
    a proof bound to a checkpoint of another size is refused."""
    log = grown.world.log
    latest = latest_checkpoint(log)
    assert latest is not None
    count, _ = heads_of(latest.checkpoint) or (0, b"")
    forged = latest.note.replace(f"cdlog/heads/v1 {count} ", f"cdlog/heads/v1 {count - 1} ")
    with pytest.raises(NoteError):
        open_checkpoint(forged, grown.signer.verifier(), log.log_id)
    doc = prove_head(log, grown.case, grown.sizes[1])
    with pytest.raises(ProofError, match="tree size"):
        verify_head_doc(doc, grown.case, checkpoint=latest.checkpoint)


def test_prove_head_cli_and_check_proof(grown: Log, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`cdlog prove head CASE [--size N]` prints a proof `cdlog check-proof` accepts; a stream
    the log does not hold gets an absence proof; a changed proof exits 1."""
    store = grown.world.log.store.url
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", store, "prove", "head", "OP-H-1"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["stream"] == grown.case
    assert doc["head"]["version"] == len(grown.world.log.events(grown.case))
    proof = tmp_path / "head.json"
    proof.write_text(result.stdout)
    vkey = grown.signer.vkey
    checked = runner.invoke(cli, ["check-proof", str(proof), "--log-key", vkey],
                            catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    assert f"the head of {grown.case} is v{doc['head']['version']}" in checked.stdout
    older = runner.invoke(cli, ["--store", store, "prove", "head", grown.case, "--size",
                                str(grown.sizes[1])], catch_exceptions=False)
    assert json.loads(older.stdout)["head"]["version"] == 4  # opened + 3 arrivals
    absent = runner.invoke(cli, ["--store", store, "prove", "head", "case:NO-SUCH"],
                           catch_exceptions=False)
    assert absent.exit_code == 0
    assert "no event of case:NO-SUCH" in absent.stderr
    proof.write_text(absent.stdout)
    checked = runner.invoke(cli, ["check-proof", str(proof), "--log-key", vkey])
    assert checked.exit_code == 0, checked.output
    assert "case:NO-SUCH has no event" in checked.stdout
    doc["head"]["version"] -= 1
    proof.write_text(json.dumps(doc))
    checked = runner.invoke(cli, ["check-proof", str(proof), "--log-key", vkey])
    assert checked.exit_code == 1, checked.output
    no_size = runner.invoke(cli, ["--store", store, "prove", "head", grown.case, "--size", "2"])
    assert no_size.exit_code == 2
    assert no_size.stderr.count("\n") == 1


# ---------------------------------------------------------------------------- bundles
@dataclass
class Bundled:
    """A grown log and a per-case bundle of its case."""

    log: Log
    trust: TrustFile
    folder: Path


@pytest.fixture
def bundled(grown: Log, tmp_path: Path) -> Bundled:
    """The case's per-case bundle at the latest checkpoint."""
    log = grown.world.log
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(log.context.registry.roots()),
                      log_vkey=grown.signer.vkey)
    export_bundle(log, tmp_path / "bundle", [grown.case])
    return Bundled(grown, trust, tmp_path / "bundle")


def _manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "bundle.json").read_text())
    return data


def _drop(folder: Path, stream: str, version: int) -> None:
    """Remove one event from a bundle as a careful forger would: file, proof, manifest entry."""
    manifest = _manifest(folder)
    keep = []
    for entry in manifest["events"]:
        if (entry["stream"], entry["version"]) == (stream, version):
            (folder / entry["file"]).unlink()
            (folder / entry["proof"]).unlink()
        else:
            keep.append(entry)
    assert len(keep) == len(manifest["events"]) - 1
    manifest["events"] = keep
    (folder / "bundle.json").write_text(json.dumps(manifest))


def _failures(folder: Path, trust: TrustFile) -> list[Any]:
    return list(verify_bundle(folder, trust).failures)


def test_untouched_case_bundle_carries_the_heads(bundled: Bundled) -> None:
    """The bundle proves the head of its case and of every trust stream, and verifies."""
    manifest = _manifest(bundled.folder)
    streams = [h["stream"] for h in manifest["heads"]]
    assert bundled.log.case in streams
    assert {f"trust:{r.agency}" for r in bundled.trust.roots} <= set(streams)
    assert bundled.log.other not in streams
    assert _failures(bundled.folder, bundled.trust) == []


@SLOW
@given(st.data())
def test_a_case_bundle_missing_any_event_of_its_case_is_rejected(
        bundled: Bundled, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """Any version left out (the newest, the first, a middle one) is rejected at that case and
    version, with check ``heads``."""
    case = bundled.log.case
    head = len(bundled.log.world.log.events(case))
    version = data.draw(st.integers(1, head))
    folder = Path(shutil.copytree(bundled.folder, tmp_path_factory.mktemp("b") / "b"))
    _drop(folder, case, version)
    found = [f for f in _failures(folder, bundled.trust) if f.check == "heads"]
    assert [(f.case, f.version) for f in found] == [(str(stream_id(case)), version)], found
    assert f"v{head}" in found[0].detail


@SLOW
@given(st.data())
def test_a_case_bundle_missing_any_trust_event_is_rejected(
        bundled: Bundled, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """Finding 3: a trust-stream event left out, the newest (the revocation) above all, is
    rejected at that trust stream and version."""
    events = bundled.log.world.log.events("trust:CBP")
    assert events[-1].type == "OfficerKeyRevoked"
    version = data.draw(st.sampled_from([len(events), *range(1, len(events))]))
    folder = Path(shutil.copytree(bundled.folder, tmp_path_factory.mktemp("b") / "b"))
    _drop(folder, "trust:CBP", version)
    found = [(f.case, f.version) for f in _failures(folder, bundled.trust)
             if f.check == "heads"]
    assert found == [(str(stream_id("trust:CBP")), version)]


def test_a_case_bundle_without_a_whole_trust_stream_or_its_head_is_rejected(
        bundled: Bundled, tmp_path: Path) -> None:
    """Leaving out every event of a trusted root's stream and its head proof is rejected: the
    verifier asks for the head of every root's trust stream it trusts."""
    folder = Path(shutil.copytree(bundled.folder, tmp_path / "b"))
    manifest = _manifest(folder)
    stream = "trust:ICE"
    for entry in [e for e in manifest["events"] if e["stream"] == stream]:
        (folder / entry["file"]).unlink()
        (folder / entry["proof"]).unlink()
    manifest["events"] = [e for e in manifest["events"] if e["stream"] != stream]
    manifest["heads"] = [h for h in manifest["heads"] if h["stream"] != stream]
    os.unlink(folder / f"heads/{stream_id(stream)}.json")
    (folder / "bundle.json").write_text(json.dumps(manifest))
    found = [f for f in _failures(folder, bundled.trust) if f.check == "heads"]
    assert [(f.case, f.version) for f in found] == [(str(stream_id(stream)), None)]
    assert "no head proof" in found[0].detail


def test_a_head_proof_from_another_checkpoint_is_rejected(bundled: Bundled) -> None:
    """A head proof made at an older checkpoint (the case's head was lower then), placed in
    the bundle together with dropping the newer events, is rejected at the case."""
    grown = bundled.log
    case = grown.case
    old = prove_head(grown.world.log, case, grown.sizes[1])
    del old["checkpoint"]
    folder = bundled.folder
    for version in range(old["head"]["version"] + 1, len(grown.world.log.events(case)) + 1):
        _drop(folder, case, version)
    (folder / f"heads/{stream_id(case)}.json").write_text(json.dumps(old))
    found = [f for f in _failures(folder, bundled.trust) if f.check == "heads"]
    assert [(f.case, f.version) for f in found] == [(str(stream_id(case)), None)]
    assert "tree size" in found[0].detail


def test_a_head_proof_of_another_stream_or_an_absent_one_is_rejected(bundled: Bundled) -> None:
    """The head proof of another case, or an absence proof, cannot stand for the case's."""
    grown = bundled.log
    path = bundled.folder / f"heads/{stream_id(grown.case)}.json"
    other = prove_head(grown.world.log, grown.other)
    del other["checkpoint"]
    path.write_text(json.dumps(other))
    found = [f for f in _failures(bundled.folder, bundled.trust) if f.check == "heads"]
    assert [f.case for f in found] == [str(stream_id(grown.case))]
    assert f"not {grown.case}" in found[0].detail


def test_a_bundle_whose_checkpoint_has_no_heads_line_is_not_complete(
        bundled: Bundled, tmp_path: Path) -> None:
    """A per-case bundle of a checkpoint signed without the map cannot prove completeness:
    verification says so (a re-signed checkpoint without the line cannot carry the bundle)."""
    grown = bundled.log
    latest = latest_checkpoint(grown.world.log)
    assert latest is not None
    bare = Checkpoint(latest.checkpoint.origin, latest.size, latest.root)
    signer = NoteSigner(os.urandom(32), grown.world.log.log_id)
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note

    (bundled.folder / "checkpoint.txt").write_text(sign_note(bare, signer))
    report = verify_bundle(bundled.folder, log_vkey=signer.vkey, trust=bundled.trust.model_copy(
        update={"log_vkey": signer.vkey}))
    found = [f for f in report.failures if f.check == "heads"]
    assert len(found) == 1
    assert "no cdlog/heads/v1 line" in found[0].detail


def test_old_stores_without_the_map_get_it_at_their_next_checkpoint(world: World) -> None:
    """A store whose checkpoints predate the map (no head tables, no heads line) signs its
    next checkpoint with the map built from the leaves; old checkpoints still verify."""
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note
    from cdlog.log.ledger import write_ledger
    from cdlog.log.ledger_rows import CheckpointRow
    from cdlog.log.tree_audit import audit_tree

    signer = create_log_key(world.log, b"pw")
    with write_ledger(world.log) as led:
        size = led.size()
        note = sign_note(Checkpoint(world.log.log_id, size, led.root(size)), signer)
        led.insert_checkpoint(CheckpointRow(size, led.root(size), note, "2026-01-01T00:00:00"))
    world.open_case("OP-OLD-1")
    cp = sign_checkpoint(world.log, signer)
    line = heads_of(cp.checkpoint)
    assert line is not None
    assert line[0] == len(world.log.streams())
    with read_ledger(world.log) as led:
        audit = audit_tree(led, world.log.log_id, signer.verifier())
    assert audit.failures == []
    doc = prove_head(world.log, "case:OP-OLD-1")
    assert verify_head_doc(doc, checkpoint=cp.checkpoint).head is not None



# ---------------------------------------------------------------------------- store verification
def _sign_lie(world: World, signer: NoteSigner, line: str | None) -> None:
    """Store a checkpoint of the current tree with the log key but ``line`` as heads line (a
    log-key holder's lie about the heads), bypassing sign_checkpoint."""
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note
    from cdlog.log.ledger import write_ledger
    from cdlog.log.ledger_rows import CheckpointRow

    with write_ledger(world.log) as led:
        size = led.size()
        cp = Checkpoint(world.log.log_id, size, led.root(size), (line,) if line else ())
        led.insert_checkpoint(CheckpointRow(size, cp.root, sign_note(cp, signer),
                                            "2026-01-01T00:00:00+00:00"))


@pytest.mark.parametrize("lie", ["older head", "fewer streams", "no line"])
def test_store_verification_rebuilds_the_map_for_every_checkpoint(grown: Log, lie: str) -> None:
    """A checkpoint whose heads line is not the map of the events (a head set back, a stream
    left out, or the line dropped after checkpoints that had it) fails `cdlog verify` at that
    checkpoint, and the log refuses to sign after it."""
    from cdlog.errors import VerificationError
    from cdlog.log.headstore import entries_at
    from cdlog.log.tree_audit import audit_tree

    world = grown.world
    world.rec(grown.case, "ConveyanceArrived", {"refs": {"bol": "LIE"}}, by="cbpo", at=9)
    with read_ledger(world.log) as led:
        size = led.size()
        entries = entries_at(led, size)
    case_key = stream_id(grown.case).bytes
    if lie == "older head":
        previous = prove_head(world.log, grown.case)["head"]
        entries = link([(e.stream_id, previous["version"], previous["leaf_index"],
                         base64.b64decode(previous["event_hash"]))
                        if e.stream_id == case_key else
                        (e.stream_id, e.version, e.leaf_index, e.event_hash) for e in entries])
        line: str | None = heads_line(len(entries), map_root(entries))
    elif lie == "fewer streams":
        entries = link([(e.stream_id, e.version, e.leaf_index, e.event_hash)
                        for e in entries if e.stream_id != case_key])
        line = heads_line(len(entries), map_root(entries))
    else:
        line = None
    _sign_lie(world, grown.signer, line)
    with read_ledger(world.log) as led:
        audit = audit_tree(led, world.log.log_id, grown.signer.verifier())
    assert [(f.case, f.check) for f in audit.failures] == [("<log>", "checkpoint")]
    assert f"checkpoint of size {size}" in audit.failures[0].detail
    assert ("differs from the heads rebuilt" in audit.failures[0].detail) != (lie == "no line")
    world.open_case("OP-H-9", at=10)
    import cdlog.log.checkpoint_signing as checkpoints_module

    checkpoints_module._AUDITED.pop(world.log, None)  # a new process audits before signing
    with pytest.raises(VerificationError):
        sign_checkpoint(world.log, grown.signer)


# ---------------------------------------------------------------------------- the witness
@pytest.mark.parametrize("lie", ["same size, other map", "line dropped", "fewer streams",
                                 "more streams than events"])
def test_the_witness_refuses_heads_that_do_not_move_forward(grown: Log, tmp_path: Path,
                                                            lie: str) -> None:
    """A witness that cosigned a checkpoint with a heads map refuses a consistent checkpoint
    whose map forks at the same size, disappears, loses streams, or gains more streams than
    events; honest growth is cosigned."""
    from cdlog.errors import WitnessError
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note
    from cdlog.log.note import generate_cosigner
    from cdlog.log.proofs import prove_consistency
    from cdlog.verify.witness import Witness

    log = grown.world.log
    latest = latest_checkpoint(log)
    assert latest is not None
    witness = Witness(tmp_path / "w.json", generate_cosigner("oig.example/witness"),
                      clock=lambda: 1_700_000_000)
    verifier = grown.signer.verifier()
    witness.add_checkpoint(latest.text, verifier)
    count, root = heads_of(latest.checkpoint) or (0, b"")
    grown.world.open_case("OP-H-W", at=20)
    size, proof = latest.size, None
    if lie != "same size, other map":
        honest = sign_checkpoint(log, grown.signer)
        size = honest.size
        proof = prove_consistency(log, latest.size, size)
        new_count, new_root = heads_of(honest.checkpoint) or (0, b"")
    lines = {"same size, other map": (heads_line(count, EMPTY_MAP_ROOT),),
             "line dropped": (),
             "fewer streams": (heads_line(count - 1, new_root if proof else root),),
             "more streams than events": (heads_line(count + 2, root),)}[lie]
    tree_root = latest.root if proof is None else honest.root
    forged = sign_note(Checkpoint(log.log_id, size, tree_root, lines), grown.signer)
    with pytest.raises(WitnessError, match=r"heads refused|fork refused"):
        witness.add_checkpoint(forged, verifier, proof)
    if proof is not None:  # the honest checkpoint is still cosigned
        assert new_count == count + 1
        witness.add_checkpoint(honest.text, verifier, proof)


# ---------------------------------------------------------------------------- incremental map
@settings(deadline=None, max_examples=30)
@given(st.lists(st.lists(st.integers(0, 40), min_size=0, max_size=25), min_size=1,
                max_size=6))
def test_the_map_updated_at_each_checkpoint_is_the_map_rebuilt_from_the_leaves(
        batches: list[list[int]]) -> None:
    """Leaves of random streams (new ones linked in anywhere in id order, at the wrap too)
    added between checkpoints: the incrementally updated map has the root of the map rebuilt
    from scratch, and its stored proofs are the rebuilt proofs, for every stream and for
    absent ones."""
    import hashlib
    import sqlite3
    import tempfile

    from cdlog.application import CaseLog
    from cdlog.log.checkpoint_signing import StoredCheckpoint
    from cdlog.log.headproofs import head_proof
    from cdlog.log.headstore import entries_at, update_map
    from cdlog.log.ledger import write_ledger

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "map.db"
        log = CaseLog(f"sqlite:///{path}")
        try:
            versions: dict[int, int] = {}
            size = 0
            last: Checkpoint | None = None
            for batch in batches:
                conn = sqlite3.connect(path)
                for s in batch:
                    versions[s] = versions.get(s, 0) + 1
                    conn.execute("INSERT INTO merkle_leaves VALUES (?, ?, ?, ?)",
                                 (size, size + 1, stream_id(f"case:S{s}").hex, versions[s]))
                    conn.execute("INSERT INTO merkle_nodes VALUES (0, ?, ?)",
                                 (size, hashlib.sha256(b"%d" % size).digest()))
                    size += 1
                conn.commit()
                conn.close()
                with write_ledger(log) as led:
                    count, root = update_map(led, size, last)
                    rebuilt = entries_at(led, size)
                assert (count, root) == (len(rebuilt), map_root(rebuilt))
                last = Checkpoint(log.log_id, size, EMPTY_MAP_ROOT, (heads_line(count, root),))
            stored = StoredCheckpoint(last, "", "") if last else None
            assert stored is not None
            with read_ledger(log) as led:
                for s in [*versions, 41, 42]:
                    name = f"case:S{s}"
                    assert head_proof(led, name, stored) == prove_in_memory(rebuilt, name,
                                                                           size)
        finally:
            log.close()


@settings(max_examples=200)
@given(st.lists(st.lists(st.integers(0, 30), max_size=12), min_size=1, max_size=8))
def test_the_verifier_s_running_map_is_the_map_of_the_heads(batches: list[list[int]]) -> None:
    """Store verification keeps the map while it replays (MapBuilder, O(k log n) per
    checkpoint); at every checkpoint it equals the map built from scratch, whether it inserts
    new streams one by one or merges them by one sort."""
    from cdlog.log import heads as module
    from cdlog.log.heads import MapBuilder

    kept = module._INSORT_MOST
    try:
        for most in (0, 3, 10**9):
            module._INSORT_MOST = most
            builder = MapBuilder()
            heads: dict[bytes, tuple[bytes, int, int, bytes]] = {}
            index = 0
            for batch in batches:
                for s in batch:
                    key = stream_id(f"case:S{s}").bytes
                    version = heads[key][1] + 1 if key in heads else 1
                    value = leaf_hash(b"%d" % index)
                    heads[key] = (key, version, index, value)
                    builder.set(key, version, index, value)
                    index += 1
                entries = link(list(heads.values()))
                assert builder.state() == (len(entries), map_root(entries))
    finally:
        module._INSORT_MOST = kept


def test_a_log_bundle_checks_the_heads_line_against_its_events(grown: Log,
                                                               tmp_path: Path) -> None:
    """A whole-log bundle holds every event, so its verifier rebuilds the map: a checkpoint
    whose heads line is not the map of the events fails (check ``heads``); the true one
    passes."""
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note

    log = grown.world.log
    export_bundle(log, tmp_path / "all")
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(log.context.registry.roots()),
                      log_vkey=grown.signer.vkey)
    assert verify_bundle(tmp_path / "all", trust).failures == []
    latest = latest_checkpoint(log)
    assert latest is not None
    count, _ = heads_of(latest.checkpoint) or (0, b"")
    lie = Checkpoint(latest.checkpoint.origin, latest.size, latest.root,
                     (heads_line(count, EMPTY_MAP_ROOT),))
    (tmp_path / "all" / "checkpoint.txt").write_text(sign_note(lie, grown.signer))
    found = list(verify_bundle(tmp_path / "all", trust).failures)
    assert [(f.case, f.check) for f in found] == [("<bundle>", "heads")]
    assert "not the map of the bundle's events" in found[0].detail


def test_a_witness_watching_a_case_refuses_its_head_moving_back(grown: Log,
                                                                tmp_path: Path) -> None:
    """A witness given the head proof of a case watches it: a later checkpoint needs that
    case's head proof, and a consistent checkpoint whose (log-signed) map sets the case's
    head back is refused; honest growth is cosigned and the state keeps the head."""
    from cdlog.errors import WitnessError
    from cdlog.log.checkpoint_format import sign_checkpoint as sign_note
    from cdlog.log.headstore import entries_at
    from cdlog.log.note import generate_cosigner
    from cdlog.log.proofs import prove_consistency
    from cdlog.verify.witness import Witness

    log = grown.world.log
    verifier = grown.signer.verifier()
    witness = Witness(tmp_path / "w.json", generate_cosigner("oig.example/witness"),
                      clock=lambda: 1_700_000_000)
    first = latest_checkpoint(log)
    assert first is not None
    watched = prove_head(log, grown.case)
    witness.add_checkpoint(first.text, verifier, None, [watched])
    state = json.loads((tmp_path / "w.json").read_text())
    assert state["logs"][log.log_id]["heads"][grown.case]["version"] == watched["head"][
        "version"]
    grown.world.rec(grown.case, "ConveyanceArrived", {"refs": {"bol": "W2"}}, by="cbpo", at=30)
    honest = sign_checkpoint(log, grown.signer)
    proof = prove_consistency(log, first.size, honest.size)
    with pytest.raises(WitnessError, match="watches"):  # no head proof of the watched case
        witness.add_checkpoint(honest.text, verifier, proof)
    # the log key signs the honest tree with a map whose head of the case is the old one
    with read_ledger(log) as led:
        entries = entries_at(led, honest.size)
        back = led.leaves_of_case(stream_id(grown.case), honest.size)[-3]  # two versions back
        back_hash = led.read_hashes([(0, back.leaf_index)])[0]
    old = watched["head"]
    key = stream_id(grown.case).bytes
    lie = link([(e.stream_id, back.originator_version, back.leaf_index, back_hash)
                if e.stream_id == key else
                (e.stream_id, e.version, e.leaf_index, e.event_hash) for e in entries])
    lying = Checkpoint(log.log_id, honest.size, honest.root,
                       (heads_line(len(lie), map_root(lie)),))
    lie_doc = prove_in_memory(lie, grown.case, honest.size)
    with pytest.raises(WitnessError, match="heads only move forward"):
        witness.add_checkpoint(sign_note(lying, grown.signer), verifier, proof, [lie_doc])
    witness.add_checkpoint(honest.text, verifier, proof, [prove_head(log, grown.case)])
    state = json.loads((tmp_path / "w.json").read_text())
    assert state["logs"][log.log_id]["heads"][grown.case]["version"] == old["version"] + 1


@pytest.mark.parametrize("damage", ["head set back", "link broken", "node changed",
                                    "state changed"])
def test_a_damaged_stored_map_is_found_before_it_is_signed(grown: Log, damage: str) -> None:
    """The stored map is what the next checkpoint builds on: a changed entry, link, node or
    state row is a `cdlog verify` failure, and signing refuses until the tables are emptied
    (then the map is rebuilt from the events and signed right)."""
    from cdlog.errors import VerificationError
    from cdlog.log.headstore import HeadTables, MapState, Row
    from cdlog.log.ledger import write_ledger
    from cdlog.log.tree_audit import audit_tree

    world = grown.world
    with write_ledger(world.log) as led:
        tables = HeadTables(led)
        row = tables.by_id(stream_id(grown.case).bytes)
        assert row is not None
        state = tables.state()
        assert state is not None
        if damage == "head set back":
            tables.write_entries([Row(row.key, row.pos, row.version - 1, row.leaf_index,
                                      row.hash, row.next_id, row.prev_id)])
        elif damage == "link broken":
            tables.write_entries([Row(row.key, row.pos, row.version, row.leaf_index, row.hash,
                                      row.key, row.prev_id)])
        elif damage == "node changed":
            tables.write_nodes({(0, row.pos): leaf_hash(b"x")})
        else:
            tables.set_state(MapState(state.size, state.count, leaf_hash(b"x")))
    with read_ledger(world.log) as led:
        audit = audit_tree(led, world.log.log_id, grown.signer.verifier())
    assert [(f.case, f.check) for f in audit.failures] == [("<log>", "checkpoint")]
    assert "stored stream-head map" in audit.failures[0].detail
    world.rec(grown.case, "ConveyanceArrived", {"refs": {"bol": "D"}}, by="cbpo", at=40)
    import cdlog.log.checkpoint_signing as checkpoints_module

    checkpoints_module._AUDITED.pop(world.log, None)  # a new process audits before signing
    with pytest.raises(VerificationError):
        sign_checkpoint(world.log, grown.signer)
    with write_ledger(world.log) as led:
        for statement in HeadTables(led).sql.clear:
            led._c.execute(statement)
    cp = sign_checkpoint(world.log, grown.signer)
    with read_ledger(world.log) as led:
        assert audit_tree(led, world.log.log_id, grown.signer.verifier()).failures == []
    assert verify_head_doc(prove_head(world.log, grown.case), grown.case,
                           checkpoint=cp.checkpoint).head is not None


def _reference_map_problem(led: Any, expected: dict[int, tuple[int, bytes]]) -> str | None:
    """The check as first written (every row and node held in memory at once): the oracle the
    paged check is held to."""
    from cdlog.errors import InputError
    from cdlog.log.heads import map_node
    from cdlog.log.headstore import HeadTables, _root, _row

    tables = HeadTables(led)
    if not tables.exist():
        return None
    state = tables.state()
    raw = tables._all(tables.sql.entries)
    if state is None:
        return "head_map has no valid row" if raw else None
    rows = [_row(values) for values in raw]
    if any(r is None or r.pos != i for i, r in enumerate(rows)):
        return "head_entries holds a damaged row or a gap in the positions"
    good = [r for r in rows if r is not None]
    by_id = {r.key: r for r in good}
    ids = sorted(by_id)
    for i, key in enumerate(ids):
        row = by_id[key]
        if row.next_id != ids[(i + 1) % len(ids)] or row.prev_id != ids[i - 1]:
            return (f"the entry of stream {uuid.UUID(bytes=key)} is not linked to its "
                    "neighbours in id order")
    try:
        entries = [r.entry(by_id[r.next_id].hash) for r in good]
    except InputError:
        return "head_entries holds a version or leaf index out of range"
    nodes = {(0, i): e.hash() for i, e in enumerate(entries)}
    level, width = 0, len(entries)
    while width >= 2:
        for j in range(width // 2):
            nodes[(level + 1, j)] = map_node(nodes[(level, 2 * j)], nodes[(level, 2 * j + 1)])
        level, width = level + 1, width // 2
    stored = {(int(r[0]), int(r[1])): bytes(r[2]) for r in tables._all(tables.sql.nodes_all)}
    if stored != nodes:
        wrong = sorted(set(stored) ^ set(nodes)) or sorted(
            p for p in nodes if stored[p] != nodes[p])
        return f"head_nodes differs from the entries at (level, index) {wrong[0]}"
    root = _root(nodes, len(entries))
    if (state.count, state.root) != (len(entries), root):
        return "head_map does not hold the count and root of the stored entries"
    want = expected.get(state.size)
    if want is not None and want != (state.count, state.root):
        return f"it is not the map of the events at size {state.size}"
    return None


_MAP_DAMAGES = ["none", "entry deleted", "version zero", "leaf index negative", "next changed",
                "prev changed", "hash changed", "node deleted", "node added", "node changed",
                "two nodes changed", "root changed", "state deleted"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.sampled_from(_MAP_DAMAGES), pick=st.integers(min_value=0, max_value=10**6))
def test_the_paged_map_check_says_what_the_whole_map_check_said(
        grown: Log, damage: str, pick: int) -> None:
    """The stored-map check reads its rows a page at a time (issue 12: memory at 1M events);
    on an intact map and on each kind of damage, at a random row or node, it finds what the
    check that held the whole map found, word for word (and any damage is found)."""
    from cdlog.log.headstore import HeadTables, MapState, Row, stored_map_problem
    from cdlog.log.ledger import write_ledger

    log = grown.world.log
    with write_ledger(log) as led:
        tables = HeadTables(led)
        saved = ([tuple(r) for r in tables._all(tables.sql.entries)],
                 [tuple(r) for r in tables._all(tables.sql.nodes_all)], tables.state())
    try:
        with write_ledger(log) as led:
            tables = HeadTables(led)
            rows = [r for r in (_row_of(v) for v in saved[0]) if r is not None]
            nodes = sorted(saved[1])
            row, node = rows[pick % len(rows)], nodes[pick % len(nodes)]
            wrong = row.key if len(rows) > 1 else bytes(16)  # never the right neighbour
            state = saved[2]
            assert state is not None
            entries_table = tables.sql.clear[1].split()[-1]
            nodes_table = tables.sql.clear[2].split()[-1]
            mark = tables.sql.mark
            if damage == "entry deleted":
                led._c.execute(f"DELETE FROM {entries_table} WHERE pos = {mark}", (row.pos,))
            elif damage in ("version zero", "leaf index negative", "next changed",
                            "prev changed", "hash changed"):
                tables.write_entries([Row(
                    row.key, row.pos, 0 if damage == "version zero" else row.version,
                    -1 if damage == "leaf index negative" else row.leaf_index,
                    leaf_hash(b"x") if damage == "hash changed" else row.hash,
                    wrong if damage == "next changed" else row.next_id,
                    wrong if damage == "prev changed" else row.prev_id)])
            elif damage == "node deleted":
                led._c.execute(f"DELETE FROM {nodes_table} WHERE level = {mark} AND idx = {mark}",
                               (int(node[0]), int(node[1])))
            elif damage == "node added":
                tables.write_nodes({(int(node[0]), 10**6 + pick): leaf_hash(b"y")})
            elif damage in ("node changed", "two nodes changed"):
                tables.write_nodes({(int(node[0]), int(node[1])): leaf_hash(b"z")})
                if damage == "two nodes changed":
                    last = nodes[-1 - pick % len(nodes)]
                    tables.write_nodes({(int(last[0]), int(last[1])): leaf_hash(b"w")})
            elif damage == "root changed":
                tables.set_state(MapState(state.size, state.count, leaf_hash(b"r")))
            elif damage == "state deleted":
                led._c.execute(tables.sql.clear_state)
        with read_ledger(log) as led:
            paged, whole = stored_map_problem(led, {}), _reference_map_problem(led, {})
        assert paged == whole
        assert (paged is None) == (damage == "none")
    finally:
        with write_ledger(log) as led:
            tables = HeadTables(led)
            for statement in tables.sql.clear:
                led._c.execute(statement)
            tables.write_entries([r for r in (_row_of(v) for v in saved[0]) if r is not None])
            tables.write_nodes({(int(n[0]), int(n[1])): bytes(n[2]) for n in saved[1]})
            assert saved[2] is not None
            tables.set_state(saved[2])


def _row_of(values: Any) -> Any:
    from cdlog.log.headstore import _row

    return _row(values)
