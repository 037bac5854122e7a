"""The log's own records, beside the case stages: PNR, restricted data, corrections, keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from cdlog.domain.events.base import CATALOGUE, Payload, event
from cdlog.domain.values import Day, Ref, Text, Time


# ---------------------------------------------------------------- information sharing, PNR
@event("InformationShared")
class InformationShared(Payload):
    """R8: information went from one agency to another, on a stated basis.

    ``pnr_derived`` marks data derived from PNR; ``eu_pnr`` says whether that PNR is EU PNR
    (the memo's only exception to need-to-know inside DHS). Left out with ``pnr_derived``
    true, the data is treated as EU PNR (the cautious reading); ``eu_pnr: false`` is other
    PNR, which the memo leaves outside the third-party rule.
    """

    from_agency: Ref
    to_agency: Ref
    basis: Literal["dhs_need_to_know", "third_party_rule", "routine_use", "court"]
    pnr_derived: bool = False
    eu_pnr: bool | None = None
    data_classes: list[Ref] = Field(default_factory=list)
    authorisation_ref: Text | None = None


@event("ThirdPartyDisclosureAuthorized", streams=("pnr",))
class ThirdPartyDisclosureAuthorized(Payload):
    """R8: CBP authorised disclosure of EU PNR to a third party for a case."""

    requesting_agency: Ref
    case_no: Ref
    purpose: Text
    written_understanding_ref: Text | None = None
    expires: Day


@event("PNRRecordIngested", streams=("pnr",))
class PNRRecordIngested(Payload):
    """A PNR record was received; only a commitment to the locator is logged."""

    received_at: Time
    flight: Text
    key_id: Ref
    pnr_locator_commitment: Ref
    commitments: dict[str, Ref] | None = None
    """Salted commitments (cdlog.restricted) to the record's other EU PNR fields, by field;
    the values are in the vault. Omitted when none (older events keep their bytes)."""


@event("PNRAccessed", streams=("pnr-access",))
class PNRAccessed(Payload):
    """PNR was accessed (access-log stream)."""

    purpose: Text
    case_no: Ref | None = None
    fields: list[Ref] = Field(min_length=1)
    outcome: Text | None = None


@event("PNRLinkedToCase", streams=("pnr",))
class PNRLinkedToCase(Payload):
    """A PNR record was linked to a case (retention hold)."""

    case_no: Ref


@event("PNRCaseArchived", streams=("pnr",))
class PNRCaseArchived(Payload):
    """The case holding a PNR record was archived."""

    case_no: Ref


# ---------------------------------------------------------------- restricted data (issue 11)
class _RestrictedRead(Payload):
    """What a read of restricted values names: the class, the record (a stream) and its
    version, the fields, the purpose, and the case it serves."""

    restricted_class: Ref
    record: Ref
    record_version: int = Field(ge=1)
    fields: list[Ref] = Field(min_length=1)
    purpose: Text
    case_no: Ref | None = None


@event("RestrictedValuesRead", streams=("pnr-access",))
class RestrictedValuesRead(_RestrictedRead):
    """Restricted values of ``record`` (a stream) at ``record_version`` were served to the
    actor; recorded in the transaction that served them (cdlog.restricted)."""

    authorisation_version: int | None = Field(default=None, ge=1)


@event("RestrictedReadRefused", streams=("pnr-access",))
class RestrictedReadRefused(_RestrictedRead):
    """A read of restricted values was refused (not entitled, erased, or not matching its
    commitment); nothing was served."""

    reason: Text


@event("RestrictedValuesErased", streams=("pnr",))
class RestrictedValuesErased(Payload):
    """The owner destroyed the vaulted values (and their data keys) of ``fields`` of this
    stream's event ``record_version``; the signed commitments stay."""

    restricted_class: Ref
    record_version: int = Field(ge=1)
    fields: list[Ref] = Field(min_length=1)
    reason: Literal["retention_ended", "legal_order"]
    order_ref: Text | None = None


# ---------------------------------------------------------------- log integrity
@event("LateEntryRecorded")
class LateEntryRecorded(Payload):
    """An earlier event of type ``wraps`` entered late, with the reason."""

    wraps: Ref
    reason: Text
    event: dict[str, Any] = Field(default_factory=dict)

    @field_validator("wraps")
    @classmethod
    def _known(cls, value: str) -> str:
        target = CATALOGUE.get(value)
        if target is None or "case" not in target.STREAMS or target.DERIVED_ONLY:
            msg = f"{value!r} is not a case event type that can be entered late"
            raise ValueError(msg)
        if value == "LateEntryRecorded":
            msg = "a late entry cannot wrap another late entry"
            raise ValueError(msg)
        return value

    def wrapped(self) -> Payload:
        """Validate and return the wrapped event's payload."""
        return CATALOGUE[self.wraps].model_validate(self.event)


@event("CorrectionRecorded", streams=("case", "programme"))
class CorrectionRecorded(Payload):
    """A compensating correction of an earlier event of the same case."""

    corrects_version: int = Field(ge=1)
    reason: Text
    correction: Text


# ---------------------------------------------------------------- trust (key) streams
@event("TrustRootEstablished", streams=("trust",))
class TrustRootEstablished(Payload):
    """An agency's trust root key."""

    agency: Ref
    key_id: Ref
    public_key: Ref


@event("OfficerKeyCertified", streams=("trust",))
class OfficerKeyCertified(Payload):
    """An officer key certificate, signed by the agency root."""

    certificate: dict[str, Any]


@event("OfficerKeyRevoked", streams=("trust",))
class OfficerKeyRevoked(Payload):
    """An officer key was revoked from this log position on."""

    key_id: Ref
    reason: Text


@event("OfficerKeyRotated", streams=("trust",))
class OfficerKeyRotated(Payload):
    """An officer key was replaced by a new certified key."""

    old_key_id: Ref
    certificate: dict[str, Any]
    reason: Text
