"""docs/vectors/heads-v1.json (docs/SPEC.md §12) is exactly what the code produces, and it checks
out with hashlib and libsodium alone: entry encoding, entry and node hashes, the map root, the
heads line in a signed checkpoint, presence and absence proofs, and proofs that must fail."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import uuid
from pathlib import Path
from typing import Any

import nacl.signing

from cdlog.log.checkpoint_format import Checkpoint, sign_checkpoint
from cdlog.log.heads import (
    build_levels,
    heads_line,
    link,
    prove_in_memory,
    root_of,
    verify_head_doc,
)
from cdlog.log.note import NoteSigner
from cdlog.log.sealing import stream_id

VECTORS = Path(__file__).resolve().parents[1] / "docs" / "vectors" / "heads-v1.json"
ORIGIN = "cdlog.example/cd-log/miami"
LOG_SEED = bytes(range(32))  # the example log key of SPEC §7: never use it
TREE_SIZE = 20
TREE_ROOT = hashlib.sha256(b"example tree root").digest()  # the map does not depend on it
STREAMS = [("case:OP-2006-0001", 7, 19), ("case:C-SYS-DECLINED-ADMIN", 3, 12),
           ("trust:CBP", 5, 17), ("trust:ICE", 2, 4), ("pnr:EXAMPLE-1", 1, 9)]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def build_vectors() -> dict[str, Any]:
    """The vector document, from fixed inputs."""
    # map order is the order streams first appear; here, the order of STREAMS
    entries = link([(stream_id(name).bytes, version, leaf,
                     hashlib.sha256(b"\x00" + f"event {name} v{version}".encode()).digest())
                    for name, version, leaf in STREAMS])
    names = {stream_id(name).bytes: name for name, _, _ in STREAMS}
    levels = build_levels(entries)
    line = heads_line(len(entries), root_of(levels))
    signer = NoteSigner(LOG_SEED, ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, TREE_SIZE, TREE_ROOT, (line,)), signer)
    first, last = min(e.stream_id for e in entries), max(e.stream_id for e in entries)
    candidates = [f"case:OP-2006-{n:04d}" for n in range(2, 200)]

    def pick(test: Any) -> str:
        return next(c for c in candidates if test(stream_id(c).bytes))

    probes = {"present": "case:OP-2006-0001",
              "absent, inside": pick(lambda k: first < k < last),
              "absent, before the first": pick(lambda k: k < first),
              "absent, after the last": pick(lambda k: k > last)}
    proofs = {label: prove_in_memory(entries, name, TREE_SIZE) for label, name in probes.items()}
    present = proofs["present"]
    inside = proofs["absent, inside"]
    negative = {
        "present, version set back": dict(present, head=dict(present["head"], version=6)),
        "present, other event hash": dict(present, head=dict(
            present["head"], event_hash=_b64(hashlib.sha256(b"other").digest()))),
        "absent, the gap entry left out": dict(inside, gap=None),
        "absent, the gap entry's link moved past the probe": dict(inside, gap=dict(
            inside["gap"], next=proofs["absent, inside"]["case"])),
        "present, the link changed": dict(present, head=dict(
            present["head"], link=_b64(hashlib.sha256(b"other").digest()))),
        "absent, another entry as the gap": dict(inside, gap=next(
            prove_in_memory(entries, n, TREE_SIZE)["head"] for n, _, _ in STREAMS
            if str(stream_id(n)) != inside["gap"]["case"])),
        "present, another stream's entry": dict(
            present, stream=probes["absent, inside"],
            case=str(stream_id(probes["absent, inside"]))),
    }
    return {
        "description": "cdlog stream-head map v1 test vectors (docs/SPEC.md §12). The log key "
                       "is the example key of §7 (seed 00..1f): never use it.",
        "origin": ORIGIN,
        "log_vkey": signer.vkey,
        "entries": [{"stream": names[e.stream_id], "case": e.case,
                     "next": str(uuid.UUID(bytes=e.next_id)), "link": _b64(e.link),
                     "version": e.version,
                     "leaf_index": e.leaf_index, "event_hash": _b64(e.event_hash),
                     "encoded_hex": e.encode().hex(), "entry_hash": _b64(e.hash())}
                    for e in entries],
        "levels": [[_b64(h) for h in level] for level in levels],
        "heads_line": line,
        "checkpoint": note,
        "empty_map_line": heads_line(0, root_of(build_levels([]))),
        "proofs": proofs,
        "must_fail": negative,
    }


def test_vectors_match_the_code() -> None:
    """The committed vectors equal what the code produces (CDLOG_UPDATE_VECTORS=1 rewrites
    them after a deliberate format change, together with docs/SPEC.md); the code accepts every
    proof and rejects every negative one."""
    built = build_vectors()
    if os.environ.get("CDLOG_UPDATE_VECTORS") == "1":
        VECTORS.write_text(json.dumps(built, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == built
    body = built["checkpoint"].split("\n\n")[0] + "\n"
    cp = Checkpoint.parse(body)
    for doc in built["proofs"].values():
        verify_head_doc(doc, checkpoint=cp)
    from cdlog.errors import ProofError

    for label, doc in built["must_fail"].items():
        try:
            verify_head_doc(doc, checkpoint=cp)
        except ProofError:
            continue
        raise AssertionError(f"accepted: {label}")


# ---------------------------------------------------------------------------- independently
def h(*parts: bytes) -> bytes:
    """SHA-256 of the concatenation."""
    return hashlib.sha256(b"".join(parts)).digest()


def mth(leaves: list[bytes]) -> bytes:
    """The map root by SPEC §12's recursive definition (RFC 6962 shape, 0x03 nodes)."""
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return h(b"\x03", mth(leaves[:k]), mth(leaves[k:]))


def fold(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2 with the map's node prefix; None when the path has the wrong length."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = h(b"\x03", p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x03", r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def check(doc: dict[str, Any], count: int, root: bytes) -> bool:
    """An independent verifier of a head document against a heads line's count and root."""
    name = doc["stream"]
    target = uuid.uuid5(uuid.UUID("6f1c3a2e-3c1b-5b7e-9a51-1e0c0d1a7c05"), name)
    if doc["case"] != str(target) or (doc["heads_size"], doc["heads_root"]) != (
            count, _b64(root)):
        return False

    def proven(item: dict[str, Any]) -> bool:
        if "link" in item:
            link = base64.b64decode(item["link"])
        else:
            link = h(b"\x04", uuid.UUID(item["next"]).bytes,
                     base64.b64decode(item["next_event_hash"]))
        entry = (uuid.UUID(item["case"]).bytes + link
                 + struct.pack(">QQ", item["version"], item["leaf_index"])
                 + base64.b64decode(item["event_hash"]))
        path = [base64.b64decode(p) for p in item["proof"]]
        return fold(h(b"\x02", entry), item["position"], count, path) == root

    if doc["head"] is not None:
        return (doc["gap"] is None and doc["head"]["case"] == str(target)
                and proven(doc["head"]))
    gap = doc["gap"]
    if gap is None:
        return count == 0
    if "next" not in gap or "link" in gap:  # a gap entry shows its link's preimage
        return False
    here, after, key = (uuid.UUID(gap["case"]).bytes, uuid.UUID(gap["next"]).bytes,
                        target.bytes)
    spans = here < key < after if here < after else key != here and (key > here
                                                                      or key < after)
    return spans and proven(gap)


def test_vectors_verify_independently() -> None:
    """hashlib and libsodium alone: entries, map root, the signed heads line, the proofs."""
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    leaves = []
    ids = sorted(uuid.UUID(e["case"]).bytes for e in doc["entries"])
    following = dict(zip(ids, ids[1:] + ids[:1], strict=True))  # a cycle in id order
    event_hash = {uuid.UUID(e["case"]).bytes: base64.b64decode(e["event_hash"])
                  for e in doc["entries"]}
    for e in doc["entries"]:
        case = uuid.uuid5(uuid.UUID("6f1c3a2e-3c1b-5b7e-9a51-1e0c0d1a7c05"), e["stream"])
        assert e["case"] == str(case)
        after = following[case.bytes]
        assert uuid.UUID(e["next"]).bytes == after
        link = h(b"\x04", after, event_hash[after])
        assert _b64(link) == e["link"]
        encoded = (case.bytes + link + struct.pack(">QQ", e["version"], e["leaf_index"])
                   + event_hash[case.bytes])
        assert encoded.hex() == e["encoded_hex"]
        assert len(encoded) == 96
        leaves.append(h(b"\x02", encoded))
        assert _b64(leaves[-1]) == e["entry_hash"]
    root = mth(leaves)
    assert doc["heads_line"] == f"cdlog/heads/v1 {len(leaves)} {_b64(root)}"
    assert doc["empty_map_line"] == f"cdlog/heads/v1 0 {_b64(h(b''))}"
    assert doc["levels"][-1] == [_b64(root)]
    # the checkpoint: origin, size, root, then the heads line, signed by the log key
    body, sig_line = doc["checkpoint"].split("\n\n")
    lines = body.split("\n")
    assert len(lines) == 4
    assert lines[0] == doc["origin"]
    assert lines[3] == doc["heads_line"]
    _, key_id_hex, key_b64 = doc["log_vkey"].split("+", 2)
    public = base64.b64decode(key_b64)[1:]
    raw = base64.b64decode(sig_line.removesuffix("\n").split(" ")[-1])
    assert raw[:4].hex() == key_id_hex
    nacl.signing.VerifyKey(public).verify((body + "\n").encode(), raw[4:])
    for label, proof in doc["proofs"].items():
        assert check(proof, len(leaves), root), label
    for label, proof in doc["must_fail"].items():
        assert not check(proof, len(leaves), root), label
