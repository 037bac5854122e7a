"""The restricted-data methods of CaseLog: serve, erase and list vaulted values (issue 11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from cdlog.app.base import LogBase
from cdlog.errors import InputError
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent

if TYPE_CHECKING:
    from cdlog.application import CaseLog
    from cdlog.restricted.access import RestrictedRead
    from cdlog.restricted.vault import VaultEntry


class RestrictedData(LogBase):
    """Restricted values of a record: read by an entitled reader, erased, their status."""

    def read_restricted(self, record: str, *, reader: Signer, purpose: str,
                        case_no: str | None = None, fields: Sequence[str] | None = None,
                        version: int | None = None) -> RestrictedRead:
        """Serve restricted values of ``record`` (a stream, e.g. ``pnr:K-1``) to ``reader``
        when entitled, recording ``RestrictedValuesRead`` in the transaction that serves
        them; a refusal is recorded and raises :class:`~cdlog.errors.AccessRefusedError`.
        Returns a :class:`cdlog.restricted.access.RestrictedRead`. The owner's KEK must be
        unlocked in :attr:`vault_keys`. The read happens now, by the log's clock: it cannot
        be dated back (to before an authorisation expired)."""
        from cdlog.restricted.access import read_restricted  # noqa: PLC0415

        return read_restricted(cast("CaseLog", self), record, reader=reader, purpose=purpose,
                               case_no=case_no, fields=fields, version=version)

    def erase_restricted(self, record: str, *, signer: Signer, reason: str,
                         order_ref: str | None = None, fields: Sequence[str] | None = None,
                         version: int | None = None) -> SealedEvent:
        """Destroy vaulted values of ``record`` and record ``RestrictedValuesErased`` in one
        transaction, now by the log's clock (see :mod:`cdlog.restricted.erase`); every proof
        still verifies."""
        from cdlog.restricted.erase import erase_restricted  # noqa: PLC0415

        if reason not in ("retention_ended", "legal_order"):
            raise InputError("reason", f"{reason!r} is no erasure reason",
                             "retention_ended or legal_order")
        return erase_restricted(cast("CaseLog", self), record, signer=signer, reason=reason,  # type: ignore[arg-type]
                                order_ref=order_ref, fields=fields, version=version)

    def restricted_status(self, record: str | None = None) -> list[VaultEntry]:
        """The vault's rows (no secret) of ``record``'s events, or of the whole log, as
        :class:`cdlog.restricted.vault.VaultEntry`: which fields are held or erased."""
        from cdlog.restricted.vault import vault_entries  # noqa: PLC0415

        return vault_entries(cast("CaseLog", self),
                             None if record is None else self.resolve(record))
