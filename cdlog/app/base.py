"""What the parts of CaseLog share: a pending command's records and the log's own state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cdlog.domain import events as ev
from cdlog.domain.case import CaseState
from cdlog.domain.config import Config
from cdlog.domain.values import Occurred
from cdlog.keys.signer import Signer
from cdlog.keys.trust import TrustRoot
from cdlog.log.context import LogContext
from cdlog.log.sealing import SealedEvent
from cdlog.log.signers import SignerCache
from cdlog.restricted.kek import KeyRing
from cdlog.restricted.record import RestrictedValue
from cdlog.restricted.vault_store import VaultOps
from cdlog.store.mapper import EventApplication
from cdlog.store.urls import StoreConfig


@dataclass
class _Stream:
    state: CaseState
    head: str | None = None


@dataclass
class _Pending:
    """Events prepared by one command (or batch), not yet committed."""

    events: list[SealedEvent] = field(default_factory=list)
    streams: dict[str, _Stream] = field(default_factory=dict)
    context: LogContext | None = None
    since: int = 0
    """The log position whose keys and authorisations the events were prepared against."""
    calls: list[_Call] = field(default_factory=list)
    """What the command asked for, to prepare it again when keys changed meanwhile."""
    bases: dict[str, int] = field(default_factory=dict)
    """The version of each stream the command was first prepared on."""
    broken: str | None = None
    """Why the batch may not be saved: a command inside it failed part-way."""
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    """Called, in order, once the batch's events are saved."""
    on_abort: list[Callable[[], None]] = field(default_factory=list)
    """Called, last registered first, when the batch ends without saving (an error, Ctrl-C)."""
    vault: VaultOps = field(default_factory=VaultOps)
    """Restricted values written, erased or read in the events' transaction."""


@dataclass(slots=True)
class _Call:
    """The arguments of one :meth:`_Batch.record` (``recorded`` set to the time the event was
    prepared at, so that preparing it again gives the same event)."""

    stream: str
    event: str | type[ev.Payload] | ev.Payload
    fields: Mapping[str, Any] | None
    signer: Signer
    cosigners: Sequence[Signer]
    at: datetime | Occurred | Mapping[str, Any]
    recorded: datetime | None
    restricted: tuple[RestrictedValue, ...] = ()
    """Restricted values taken out of ``fields`` (committed in it), vaulted with the event."""


class LogBase:
    """The state of a :class:`cdlog.application.CaseLog` and the reading methods its parts
    use (defined there; declared here so each part type-checks on its own)."""

    store: StoreConfig
    config: Config
    clock: Callable[[], datetime]
    app: EventApplication
    log_id: str
    vault_keys: KeyRing
    _trusted: list[TrustRoot] | None
    _context: LogContext
    _seen: int
    _synced_to: int
    _signers: SignerCache
    """The officer keys of the context's registry, as the write path asks for them."""
    _open: _Pending | None = None
    """The outermost batch open in this log, which commands inside it join."""

    if TYPE_CHECKING:
        @property
        def context(self) -> LogContext: ...

        def _sync(self) -> None: ...

        def max_position(self) -> int: ...

        def _state(self, stream: str) -> _Stream: ...

        def _keep(self, stream: str, state: _Stream) -> None: ...

        def _drop(self, stream: str) -> None: ...

        def _drop_all(self) -> None: ...

        def state(self, stream: str) -> CaseState: ...

        def resolve(self, case: str) -> str: ...
