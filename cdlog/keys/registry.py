"""The key registry: which keys may sign, as of a position in the log.

The registry is fed, in log order, with the events of the trust streams (``trust:<AGENCY>``):

``TrustRootEstablished``  ``{"agency", "key_id", "public_key"}``, signed by that root key
``OfficerKeyCertified``   ``{"certificate": <SignedCertificate>}``, signed by the issuing root
``OfficerKeyRevoked``     ``{"key_id", "reason"}``, signed by the root of the key's agency
``OfficerKeyRotated``     ``{"old_key_id", "certificate", "reason"}``: revokes the old key and
                          certifies the new one (same subject) at the same position

:meth:`KeyRegistry.apply` checks each event completely before changing anything, so a refused
event leaves the registry as it was. :meth:`KeyRegistry.check_signer` answers whether a key may
sign an event at a given position and recorded time:

* a key certified at position ``c`` may sign at positions ``>= c``;
* a key revoked at position ``r`` may sign at positions ``<= r`` and not after;
* the event's recorded time must lie within the certificate's [not_before, not_after];
* the *key clock* (:attr:`KeyRegistry.clock`, the latest ``recorded`` of the trust events
  before the event) must not be past ``not_after``: once a key event was recorded after a
  key expired, that key signs nothing more, whatever time a later event claims, so a
  backdated ``recorded`` cannot bring an expired key back (docs/SPEC.md §4);
* a root key may sign only the events of its own agency's trust stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from cdlog.domain.values import Frozen, Officer, Text
from cdlog.errors import CdlogError as CdlogErrorBase
from cdlog.errors import Failure, InputError, NotFoundError, VerificationError
from cdlog.keys.certificate import KeyId, SignedCertificate, verify_certificate
from cdlog.keys.signer import signature_is_valid
from cdlog.keys.trust import TrustRoot
from cdlog.log.sealing import SealedEvent, signing_message, stream_id

TRUST_STREAM_PREFIX = "trust:"
ROOT_ESTABLISHED = "TrustRootEstablished"
KEY_CERTIFIED = "OfficerKeyCertified"
KEY_REVOKED = "OfficerKeyRevoked"
KEY_ROTATED = "OfficerKeyRotated"
TRUST_EVENT_TYPES = frozenset({ROOT_ESTABLISHED, KEY_CERTIFIED, KEY_REVOKED, KEY_ROTATED})
ROOT_ROLE = "TrustRoot"
ROOT_OFFICE = "ROOT"

M = TypeVar("M", bound=Frozen)


def trust_stream(agency: str) -> str:
    """Return the name of ``agency``'s trust stream: ``trust:<AGENCY>``."""
    return TRUST_STREAM_PREFIX + agency


def is_trust_event(event: SealedEvent) -> bool:
    """Return True when ``event`` belongs to a trust stream (and so goes to :meth:`apply`)."""
    return event.stream.startswith(TRUST_STREAM_PREFIX)


def root_officer(agency: str) -> Officer:
    """Return the identity a root key signs as: ``root:<AGENCY>``, role ``TrustRoot``."""
    return Officer(id=f"root:{agency}", role=ROOT_ROLE, agency=agency, office=ROOT_OFFICE)


class KeyCertifiedPayload(Frozen):
    """Payload of ``OfficerKeyCertified``."""

    certificate: SignedCertificate


class KeyRevokedPayload(Frozen):
    """Payload of ``OfficerKeyRevoked``."""

    key_id: KeyId
    reason: Text


class KeyRotatedPayload(Frozen):
    """Payload of ``OfficerKeyRotated``."""

    old_key_id: KeyId
    certificate: SignedCertificate
    reason: Text


def root_established_payload(root: TrustRoot) -> dict[str, Any]:
    """Return the JSON payload of a ``TrustRootEstablished`` event."""
    return root.model_dump(mode="json")


def key_certified_payload(signed: SignedCertificate) -> dict[str, Any]:
    """Return the JSON payload of an ``OfficerKeyCertified`` event."""
    return KeyCertifiedPayload(certificate=signed).model_dump(mode="json")


def key_revoked_payload(key_id: str, reason: str) -> dict[str, Any]:
    """Return the JSON payload of an ``OfficerKeyRevoked`` event."""
    return KeyRevokedPayload(key_id=key_id, reason=reason).model_dump(mode="json")


def key_rotated_payload(old_key_id: str, signed: SignedCertificate,
                        reason: str) -> dict[str, Any]:
    """Return the JSON payload of an ``OfficerKeyRotated`` event."""
    return KeyRotatedPayload(old_key_id=old_key_id, certificate=signed,
                             reason=reason).model_dump(mode="json")


@dataclass(frozen=True)
class KeyRecord:
    """What the registry knows of one officer key."""

    certificate: SignedCertificate
    certified_at: int
    revoked_at: int | None = None
    revocation_reason: str | None = None
    replaced_by: str | None = None
    """The key that replaced it, when it was revoked by a rotation."""

    @property
    def key_id(self) -> str:
        """The key id."""
        return self.certificate.certificate.key_id

    @property
    def subject(self) -> Officer:
        """The officer the key belongs to."""
        return self.certificate.certificate.subject


@dataclass(frozen=True)
class _RootRecord:
    root: TrustRoot
    public_key: bytes
    established_at: int


class KeyRegistry:
    """The state of keys as of a log position, built from trust events in log order.

    ``trusted_roots``: when given, only these roots may be established (a verifier's trust
    file); when ``None``, any root established in the log is accepted (trust on first use, the
    operator side). Either way, each agency has at most one root.
    """

    def __init__(self, trusted_roots: Iterable[TrustRoot] | None = None) -> None:
        self._trusted: dict[str, TrustRoot] | None = None
        if trusted_roots is not None:
            self._trusted = {}
            agencies: set[str] = set()
            for root in trusted_roots:
                if root.key_id in self._trusted or root.agency in agencies:
                    raise InputError("trusted_roots",
                                     f"agency {root.agency} or key {root.key_id} is listed twice",
                                     "one root per agency")
                self._trusted[root.key_id] = root
                agencies.add(root.agency)
        self._roots: dict[str, _RootRecord] = {}  # by key id
        self._agency_roots: dict[str, _RootRecord] = {}  # by agency
        self._keys: dict[str, KeyRecord] = {}  # officer keys by key id
        self._newest: dict[str, SignedCertificate] = {}  # by officer id
        self._certificates: list[SignedCertificate] = []
        self._last_position: int | None = None
        self._applied: dict[int, bytes] = {}  # position -> hash of the trust event applied
        self.clock: datetime | None = None
        """The key clock: the latest ``recorded`` time of the trust events applied."""
        self.generation = 0
        """Moves on with every :meth:`apply` (applied or refused): what a reader caches of the
        registry holds while it is unchanged (the verifier's signers, for one)."""

    # ------------------------------------------------------------------ applying events

    def apply(self, event: SealedEvent, position: int) -> None:
        """Check one trust event committed at ``position`` and apply it.

        Positions must increase from call to call (:class:`~cdlog.errors.InputError`
        otherwise); applying the very same event at the same position again is a no-op, so a
        committed event may be delivered twice.

        Every call moves :attr:`generation` on, whatever its outcome, before and again after
        it changes anything (so a reader that took an entry in between, from another thread,
        finds it stale).

        Raises :class:`~cdlog.errors.VerificationError` located at the event's case and
        version, with check ``key``, ``certificate``, ``signature`` (the actor's signature
        does not verify) or ``decode`` (malformed payload); the registry is then unchanged.
        """
        self.generation += 1
        try:
            self._apply(event, position)
        finally:
            self.generation += 1

    def _apply(self, event: SealedEvent, position: int) -> None:
        """:meth:`apply`, between the moves of :attr:`generation`."""
        if type(position) is not int or position < 0:
            raise InputError("position", f"{position!r} is not a log position",
                             "an integer >= 0")
        applied = self._applied.get(position)
        if applied is not None:
            if applied == event.hash:
                return  # the same committed event delivered again: already applied
            raise InputError("position", f"position {position} already holds another trust "
                             "event", "each log position applied once")
        if self._last_position is not None and position <= self._last_position:
            raise InputError("position", f"{position} is not after {self._last_position}",
                             "trust events applied in log order")
        fail = _Failer(event)
        if not is_trust_event(event):
            raise fail("key", f"{event.type} in stream {event.stream!r} is not a trust event "
                              f"(trust events belong in a {TRUST_STREAM_PREFIX}<AGENCY> stream)")
        agency = event.stream[len(TRUST_STREAM_PREFIX):]
        try:
            actor = event.signer_keys[0]
        except (KeyError, TypeError, IndexError):
            raise fail("decode", "the envelope names no actor key") from None
        payload = event.payload
        if event.type == ROOT_ESTABLISHED:
            self._apply_root(event, position, agency, actor, fail)
        elif event.type == KEY_CERTIFIED:
            certified = _decode(KeyCertifiedPayload, payload, fail)
            root = self._acting_root(event, agency, actor, fail)
            self._check_new_key(certified.certificate, root, fail, event)
            self._add_key(certified.certificate, position)
        elif event.type == KEY_REVOKED:
            revoked = _decode(KeyRevokedPayload, payload, fail)
            root = self._acting_root(event, agency, actor, fail)
            record = self._check_revocable(revoked.key_id, root, fail)
            self._keys[record.key_id] = replace(record, revoked_at=position,
                                                revocation_reason=revoked.reason)
        elif event.type == KEY_ROTATED:
            rotated = _decode(KeyRotatedPayload, payload, fail)
            root = self._acting_root(event, agency, actor, fail)
            record = self._check_revocable(rotated.old_key_id, root, fail)
            self._check_new_key(rotated.certificate, root, fail, event)
            new_subject = rotated.certificate.certificate.subject
            if new_subject != record.subject:
                raise fail("certificate",
                           f"rotation of {record.key_id}: the new certificate's subject "
                           f"{new_subject.label} differs from the old one's "
                           f"{record.subject.label}")
            self._keys[record.key_id] = replace(
                record, revoked_at=position, revocation_reason=rotated.reason,
                replaced_by=rotated.certificate.certificate.key_id)
            self._add_key(rotated.certificate, position)
        else:
            raise fail("key", f"{event.type!r} is not a trust event type "
                              f"(expected one of {sorted(TRUST_EVENT_TYPES)})")
        self._last_position = position
        self._applied[position] = event.hash
        self._advance_clock(event)

    def _advance_clock(self, event: SealedEvent) -> None:
        """Move the key clock to the event's recorded time if that is later."""
        from cdlog.canonical import parse_time  # noqa: PLC0415

        try:
            recorded = parse_time(str(event.envelope["recorded"]), "recorded")
        except (CdlogErrorBase, KeyError, TypeError, ValueError):
            return  # a malformed time is reported by the event's own checks
        if self.clock is None or recorded > self.clock:
            self.clock = recorded

    def copy(self) -> KeyRegistry:
        """Return an independent copy (e.g. to try an uncommitted trust event on)."""
        other = KeyRegistry.__new__(KeyRegistry)
        other._trusted = None if self._trusted is None else dict(self._trusted)
        other._roots = dict(self._roots)
        other._agency_roots = dict(self._agency_roots)
        other._keys = dict(self._keys)
        other._newest = dict(self._newest)
        other._certificates = list(self._certificates)
        other._last_position = self._last_position
        other._applied = dict(self._applied)
        other.clock = self.clock
        other.generation = self.generation
        return other

    def _apply_root(self, event: SealedEvent, position: int, agency: str, actor: str,
                    fail: _Failer) -> None:
        root = _decode(TrustRoot, event.payload, fail)
        if root.agency != agency:
            raise fail("key", f"root for agency {root.agency!r} established in the trust "
                              f"stream of {agency!r}")
        if actor != root.key_id:
            raise fail("key", f"TrustRootEstablished for {root.key_id} is signed by {actor}; "
                              "a root must establish itself")
        public = root.public_key_bytes()
        _check_actor_signature(event, actor, public, fail)
        if self._trusted is not None:
            trusted = self._trusted.get(root.key_id)
            if trusted is None:
                raise fail("key", f"root {root.key_id} of {agency} is not a trusted root")
            if trusted != root:
                raise fail("key", f"root {root.key_id} is trusted for agency "
                                  f"{trusted.agency}, not {agency}")
        if agency in self._agency_roots:
            first = self._agency_roots[agency]
            raise fail("key", f"agency {agency} already has root {first.root.key_id} "
                              f"(established at position {first.established_at}); "
                              "a second root is refused")
        if root.key_id in self._roots or root.key_id in self._keys:
            raise fail("key", f"key id {root.key_id} is already in use")
        record = _RootRecord(root=root, public_key=public, established_at=position)
        self._roots[root.key_id] = record
        self._agency_roots[agency] = record

    def _acting_root(self, event: SealedEvent, agency: str, actor: str,
                     fail: _Failer) -> _RootRecord:
        root = self._roots.get(actor)
        if root is None:
            what = "an officer key" if actor in self._keys else "not an established root key"
            raise fail("key", f"{event.type} is signed by {actor}, which is {what}; only the "
                              f"root of {agency} may sign it")
        if root.root.agency != agency:
            raise fail("key", f"{event.type} in the trust stream of {agency} is signed by the "
                              f"root of {root.root.agency}")
        _check_actor_signature(event, actor, root.public_key, fail)
        return root

    def _check_new_key(self, signed: SignedCertificate, root: _RootRecord, fail: _Failer,
                       event: SealedEvent) -> None:
        cert = signed.certificate
        if cert.issuer != root.root.key_id:
            raise fail("certificate", f"certificate for {cert.key_id} names issuer "
                                      f"{cert.issuer}, not {root.root.agency}'s root "
                                      f"{root.root.key_id}")
        if cert.subject.agency != root.root.agency:
            raise fail("certificate", f"certificate subject {cert.subject.label} is of agency "
                                      f"{cert.subject.agency}, not of the issuing root's "
                                      f"agency {root.root.agency}")
        verify_certificate(signed, root.public_key, case=event.case, version=event.version)
        if cert.key_id in self._keys or cert.key_id in self._roots:
            raise fail("key", f"key id {cert.key_id} is already certified")

    def _check_revocable(self, key_id: str, root: _RootRecord, fail: _Failer) -> KeyRecord:
        if key_id in self._roots:
            raise fail("key", f"{key_id} is a root key; root keys cannot be revoked")
        record = self._keys.get(key_id)
        if record is None:
            raise fail("key", f"cannot revoke unknown key {key_id}")
        if record.subject.agency != root.root.agency:
            raise fail("key", f"key {key_id} belongs to {record.subject.agency}, not to "
                              f"{root.root.agency}")
        if record.revoked_at is not None:
            raise fail("key", f"key {key_id} was already revoked at position "
                              f"{record.revoked_at}")
        return record

    def _add_key(self, signed: SignedCertificate, position: int) -> None:
        record = KeyRecord(certificate=signed, certified_at=position)
        self._keys[record.key_id] = record
        self._newest[record.subject.id] = signed
        self._certificates.append(signed)

    # ------------------------------------------------------------------ refusals for writers
    # A writer asks these before it records a trust event, so that a refusal reads as a
    # sentence about keys, agencies and positions (InputError, NotFoundError), not as a
    # verification failure located at an event that was never written.

    def check_new_root(self, agency: str, key_id: str) -> None:
        """Refuse (:class:`~cdlog.errors.InputError`) to establish ``key_id`` as the root of
        ``agency`` when :meth:`apply` would refuse it: the agency has a root, the key id is
        in use, or (with trusted roots) the key is not the agency's trusted root."""
        first = self._agency_roots.get(agency)
        if first is not None:
            raise InputError("agency", f"{agency} already has the trust root "
                             f"{first.root.key_id} (established at position "
                             f"{first.established_at}); a second root is refused",
                             "an agency that has no root yet; see cdlog keys list")
        if key_id in self._roots or key_id in self._keys:
            raise InputError("root", f"key {key_id} is already in use in this log",
                             "a newly generated key")
        if self._trusted is not None:
            trusted = self._trusted.get(key_id)
            if trusted is None or trusted.agency != agency:
                raise InputError("root", f"key {key_id} is not the trusted root of {agency}",
                                 "a root listed for that agency in the trust file")

    def check_issuer(self, root_key_id: str, agency: str) -> None:
        """Refuse (:class:`~cdlog.errors.InputError`) ``root_key_id`` as the signer of a trust
        event of ``agency``: it must be the root established for that very agency."""
        expected = f"the trust root key of {agency}"
        if agency not in self._agency_roots:
            expected += f" (it has none yet: cdlog keys init-root {agency})"
        record = self._keys.get(root_key_id)
        if record is not None:
            raise InputError("root", f"key {root_key_id} is the officer key of "
                             f"{record.subject.label}, not an agency trust root", expected)
        root = self._roots.get(root_key_id)
        if root is None:
            raise InputError("root", f"key {root_key_id} is not a trust root established in "
                             "this log", expected)
        if root.root.agency != agency:
            raise InputError("root", f"key {root_key_id} is the trust root of "
                             f"{root.root.agency}; it cannot certify, revoke or rotate keys "
                             f"of {agency}", expected)

    def check_revocable(self, key_id: str, *, agency: str | None = None,
                        root_key_id: str | None = None, action: str = "revoke") -> KeyRecord:
        """Return officer key ``key_id``'s record if it may be revoked (or rotated: ``action``)
        now, by ``root_key_id`` (when given) for ``agency`` (when given).

        Raises :class:`~cdlog.errors.NotFoundError` for a key the log does not know and
        :class:`~cdlog.errors.InputError` for a root key, a key of another agency, a key
        already revoked or rotated, or a root that may not act for the key's agency.
        """
        root = self._roots.get(key_id)
        if root is not None:
            raise InputError("key_id", f"{key_id} is the trust root of {root.root.agency}; "
                             f"a root key cannot be revoked or rotated",
                             "an officer key id; see cdlog keys list")
        record = self._keys.get(key_id)
        if record is None:
            raise NotFoundError(f"no officer key {key_id} in this log (see cdlog keys list)")
        owner = record.subject.agency
        if agency is not None and owner != agency:
            raise InputError("agency", f"key {key_id} of {record.subject.label} belongs to "
                             f"{owner}, not to {agency}", owner)
        if record.revoked_at is not None:
            if record.replaced_by is not None:
                done = (f"was already rotated at position {record.revoked_at} "
                        f"(replaced by {record.replaced_by})")
            else:
                done = (f"was already revoked at position {record.revoked_at} "
                        f"({record.revocation_reason})")
            raise InputError("key_id", f"key {key_id} of {record.subject.label} {done}; "
                             f"nothing to {action}", "a key that is in force")
        if root_key_id is not None:
            self.check_issuer(root_key_id, owner)
        return record

    # ------------------------------------------------------------------ queries

    def signer_in_force(self, key_id: str, position: int, at: datetime) -> Officer | None:
        """:meth:`check_signer`'s answer for an officer key that may sign here and now; None
        for anything else (a root key, a key unknown, revoked or out of its window, a naive
        time), which :meth:`check_signer` then refuses in words. The verifier asks it for
        every clean event: no failure is made ready on the way."""
        record = self._keys.get(key_id)
        if (record is None or key_id in self._roots or record.certified_at > position
                or (record.revoked_at is not None and record.revoked_at < position)
                or at.utcoffset() is None):
            return None
        cert = record.certificate.certificate
        if not cert.valid_at(at) or (self.clock is not None and self.clock > cert.not_after):
            return None
        return record.subject

    def check_signer(self, key_id: str, position: int, at: datetime, *, case: str,
                     version: int) -> Officer:
        """Return who ``key_id`` belongs to if it may sign the event at ``position``.

        ``at`` is the event's recorded time; ``case`` the event's case id (the stream name is
        accepted too) and ``version`` its version, used to locate a failure. Raises
        :class:`~cdlog.errors.VerificationError` (check ``key``) when the key is unknown at
        ``position`` (including keys certified later), was revoked before ``position``, ``at``
        is outside its certificate's validity window, or a root key signs outside its own
        agency's trust stream.
        """
        if at.utcoffset() is None:
            raise InputError("at", f"{at.isoformat()} has no UTC offset", "an aware time")

        def fail(detail: str) -> VerificationError:
            return VerificationError(Failure(case, version, "key", detail))

        root = self._roots.get(key_id)
        if root is not None and root.established_at <= position:
            agency = root.root.agency
            stream = trust_stream(agency)
            if case not in (stream, str(stream_id(stream))):
                raise fail(f"root key {key_id} of {agency} may sign only events of the "
                           f"{stream} stream")
            return root_officer(agency)
        record = self._keys.get(key_id)
        if record is None or record.certified_at > position:
            raise fail(f"key {key_id} is not certified at position {position}")
        if record.revoked_at is not None and record.revoked_at < position:
            raise fail(f"key {key_id} of {record.subject.label} was revoked at position "
                       f"{record.revoked_at} ({record.revocation_reason})")
        cert = record.certificate.certificate
        if not cert.valid_at(at):
            raise fail(f"key {key_id} of {record.subject.label} is valid from "
                       f"{cert.not_before.isoformat()} to {cert.not_after.isoformat()}, "
                       f"not at {at.isoformat()}")
        if self.clock is not None and self.clock > cert.not_after:
            raise fail(f"key {key_id} of {record.subject.label} expired at "
                       f"{cert.not_after.isoformat()}, and the log's key clock had already "
                       f"reached {self.clock.isoformat()} (a trust event recorded then): an "
                       f"event recorded {at.isoformat()} cannot bring it back")
        return record.subject

    def public_key(self, key_id: str) -> bytes:
        """Return the raw public key of a root or officer key (revoked keys included)."""
        root = self._roots.get(key_id)
        if root is not None:
            return root.public_key
        record = self._keys.get(key_id)
        if record is None:
            raise NotFoundError(f"no key {key_id} in the key registry")
        return record.certificate.certificate.public_key_bytes()

    def record(self, key_id: str) -> KeyRecord:
        """Return what is known of officer key ``key_id`` (raises NotFoundError)."""
        record = self._keys.get(key_id)
        if record is None:
            raise NotFoundError(f"no officer key {key_id} in the key registry")
        return record

    def officer_key(self, key_id: str) -> KeyRecord | None:
        """What is known of officer key ``key_id``; None for a root key or an unknown key."""
        if key_id in self._roots:
            return None
        return self._keys.get(key_id)

    def is_root(self, key_id: str) -> bool:
        """Return True when ``key_id`` is an established root key."""
        return key_id in self._roots

    def officer(self, officer_id: str) -> Officer | None:
        """Return the subject of the newest certificate for ``officer_id``, or None."""
        signed = self._newest.get(officer_id)
        return None if signed is None else signed.certificate.subject

    def agency_root(self, agency: str) -> TrustRoot | None:
        """Return the root established for ``agency``, or None."""
        record = self._agency_roots.get(agency)
        return None if record is None else record.root

    def established_at(self, agency: str) -> int | None:
        """Return the log position of ``agency``'s ``TrustRootEstablished``, or None."""
        record = self._agency_roots.get(agency)
        return None if record is None else record.established_at

    def roots(self) -> list[TrustRoot]:
        """Return the established roots, in the order they were established."""
        return [r.root for r in self._agency_roots.values()]

    def certificates(self) -> list[SignedCertificate]:
        """Return every certificate ever applied, in log order (revoked ones included)."""
        return list(self._certificates)


class _Failer:
    """Builds VerificationErrors located at one event."""

    def __init__(self, event: SealedEvent) -> None:
        self.case = event.case
        self.version = event.version

    def __call__(self, check: str, detail: str) -> VerificationError:
        return VerificationError(Failure(self.case, self.version, check, detail))


def _decode(model: type[M], payload: Mapping[str, Any], fail: _Failer) -> M:
    try:
        return model.model_validate(dict(payload))
    except (ValidationError, TypeError, ValueError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        if errors:
            loc = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in errors[0]["loc"])
            detail = f"payload{loc}: {errors[0]['msg']}"
        else:
            detail = f"payload is not an object: {exc}"
        raise fail("decode", detail) from None


def _check_actor_signature(event: SealedEvent, actor: str, public: bytes,
                           fail: _Failer) -> None:
    sig = next((s for s in event.signatures if s.key == actor), None)
    if sig is None or not signature_is_valid(public, signing_message(event.envelope_bytes),
                                             sig.sig):
        raise fail("signature", f"the signature of {actor} on {event.type} is missing or "
                                "invalid")
