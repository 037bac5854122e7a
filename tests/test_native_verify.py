"""The native Ed25519 check (cdlog/_native/verify.c) accepts and rejects exactly what its
reference does: :func:`cdlog.keys.signer.signature_is_valid_pure`, PyNaCl's ``VerifyKey.verify``.

Random keys and messages, every kind of tampering (a flipped bit of key, message or signature,
the signature's S made non-canonical by adding the group order, keys and R of small order,
lengths one off), values that are not bytes (handed back to the reference, which may raise),
the prefix argument, the SPEC vectors, and no memory kept per call. Under ``CDLOG_PURE=1`` (or a
build without the function) :func:`signature_is_valid` is the reference itself, which the
equalities below then also hold.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog._native import speedups
from cdlog.keys import signer
from cdlog.keys.signer import signature_is_valid, signature_is_valid_pure
from cdlog.log.sealing import SIGNING_PREFIX, parse

VECTORS = Path(__file__).resolve().parents[1] / "docs" / "vectors" / "events-v1.json"
L = 2**252 + 27742317777372353535851937790883648493  # the order of Ed25519's base point

SMALL_ORDER = [bytes.fromhex(h) for h in (  # encodings of points of order 1, 2, 4 and 8
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)]


def outcome(check: Any, *args: Any) -> Any:
    """What a check gives: its answer, or the type of what it raised."""
    try:
        return check(*args)
    except Exception as exc:  # the kind of refusal is compared
        return type(exc)


def both(public: Any, message: Any, signature: Any, prefix: bytes = b"") -> Any:
    """The reference's outcome, asserted equal to the native function's (and the wrapper's)."""
    expected = outcome(signature_is_valid_pure, public,
                       prefix + message if prefix else message, signature)
    assert outcome(signature_is_valid, public, message, signature, prefix) == expected
    native = getattr(speedups, "ed25519_verify", None)
    if native is not None and signer._NATIVE_VERIFY is not None:
        got = outcome(native, public, message, signature, prefix)
        assert got is None or got == expected, (got, expected)
    return expected


def test_bound_where_built() -> None:
    """With the native build active the check is native (the libsodium PyNaCl loaded)."""
    native = getattr(speedups, "ed25519_verify", None)
    assert (signer._NATIVE_VERIFY is not None) == (native is not None)


def signed(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    key = nacl.signing.SigningKey(seed)
    return bytes(key.verify_key), key.sign(message).signature


@settings(max_examples=300)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=5000),
       st.binary(max_size=20))
def test_random_signatures_verify_alike(seed: bytes, message: bytes, prefix: bytes) -> None:
    public, sig = signed(seed, prefix + message)
    assert both(public, message, sig, prefix) is True
    assert both(public, prefix + message, sig) is True


@settings(max_examples=400)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=600),
       st.sampled_from(["public", "message", "signature"]), st.data())
def test_a_flipped_bit_is_rejected_alike(seed: bytes, message: bytes, where: str,
                                         data: st.DataObject) -> None:
    public, sig = signed(seed, message)
    parts = {"public": bytearray(public), "message": bytearray(message),
             "signature": bytearray(sig)}
    target = parts[where]
    bit = data.draw(st.integers(0, len(target) * 8 - 1))
    target[bit // 8] ^= 1 << (bit % 8)
    assert both(bytes(parts["public"]), bytes(parts["message"]),
                bytes(parts["signature"])) is False


@settings(max_examples=100)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=200))
def test_non_canonical_s_is_rejected_alike(seed: bytes, message: bytes) -> None:
    public, sig = signed(seed, message)
    s = int.from_bytes(sig[32:], "little") + L
    if s < 2**256:
        assert both(public, message, sig[:32] + s.to_bytes(32, "little")) is False


@pytest.mark.parametrize("point", SMALL_ORDER)
def test_small_order_keys_and_r_are_judged_alike(point: bytes) -> None:
    public, sig = signed(b"\x07" * 32, b"m")
    both(point, b"m", sig)  # a small-order (or non-canonical) key
    both(point, b"m", point + b"\x00" * 32)  # R and key of small order, S = 0
    both(public, b"m", point + sig[32:])  # R of small order
    both(point, b"", point + b"\x00" * 32)


@settings(max_examples=300)
@given(st.binary(max_size=40), st.binary(max_size=70), st.binary(max_size=50))
def test_any_lengths_are_judged_alike(public: bytes, signature: bytes, message: bytes) -> None:
    assert both(public, message, signature) is False


@pytest.mark.parametrize("shape", [bytearray, memoryview, str, list, type(None)])
def test_values_that_are_not_bytes_take_the_reference(shape: Any) -> None:
    public, sig = signed(b"\x05" * 32, b"msg")

    def as_shape(value: bytes) -> Any:
        if shape is str:
            return value.hex()
        if shape is type(None):
            return None
        return shape(value)

    for args in ((as_shape(public), b"msg", sig), (public, as_shape(b"msg"), sig),
                 (public, b"msg", as_shape(sig))):
        both(*args)
    native = getattr(speedups, "ed25519_verify", None)
    if native is not None:
        assert native(bytearray(public), b"msg", sig, b"") is None
        assert native(public, b"msg", sig, bytearray(b"p")) is None


def test_the_spec_vectors_verify_natively() -> None:
    doc = json.loads(VECTORS.read_text())
    keys = {k["key_id"]: base64.b64decode(k["public_key_b64"]) for k in doc["keys"].values()}
    count = 0
    for event in doc["events"]:
        sealed = parse(event["sealed"].encode())
        for sig in sealed.signatures:
            assert both(keys[sig.key], sealed.envelope_bytes, sig.sig, SIGNING_PREFIX) is True
            tampered = bytes([sig.sig[0] ^ 1]) + sig.sig[1:]
            assert both(keys[sig.key], sealed.envelope_bytes, tampered, SIGNING_PREFIX) is False
            count += 1
    assert count >= len(doc["events"])


def test_no_memory_is_kept_per_call() -> None:
    public, sig = signed(b"\x09" * 32, b"x" * 5000)
    for _ in range(200):  # warm up
        signature_is_valid(public, b"x" * 5000, sig, b"")
        signature_is_valid(public, b"x" * 4990, sig, b"y" * 10)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            signature_is_valid(public, b"x" * 4990, sig, b"x" * 10)  # the large-buffer path
            signature_is_valid(public, b"m", sig, b"p")
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 20_000


@settings(max_examples=200)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=5000))
def test_signatures_are_made_alike(seed: bytes, message: bytes) -> None:
    """``Ed25519Signer.sign`` (natively ``crypto_sign_detached``) makes the very signature
    PyNaCl's ``SigningKey.sign`` makes, and the native function makes it where it is bound."""
    expected = nacl.signing.SigningKey(seed).sign(message).signature
    made = signer.Ed25519Signer(seed)
    assert made.sign(message) == expected
    native = getattr(speedups, "ed25519_sign", None)
    assert (signer._NATIVE_SIGN is not None) == (native is not None)
    if signer._NATIVE_SIGN is not None:
        secret = made._secret  # the 64-byte libsodium secret key (seed || public key)
        assert signer._NATIVE_SIGN(secret, message) == expected


@pytest.mark.parametrize("args", [
    (b"\x01" * 63, b"m"), (b"\x01" * 65, b"m"), (bytearray(64), b"m"), (b"\x01" * 64, "m"),
    (b"\x01" * 64, bytearray(b"m")), (None, b"m"),
])
def test_sign_hands_back_what_is_not_exactly_bytes(args: tuple[Any, Any]) -> None:
    """A secret key that is not 64 bytes, or a value that is not exactly bytes, is handed back
    (None): the reference signs it, or refuses it."""
    native = signer._NATIVE_SIGN
    if native is None:  # the pure build (CDLOG_PURE=1): no native function at all
        assert speedups is None or signer._NATIVE_VERIFY is None
        return
    assert native(*args) is None
