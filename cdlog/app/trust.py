"""The trust methods of CaseLog: agency roots, officer certificates, key revocation, rotation."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import ValidationError

from cdlog.app.writing import WritePath
from cdlog.domain import events as ev
from cdlog.domain.values import Officer
from cdlog.errors import InputError, VerificationError
from cdlog.keys.certificate import SignedCertificate, issue_certificate
from cdlog.keys.signer import Signer
from cdlog.log.facts import validation_to_input_error
from cdlog.log.sealing import SealedEvent, stream_id


class TrustKeys(WritePath):
    """Trust events: each is recorded in ``trust:<agency>`` once the key registry accepts it."""

    def establish_root(self, agency: str, root: Signer, *,
                       at: datetime | None = None) -> SealedEvent:
        """Record an agency's trust root (signed by the root key itself)."""
        when = at or self.clock()
        payload = ev.TrustRootEstablished(agency=agency, key_id=root.key_id,
                                          public_key=base64.b64encode(root.public_key).decode())
        return self._trust_event(agency, root, payload, when)

    def certify_officer(self, root: Signer, officer: Officer, public_key: bytes, *,
                        not_before: datetime, not_after: datetime, at: datetime | None = None,
                        serial: int | None = None) -> SignedCertificate:
        """Issue and record a certificate binding ``public_key`` to ``officer``."""
        when = at or self.clock()
        self._sync()
        cert = issue_certificate(root, public_key=public_key, subject=officer,
                                 not_before=not_before, not_after=not_after,
                                 serial=serial if serial is not None else
                                 self._next_position())
        payload = ev.OfficerKeyCertified(certificate=cert.model_dump(mode="json"))
        self._trust_event(officer.agency, root, payload, when)
        return cert

    def revoke_key(self, root: Signer, agency: str, key_id: str, reason: str, *,
                   at: datetime | None = None) -> SealedEvent:
        """Revoke an officer key from the next log position on.

        Refused with :class:`~cdlog.errors.NotFoundError` for a key the log does not know and
        with :class:`~cdlog.errors.InputError` for a key already revoked or rotated, a key of
        another agency, or a root that is not ``agency``'s; nothing is written then.
        """
        try:
            payload = ev.OfficerKeyRevoked.model_validate({"key_id": key_id, "reason": reason})
        except ValidationError as exc:
            raise validation_to_input_error(exc, "OfficerKeyRevoked") from None
        return self._trust_event(agency, root, payload, at or self.clock())

    def rotate_key(self, root: Signer, old_key_id: str, officer: Officer, public_key: bytes, *,
                   not_before: datetime, not_after: datetime, reason: str,
                   at: datetime | None = None) -> SignedCertificate:
        """Replace an officer's key by a newly certified one in one event."""
        cert = issue_certificate(root, public_key=public_key, subject=officer,
                                 not_before=not_before, not_after=not_after,
                                 serial=self._next_position())
        payload = ev.OfficerKeyRotated(old_key_id=old_key_id,
                                       certificate=cert.model_dump(mode="json"), reason=reason)
        self._trust_event(officer.agency, root, payload, at or self.clock())
        return cert

    def _trust_event(self, agency: str, root: Signer, payload: ev.Payload,
                     when: datetime) -> SealedEvent:
        """Record one trust event of ``agency`` signed by its root, after checking that the
        key registry accepts it: a refusal names keys, agencies and positions
        (:class:`~cdlog.errors.InputError`, :class:`~cdlog.errors.NotFoundError`) and nothing
        is written."""
        stream = f"trust:{agency}"
        registry = self.context.registry  # inside an open batch: with the batch's key events
        if isinstance(payload, ev.TrustRootEstablished):
            registry.check_new_root(agency, root.key_id)
        elif isinstance(payload, ev.OfficerKeyRevoked):
            registry.check_revocable(payload.key_id, agency=agency, root_key_id=root.key_id)
        elif isinstance(payload, ev.OfficerKeyRotated):
            registry.check_revocable(payload.old_key_id, agency=agency,
                                     root_key_id=root.key_id, action="rotate")
        else:
            registry.check_issuer(root.key_id, agency)
        committed = self.state(stream).version
        try:
            with self.batch() as b:
                b.record(stream, payload, signer=root, at=when, recorded=when)
        except VerificationError as exc:
            # The registry refused the new event itself (a writer changed the keys after the
            # checks above); a failure of a committed event is evidence and stays one.
            first = exc.failures[0]
            if first.case != str(stream_id(stream)) or (first.version or 0) <= committed:
                raise
            raise InputError(stream, f"{payload.TYPE} refused: {first.detail}",
                             "a trust event the key registry accepts") from None
        return b.events[-1]
