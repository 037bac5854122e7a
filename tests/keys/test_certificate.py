"""Officer key certificates: issue, verify, tamper, wrong issuer, field validation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cdlog.canonical import canonical_bytes, loads
from cdlog.domain.values import Officer
from cdlog.errors import InputError, VerificationError
from cdlog.keys.certificate import (
    Certificate,
    SignedCertificate,
    decode_public_key,
    encode_public_key,
    issue_certificate,
    verify_certificate,
)
from cdlog.keys.signer import Ed25519Signer, key_id_for

ROOT = Ed25519Signer(b"\x01" * 32)
OTHER_ROOT = Ed25519Signer(b"\x02" * 32)
OFFICER_KEY = Ed25519Signer(b"\x03" * 32)
EST = timezone(timedelta(hours=-5))
NOT_BEFORE = datetime(2006, 1, 1, tzinfo=EST)
NOT_AFTER = datetime(2007, 1, 1, tzinfo=EST)
SUBJECT = Officer(id="CBP-2290", role="SCBPO", agency="CBP", office="OFO",
                  unit="Contraband Enforcement Team", aor="Laredo")


def issue(root: Ed25519Signer = ROOT, **changes: Any) -> SignedCertificate:
    args: dict[str, Any] = {"public_key": OFFICER_KEY.public_key, "subject": SUBJECT,
                            "not_before": NOT_BEFORE, "not_after": NOT_AFTER, "serial": 7}
    args.update(changes)
    return issue_certificate(root, **args)


def test_issue_and_verify() -> None:
    signed = issue()
    cert = signed.certificate
    assert cert.key_id == OFFICER_KEY.key_id
    assert cert.public_key_bytes() == OFFICER_KEY.public_key
    assert cert.issuer == ROOT.key_id
    assert cert.subject == SUBJECT
    assert len(signed.signature_bytes()) == 64
    verify_certificate(signed, ROOT.public_key)


def test_json_round_trip_still_verifies() -> None:
    signed = issue()
    data = canonical_bytes(signed.as_json())
    again = SignedCertificate.model_validate(loads(data))
    assert again == signed
    assert canonical_bytes(again.as_json()) == data
    verify_certificate(again, ROOT.public_key)


def test_signed_message_is_domain_separated() -> None:
    cert = issue().certificate
    body = canonical_bytes(cert.model_dump(mode="json"))
    assert cert.signing_message() == b"cdlog/cert/v1\n" + body
    assert b'"not_before":"2006-01-01T00:00:00-05:00"' in body


def test_wrong_root_key_is_refused() -> None:
    with pytest.raises(VerificationError) as info:
        verify_certificate(issue(), OTHER_ROOT.public_key)
    failure = info.value.failures[0]
    assert failure.check == "certificate"
    assert "names issuer" in failure.detail


def test_failure_is_located_at_the_given_event() -> None:
    with pytest.raises(VerificationError) as info:
        verify_certificate(issue(), OTHER_ROOT.public_key, case="c-1", version=4)
    assert (info.value.failures[0].case, info.value.failures[0].version) == ("c-1", 4)


def test_forged_signature_naming_the_real_issuer_is_refused() -> None:
    genuine = issue()
    forged_sig = OTHER_ROOT.sign(genuine.certificate.signing_message())
    forged = genuine.model_copy(update={"signature": base64.b64encode(forged_sig).decode()})
    with pytest.raises(VerificationError, match="invalid") as info:
        verify_certificate(forged, ROOT.public_key)
    assert info.value.failures[0].check == "certificate"


def test_signature_under_another_prefix_is_refused() -> None:
    genuine = issue()
    body = canonical_bytes(genuine.certificate.model_dump(mode="json"))
    sig = ROOT.sign(b"cdlog/event/v1\n" + body)
    bad = genuine.model_copy(update={"signature": base64.b64encode(sig).decode()})
    with pytest.raises(VerificationError):
        verify_certificate(bad, ROOT.public_key)


@pytest.mark.parametrize("update", [
    {"subject": SUBJECT.model_copy(update={"role": "CBPO"})},
    {"subject": SUBJECT.model_copy(update={"unit": None})},
    {"serial": 8},
    {"not_after": NOT_AFTER + timedelta(days=1)},
])
def test_changed_field_is_refused(update: dict[str, Any]) -> None:
    signed = issue()
    changed = signed.model_copy(update={"certificate": signed.certificate.model_copy(
        update=update)})
    with pytest.raises(VerificationError):
        verify_certificate(changed, ROOT.public_key)


def test_same_instant_other_offset_is_a_different_certificate() -> None:
    signed = issue()
    utc = signed.certificate.not_before.astimezone(UTC)
    changed = signed.model_copy(update={"certificate": signed.certificate.model_copy(
        update={"not_before": utc})})
    with pytest.raises(VerificationError):
        verify_certificate(changed, ROOT.public_key)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_the_canonical_certificate_is_detected(data: st.DataObject) -> None:
    signed = issue()
    body = bytearray(canonical_bytes(signed.certificate.model_dump(mode="json")))
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    body[index] ^= mask
    try:
        tampered = SignedCertificate.model_validate(
            {"certificate": loads(bytes(body)), "signature": signed.signature})
    except (ValueError, TypeError):
        return  # no longer a certificate: refused at parse time
    with pytest.raises(VerificationError):
        verify_certificate(tampered, ROOT.public_key)


@settings(max_examples=100, deadline=None)
@given(index=st.integers(0, 63), mask=st.integers(1, 255))
def test_flipping_any_byte_of_the_signature_is_detected(index: int, mask: int) -> None:
    signed = issue()
    sig = bytearray(signed.signature_bytes())
    sig[index] ^= mask
    bad = signed.model_copy(update={"signature": base64.b64encode(bytes(sig)).decode()})
    with pytest.raises(VerificationError):
        verify_certificate(bad, ROOT.public_key)


# ---------------------------------------------------------------- field validation


def cert_json(**changes: Any) -> dict[str, Any]:
    data = issue().certificate.model_dump(mode="json")
    data.update(changes)
    return data


def test_key_id_must_match_public_key() -> None:
    with pytest.raises(ValidationError, match="does not match public_key"):
        Certificate.model_validate(cert_json(key_id=ROOT.key_id))


@pytest.mark.parametrize("public_key", [
    base64.b64encode(b"\x03" * 31).decode(),   # 31 bytes
    "not base64!",
    base64.b64encode(b"\x03" * 32).decode().rstrip("="),  # unpadded
    base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # url-safe alphabet
])
def test_public_key_form_is_checked(public_key: str) -> None:
    with pytest.raises(ValidationError):
        Certificate.model_validate(cert_json(public_key=public_key))


def test_public_key_base64_must_be_canonical() -> None:
    text = encode_public_key(OFFICER_KEY.public_key)
    # the last character carries 2 unused bits: set them and the bytes decode the same
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = text[-2]
    noncanonical = text[:-2] + alphabet[alphabet.index(last) | 1] + "="
    assert noncanonical != text
    assert base64.b64decode(noncanonical) == OFFICER_KEY.public_key
    with pytest.raises(ValidationError, match="canonical"):
        Certificate.model_validate(cert_json(public_key=noncanonical))
    with pytest.raises(InputError):
        decode_public_key(noncanonical)
    assert decode_public_key(text) == OFFICER_KEY.public_key


@pytest.mark.parametrize("text", [
    "2006-01-01T00:00:00Z",
    "2006-01-01T00:00-05:00",
    "2006-01-01 00:00:00-05:00",
    "2006-01-01T00:00:00.000000-05:00",
])
def test_times_must_be_canonical_text(text: str) -> None:
    with pytest.raises(ValidationError, match="canonical time"):
        Certificate.model_validate(cert_json(not_before=text))


def test_naive_time_is_refused() -> None:
    with pytest.raises(InputError):
        issue(not_before=datetime(2006, 1, 1))


@pytest.mark.parametrize("not_after", [NOT_BEFORE, NOT_BEFORE - timedelta(seconds=1)])
def test_window_must_not_be_empty(not_after: datetime) -> None:
    with pytest.raises(InputError, match="not_after"):
        issue(not_after=not_after)


@pytest.mark.parametrize("serial", [-1, 2**53])
def test_serial_range(serial: int) -> None:
    with pytest.raises(InputError) as info:
        issue(serial=serial)
    assert info.value.field == "serial"


def test_public_key_length_is_checked_at_issue() -> None:
    with pytest.raises(InputError, match="32 bytes"):
        issue(public_key=b"\x00" * 31)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        Certificate.model_validate(cert_json(extra="x"))
    with pytest.raises(ValidationError):
        SignedCertificate.model_validate({**issue().as_json(), "extra": 1})


def test_signature_form_is_checked() -> None:
    with pytest.raises(ValidationError):
        SignedCertificate.model_validate({**issue().as_json(),
                                          "signature": base64.b64encode(b"x" * 63).decode()})


def test_valid_at_is_inclusive() -> None:
    cert = issue().certificate
    assert cert.valid_at(NOT_BEFORE)
    assert cert.valid_at(NOT_AFTER)
    assert not cert.valid_at(NOT_BEFORE - timedelta(microseconds=1))
    assert not cert.valid_at(NOT_AFTER + timedelta(microseconds=1))


def test_key_id_matches_signer_module() -> None:
    assert issue().certificate.key_id == key_id_for(OFFICER_KEY.public_key)


def test_every_single_byte_change_of_the_certificate_is_detected() -> None:
    """Exhaustive companion of the property test: all positions, all 255 changes (~1 s)."""
    signed = issue()
    body = canonical_bytes(signed.certificate.model_dump(mode="json"))
    accepted = []
    for index in range(len(body)):
        for mask in range(1, 256):
            changed = bytearray(body)
            changed[index] ^= mask
            try:
                tampered = SignedCertificate.model_validate(
                    {"certificate": loads(bytes(changed)), "signature": signed.signature})
            except (ValueError, TypeError):
                continue
            try:
                verify_certificate(tampered, ROOT.public_key)
            except VerificationError:
                continue
            accepted.append((index, mask))
    assert accepted == []
