"""docs/vectors/restricted-v1.json is exactly what the code produces from fixed inputs, and the
vectors check out with hashlib and the ``cryptography`` primitives alone, as an independent
reader of docs/SPEC.md §13 would compute them (``CDLOG_UPDATE_VECTORS=1`` rewrites the file)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cdlog.log.sealing import stream_id
from cdlog.restricted.commitment import commitment
from cdlog.restricted.vault import (
    X25519KeyWrapper,
    associated_data,
    open_value,
    seal_value,
    vault_plaintext,
)

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "restricted-v1.json"
LOG = "example.gov/cd-audit-log/test"
RECORD = "pnr:K-PNR-0001"
KEK_SEED = bytes(range(96, 128))
EPHEMERAL = bytes(range(128, 160))
DATA_KEY = bytes(range(160, 192))
NONCE = bytes(range(192, 204))
WRAP_NONCE = bytes(range(204, 216))
COMMITMENTS: list[tuple[str, Any, bytes]] = [
    ("locator", "ABC123", bytes(range(32))),
    ("itinerary", ["FRA", "MIA"], bytes(range(32, 64))),
    ("passenger", {"dob": "1970-01-01", "name": "DOE/JANE"}, bytes([0x5a] * 32)),
]


def build_vectors() -> dict[str, Any]:
    """The vector document, from fixed inputs (test keys only: never use them)."""
    out: dict[str, Any] = {
        "description": "cdlog restricted-field commitments and vault rows (docs/SPEC.md "
                       "§13). Keys, salts and nonces are fixed test values; never use them.",
        "commitments": [{"field": f, "value": v, "salt": s.hex(),
                         "commitment": commitment(f, v, s)} for f, v, s in COMMITMENTS],
    }
    field, value, salt = COMMITMENTS[0]
    signed = commitment(field, value, salt)
    case = str(stream_id(RECORD))
    kek = X25519KeyWrapper.from_private_bytes("CBP", KEK_SEED)
    aad = associated_data(LOG, case, 1, field, "EU_PNR", signed)
    wrapped = kek.wrap_with(DATA_KEY, aad, EPHEMERAL, WRAP_NONCE)
    row = seal_value(LOG, case, 1, field, "EU_PNR", signed, value, salt, kek,
                     data_key=DATA_KEY, nonce=NONCE, wrapped_key=wrapped)
    assert open_value(LOG, row, kek, signed) == (value, salt)
    out["vault_row"] = {
        "log": LOG, "record": RECORD, "case": case, "version": 1, "field": field,
        "class": "EU_PNR", "value": value, "salt": salt.hex(), "commitment": signed,
        "plaintext": vault_plaintext(value, salt).decode(),
        "associated_data": aad.decode(),
        "data_key": DATA_KEY.hex(), "nonce": NONCE.hex(), "ciphertext": row.ciphertext.hex()
        if row.ciphertext else None,
        "kek": {"agency": "CBP", "private_key": KEK_SEED.hex(),
                "public_key": kek.public_key.hex(), "key_id": kek.key_id},
        "ephemeral_private_key": EPHEMERAL.hex(), "wrap_nonce": WRAP_NONCE.hex(),
        "wrapped_key": wrapped.hex(),
    }
    return out


def test_vectors_match_the_code() -> None:
    """The stored vectors are what the code produces now."""
    built = build_vectors()
    if os.environ.get("CDLOG_UPDATE_VECTORS") == "1":
        VECTORS.write_text(json.dumps(built, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == built


def _jcs(value: Any) -> bytes:
    """RFC 8785 for the vectors' values (strings, lists, objects of strings): sorted keys,
    no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def test_vectors_verify_independently() -> None:
    """Commitments with hashlib; the vault row with X25519, HKDF-SHA256 and AES-256-GCM."""
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    for c in doc["commitments"]:
        digest = hashlib.sha256(b"cdlog/field/v1\n" + c["field"].encode() + b"\n"
                                + bytes.fromhex(c["salt"]) + _jcs(c["value"])).hexdigest()
        assert c["commitment"] == "sha256:" + digest
    v = doc["vault_row"]
    salt = bytes.fromhex(v["salt"])
    assert v["commitment"] == "sha256:" + hashlib.sha256(
        b"cdlog/field/v1\n" + v["field"].encode() + b"\n" + salt + _jcs(v["value"])).hexdigest()
    aad = b"cdlog/vault/v1\n" + _jcs({"case": v["case"], "class": v["class"],
                                      "commitment": v["commitment"], "field": v["field"],
                                      "log": v["log"], "version": v["version"]})
    assert aad == v["associated_data"].encode()
    kek_private = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["kek"]["private_key"]))
    kek_public = kek_private.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
    assert kek_public.hex() == v["kek"]["public_key"]
    assert v["kek"]["key_id"] == "x25519:" + hashlib.sha256(
        b"cdlog/kek/v1\n" + kek_public).hexdigest()[:16]
    wrapped = bytes.fromhex(v["wrapped_key"])
    eph_public, wrap_nonce, body = wrapped[:32], wrapped[32:44], wrapped[44:]
    assert wrap_nonce.hex() == v["wrap_nonce"]
    shared = kek_private.exchange(X25519PublicKey.from_public_bytes(eph_public))
    kek_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"cdlog/kek/v1" + eph_public + kek_public).derive(shared)
    data_key = AESGCM(kek_key).decrypt(wrap_nonce, body, aad)
    assert data_key.hex() == v["data_key"]
    plain = AESGCM(data_key).decrypt(bytes.fromhex(v["nonce"]),
                                     bytes.fromhex(v["ciphertext"]), aad)
    assert plain == v["plaintext"].encode()
    inner = json.loads(plain)
    assert base64.b64decode(inner["salt"]) == salt
    assert inner["value"] == v["value"]
    assert plain == _jcs({"salt": base64.b64encode(salt).decode(), "value": v["value"]})
