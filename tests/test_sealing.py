"""Tests for cdlog.log.sealing: seal and parse round trip, the event hash, the signing message,
signer order, and parse refusing malformed bytes with a located ``decode`` failure."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.canonical import canonical_bytes
from cdlog.errors import InputError, VerificationError
from cdlog.keys.signer import Ed25519Signer, signature_is_valid
from cdlog.log import merkle
from cdlog.log.sealing import (
    ENVELOPE_KEYS,
    FORMAT,
    SIGNING_PREFIX,
    STREAM_NAMESPACE,
    SealedEvent,
    Signature,
    build_envelope,
    case_id,
    case_text,
    leaf_hash,
    parse,
    seal,
    signing_message,
    stream_id,
)

SIGNERS = [Ed25519Signer(bytes([i]) * 32) for i in range(1, 4)]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1),
                         st.text(max_size=10))
json_values = st.recursive(json_scalars, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)), max_leaves=10)


def party(n: int, signer: Ed25519Signer) -> dict[str, str]:
    """An envelope party: identity fields and the signer's key id."""
    return {"id": f"CBP-{n}", "role": "CBPO", "agency": "CBP", "office": "OFO",
            "key": signer.key_id}


def envelope(*, cosigners: int = 0, payload: dict[str, Any] | None = None, version: int = 1,
             prev: str | None = None, stream: str = "case:OP-1") -> dict[str, Any]:
    """An envelope signed by SIGNERS[0] and ``cosigners`` of the others."""
    return build_envelope(
        log="test.example/log", stream=stream, version=version, type_="HoldPlaced",
        occurred={"at": "2006-03-14T09:12:00-05:00"}, recorded="2006-03-14T09:13:00-05:00",
        actor=party(0, SIGNERS[0]),
        cosigners=[party(i, SIGNERS[i]) for i in range(1, cosigners + 1)],
        payload=payload if payload is not None else {"reason": "x"}, prev=prev, late=False)


def sample() -> SealedEvent:
    """One sealed event with a co-signer."""
    return seal(envelope(cosigners=1), SIGNERS[:2])


# --- sealing -----------------------------------------------------------------------------------


@settings(max_examples=60)
@given(payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
       cosigners=st.integers(0, 2), version=st.integers(1, 2**53 - 1),
       prev=st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex),
       stream=st.text(min_size=1, max_size=20).map(lambda s: "case:" + s))
def test_seal_parse_round_trip(payload: dict[str, Any], cosigners: int, version: int,
                               prev: str | None, stream: str) -> None:
    """parse(seal(e).sealed) gives back the envelope, its bytes, signatures and hash."""
    env = envelope(cosigners=cosigners, payload=payload, version=version, prev=prev,
                   stream=stream)
    sealed = seal(env, SIGNERS[:cosigners + 1])
    parsed = parse(sealed.sealed)
    assert parsed == sealed
    assert parsed.envelope == env
    assert parsed.envelope_bytes == canonical_bytes(env)
    assert sealed.sealed == (canonical_bytes(env) + b"\n"
                             + canonical_bytes([s.as_json() for s in sealed.signatures]))
    assert parsed.version == version
    assert parsed.prev == prev
    assert parsed.case == str(stream_id(stream))
    assert parsed.signer_keys == tuple(s.key_id for s in SIGNERS[:cosigners + 1])


def test_hash_is_the_rfc6962_leaf_hash_of_the_sealed_bytes() -> None:
    """The event hash is SHA-256(0x00 || sealed), the Merkle leaf hash of the log."""
    sealed = sample()
    assert sealed.hash == hashlib.sha256(b"\x00" + sealed.sealed).digest()
    assert sealed.hash == leaf_hash(sealed.sealed) == merkle.leaf_hash(sealed.sealed)
    assert sealed.hash_hex == sealed.hash.hex()
    other = seal(envelope(cosigners=1, payload={"reason": "y"}), SIGNERS[:2])
    assert other.hash != sealed.hash


def test_signatures_cover_the_prefixed_envelope_bytes() -> None:
    """Each signer signs "cdlog/event/v1\\n" || JCS(envelope), in envelope order."""
    sealed = sample()
    message = signing_message(sealed.envelope_bytes)
    assert message == SIGNING_PREFIX + sealed.envelope_bytes == b"cdlog/event/v1\n" + \
        sealed.envelope_bytes
    assert [s.key for s in sealed.signatures] == [SIGNERS[0].key_id, SIGNERS[1].key_id]
    for sig, signer in zip(sealed.signatures, SIGNERS, strict=False):
        assert signature_is_valid(signer.public_key, message, sig.sig)
        assert not signature_is_valid(signer.public_key, sealed.envelope_bytes, sig.sig)


@pytest.mark.parametrize("signers", [
    [SIGNERS[1], SIGNERS[0]],  # reversed
    [SIGNERS[0]],  # a co-signer missing
    [SIGNERS[0], SIGNERS[1], SIGNERS[2]],  # one too many
    [SIGNERS[0], SIGNERS[2]],  # the wrong co-signer
    [],
], ids=["reversed", "missing", "extra", "wrong", "none"])
def test_signers_must_match_the_envelope_in_order(signers: list[Ed25519Signer]) -> None:
    """seal refuses signers that are not the actor then each co-signer, in that order."""
    with pytest.raises(InputError) as raised:
        seal(envelope(cosigners=1), signers)
    assert raised.value.field == "signers"


def test_sealed_event_properties() -> None:
    """The accessors read the envelope: stream, case, version, type, topic, payload, prev."""
    sealed = seal(envelope(version=7, prev="ab" * 32), SIGNERS[:1])
    assert sealed.stream == "case:OP-1"
    assert sealed.case == str(uuid.uuid5(STREAM_NAMESPACE, "case:OP-1"))
    assert (sealed.version, sealed.type, sealed.topic) == (7, "HoldPlaced", "cdlog:HoldPlaced")
    assert sealed.payload == {"reason": "x"}
    assert sealed.prev == "ab" * 32
    assert set(sealed.envelope) == ENVELOPE_KEYS
    assert sealed.envelope["format"] == FORMAT
    assert sealed.signatures[0].as_json() == {
        "key": SIGNERS[0].key_id, "sig": base64.b64encode(sealed.signatures[0].sig).decode()}


# --- parsing malformed bytes -------------------------------------------------------------------


_DROP = object()


def _with(**changes: Any) -> bytes:
    env = dict(sample().envelope)
    for key, value in changes.items():
        if value is _DROP:
            del env[key]
        else:
            env[key] = value
    return canonical_bytes(env) + b"\n" + canonical_bytes(
        [s.as_json() for s in sample().signatures])


_SIGS = canonical_bytes([s.as_json() for s in sample().signatures])


@pytest.mark.parametrize("data", [
    pytest.param(b"", id="empty"),
    pytest.param(sample().envelope_bytes, id="no-newline"),
    pytest.param(b"{not json\n" + _SIGS, id="envelope-not-json"),
    pytest.param(sample().envelope_bytes + b"\n[{", id="signatures-not-json"),
    pytest.param(b"[]\n" + _SIGS, id="envelope-not-object"),
    pytest.param(_with(late=_DROP), id="field-missing"),
    pytest.param(_with(extra=1), id="field-extra"),
    pytest.param(_with(format="cdlog/event/v2"), id="wrong-format"),
    pytest.param(_with(version="1"), id="version-string"),
    pytest.param(_with(type=5), id="type-number"),
    pytest.param(sample().envelope_bytes + b'\n{"key":"k","sig":"AA=="}', id="sigs-object"),
    pytest.param(sample().envelope_bytes + b'\n[{"key":"k"}]', id="sig-missing"),
    pytest.param(sample().envelope_bytes + b'\n[{"key":"k","sig":"A","x":1}]', id="sig-extra"),
    pytest.param(sample().envelope_bytes + b'\n[{"key":"k","sig":"not base64!"}]',
                 id="sig-not-base64"),
    pytest.param(sample().envelope_bytes + b'\n[{"key":"k","sig":7}]', id="sig-number"),
    pytest.param(b"\xff\xfe\n\x00", id="not-utf8"),
])
def test_parse_refuses_malformed_bytes(data: bytes) -> None:
    """Malformed sealed bytes raise VerificationError: one ``decode`` failure at the place given."""
    with pytest.raises(VerificationError) as raised:
        parse(data, "case-id", 3)
    [failure] = raised.value.failures
    assert (failure.case, failure.version, failure.check) == ("case-id", 3, "decode")


def test_parse_refuses_a_non_ascii_signature() -> None:
    """A signature text with non-ASCII characters is a ``decode`` failure, not a ValueError."""
    with pytest.raises(VerificationError):
        parse(sample().envelope_bytes + b'\n[{"key":"k","sig":"\\u00e9"}]', "c", 1)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_raise_verification_error(data: bytes) -> None:
    """Random bytes never crash parse: they raise VerificationError (check ``decode``)."""
    with pytest.raises(VerificationError) as raised:
        parse(data, "somewhere", 9)
    assert {f.check for f in raised.value.failures} == {"decode"}


def parse_or_error(data: bytes) -> SealedEvent | VerificationError:
    """What parse returns, or the VerificationError it raises (anything else propagates)."""
    try:
        return parse(data, "x", 1)
    except VerificationError as exc:
        return exc


signature_lists = st.one_of(
    json_values,
    st.lists(st.fixed_dictionaries({"key": json_values, "sig": json_values}), max_size=3),
    st.lists(st.fixed_dictionaries({"key": st.text(max_size=20),
                                    "sig": st.text(max_size=90)}), max_size=3),
)


@settings(max_examples=300)
@given(env=st.fixed_dictionaries(dict.fromkeys(sorted(ENVELOPE_KEYS), json_values)),
       fmt=st.sampled_from([FORMAT, "other"]), sigs=signature_lists)
def test_json_shaped_input_parses_or_raises_decode(env: dict[str, Any], fmt: str,
                                                   sigs: Any) -> None:
    """Envelope-shaped JSON with arbitrary values either parses or raises a ``decode`` failure."""
    env["format"] = fmt
    data = canonical_bytes(env) + b"\n" + canonical_bytes(sigs)
    parsed = parse_or_error(data)
    if isinstance(parsed, VerificationError):
        assert {f.check for f in parsed.failures} == {"decode"}
    else:
        assert parsed.sealed == data
        assert all(isinstance(s, Signature) for s in parsed.signatures)


@settings(max_examples=300)
@given(data=st.data())
def test_flipped_bytes_parse_or_raise_decode(data: st.DataObject) -> None:
    """A valid sealed event with one byte changed either parses or raises a ``decode`` failure."""
    sealed = bytearray(sample().sealed)
    index = data.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= data.draw(st.integers(1, 255))
    parsed = parse_or_error(bytes(sealed))
    if isinstance(parsed, VerificationError):
        assert {f.check for f in parsed.failures} == {"decode"}
    else:
        assert parsed.hash != sample().hash


@settings(max_examples=500)
@given(st.text() | st.sampled_from(["", "case:OP-2006-0001", "pnr:AA-1", "trust:CBP"])
       | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)))
def test_a_case_id_text_is_the_uuid5_of_its_stream(name: str) -> None:
    """case_text writes str(uuid5(namespace, name)) directly: the same text for every name, or
    the same refusal (a lone surrogate has no UTF-8)."""
    try:
        expected: object = str(uuid.uuid5(STREAM_NAMESPACE, name))
    except UnicodeEncodeError:
        expected = UnicodeEncodeError
    try:
        got: object = case_text(name)
    except UnicodeEncodeError:
        got = UnicodeEncodeError
    assert got == expected
    if isinstance(got, str):
        assert got == case_id(name) == str(stream_id(name))
