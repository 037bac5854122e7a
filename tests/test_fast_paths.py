"""The faster paths on append and verification give exactly what the plain ones give.

* canonical JSON: the quicker walk decides exactly as the plain one did where orjson may be
  used (strings, safe integers, keys below U+D800, no floats), and values with floats (the
  RFC 8785 Appendix B numbers included) still come out as the reference writes them;
* the signature list is encoded as :func:`cdlog.canonical.canonical_bytes` encodes it;
* remembered officers, times and verify keys equal freshly computed ones, and what is handed
  out cannot be changed behind the cache's back;
* cdlog's own Ed25519 signer is not verified again after signing, every other signer is.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

import nacl.signing
import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cdlog.canonical import _fast_path_ok, canonical_bytes, parse_time
from cdlog.domain.values import Officer
from cdlog.errors import InputError
from cdlog.keys.signer import Ed25519Signer, signature_is_valid
from cdlog.log.facts import officer_json, officer_of
from cdlog.log.sealing import Signature, signatures_bytes

# RFC 8785 Appendix B: IEEE-754 bit patterns whose shortest forms differ between encoders.
APPENDIX_B = [
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x4340000000000000, 0xC340000000000000,
    0x4430000000000000, 0x44B52D02C7E14AF5, 0x44B52D02C7E14AF6, 0x44B52D02C7E14AF7,
    0x444B1AE4D6E2EF4E, 0x444B1AE4D6E2EF4F, 0x444B1AE4D6E2EF50, 0x3EB0C6F7A0B5ED8C,
    0x3EB0C6F7A0B5ED8D, 0x41B3DE4355555553, 0x41B3DE4355555554, 0x41B3DE4355555555,
    0x41B3DE4355555556, 0x41B3DE4355555557, 0xBECBF647612F3696, 0x43143FF3C1CB0959,
]
VECTORS = [struct.unpack(">d", n.to_bytes(8, "big"))[0] for n in APPENDIX_B]

keys = st.one_of(st.text(max_size=6), st.sampled_from(["", "a", "é", "\ue000", "\U0001f600",
                                                      "\u20ac", "\ud7ff"]))
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(VECTORS),
                   st.sampled_from([46.2, 0.5, 1.1, 1e21, 1e-7, 100.0, -0.0]))
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=10), floats,
                    st.integers(-(2**60), 2**60))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=12)


def reference(value: Any) -> bytes | None:
    """rfc8785's encoding, or None where it refuses."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return None


def plain_walk(value: Any) -> bool:
    """The walk as it was before it was made quicker (the reference for the quick one)."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -(2**53 - 1) <= v <= 2**53 - 1:
                return False
        elif t is dict:
            for k, item in v.items():
                if type(k) is not str or (k and max(k) >= "\ud800"):
                    return False
                stack.append(item)
        elif t is list or t is tuple:
            stack.extend(v)
        else:
            return False
    return True


@pytest.mark.parametrize("value", VECTORS, ids=[f"{n:016x}" for n in APPENDIX_B])
def test_appendix_b_numbers_equal_the_reference(value: float) -> None:
    """Each RFC 8785 Appendix B number encodes as the reference does, in a value and alone."""
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_bytes({"n": [value, 1]}) == rfc8785.dumps({"n": [value, 1]})
    assert not _fast_path_ok({"n": [value]})


@settings(max_examples=500)
@given(values)
def test_quick_walk_decides_as_the_plain_one(value: Any) -> None:
    """The quicker walk takes orjson exactly where the plain walk did, and there orjson's
    sorted output is the RFC 8785 reference."""
    assert _fast_path_ok(value) == plain_walk(value)
    if _fast_path_ok(value):
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == reference(value)


@settings(max_examples=500)
@given(values)
def test_canonical_bytes_with_floats_equal_the_reference(value: Any) -> None:
    """canonical_bytes equals the reference for values with floats, or refuses as it does."""
    expected = reference(value)
    if expected is None:
        with pytest.raises(InputError):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected


@given(st.lists(st.tuples(st.text(max_size=20), st.binary(min_size=64, max_size=64)),
                max_size=3))
def test_signature_list_bytes_equal_canonical_bytes(sigs: list[tuple[str, bytes]]) -> None:
    """The signature half of the stored bytes is what canonical_bytes makes of the list."""
    signatures = [Signature(key, sig) for key, sig in sigs]
    try:
        expected = canonical_bytes([s.as_json() for s in signatures])
    except (InputError, TypeError) as exc:  # strings orjson cannot write (lone surrogates)
        with pytest.raises(type(exc)):
            signatures_bytes(signatures)
        return
    assert signatures_bytes(signatures) == expected


# --- remembered values ------------------------------------------------------------------------

PARTY = {"agency": "CBP", "id": "CBP-4417", "key": "ed25519:0011223344556677",
         "office": "OFO", "role": "CBPO-Enforcement"}


@pytest.mark.parametrize("party", [
    PARTY,
    {**PARTY, "unit": "A-TCET"},
    {**PARTY, "id": 4417},
    {**PARTY, "id": True},
    {**PARTY, "id": ["CBP-4417"]},
    {**PARTY, "extra": "x"},
    {k: v for k, v in PARTY.items() if k != "role"},
])
def test_remembered_officers_equal_fresh_validation(party: dict[str, Any]) -> None:
    """officer_of gives what validating the party gives, the first time and after, and fails
    where validation fails."""
    fields = {k: v for k, v in party.items() if k != "key"}
    try:
        fresh = Officer.model_validate(fields)
    except ValidationError:
        for _ in range(2):
            with pytest.raises(ValidationError):
                officer_of(party)
        return
    assert officer_of(party) == fresh
    assert officer_of(dict(party)) == fresh


def test_officer_json_hands_out_fresh_dicts() -> None:
    """Changing the envelope form officer_json returned changes nothing later."""
    officer = Officer(id="CBP-1", role="CBPO", agency="CBP", office="OFO")
    first = officer_json(officer, "ed25519:aa")
    first["id"] = "forged"
    assert officer_json(officer, "ed25519:aa") == {"agency": "CBP", "id": "CBP-1",
                                                   "key": "ed25519:aa", "office": "OFO",
                                                   "role": "CBPO"}


@pytest.mark.parametrize("text", ["2006-03-14T09:12:00-05:00", "2006-03-14T09:12-05:00",
                                  "2006-03-14T14:12:00Z", "2006-03-14T09:12:00", "nope", 5])
def test_remembered_times_equal_fresh_parsing(text: Any) -> None:
    """parse_time gives the same time, or the same refusal, every time."""
    outcomes: list[datetime | str] = []
    for _ in range(3):
        try:
            outcomes.append(parse_time(text, "recorded"))
        except InputError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    if isinstance(outcomes[0], datetime):
        assert outcomes[0] == datetime.fromisoformat(str(text))


def test_remembered_verify_keys_check_every_signature() -> None:
    """With its key remembered, a good signature verifies and a bad one, a wrong key or a
    malformed key do not."""
    signer = Ed25519Signer(b"\x05" * 32)
    other = nacl.signing.SigningKey(b"\x06" * 32)
    message = b"cdlog/event/v1\n{}"
    good = signer.sign(message)
    for _ in range(2):
        assert signature_is_valid(signer.public_key, message, good)
        assert not signature_is_valid(signer.public_key, message + b" ", good)
        assert not signature_is_valid(signer.public_key, message,
                                      other.sign(message).signature)
        assert not signature_is_valid(bytes(other.verify_key), message, good)
        assert not signature_is_valid(b"\x00" * 31, message, good)
