"""Helpers of the restricted-data tests (tests/restricted): EU PNR records with
vaulted values, authorisations, and raw access to the vault table of either store. Here, on
the path tests/conftest.py sets up, because test folders are not packages."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from cdlog.log.sealing import SealedEvent
from cdlog.restricted.vault import X25519KeyWrapper

if TYPE_CHECKING:
    from conftest import RawStore, World

    from cdlog.application import CaseLog

VALUES: dict[str, Any] = {"locator": "ABC123",
                          "passenger": {"name": "DOE/JANE", "dob": "1970-01-01"},
                          "itinerary": ["FRA", "MIA"], "contact": "+49 30 000000"}


def now(log: CaseLog, when: datetime) -> None:
    """Set ``log``'s clock to ``when``: reads and erasures happen at the log's clock."""
    log.clock = lambda: when


def load_kek(world: World) -> X25519KeyWrapper:
    """Give ``world``'s log a new KEK of CBP (private half: it unwraps) and return it."""
    kek = X25519KeyWrapper.generate("CBP")
    world.log.vault_keys.add(kek)
    return kek


def ingest(world: World, key: str, at: float = 0, values: dict[str, Any] | None = None,
           by: str = "pnr") -> SealedEvent:
    """Record ``pnr:<key>``'s PNRRecordIngested with restricted ``values`` (default VALUES)."""
    fields: dict[str, Any] = {"received_at": world.t(at), "flight": "XX123 EU->MIA",
                              "key_id": key, **(VALUES if values is None else values)}
    return world.rec(f"pnr:{key}", "PNRRecordIngested", fields, by=by, at=at)


def authorise(world: World, key: str, *, agency: str = "ICE", case_no: str = "MI-06-CD-0001",
              at: float = 1, expires: str = "2006-06-16") -> SealedEvent:
    """CBP authorises disclosure of ``pnr:<key>`` to ``agency`` for ``case_no``."""
    return world.rec(f"pnr:{key}", "ThirdPartyDisclosureAuthorized",
                     {"requesting_agency": agency, "case_no": case_no, "purpose": "investigation",
                      "expires": expires}, by="pnr_sup", at=at)


def vault_table(raw: RawStore) -> str:
    """The vault table's name in ``raw``'s dialect."""
    if raw.kind == "sqlite":
        return "restricted_vault"
    return f'"{raw.schema}"."cdlog_restricted_vault"'


def vault_rows(raw: RawStore) -> list[tuple[Any, ...]]:
    """Every vault row: case_id, version, field, class, commitment, kek_id, wrapped_key, nonce,
    ciphertext, erased_by."""
    rows: list[tuple[Any, ...]] = raw.rows(
        f"SELECT case_id, version, field, class, commitment, kek_id, wrapped_key, nonce, "
        f"ciphertext, erased_by FROM {vault_table(raw)} ORDER BY case_id, version, field")
    return rows


def events_of_type(world: World, type_: str) -> list[SealedEvent]:
    """Every stored event of ``type_`` (any stream)."""
    out: list[SealedEvent] = []
    for stream in {*world.log.streams("pnr-access"), *world.log.streams("pnr")}:
        out.extend(e for e in world.log.events(stream) if e.type == type_)
    return out
