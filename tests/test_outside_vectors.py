"""docs/vectors/bundle-v1*: bundle, checkpoint and trust-file vectors, with negative ones, for a
verifier written from docs/SPEC.md alone to test itself (issue 14, finding 7).

The vectors are rebuilt here from fixed seeds and fixed times and must equal the committed
files byte for byte (``CDLOG_UPDATE_VECTORS=1`` rewrites them after a deliberate format
change, which also changes docs/SPEC.md). Then cdlog's own verifier must give exactly the
outcome each vector states: the good bundle verifies, each mutation of it and the forged
bundle fail where the vector says, each checkpoint note and trust file is accepted or refused
as stated. Checkpoints are also checked with hashlib and libsodium alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from cdlog.application import CaseLog
from cdlog.canonical import canonical_bytes, format_time, parse_time
from cdlog.domain.values import Officer
from cdlog.errors import ConfigurationError, VerificationError
from cdlog.keys.keyfile import write_key_file
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustFile, load_trust
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.checkpoint_signing import accept_cosigned, log_key_path, sign_checkpoint
from cdlog.log.facts import officer_json
from cdlog.log.note import (
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    sign_note,
)
from cdlog.log.proofs import prove_consistency
from cdlog.log.sealing import SealedEvent, parse, seal, stream_id
from cdlog.store.mapper import SealedRecord
from cdlog.verify.bundle import export_bundle, verify_bundle
from cdlog.verify.witness import Witness

DOCS = Path(__file__).resolve().parents[1] / "docs" / "vectors"
INDEX = DOCS / "bundle-v1.json"
FOLDER = DOCS / "bundle-v1"
ORIGIN = "cdlog.example/cd-log/vectors"
WITNESS = "oig.example/witness"
WITNESS_TIME = 1_700_000_000
T0 = parse_time("2006-03-14T06:00:00-05:00")
CASE = "case:OP-2006-0101"
OTHER = "case:OP-2006-0102"


def seed(n: int) -> bytes:
    """Test seed number ``n``: 32 bytes counting up from ``32 * n`` (never use them)."""
    return bytes((32 * n + i) % 256 for i in range(32))


def t(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


OFFICERS = {
    "cbpo": (1, Officer(id="CBP-4417", role="CBPO-Enforcement", agency="CBP", office="OFO")),
    "scbpo": (2, Officer(id="CBP-2290", role="SCBPO", agency="CBP", office="OFO")),
    "brief": (3, Officer(id="CBP-5120", role="CBPO", agency="CBP", office="OFO")),
    "pd": (4, Officer(id="CBP-1001", role="PortDirector", agency="CBP", office="OFO")),
}
ROOT_SEED, LOG_SEED, WITNESS_SEED, OTHER_LOG_SEED = seed(0), seed(5), seed(6), seed(7)


def _keys() -> dict[str, Ed25519Signer]:
    return {name: Ed25519Signer(seed(n)) for name, (n, _) in OFFICERS.items()}


def _forge(template: SealedEvent, signers: list[Ed25519Signer], **changes: Any) -> SealedEvent:
    env = dict(template.envelope)
    env.update(changes)
    return seal(env, signers)


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def build(work: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Build the vector index and the files under docs/vectors/bundle-v1/ in ``work``."""
    log = CaseLog(f"sqlite:///{work}/store/cdlog.db", log_id=ORIGIN)
    root, keys = Ed25519Signer(ROOT_SEED), _keys()
    log.establish_root("CBP", root, at=t(-24 * 60))
    for name, (_, officer) in OFFICERS.items():
        if name == "pd":
            continue
        until = t(24 * 60) if name == "brief" else t(5 * 365 * 24 * 60)
        log.certify_officer(root, officer, keys[name].public_key, not_before=t(-24 * 60),
                            not_after=until, at=t(-24 * 60))
    log.open_case(CASE.partition(":")[2], port="5201", signer=keys["cbpo"], at=t(0),
                  recorded=t(0))
    log.record(CASE, "ConveyanceArrived", {"refs": {"container": "EXMU0000101"}},
               signer=keys["cbpo"], cosigners=[keys["scbpo"]], at=t(5), recorded=t(5))
    log.open_case(OTHER.partition(":")[2], port="5201", signer=keys["cbpo"], at=t(6),
                  recorded=t(6))
    log_signer = NoteSigner(LOG_SEED, ORIGIN)
    path = log_key_path(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_key_file(path, Ed25519Signer(LOG_SEED), b"vectors", label="vectors log key")
    first = sign_checkpoint(log, log_signer)
    log.record(CASE, "ExaminationReferred", {"reason": "NII image anomaly"},
               signer=keys["cbpo"], at=t(10), recorded=t(10))
    log.certify_officer(root, OFFICERS["pd"][1], keys["pd"].public_key, not_before=t(0),
                        not_after=t(5 * 365 * 24 * 60), at=t(2 * 24 * 60))  # the brief key expired
    second = sign_checkpoint(log, log_signer)
    witness = CosignatureSigner(WITNESS_SEED, WITNESS)
    w = Witness(work / "witness.json", witness, clock=lambda: WITNESS_TIME)
    w.add_checkpoint(first.text, log_signer.verifier())
    cosigned = w.add_checkpoint(second.text, log_signer.verifier(),
                                prove_consistency(log, first.size, second.size))
    accept_cosigned(log, cosigned, [witness.verifier()])
    export_bundle(log, work / "good", [CASE], consistency_from=[first.size])
    good_size = second.size

    # the forged continuation: written around the write path, then signed by the log key
    events = [parse(r.state) for r in log.app.recorder.select_notifications(start=1,
                                                                             limit=1000)]
    last = next(e for e in reversed(events) if e.stream == CASE)
    conveyance = next(e for e in events if e.type == "ConveyanceArrived")
    backdated = format_time(t(12 * 60))  # inside the brief key's window; the key clock is past
    expired = _forge(conveyance, [keys["brief"]], version=last.version + 1,
                     prev=last.hash_hex, occurred={"at": backdated}, recorded=backdated,
                     cosigners=[], actor=officer_json(OFFICERS["brief"][1],
                                                      keys["brief"].key_id))
    twice = _forge(conveyance, [keys["cbpo"], keys["cbpo"]], version=expired.version + 1,
                   prev=expired.hash_hex, occurred={"at": format_time(t(3 * 24 * 60))},
                   recorded=format_time(t(3 * 24 * 60)),
                   cosigners=[officer_json(OFFICERS["cbpo"][1], keys["cbpo"].key_id)])
    late = _forge(conveyance, [keys["cbpo"]], version=twice.version + 1, prev=twice.hash_hex,
                  occurred={"at": format_time(t(3 * 24 * 60))},
                  recorded=format_time(t(5 * 24 * 60)), cosigners=[], late=False)
    log.app.save_records(tuple(SealedRecord(s) for s in (expired, twice, late)))
    sign_checkpoint(log, log_signer)
    export_bundle(log, work / "forged", [CASE])
    log.close()

    trust = (work / "good" / "trust.json").read_bytes()
    files = {f"good/{k}": v for k, v in _read_tree(work / "good").items()}
    files |= {f"forged/{k}": v for k, v in _read_tree(work / "forged").items()}
    files["trust.json"] = trust
    files["saved-checkpoint.txt"] = first.text.encode()
    index = {
        "description": "cdlog audit bundle, checkpoint and trust-file test vectors "
                       "(docs/SPEC.md §1, §7, §9, §10). Keys come from fixed seeds and are "
                       "for tests only. Paths are relative to docs/vectors/bundle-v1/.",
        "log_vkey": log_signer.verifier().vkey,
        "witness_vkey": witness.verifier().vkey,
        "seeds_hex": {"root": ROOT_SEED.hex(), "log": LOG_SEED.hex(),
                      "witness": WITNESS_SEED.hex(),
                      **{name: seed(n).hex() for name, (n, _) in OFFICERS.items()}},
        "trust_file": "trust.json",
        "good": {"folder": "good", "case": CASE, "tree_size": good_size,
                 "saved_checkpoint": "saved-checkpoint.txt",
                 "cosigned_by": [[WITNESS, WITNESS_TIME]],
                 "verify": "with log_vkey (or trust.json), witness_vkey and "
                           "saved-checkpoint.txt: no failure"},
        "forged": {"folder": "forged", "case": CASE,
                   "verify": "with log_vkey: exactly these failures (case id, version, "
                             "check); the log key signed a tree holding events the write path "
                             "refuses",
                   "failures": [[expired.case, expired.version, "key"],
                                [twice.case, twice.version, "signature"],
                                [late.case, late.version, "late"]]},
        "mutations_note": "apply each change to a copy of good/ and verify with log_vkey "
                          "and witness_vkey: every (place, version, check) in expect must "
                          "be among the failures (version \"*\": any); {case_id} is "
                          "the case's id, {case_v2} the event file name of its version 2, "
                          "{case_head} the leaf index of its newest event",
        "mutations": _mutations(),
        "checkpoints": _checkpoint_vectors(cosigned, log_signer, witness),
        "trust_files": _trust_vectors(trust, root),
    }
    return index, files


def _mutations() -> list[dict[str, Any]]:
    """Changes to the good bundle, each of which its verification must reject."""
    return [
        {"name": "witness cosignature line removed",
         "change": {"drop_lines_starting": ["checkpoint.txt", f"— {WITNESS} "]},
         "expect": [["<bundle>", None, "checkpoint"]]},
        {"name": "one byte of an event changed",
         "change": {"replace": ["events/{case_v2}", "EXMU0000101", "EXMU0000102"]},
         "expect": [["{case_id}", 2, "merkle"], ["{case_id}", 2, "signature"]]},
        {"name": "the case's newest event left out (file, proof, manifest entry)",
         "change": {"remove_event": "{case_head}"},
         "expect": [["{case_id}", "*", "heads"]]},
        {"name": "checkpoint and trust.json re-signed with another log key",
         "change": {"resign_with_seed_hex": OTHER_LOG_SEED.hex()},
         "expect": [["<bundle>", None, "checkpoint"]]},
        {"name": "the log key given only by the bundle (no log_vkey from outside)",
         "change": {"no_outside_log_key": True},
         "expect": [["<bundle>", None, "checkpoint"]]},
    ]


def _checkpoint_vectors(cosigned: str, log_signer: NoteSigner,
                        witness: CosignatureSigner) -> list[dict[str, Any]]:
    body = cosigned.split("\n\n", 1)[0] + "\n"
    cp = Checkpoint.parse(body)
    other = NoteSigner(OTHER_LOG_SEED, ORIGIN)
    lines = cosigned.rstrip("\n").split("\n")
    sig_lines = lines[lines.index("") + 1:]
    log_line = next(x for x in sig_lines if not x.startswith(f"— {WITNESS} "))
    witness_line = next(x for x in sig_lines if x.startswith(f"— {WITNESS} "))
    bad = base64.b64decode(witness_line.rsplit(" ", 1)[1])
    bad = bad[:-1] + bytes([bad[-1] ^ 1])
    corrupt = f"— {WITNESS} {base64.b64encode(bad).decode()}"
    grown = Checkpoint(cp.origin, cp.size + 1, cp.root).body()
    return [
        {"name": "cosigned checkpoint", "note": cosigned, "expect": "ok",
         "cosigned_by": [[WITNESS, WITNESS_TIME]]},
        {"name": "no witness cosignature (witness required)",
         "note": body + "\n" + log_line + "\n", "expect": "reject"},
        {"name": "witness cosignature corrupted", "note": body + "\n" + log_line + "\n"
         + corrupt + "\n", "expect": "reject"},
        {"name": "size changed under the log signature",
         "note": grown + "\n" + log_line + "\n" + witness_line + "\n", "expect": "reject"},
        {"name": "signed by another key of the same name",
         "note": sign_note(body, [other]), "expect": "reject"},
        {"name": "another origin", "note": sign_note(
            Checkpoint("cdlog.example/other", cp.size, cp.root).body(),
            [NoteSigner(LOG_SEED, "cdlog.example/other")]), "expect": "reject"},
    ]


def _trust_vectors(trust: bytes, root: Ed25519Signer) -> list[dict[str, Any]]:
    doc = json.loads(trust)
    twice = dict(doc, roots=[*doc["roots"], {**doc["roots"][0], "agency": "ICE"}])
    stranger = Ed25519Signer(b"\xaa" * 32)
    bad_key = dict(doc, roots=[{**doc["roots"][0], "public_key": base64.b64encode(
        stranger.public_key).decode()}])
    del root
    return [
        {"name": "trust file of the log", "content": trust.decode(), "expect": "ok"},
        {"name": "a root key listed twice", "content": _jcs(twice), "expect": "reject"},
        {"name": "a root whose key id is not its public key's", "content": _jcs(bad_key),
         "expect": "reject"},
        {"name": "another format", "content": _jcs(dict(doc, format="cdlog/trust/v0")),
         "expect": "reject"},
    ]


def _jcs(value: Any) -> str:
    return (canonical_bytes(value) + b"\n").decode()


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[dict[str, Any], dict[str, bytes]]]:
    """The vectors as the code builds them now."""
    with tempfile.TemporaryDirectory() as work:
        yield build(Path(work))


def test_vectors_match_the_code(built: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    """The committed vectors are exactly what the code builds (CDLOG_UPDATE_VECTORS=1
    rewrites them after a deliberate format change)."""
    index, files = built
    if os.environ.get("CDLOG_UPDATE_VECTORS") == "1":
        shutil.rmtree(FOLDER, ignore_errors=True)
        _write_tree(FOLDER, files)
        INDEX.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    assert json.loads(INDEX.read_text(encoding="utf-8")) == index
    assert _read_tree(FOLDER) == files


def _names(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "bundle.json").read_text())
    case = [e for e in manifest["events"] if e["stream"] == CASE]
    by_version = {e["version"]: e for e in case}
    head = by_version[max(by_version)]
    return {"case_id": str(stream_id(CASE)), "case_v2": by_version[2]["file"].split("/")[1],
            "case_head": str(head["leaf_index"])}


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def _apply(folder: Path, change: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Apply one mutation to a bundle copy; return extra arguments for verify_bundle."""
    if "drop_lines_starting" in change:
        name, prefix = change["drop_lines_starting"]
        text = (folder / name).read_text()
        (folder / name).write_text("".join(x + "\n" for x in text.splitlines()
                                           if not x.startswith(prefix)))
    elif "replace" in change:
        name, old, new = _fill(change["replace"], names)
        data = (folder / name).read_bytes()
        assert old.encode() in data
        (folder / name).write_bytes(data.replace(old.encode(), new.encode()))
    elif "remove_event" in change:
        index = int(_fill(change["remove_event"], names))
        manifest = json.loads((folder / "bundle.json").read_text())
        entry = next(e for e in manifest["events"] if e["leaf_index"] == index)
        manifest["events"].remove(entry)
        (folder / entry["file"]).unlink()
        (folder / entry["proof"]).unlink()
        (folder / "bundle.json").write_bytes(canonical_bytes(manifest) + b"\n")
    elif "resign_with_seed_hex" in change:
        other = NoteSigner(bytes.fromhex(change["resign_with_seed_hex"]), ORIGIN)
        body = (folder / "checkpoint.txt").read_text().split("\n\n", 1)[0] + "\n"
        (folder / "checkpoint.txt").write_text(sign_note(body, [other]))
        trust = json.loads((folder / "trust.json").read_text())
        trust["log_vkey"] = other.verifier().vkey
        (folder / "trust.json").write_bytes(canonical_bytes(trust) + b"\n")
    elif change.get("no_outside_log_key"):
        return {"log_vkey": None}
    return {}


def test_good_bundle_verifies(built: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    """The good bundle verifies with the log key, the trust file, the witness and the saved
    checkpoint; the forged one fails exactly where the vector says."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    witness = CosignatureVerifier.from_vkey(index["witness_vkey"])
    saved = [("saved", (FOLDER / index["good"]["saved_checkpoint"]).read_text())]
    for trust, vkey in ((None, index["log_vkey"]), (FOLDER / "trust.json", None)):
        report = verify_bundle(FOLDER / "good", trust, vkey, witnesses=[witness], saved=saved)
        assert report.ok, report.failures
        assert [list(c) for c in report.cosigners] == index["good"]["cosigned_by"]
        assert report.tree_size == index["good"]["tree_size"]
    forged = verify_bundle(FOLDER / "forged", log_vkey=index["log_vkey"])
    assert [[f.case, f.version, f.check] for f in forged.failures] == index["forged"][
        "failures"]


def test_each_mutation_is_rejected(tmp_path: Path) -> None:
    """Every mutation of the good bundle fails, at the place the vector names."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    witness = CosignatureVerifier.from_vkey(index["witness_vkey"])
    names = _names(FOLDER / "good")
    for i, mutation in enumerate(index["mutations"]):
        folder = Path(shutil.copytree(FOLDER / "good", tmp_path / str(i)))
        args: dict[str, Any] = {"log_vkey": index["log_vkey"]}
        args |= _apply(folder, mutation["change"], names)
        report = verify_bundle(folder, witnesses=[witness], **args)
        got = [[f.case, f.version, f.check] for f in report.failures]
        assert got, mutation["name"]
        for place, version, check in _fill(mutation["expect"], names):
            assert [g for g in got if (g[0], g[2]) == (place, check)
                    and version in ("*", g[1])], (mutation["name"], got)


def test_checkpoint_vectors() -> None:
    """Each checkpoint note opens (with the log key and the witness required) or is refused
    as stated; the accepted one also checks out with hashlib and libsodium alone."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    log_key = NoteVerifier.from_vkey(index["log_vkey"])
    witness = CosignatureVerifier.from_vkey(index["witness_vkey"])
    for vector in index["checkpoints"]:
        try:
            _, cosigned = open_checkpoint(vector["note"], log_key, ORIGIN, [witness])
            outcome = "ok" if cosigned else "reject"
        except VerificationError:
            outcome = "reject"
        assert outcome == vector["expect"], vector["name"]
        if outcome == "ok":
            assert [list(c) for c in cosigned] == vector["cosigned_by"]
            _check_independently(vector["note"], index["log_vkey"], index["witness_vkey"])


def _check_independently(note: str, log_vkey: str, witness_vkey: str) -> None:
    body, _, sigs = note.partition("\n\n")
    body += "\n"
    for vkey, kind in ((log_vkey, 1), (witness_vkey, 4)):
        name, key_id, key64 = vkey.split("+", 2)
        raw = base64.b64decode(key64)
        assert raw[0] == kind
        assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_id
        line = next(x for x in sigs.splitlines() if x.startswith(f"— {name} "))
        blob = base64.b64decode(line.rsplit(" ", 1)[1])
        assert blob[:4].hex() == key_id
        if kind == 1:
            nacl.signing.VerifyKey(raw[1:]).verify(body.encode(), blob[4:])
        else:
            stamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {stamp}\n{body}".encode()
            nacl.signing.VerifyKey(raw[1:]).verify(message, blob[12:])


def test_trust_file_vectors(tmp_path: Path) -> None:
    """Each trust file loads or is refused as stated; the log's names the log key."""
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    for i, vector in enumerate(index["trust_files"]):
        path = tmp_path / f"{i}.json"
        path.write_text(vector["content"], encoding="utf-8")
        try:
            loaded: TrustFile | None = load_trust(path)
        except ConfigurationError:
            loaded = None
        assert ("ok" if loaded else "reject") == vector["expect"], vector["name"]
        if loaded is not None:
            assert loaded.log_vkey == index["log_vkey"]
