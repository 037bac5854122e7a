"""docs/vectors/events-v1.json is exactly what the code produces from the fixed test keys,
and the vectors check out with hashlib and libsodium alone (an independent reading of SPEC)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nacl.signing

from cdlog.canonical import canonical_bytes, parse_time
from cdlog.domain.values import Officer
from cdlog.keys.certificate import issue_certificate
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import officer_json
from cdlog.log.sealing import build_envelope, seal

VECTORS = Path(__file__).resolve().parents[1] / "docs" / "vectors" / "events-v1.json"
ROOT_SEED = bytes(range(32))
OFFICER_SEED = bytes(range(32, 64))
COSIGNER_SEED = bytes(range(64, 96))


def build_vectors() -> dict[str, Any]:
    """Build the vector document from fixed seeds (test keys only: never use them)."""
    root = Ed25519Signer(ROOT_SEED)
    officer_key = Ed25519Signer(OFFICER_SEED)
    cosigner_key = Ed25519Signer(COSIGNER_SEED)
    officer = Officer(id="CBP-4417", role="CBPO-Enforcement", agency="CBP", office="OFO")
    custodian = Officer(id="CBP-3150", role="SeizedPropertyCustodian", agency="CBP",
                        office="OFO")
    cert = issue_certificate(root, public_key=officer_key.public_key, subject=officer,
                             not_before=parse_time("2006-01-01T00:00:00+00:00"),
                             not_after=parse_time("2011-01-01T00:00:00+00:00"), serial=7)
    first = build_envelope(
        log="example.gov/cd-audit-log/test", stream="case:OP-2006-0001", version=1,
        type_="CaseOpened", occurred={"at": "2006-03-14T06:10:00-05:00"},
        recorded="2006-03-14T06:10:00-05:00", actor=officer_json(officer, officer_key.key_id),
        cosigners=[], payload={"reference": "OP-2006-0001", "operation_id": "OP-2006-0001",
                               "port": "5201", "refs": {"bol": "EXLN0000000001"}},
        prev=None, late=False)
    sealed1 = seal(first, [officer_key])
    second = build_envelope(
        log="example.gov/cd-audit-log/test", stream="case:OP-2006-0001", version=2,
        type_="CustodyTransferred",
        occurred={"at": "2006-03-14T13:50:00-05:00"}, recorded="2006-03-14T13:52:00-05:00",
        actor=officer_json(officer, officer_key.key_id),
        cosigners=[officer_json(custodian, cosigner_key.key_id)],
        payload={"from": "CBP-4417", "to": "CBP-3150", "items": [
            {"item": "A-1", "count": 41, "gross_weight_kg": "45.1"}], "seals": [],
            "receipt_ref": "6051S-A-0002"},
        prev=sealed1.hash_hex, late=False)
    sealed2 = seal(second, [officer_key, cosigner_key])
    return {
        "description": "cdlog event format v1 test vectors (docs/SPEC.md). Keys are derived "
                       "from fixed seeds and are for tests only.",
        "keys": {name: {"seed_hex": s.seed().hex(),
                        "public_key_b64": base64.b64encode(s.public_key).decode(),
                        "key_id": s.key_id}
                 for name, s in (("root", root), ("officer", officer_key),
                                 ("cosigner", cosigner_key))},
        "certificate": {
            "canonical": canonical_bytes(cert.certificate.model_dump(mode="json")).decode(),
            "signature_b64": cert.signature,
        },
        "events": [
            {"envelope_canonical": s.envelope_bytes.decode(),
             "signatures": [{"key": g.key, "sig_b64": base64.b64encode(g.sig).decode()}
                            for g in s.signatures],
             "sealed": s.sealed.decode(),
             "event_hash_hex": s.hash_hex}
            for s in (sealed1, sealed2)
        ],
    }


def test_vectors_match_the_code() -> None:
    """The committed vectors equal what the code produces (set CDLOG_UPDATE_VECTORS=1 to
    rewrite them after a deliberate format change, and update docs/SPEC.md with it)."""
    built = build_vectors()
    if os.environ.get("CDLOG_UPDATE_VECTORS") == "1":
        VECTORS.write_text(json.dumps(built, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == built


def test_vectors_verify_independently() -> None:
    """Hashes, key ids and signatures in the vectors check out with hashlib and libsodium."""
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    keys = {k["key_id"]: base64.b64decode(k["public_key_b64"]) for k in doc["keys"].values()}
    for key_id, public in keys.items():
        digest = hashlib.sha256(b"cdlog/key/v1\n" + public).hexdigest()[:16]
        assert key_id == "ed25519:" + digest
    root_pk = base64.b64decode(doc["keys"]["root"]["public_key_b64"])
    cert = doc["certificate"]
    nacl.signing.VerifyKey(root_pk).verify(b"cdlog/cert/v1\n" + cert["canonical"].encode(),
                                           base64.b64decode(cert["signature_b64"]))
    prev = None
    for event in doc["events"]:
        env = event["envelope_canonical"].encode()
        assert json.loads(env)["prev"] == prev
        sigs = json.dumps([{"key": s["key"], "sig": s["sig_b64"]} for s in event["signatures"]],
                          separators=(",", ":"), sort_keys=True).encode()
        sealed = env + b"\n" + sigs
        assert sealed == event["sealed"].encode()
        assert hashlib.sha256(b"\x00" + sealed).hexdigest() == event["event_hash_hex"]
        for s in event["signatures"]:
            nacl.signing.VerifyKey(keys[s["key"]]).verify(b"cdlog/event/v1\n" + env,
                                                          base64.b64decode(s["sig_b64"]))
        prev = event["event_hash_hex"]
