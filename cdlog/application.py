"""The application API: a :class:`CaseLog` records signed, chained events of cases.

Example (executed by the README test)::

    log = CaseLog.open("sqlite:///cases.db")
    case = log.open_case("OP-2006-0001", port="5201", signer=officer, at=t0)
    log.record_discovery(case, items=[...], signer=officer, at=t1)

Every command validates its input, checks the domain rules against the case's committed state
and the log context, seals each event (canonical bytes, chain link, signatures of the actor and
any co-signers) and saves all of a command's events in one transaction, or none of them.
"""


from __future__ import annotations

import copy
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import PersistenceError

from cdlog.app.base import _Call, _Pending, _Stream
from cdlog.app.restricted import RestrictedData
from cdlog.app.trust import TrustKeys
from cdlog.app.writing import CONTEXT_RETRIES, _Batch, _occurred, _type_counts
from cdlog.commands import CaseCommands
from cdlog.domain.case import CaseState
from cdlog.domain.config import DEFAULT_CONFIG, Config
from cdlog.domain.evolve import evolve, start_state
from cdlog.errors import ConfigurationError, NotFoundError, StoreError, VerificationError
from cdlog.keys.trust import TrustRoot
from cdlog.log.context import CONTEXT_TOPICS, CONTEXT_TYPES, LogContext
from cdlog.log.facts import fact_of
from cdlog.log.ledger import LedgerRecorder, read_ledger
from cdlog.log.sealing import SealedEvent, parse, stream_id
from cdlog.log.signers import SignerCache
from cdlog.restricted.kek import KeyRing
from cdlog.store.mapper import EventApplication
from cdlog.store.opening import prepare_store
from cdlog.store.urls import StoreConfig, resolve_store, store_error

__all__ = ["CONTEXT_RETRIES", "DEFAULT_LOG_ID", "PAGE", "STREAMS_CACHED", "CaseLog", "_Batch",
           "_Call", "_Pending", "_Stream", "_occurred", "_type_counts"]

STREAMS_CACHED = 10_000
"""Case states a :class:`CaseLog` keeps in memory (least recently used dropped first)."""
DEFAULT_LOG_ID = "cdlog.local/default"
PAGE = 1000


class CaseLog(TrustKeys, RestrictedData, CaseCommands):
    """A signed, hash-chained log of controlled-delivery cases in one store.

    Its parts (cdlog.app): the write path (:class:`cdlog.app.writing.WritePath`), the trust
    events (:class:`cdlog.app.trust.TrustKeys`), the restricted data
    (:class:`cdlog.app.restricted.RestrictedData`) and the typed commands
    (:class:`cdlog.commands.CaseCommands`); opening, reading and lookups are here."""

    def __init__(self, store: str | StoreConfig | None = None, *, log_id: str | None = None,
                 config: Config | None = None, trusted_roots: Sequence[TrustRoot] | None = None,
                 clock: Callable[[], datetime] | None = None, create: bool = True) -> None:
        """Open the log in ``store`` (a URL, a :class:`StoreConfig`, or ``CDLOG_STORE`` or the
        default). ``create=False`` never creates a store: a missing file or schema without a
        log raises :class:`~cdlog.errors.StoreError` and nothing is made on disk or in the
        database. :attr:`created` tells whether this open created the store."""
        self.store = store if isinstance(store, StoreConfig) else resolve_store(store)
        self.config = config or DEFAULT_CONFIG
        self.clock = clock or (lambda: datetime.now(UTC))
        self._trusted = list(trusted_roots) if trusted_roots is not None else None
        self.created: bool = prepare_store(self.store, create=create)
        """True when this open created the store (there was no log there before)."""
        try:
            self.app = EventApplication(env=self.store.environment(create=create))
        except StoreError:
            raise
        except (PersistenceError, sqlite3.Error, OSError) as exc:
            raise store_error(self.store, exc) from exc
        self._context = LogContext(self.config, self._trusted)
        self._seen = 0
        self._synced_to = -1
        self._signers = SignerCache()
        self._streams: OrderedDict[str, _Stream] = OrderedDict()  # least recently used first
        self._names: dict[uuid.UUID, str] = {}
        self.vault_keys = KeyRing(self.store.home)
        """Key-encryption keys of the restricted-data vault (cdlog.restricted)."""
        stored_id = self._stored_log_id()
        if log_id and stored_id and log_id != stored_id:
            raise ConfigurationError(f"store {self.store.redacted} holds log {stored_id!r}, "
                                     f"not {log_id!r}")
        self.log_id: str = stored_id or log_id or DEFAULT_LOG_ID

    def _stored_log_id(self) -> str | None:
        """The log id named by the first decodable event (None for an empty or unreadable log;
        verification reports an undecodable row, opening the log must not fail on it)."""
        try:
            states = [row.state for row in
                      self.app.recorder.select_notifications(start=1, limit=10)]
        except (ValueError, TypeError):  # a row eventsourcing cannot convert (its case id)
            try:
                with read_ledger(self) as led:
                    states = [row.state for row in led.events_after(0, 10)]
            except (VerificationError, ConfigurationError):
                states = []
        for state in states:
            try:
                return str(parse(state).envelope["log"])
            except (VerificationError, TypeError, KeyError):
                continue
        return None

    @classmethod
    def open(cls, store: str | StoreConfig | None = None, *, create: bool = True,
             **kwargs: Any) -> CaseLog:
        """Open the log in ``store``, creating the store if needed (``create=False``: a
        missing store is a :class:`~cdlog.errors.StoreError`, and nothing is created)."""
        return cls(store, create=create, **kwargs)

    def close(self) -> None:
        """Release the store's connections."""
        self.app.close()

    def reopened(self) -> CaseLog:
        """This log on its store opened anew: its own connections, nothing created (what a
        forked process beside verification's workers reads: :mod:`cdlog.verify.beside`)."""
        return CaseLog(self.store, log_id=self.log_id, config=self.config, create=False)

    def __enter__(self) -> CaseLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading
    @property
    def context(self) -> LogContext:
        """The key registry and cross-case facts as of the newest committed event (inside an
        open :meth:`batch`: with the batch's own key and authorisation events)."""
        self._sync()
        pending = self._open
        if pending is not None and pending.context is not None:
            return pending.context
        return self._context

    def _sync(self) -> None:
        """Catch up with what any writer committed since the last look.

        One indexed query when nothing changed. Otherwise the new rows are read: context
        events (keys, PNR authorisations) are observed and the cached state of every stream
        they touch is dropped, so a cached stream is always as fresh as the log. After a long
        absence (more than a page of new rows) every cache is dropped and only context events
        are read.

        Inside an open :meth:`batch` it does nothing: the batch is prepared against the log as
        it was when the batch began (what others commit meanwhile is checked on insert).
        """
        if self._open is not None:
            return
        newest = self.max_position()
        if newest == self._synced_to:
            return
        small = self._synced_to >= 0 and newest - self._synced_to <= PAGE
        topics: list[str] = [] if small else list(CONTEXT_TOPICS)
        if not small:
            self._drop_all()
        while True:
            page = self.app.recorder.select_notifications(
                start=self._seen + 1, limit=PAGE, topics=topics)
            for n in page:
                if small:
                    self._drop(self._names.get(uuid.UUID(str(n.originator_id)), ""))
                if n.topic[len("cdlog:"):] in CONTEXT_TYPES:
                    self._context.observe(parse(n.state, str(n.originator_id),
                                                n.originator_version), n.id)
            self._seen = page[-1].id if page else self._seen
            if len(page) < PAGE:
                break
        self._seen = max(self._seen, newest)
        self._context.position = max(self._context.position, newest)
        self._synced_to = newest

    def max_position(self) -> int:
        """The position (notification id) of the newest event in the log; 0 when empty."""
        return int(self.app.recorder.max_notification_id() or 0)

    def events(self, stream: str) -> list[SealedEvent]:
        """Every sealed event of a stream, in version order."""
        rows = self.app.recorder.select_events(stream_id(stream))
        return [parse(r.state, str(r.originator_id), r.originator_version) for r in rows]

    def _state(self, stream: str) -> _Stream:
        """The state of a stream as committed; callers :meth:`_sync` first, which keeps every
        cached stream as fresh as the log (a race with another writer is caught on insert)."""
        cached = self._streams.get(stream)
        if cached is not None:
            self._streams.move_to_end(stream)
            return cached
        cached = _Stream(start_state(stream))
        sid = stream_id(stream)
        recorder = self.app.recorder
        rows = (recorder.command_events(sid, cached.state.version)
                if isinstance(recorder, LedgerRecorder)
                else recorder.select_events(sid, gt=cached.state.version))
        if rows:
            for row in rows:
                sealed = parse(row.state, str(row.originator_id), row.originator_version)
                evolve(cached.state, fact_of(sealed), self.config)
                cached.head = sealed.hash_hex
            self._keep(stream, cached)
        return cached

    def _keep(self, stream: str, state: _Stream) -> None:
        """Cache a stream's committed state; the least recently used beyond
        :data:`STREAMS_CACHED` are dropped (and read again from the store when needed)."""
        self._streams[stream] = state
        self._streams.move_to_end(stream)
        self._names[stream_id(stream)] = stream
        while len(self._streams) > STREAMS_CACHED:
            old, _ = self._streams.popitem(last=False)
            self._names.pop(stream_id(old), None)

    def _drop(self, stream: str) -> None:
        """Forget a stream's cached state (it is read from the store when next needed)."""
        if self._streams.pop(stream, None) is not None:
            self._names.pop(stream_id(stream), None)

    def _drop_all(self) -> None:
        """Forget every cached stream state."""
        self._streams.clear()
        self._names.clear()

    def state(self, stream: str) -> CaseState:
        """The committed state of a stream (a copy); inside an open :meth:`batch`, with the
        batch's events folded in."""
        return copy.deepcopy(self._peek(stream))

    def _peek(self, stream: str) -> CaseState:
        """:meth:`state` without the copy, for a look that changes nothing (the typed
        commands' checks): the cached state itself, which the caller must not change."""
        self._sync()
        name = self.resolve(stream)
        pending = self._open.streams.get(name) if self._open is not None else None
        return (pending or self._state(name)).state

    def resolve(self, case: str) -> str:
        """Return the stream name for a stream name or a case reference."""
        return case if ":" in case else f"case:{case}"

    # ------------------------------------------------------------ lookups
    def streams(self, kind: str | None = None) -> list[str]:
        """Names of all streams (optionally of one kind), in order of creation."""
        topics = ["cdlog:" + t for t in ("CaseOpened", "PNRRecordIngested", "PNRAccessed",
                                          "TrustRootEstablished", "RestrictedValuesRead",
                                          "RestrictedReadRefused")]
        names: dict[str, None] = {}
        start = 1
        while True:
            page = self.app.recorder.select_notifications(start=start, limit=PAGE,
                                                          topics=topics)
            for n in page:
                s = parse(n.state).stream
                if kind is None or s.partition(":")[0] == kind:
                    names.setdefault(s)
            if len(page) < PAGE:
                break
            start = page[-1].id + 1
        return list(names)

    def case_stream(self, name: str) -> str:
        """Find a case by stream name, reference, operation id, OI case number or id."""
        candidates = [name, f"case:{name}"]
        for cand in candidates:
            if ":" in cand and self.app.recorder.select_events(stream_id(cand), limit=1):
                return cand
        try:
            wanted = uuid.UUID(name)
        except ValueError:
            wanted = None
        for stream in self.streams("case"):
            st = self._state(stream).state
            if wanted == stream_id(stream) or st.case_no == name:
                return stream
        raise NotFoundError(f"no case named {name!r} (tried stream name, reference, "
                            "operation id, OI case number and internal id)")
