"""The salted field commitment (docs/SPEC.md §12): its definition, read with hashlib alone,
and that any change of field, value or salt gives another commitment."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdlog.canonical import canonical_bytes
from cdlog.errors import InputError
from cdlog.restricted.commitment import SALT_BYTES, commit, commitment, is_commitment, matches

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10)
FIELDS = st.sampled_from(["locator", "passenger", "itinerary", "contact", "payment"])
SALTS = st.binary(min_size=SALT_BYTES, max_size=SALT_BYTES)


@given(field=FIELDS, value=JSON, salt=SALTS)
def test_commitment_is_the_spec_formula(field: str, value: Any, salt: bytes) -> None:
    """sha256: || hex(SHA-256("cdlog/field/v1" 0x0A field 0x0A salt JCS(value)))."""
    expected = "sha256:" + hashlib.sha256(b"cdlog/field/v1\n" + field.encode() + b"\n" + salt
                                          + canonical_bytes(value)).hexdigest()
    assert commitment(field, value, salt) == expected
    assert is_commitment(expected)
    assert matches(field, value, salt, expected)


@given(field=FIELDS, other=FIELDS, value=JSON, changed=JSON, salt=SALTS, salt2=SALTS)
def test_any_change_breaks_the_commitment(field: str, other: str, value: Any, changed: Any,
                                          salt: bytes, salt2: bytes) -> None:
    """Another field, value or salt does not open the commitment."""
    c = commitment(field, value, salt)
    assert matches(other, value, salt, c) == (other == field)
    assert matches(field, changed, salt, c) == (canonical_bytes(changed)
                                                 == canonical_bytes(value))
    assert matches(field, value, salt2, c) == (salt2 == salt)


def test_fresh_salts_hide_equal_values() -> None:
    """Two commitments to the same value differ (a fresh 32-byte salt each time)."""
    (c1, s1), (c2, s2) = commit("locator", "ABC123"), commit("locator", "ABC123")
    assert c1 != c2
    assert len(s1) == len(s2) == SALT_BYTES
    assert matches("locator", "ABC123", s1, c1)
    assert not matches("locator", "ABC123", s1, c2)


@pytest.mark.parametrize("salt", [b"", b"x" * 16, b"x" * 33, "x" * 32])
def test_a_salt_of_another_length_is_refused(salt: Any) -> None:
    """Only 32-byte salts: anything else is an InputError, and never matches."""
    with pytest.raises(InputError, match="salt"):
        commitment("locator", "ABC123", salt)
    assert not matches("locator", "ABC123", salt, commitment("locator", "ABC123", b"x" * 32))


@pytest.mark.parametrize("value", [12.5, [1, 2.0], {"amount": {"eur": 0.5}}])
def test_floats_are_refused(value: Any) -> None:
    """cdlog never hashes a float, however deep."""
    with pytest.raises(InputError, match="float"):
        commit("payment", value)
