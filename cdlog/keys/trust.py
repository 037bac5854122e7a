"""Trust files: the agency root keys (and optionally the log's verifier key) a verifier trusts.

A trust file is one RFC 8785 JSON object followed by a newline::

    {"certificates":[...],"format":"cdlog/trust/v1","log_vkey":null,"roots":[...]}

:func:`load_trust` checks its structure, that no agency or key id appears twice among the
roots, and that every certificate it carries was issued and signed by one of its roots.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Literal

import orjson
from pydantic import ValidationError, model_validator

from cdlog.canonical import canonical_bytes
from cdlog.domain.values import Frozen, Ref
from cdlog.errors import ConfigurationError, VerificationError
from cdlog.keys.certificate import (
    KeyId,
    SignedCertificate,
    check_key_pair,
    encode_public_key,
    verify_certificate,
)
from cdlog.keys.signer import key_id_for

TRUST_FORMAT: Literal["cdlog/trust/v1"] = "cdlog/trust/v1"


class TrustRoot(Frozen):
    """An agency's root key: it establishes itself in the log and certifies officer keys."""

    agency: Ref
    key_id: KeyId
    public_key: str

    @model_validator(mode="after")
    def _consistent(self) -> TrustRoot:
        check_key_pair(self.key_id, self.public_key)
        return self

    @classmethod
    def for_key(cls, agency: str, public_key: bytes) -> TrustRoot:
        """Return the root entry of ``agency`` for a raw 32-byte public key."""
        return cls(agency=agency, key_id=key_id_for(public_key),
                   public_key=encode_public_key(public_key))

    def public_key_bytes(self) -> bytes:
        """Return the raw 32-byte public key."""
        return check_key_pair(self.key_id, self.public_key)


class TrustFile(Frozen):
    """The contents of a trust file."""

    format: Literal["cdlog/trust/v1"]
    roots: tuple[TrustRoot, ...]
    log_vkey: str | None = None
    certificates: tuple[SignedCertificate, ...] = ()

    @model_validator(mode="after")
    def _distinct_roots(self) -> TrustFile:
        agencies = [r.agency for r in self.roots]
        keys = [r.key_id for r in self.roots]
        for what, values in (("agency", agencies), ("key_id", keys)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                msg = f"roots: {what} {', '.join(dupes)} appears more than once"
                raise ValueError(msg)
        return self

    def root_for(self, agency: str) -> TrustRoot | None:
        """Return the root of ``agency``, or None."""
        return next((r for r in self.roots if r.agency == agency), None)


def save_trust(path: str | os.PathLike[str], trust: TrustFile) -> None:
    """Write ``trust`` to ``path`` as canonical JSON plus a newline, replacing it atomically."""
    target = Path(path)
    data = canonical_bytes(trust.model_dump(mode="json")) + b"\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ConfigurationError(f"cannot write trust file {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # a trust file holds only public keys
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise ConfigurationError(f"cannot write trust file {target}: {exc.strerror}") from None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_trust(path: str | os.PathLike[str]) -> TrustFile:
    """Read and check the trust file at ``path``.

    Raises :class:`~cdlog.errors.ConfigurationError` naming the file and the offending field
    when the file is missing, not JSON, structurally wrong, lists an agency or key twice, or
    carries a certificate not validly signed by one of its roots.
    """
    target = Path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"trust file {target} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read trust file {target}: {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"trust file {target} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"trust file {target}: (top level): is a "
                                 f"{type(data).__name__}, expected a JSON object")
    try:
        trust = TrustFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigurationError(
            f"trust file {target}: {_where(first['loc'])}: {first['msg']}{more}") from None
    roots = {r.key_id: r for r in trust.roots}
    for i, signed in enumerate(trust.certificates):
        field = f"certificates[{i}]"
        root = roots.get(signed.certificate.issuer)
        if root is None:
            raise ConfigurationError(f"trust file {target}: {field}.certificate.issuer: "
                                     f"{signed.certificate.issuer} is not one of its roots")
        if signed.certificate.subject.agency != root.agency:
            raise ConfigurationError(
                f"trust file {target}: {field}.certificate.subject.agency: "
                f"{signed.certificate.subject.agency!r} is not the issuing root's agency "
                f"{root.agency!r}")
        try:
            verify_certificate(signed, root.public_key_bytes())
        except VerificationError as exc:
            raise ConfigurationError(f"trust file {target}: {field}.signature: "
                                     f"{exc.failures[0].detail}") from None
    return trust
