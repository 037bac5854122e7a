"""What the typed commands share: the time type, the log they record in, and field helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from cdlog.domain import events as ev
from cdlog.domain.case import CaseState
from cdlog.domain.values import Occurred
from cdlog.errors import NotFoundError
from cdlog.keys.signer import Signer
from cdlog.log.sealing import SealedEvent

When = datetime | Occurred | Mapping[str, Any]


class _Records(Protocol):
    def record(self, stream: str, event: str | type[ev.Payload] | ev.Payload,
               fields: Mapping[str, Any] | None = None, *, signer: Signer,
               cosigners: Sequence[Signer] = (), at: When,
               recorded: datetime | None = None) -> SealedEvent: ...

    def resolve(self, case: str) -> str: ...

    def state(self, stream: str) -> CaseState: ...

    def _peek(self, stream: str) -> CaseState: ...

    def batch(self) -> AbstractContextManager[Any]: ...


def _clean(**fields: Any) -> dict[str, Any]:
    return {k.rstrip("_") if k in {"from_", "with_"} else k: v
            for k, v in fields.items() if v is not None}


def _items(items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [dict(i) for i in items]


def _opened(log: _Records, case: str) -> str:
    """The stream of an opened case; :class:`NotFoundError` when it was never opened."""
    stream = log.resolve(case)
    if stream.partition(":")[0] == "case" and log._peek(stream).version == 0:
        raise NotFoundError(f"no case {stream}: it was never opened (open_case first)")
    return stream


def _in(log: _Records, case: str, event: type[ev.Payload], fields: dict[str, Any], *,
        signer: Signer, at: When, cosigners: Sequence[Signer] = (),
        recorded: datetime | None = None) -> SealedEvent:
    with log.batch() as batch:  # one look at the log for the check and the event
        sealed: SealedEvent = batch.record(_opened(log, case), event, fields, signer=signer,
                                           cosigners=cosigners, at=at, recorded=recorded)
    return sealed

