"""Officer key certificates: an agency root key vouches that a public key belongs to an officer.

A :class:`Certificate` binds a public key to an :class:`~cdlog.domain.values.Officer` for a
validity window. The issuing agency's root key signs
``"cdlog/cert/v1\\n" || JCS(certificate)`` (RFC 8785) with Ed25519; the pair is a
:class:`SignedCertificate`.

Every encoded field has exactly one accepted form (canonical base64, canonical time text) so
that the bytes a certificate is read from are the bytes its signature covers.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from cdlog.canonical import canonical_bytes, is_canonical_time
from cdlog.domain.values import Count, Frozen, Officer, Time
from cdlog.errors import Failure, InputError, VerificationError
from cdlog.keys.signer import Signer, key_id_for, signature_is_valid

CERT_SIGNING_PREFIX = b"cdlog/cert/v1\n"
"""Domain-separation prefix of the message a root signs for a certificate."""

KEY_ID_PATTERN = r"^ed25519:[0-9a-f]{16}$"
KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN)]
"""A key id as :func:`~cdlog.keys.signer.key_id_for` writes it."""


def _decode_b64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{what} is not standard base64"
        raise ValueError(msg) from exc
    if len(raw) != size:
        msg = f"{what} decodes to {len(raw)} bytes, expected {size}"
        raise ValueError(msg)
    if base64.b64encode(raw).decode("ascii") != text:
        msg = f"{what} is not in canonical base64 form"
        raise ValueError(msg)
    return raw


def encode_public_key(public_key: bytes) -> str:
    """Return the standard base64 text of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise InputError("public_key", f"is {len(public_key)} bytes", "32 bytes (Ed25519)")
    return base64.b64encode(public_key).decode("ascii")


def decode_public_key(text: str) -> bytes:
    """Return the raw 32-byte key of a canonical standard-base64 public key.

    Raises :class:`~cdlog.errors.InputError` when ``text`` is not such a key.
    """
    try:
        return _decode_b64(text, 32, "public_key")
    except ValueError as exc:
        raise InputError("public_key", str(exc),
                         "canonical standard base64 of a 32-byte Ed25519 key") from exc


def check_key_pair(key_id: str, public_key: str) -> bytes:
    """Validate that ``public_key`` (base64) is an Ed25519 key whose id is ``key_id``.

    Returns the raw key. Raises :class:`ValueError` (used by model validators).
    """
    raw = _decode_b64(public_key, 32, "public_key")
    actual = key_id_for(raw)
    if actual != key_id:
        msg = f"key_id {key_id!r} does not match public_key (whose key id is {actual!r})"
        raise ValueError(msg)
    return raw


def _canonical_time_text(value: Any) -> Any:
    if isinstance(value, str) and not is_canonical_time(value):
        msg = f"{value!r} is not a canonical time (YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM)"
        raise ValueError(msg)
    return value


class Certificate(Frozen):
    """A root's statement that ``public_key`` (id ``key_id``) belongs to ``subject``.

    Valid from ``not_before`` to ``not_after`` inclusive; ``issuer`` is the key id of the
    agency root that signs it; ``serial`` is the issuer's serial number for it.
    """

    key_id: KeyId
    public_key: str
    subject: Officer
    not_before: Time
    not_after: Time
    issuer: KeyId
    serial: Count

    @field_validator("not_before", "not_after", mode="before")
    @classmethod
    def _canonical_times(cls, value: Any) -> Any:
        return _canonical_time_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> Certificate:
        check_key_pair(self.key_id, self.public_key)
        if self.not_after <= self.not_before:
            msg = "not_after must be later than not_before"
            raise ValueError(msg)
        return self

    def public_key_bytes(self) -> bytes:
        """Return the raw 32-byte public key (``base64.b64decode``'s decoder called directly:
        the verifier asks for it once per signature)."""
        return binascii.a2b_base64(self.public_key)

    def valid_at(self, at: datetime) -> bool:
        """Return True when ``at`` lies within [not_before, not_after]."""
        return self.not_before <= at <= self.not_after

    def signing_message(self) -> bytes:
        """Return the bytes the issuer signs: ``"cdlog/cert/v1\\n" || JCS(certificate)``."""
        return CERT_SIGNING_PREFIX + canonical_bytes(self.model_dump(mode="json"))


class SignedCertificate(Frozen):
    """A certificate and its issuer's Ed25519 signature (standard base64, 64 bytes)."""

    certificate: Certificate
    signature: str

    @field_validator("signature")
    @classmethod
    def _signature_form(cls, value: str) -> str:
        _decode_b64(value, 64, "signature")
        return value

    def signature_bytes(self) -> bytes:
        """Return the raw 64-byte signature."""
        return base64.b64decode(self.signature)

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form carried in trust events and trust files."""
        return self.model_dump(mode="json")


def _input_error(exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "certificate"
    return InputError(field, first["msg"], "a valid certificate field")


def issue_certificate(
    root: Signer,
    *,
    public_key: bytes,
    subject: Officer,
    not_before: datetime,
    not_after: datetime,
    serial: int,
) -> SignedCertificate:
    """Certify ``public_key`` as ``subject``'s key, signed by the agency root ``root``.

    Raises :class:`~cdlog.errors.InputError` when a field is invalid: key not 32 bytes, naive
    times, ``not_after`` not later than ``not_before``, serial negative or beyond 2**53 - 1.
    Whether ``subject.agency`` is the root's agency is checked by the
    :class:`~cdlog.keys.registry.KeyRegistry`, which knows the roots.
    """
    try:
        cert = Certificate(
            key_id=key_id_for(public_key),
            public_key=encode_public_key(public_key),
            subject=subject,
            not_before=not_before,
            not_after=not_after,
            issuer=root.key_id,
            serial=serial,
        )
    except ValidationError as exc:
        raise _input_error(exc) from exc
    signature = root.sign(cert.signing_message())
    return SignedCertificate(certificate=cert,
                             signature=base64.b64encode(signature).decode("ascii"))


def verify_certificate(
    signed: SignedCertificate,
    root_public_key: bytes,
    *,
    case: str = "<trust>",
    version: int | None = None,
) -> None:
    """Check that ``signed`` was issued and signed by the root whose key is ``root_public_key``.

    Returns ``None`` or raises :class:`~cdlog.errors.VerificationError` with check
    ``certificate`` located at ``case``/``version`` (the trust event carrying it, if any).
    Validity windows are not checked here (see :meth:`Certificate.valid_at`).
    """
    cert = signed.certificate
    try:
        root_id = key_id_for(root_public_key)
    except InputError as exc:
        raise VerificationError(Failure(case, version, "certificate",
                                        f"root public key is invalid: {exc.problem}")) from exc
    if cert.issuer != root_id:
        raise VerificationError(Failure(
            case, version, "certificate",
            f"certificate {cert.serial} for {cert.key_id} names issuer {cert.issuer}, "
            f"not root {root_id}"))
    if not signature_is_valid(root_public_key, cert.signing_message(),
                              signed.signature_bytes()):
        raise VerificationError(Failure(
            case, version, "certificate",
            f"signature of certificate {cert.serial} for {cert.key_id} by {root_id} "
            "is invalid"))

