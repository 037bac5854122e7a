"""docs/vectors/disclosure-v1.json (docs/SPEC.md §14) is exactly what the code produces from
fixed keys and salts, and checks out with hashlib and libsodium alone: an independent reader
of the SPEC opens each disclosed value against the signed commitment."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nacl.signing

from cdlog.domain.values import Officer
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import officer_json
from cdlog.log.sealing import build_envelope, parse, seal
from cdlog.restricted.commitment import commitment
from cdlog.restricted.disclosure import build_disclosure, check_disclosure, disclosure_bytes

VECTORS = Path(__file__).resolve().parents[1] / "docs" / "vectors" / "disclosure-v1.json"
OFFICER_SEED = bytes(range(32, 64))
SALTS = {"locator": bytes(range(0xA0, 0xC0)), "itinerary": bytes(range(0xC0, 0xE0)),
         "passenger": bytes(range(0xE0, 0x100))}
VALUES: dict[str, Any] = {"locator": "QX7ABC", "itinerary": ["CDG-MIA 2006-02-27"],
                          "passenger": "DOE/JANE (fictitious)"}


def build_vectors() -> dict[str, Any]:
    """A PNR record committing to three fields, and a package disclosing two of them."""
    key = Ed25519Signer(OFFICER_SEED)
    analyst = Officer(id="CBP-6203", role="PNRAnalyst", agency="CBP", office="OFO")
    signed = {f: commitment(f, v, SALTS[f]) for f, v in VALUES.items()}
    envelope = build_envelope(
        log="example.gov/cd-audit-log/test", stream="pnr:K-PNR-0001", version=1,
        type_="PNRRecordIngested", occurred={"at": "2006-02-27T00:00:00+00:00"},
        recorded="2006-02-27T00:05:00+00:00", actor=officer_json(analyst, key.key_id),
        cosigners=[], payload={"received_at": "2006-02-27T00:00:00+00:00",
                               "flight": "XX123 (fictitious)", "key_id": "K-PNR-0001",
                               "pnr_locator_commitment": signed["locator"],
                               "commitments": signed},
        prev=None, late=False)
    event = seal(envelope, [key])
    shown = ("itinerary", "locator")
    doc = build_disclosure(event, {f: VALUES[f] for f in shown}, {f: SALTS[f] for f in shown})
    return {
        "description": "cdlog disclosure package v1 test vectors (docs/SPEC.md §14). The key "
                       "and salts are fixed test values: never use them.",
        "key": {"seed_hex": key.seed().hex(),
                "public_key_b64": base64.b64encode(key.public_key).decode(),
                "key_id": key.key_id},
        "commitments": [{"field": f, "value": VALUES[f], "salt_hex": SALTS[f].hex(),
                         "commitment": signed[f]} for f in sorted(VALUES)],
        "sealed": event.sealed.decode(),
        "event_hash_hex": event.hash.hex(),
        "package": disclosure_bytes(doc).decode(),
    }


def test_vectors_match_the_code() -> None:
    """The committed vectors equal what the code produces (CDLOG_UPDATE_VECTORS=1 rewrites
    them after a deliberate format change; docs/SPEC.md changes with them)."""
    built = build_vectors()
    if os.environ.get("CDLOG_UPDATE_VECTORS") == "1":
        VECTORS.write_text(json.dumps(built, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == built
    assert check_disclosure(json.loads(built["package"])) == []


def _jcs(value: Any) -> bytes:
    """RFC 8785 for the strings and lists of strings of these vectors."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode()


def test_vectors_verify_independently() -> None:
    """Commitments, event hash, signature and the package's values, with hashlib and
    libsodium only, as SPEC §13-14 describe them."""
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    for c in doc["commitments"]:
        digest = hashlib.sha256(b"cdlog/field/v1\n" + c["field"].encode() + b"\n"
                                + bytes.fromhex(c["salt_hex"]) + _jcs(c["value"]))
        assert c["commitment"] == "sha256:" + digest.hexdigest()
    package = doc["package"].encode()
    assert package.endswith(b"\n")
    pkg = json.loads(package)
    assert _jcs(pkg) + b"\n" == package  # JCS: sorted keys, no whitespace
    sealed = base64.b64decode(pkg["event"])
    assert sealed == doc["sealed"].encode()
    assert hashlib.sha256(b"\x00" + sealed).hexdigest() == pkg["event_hash"] \
        == doc["event_hash_hex"]
    head, _, sigs = sealed.partition(b"\n")
    envelope = json.loads(head)
    public = base64.b64decode(doc["key"]["public_key_b64"])
    (sig,) = json.loads(sigs)
    nacl.signing.VerifyKey(public).verify(b"cdlog/event/v1\n" + head,
                                          base64.b64decode(sig["sig"]))
    assert (envelope["log"], envelope["stream"], envelope["version"], envelope["type"]) == (
        pkg["log"], pkg["record"], pkg["version"], pkg["type"])
    in_payload = dict(envelope["payload"]["commitments"])
    assert [f["field"] for f in pkg["fields"]] == ["itinerary", "locator"]
    for f in pkg["fields"]:
        salt = base64.b64decode(f["salt"])
        opened = "sha256:" + hashlib.sha256(b"cdlog/field/v1\n" + f["field"].encode() + b"\n"
                                            + salt + _jcs(f["value"])).hexdigest()
        assert opened == f["commitment"] == in_payload[f["field"]]
    assert parse(sealed).payload["pnr_locator_commitment"] == in_payload["locator"]
