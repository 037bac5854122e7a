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

import base64
import copy
import dataclasses
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from cdlog.canonical import format_time
from cdlog.commands import CaseCommands
from cdlog.domain import events as ev
from cdlog.domain.case import CaseState, Fact, check
from cdlog.domain.config import DEFAULT_CONFIG, Config
from cdlog.domain.evolve import evolve, start_state
from cdlog.domain.values import Occurred, Officer
from cdlog.errors import (
    ConcurrencyError,
    ConfigurationError,
    ContextChangedError,
    InputError,
    NotFoundError,
    StoreError,
    VerificationError,
)
from cdlog.keys.certificate import SignedCertificate, issue_certificate
from cdlog.keys.registry import root_officer
from cdlog.keys.signer import Ed25519Signer, Signer, signature_is_valid
from cdlog.keys.trust import TrustRoot
from cdlog.log.context import CONTEXT_TOPICS, CONTEXT_TYPES, LogContext
from cdlog.log.facts import fact_of, officer_json, payload_json, validation_to_input_error
from cdlog.log.ledger import read_ledger
from cdlog.log.sealing import SealedEvent, build_envelope, parse, seal, signing_message, stream_id
from cdlog.logging import get_logger
from cdlog.restricted.record import RestrictedValue, split_restricted, vault_rows
from cdlog.restricted.vault import KeyRing, VaultOps
from cdlog.store.mapper import EventApplication, SealedRecord
from cdlog.store.opening import prepare_store
from cdlog.store.urls import StoreConfig, resolve_store, store_error

if TYPE_CHECKING:
    from cdlog.restricted.access import RestrictedRead
    from cdlog.restricted.vault import VaultEntry

log = get_logger("cdlog")

CONTEXT_RETRIES = 5
"""How often a command is prepared again when keys keep changing under it."""

STREAMS_CACHED = 10_000
"""Case states a :class:`CaseLog` keeps in memory (least recently used dropped first)."""
DEFAULT_LOG_ID = "cdlog.local/default"
PAGE = 1000


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


@dataclass(frozen=True)
class _Call:
    """The arguments of one :meth:`_Batch.record`."""

    stream: str
    event: str | type[ev.Payload] | ev.Payload
    fields: Mapping[str, Any] | None
    signer: Signer
    cosigners: Sequence[Signer]
    at: datetime | Occurred | Mapping[str, Any]
    recorded: datetime | None
    restricted: tuple[RestrictedValue, ...] = ()
    """Restricted values taken out of ``fields`` (committed in it), vaulted with the event."""


def _type_counts(events: Sequence[SealedEvent]) -> str:
    """The event types of a command for its log line: ``CaseOpened`` for one event,
    ``CaseOpened=10,HoldPlaced=10`` (first-seen order) for many, so the line stays short."""
    if len(events) == 1:
        return events[0].type
    counts: dict[str, int] = {}
    for sealed in events:
        counts[sealed.type] = counts.get(sealed.type, 0) + 1
    return ",".join(f"{t}={n}" for t, n in counts.items())


def _occurred(value: datetime | Occurred | Mapping[str, Any]) -> Occurred:
    if isinstance(value, Occurred):
        return value
    if not isinstance(value, datetime | Mapping):
        raise InputError("at", f"{type(value).__name__} {value!r} is not a time",
                         "a timezone-aware datetime or a window {'from': t1, 'to': t2}")
    try:
        if isinstance(value, datetime):
            return Occurred(at=value)
        return Occurred.model_validate(dict(value))
    except ValidationError as exc:
        raise validation_to_input_error(exc, "occurred") from None


class CaseLog(CaseCommands):
    """A signed, hash-chained log of controlled-delivery cases in one store."""

    _open: _Pending | None = None
    """The outermost batch open in this log, which commands inside it join."""

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
        rows = self.app.recorder.select_events(sid, gt=cached.state.version)
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
        self._sync()
        name = self.resolve(stream)
        pending = self._open.streams.get(name) if self._open is not None else None
        return copy.deepcopy((pending or self._state(name)).state)

    def resolve(self, case: str) -> str:
        """Return the stream name for a stream name or a case reference."""
        return case if ":" in case else f"case:{case}"

    # ------------------------------------------------------------ writing
    @contextmanager
    def batch(self) -> Iterator[_Batch]:
        """Record several events as one command: all are saved, in one transaction, or none.

        Batches nest: inside an open batch of this log, another batch and every command
        (:meth:`record`, :meth:`open_case`, :meth:`establish_root`, :meth:`certify_officer`,
        ...) join it, and their events are saved when the outermost batch ends, or not at all
        (an error or Ctrl-C anywhere leaves the store as it was). While a batch is open,
        :meth:`state` and :attr:`context` include its events. A command that fails inside a
        batch after part of it was prepared spoils the batch: it then saves nothing.
        """
        outer = self._open
        if outer is not None:
            prepared = len(outer.events)
            try:
                yield _Batch(self, outer)
            except BaseException as exc:
                if outer.broken is None and (len(outer.events) != prepared
                                             or not isinstance(exc, Exception)):
                    outer.broken = f"{type(exc).__name__}: {exc}"
                raise
            return
        self._sync()
        pending = _Pending(context=self._context, since=self._context.position)
        self._open = pending
        try:
            yield _Batch(self, pending)
            self._open = None
            if pending.broken is not None:
                raise InputError("batch", "a command inside it failed after part of it was "
                                 f"prepared ({pending.broken}); nothing of the batch was saved",
                                 "the batch to end with that command's error")
            self._commit(pending)
        except BaseException:
            self._open = None
            self._forget(pending)
            for undo in reversed(pending.on_abort):
                try:
                    undo()
                except Exception as exc:  # the batch's own error is the one to report
                    log.warning("undoing a batch failed", error=str(exc))
            raise
        for done in pending.on_commit:
            done()

    @property
    def in_batch(self) -> bool:
        """Whether a :meth:`batch` of this log is open (commands now join it)."""
        return self._open is not None

    def _forget(self, pending: _Pending) -> None:
        """Drop the cached states a pending command folded its events into (in place)."""
        for stream in pending.streams:
            self._drop(stream)

    def _next_position(self) -> int:
        """The log position the next event prepared would take, if nobody writes meanwhile."""
        pending = self._open
        if pending is not None:
            return pending.since + len(pending.events) + 1
        return self.max_position() + 1

    def record(self, stream: str, event: str | type[ev.Payload] | ev.Payload,
               fields: Mapping[str, Any] | None = None, *, signer: Signer,
               cosigners: Sequence[Signer] = (), at: datetime | Occurred | Mapping[str, Any],
               recorded: datetime | None = None) -> SealedEvent:
        """Record one event of any catalogue type in ``stream``, signed by ``signer``.

        ``event`` is a type name, a payload class (with ``fields``) or a payload instance.
        ``at`` is when it happened (a time, or a window mapping with ``from``/``to``);
        ``recorded`` sets the log clock for this event (default: the log's clock).
        """
        with self.batch() as b:
            b.record(stream, event, fields, signer=signer, cosigners=cosigners, at=at,
                     recorded=recorded)
        return b.last

    def _prepare(self, pending: _Pending, call: _Call) -> tuple[SealedEvent, datetime]:
        """Validate, check and seal one event of a command; return it and its recorded time."""
        stream, event, fields, signer, cosigners, at, recorded = (
            call.stream, call.event, call.fields, call.signer, call.cosigners, call.at,
            call.recorded)
        stream = self.resolve(stream)
        ev.stream_kind(stream)
        payload = self._payload(event, fields)
        occurred = _occurred(at)
        if recorded is not None and recorded.tzinfo is None:
            raise InputError("recorded", "has no UTC offset", "a timezone-aware time")
        ctx = pending.context
        assert ctx is not None
        current = pending.streams.get(stream) or self._state(stream)
        # The log clock is read after the stream's state: an event another writer committed
        # in between is then older than this one, not a "recorded time goes back" refusal.
        when = recorded or self.clock()
        if when.tzinfo is None:
            raise InputError("recorded", "has no UTC offset", "a timezone-aware time")
        if recorded is None:  # the log clock never goes back (docs/SPEC.md §4, log clock)
            floor = [t for t in (current.state.last_recorded, ctx.registry.clock)
                     if t is not None]
            when = max([when, *floor])
        version = current.state.version + 1
        first = stream not in pending.streams  # this stream's first event in the command
        if first and pending.bases.setdefault(stream, current.state.version) != version - 1:
            raise ConcurrencyError(f"{stream} version {pending.bases[stream] + 1} was written "
                                   "by another writer first; nothing of this command was "
                                   "saved. Reload and retry.")
        position = pending.since + len(pending.events) + 1
        if isinstance(payload, ev.TrustRootEstablished):
            parties = [root_officer(payload.agency)]  # the registry checks it on observe
            if cosigners:
                raise InputError("cosigners", "given for a trust root", "none")
        else:
            parties = [self._identify(ctx, s, position, when, stream, version, payload)
                       for s in (signer, *cosigners)]
        late = when - occurred.end > self.config.deadlines.late_entry_after
        fact = Fact(type=payload.TYPE, payload=payload, occurred=occurred, recorded=when,
                    actor=parties[0], cosigners=tuple(parties[1:]), version=version,
                    stream=stream, late=late)
        if payload.TYPE in CONTEXT_TYPES - {"ThirdPartyDisclosureAuthorized"}:
            if current.state.version == 0 and stream.partition(":")[0] != "trust":
                raise InputError("stream", f"{stream!r} is not a trust stream", "trust:<agency>")
        else:
            check(current.state, fact, ctx)
        envelope = build_envelope(
            log=self.log_id, stream=stream, version=version, type_=payload.TYPE,
            occurred=occurred.as_json(), recorded=format_time(when),
            actor=officer_json(parties[0], signer.key_id),
            cosigners=[officer_json(o, s.key_id) for o, s in zip(parties[1:], cosigners,
                                                                 strict=True)],
            payload=payload_json(payload), prev=current.head, late=late)
        keys = [s.key_id for s in (signer, *cosigners)]
        if len(set(keys)) != len(keys):
            raise InputError("cosigners", "the same key signs twice", "distinct signers")
        rows = []
        if call.restricted:  # cdlog committed them in the payload; the values go to the vault
            owner = call.restricted[0].cls.owner
            rows = vault_rows(self.log_id, str(stream_id(stream)), version, call.restricted,
                              self.vault_keys.wrapper_for(owner))
        sealed = seal(envelope, [signer, *cosigners])
        self._check_own_signatures(ctx, sealed, payload, [signer, *cosigners])
        if payload.TYPE in CONTEXT_TYPES:
            if ctx is self._context:  # try it on a copy; the store's order decides later
                ctx = pending.context = copy.deepcopy(self._context)
            ctx.observe(sealed, position)  # raises if the registry refuses it
        try:  # folding the event in: an interruption here leaves the batch unusable
            if payload.TYPE in CONTEXT_TYPES - {"ThirdPartyDisclosureAuthorized"}:
                current.state.version = version
                current.state.last_recorded = when
            else:
                evolve(current.state, fact, self.config)
            current.head = sealed.hash_hex
            pending.streams[stream] = current
            pending.events.append(sealed)
            pending.vault.writes.extend(rows)
        except BaseException as exc:
            pending.broken = pending.broken or f"{type(exc).__name__}: {exc}"
            raise
        return sealed, when

    @staticmethod
    def _payload(event: str | type[ev.Payload] | ev.Payload,
                 fields: Mapping[str, Any] | None) -> ev.Payload:
        if isinstance(event, ev.Payload):
            if fields:
                raise InputError("fields", "given with a payload instance", "one or the other")
            return event
        model = ev.payload_model(event) if isinstance(event, str) else event
        if fields is not None and not isinstance(fields, Mapping):
            raise InputError("fields", f"{type(fields).__name__} is not a mapping",
                             f"a mapping of {model.TYPE} field names to values")
        try:
            return model.model_validate(dict(fields or {}))
        except ValidationError as exc:
            raise validation_to_input_error(exc, f"{model.TYPE}") from None

    def _identify(self, ctx: LogContext, signer: Signer, position: int, when: datetime,
                  stream: str, version: int, payload: ev.Payload) -> Officer:
        if type(signer) is not Ed25519Signer and not isinstance(signer, Signer):
            raise InputError("signer", f"{type(signer).__name__} is not a Signer",
                             "an object with key_id, public_key and sign()")
        try:
            return ctx.registry.check_signer(signer.key_id, position, when,
                                             case=str(stream_id(stream)), version=version)
        except VerificationError as exc:
            raise InputError(f"{payload.TYPE}.signer",
                             f"key {signer.key_id} cannot sign here: {exc.failures[0].detail}",
                             "a key certified by its agency root and valid at this time") from None

    @staticmethod
    def _check_own_signatures(ctx: LogContext, sealed: SealedEvent, payload: ev.Payload,
                              signers: Sequence[Signer]) -> None:
        """Refuse an event whose signatures do not verify (a broken signer or HSM).

        cdlog's own :class:`Ed25519Signer` signs with libsodium under the very public key it
        holds; where that is the key the log knows for its key id, its signature verifies by
        construction and is not verified again here (``cdlog verify`` checks every signature).
        Every other signer's signature is verified.
        """
        message = signing_message(sealed.envelope_bytes)
        for sig, signer in zip(sealed.signatures, signers, strict=True):
            if isinstance(payload, ev.TrustRootEstablished):
                public = base64.b64decode(payload.public_key)
            else:
                public = ctx.registry.public_key(sig.key)
            if type(signer) is Ed25519Signer and signer.public_key == public:
                continue
            if not signature_is_valid(public, message, sig.sig):
                raise InputError(f"{payload.TYPE}.signer",
                                 f"the signature made with key {sig.key} does not verify",
                                 "a signer whose signatures match its certified key")

    def _commit(self, pending: _Pending) -> None:
        """Save a prepared command. When another writer recorded a key or authorisation
        event after it was prepared, prepare it again against the new keys (which may now
        refuse it) and save that, a few times at most."""
        for attempt in range(1, CONTEXT_RETRIES + 1):
            try:
                self._save(pending)
            except ContextChangedError as exc:
                if attempt == CONTEXT_RETRIES:
                    raise
                log.info("keys changed while preparing; preparing again", position=exc.position,
                         changed=exc.topic, attempt=attempt)
                self._forget(pending)
                self._sync()
                pending.events, pending.streams = [], {}
                pending.vault.writes = []
                pending.context, pending.since = self._context, self._context.position
                for call in pending.calls:  # at the recorded times of the first preparation
                    self._prepare(pending, call)
            else:
                return

    def _save(self, pending: _Pending) -> None:
        if not pending.events:
            return
        records = tuple(SealedRecord(s) for s in pending.events)
        before = self._synced_to
        try:
            extra: dict[str, Any] = {"vault": pending.vault} if pending.vault else {}
            recordings = self.app.save_records(records, context_since=pending.since,
                                               context_topics=CONTEXT_TOPICS, **extra)
        except ESIntegrityError as exc:
            self._drop_all()
            clash, saved = self._clash(pending.events)
            if not saved:
                where = (f"{clash.stream} version {clash.version} was" if clash is not None
                         else f"a version of {', '.join(pending.streams)} was")
                raise ConcurrencyError(
                    f"{where} written by another writer first; nothing of this command was "
                    "saved. Reload and retry.") from exc
            # Every event of the command is in the store, byte for byte: the save went
            # through and only the answer to its COMMIT was lost (the PostgreSQL recorder
            # retries after a dropped connection, and the retry met its own rows).
            log.warning("commit answer lost; the command is in the store",
                        events=len(pending.events))
            recordings = []
        except PersistenceError:
            self._drop_all()
            self._context = LogContext(self.config, self._trusted)
            self._seen = 0
            self._synced_to = -1
            raise
        for stream, st in pending.streams.items():
            self._keep(stream, st)
        ids = [r.notification.id for r in recordings]
        ours_only = bool(ids) and ids == list(range(before + 1, before + 1 + len(ids)))
        if before >= 0 and ours_only and pending.context is self._context:
            # Nobody else wrote in between and no context event was among ours: the caches
            # and the context are as fresh as the log without another look.
            self._synced_to = self._seen = ids[-1]
            self._context.position = max(self._context.position, ids[-1])
        log.info("recorded", events=len(pending.events), types=_type_counts(pending.events))

    def _clash(self, events: Sequence[SealedEvent]) -> tuple[SealedEvent | None, bool]:
        """After a refused insert: the first event of the command whose case version holds
        another writer's event (None if none is found), and whether the store holds every
        event of the command byte for byte (then the command itself was saved).

        The store's error does not say which row clashed, and a batch may span several
        cases, so the first event of each case is looked at first. A version that is free or
        cannot be read means the command was not saved.
        """
        first: dict[str, SealedEvent] = {}
        for sealed in events:
            first.setdefault(sealed.stream, sealed)
        saved = True
        for sealed in [*first.values(), *(s for s in events if first[s.stream] is not s)]:
            try:
                rows = self.app.recorder.select_events(uuid.UUID(sealed.case),
                                                       gt=sealed.version - 1,
                                                       lte=sealed.version, limit=1)
            except PersistenceError:
                rows = []
            if rows and bytes(rows[0].state) != sealed.sealed:
                return sealed, False
            saved = saved and bool(rows)
        return None, saved

    # ------------------------------------------------------------ keys
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

    # ------------------------------------------------------------ restricted data
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

        return read_restricted(self, record, reader=reader, purpose=purpose, case_no=case_no,
                               fields=fields, version=version)

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
        return erase_restricted(self, record, signer=signer, reason=reason,  # type: ignore[arg-type]
                                order_ref=order_ref, fields=fields, version=version)

    def restricted_status(self, record: str | None = None) -> list[VaultEntry]:
        """The vault's rows (no secret) of ``record``'s events, or of the whole log, as
        :class:`cdlog.restricted.vault.VaultEntry`: which fields are held or erased."""
        from cdlog.restricted.vault import vault_entries  # noqa: PLC0415

        return vault_entries(self, None if record is None else self.resolve(record))


class _Batch:
    """Collects the events of one command; see :meth:`CaseLog.batch`."""

    def __init__(self, log: CaseLog, pending: _Pending) -> None:
        self._log = log
        self._pending = pending

    def record(self, stream: str, event: str | type[ev.Payload] | ev.Payload,
               fields: Mapping[str, Any] | None = None, *, signer: Signer,
               cosigners: Sequence[Signer] = (), at: datetime | Occurred | Mapping[str, Any],
               recorded: datetime | None = None) -> SealedEvent:
        """Prepare one event of the batch (see :meth:`CaseLog.record`).

        The event returned is the one that will be saved. (When another writer records a key
        or authorisation event before this batch commits, the batch is prepared again with the
        same recorded times, which gives the same events or refuses them.)
        """
        fields, restricted = split_restricted(event, fields)
        call = _Call(stream, event, fields, signer, tuple(cosigners), at, recorded, restricted)
        sealed, when = self._log._prepare(self._pending, call)
        self._pending.calls.append(dataclasses.replace(call, recorded=when))
        return sealed

    @property
    def events(self) -> list[SealedEvent]:
        """The events of the batch as prepared (after the batch: as saved)."""
        return list(self._pending.events)

    @property
    def vault(self) -> VaultOps:
        """What the batch does to the restricted-data vault in its transaction."""
        return self._pending.vault

    @property
    def last(self) -> SealedEvent:
        """The batch's newest event as prepared (after the batch: as saved); without the
        copy :attr:`events` makes, so a command inside a long batch stays cheap."""
        return self._pending.events[-1]

    @property
    def next_position(self) -> int:
        """The log position the batch's next event would take if nobody writes meanwhile
        (certificate serials use it, so they stay distinct inside one batch)."""
        return self._pending.since + len(self._pending.events) + 1

    def on_commit(self, action: Callable[[], None]) -> None:
        """Call ``action`` once the outermost batch has saved its events (e.g. to move a
        new key file into place); an error it raises reaches the caller, the events stay."""
        self._pending.on_commit.append(action)

    def on_abort(self, action: Callable[[], None]) -> None:
        """Call ``action`` when the outermost batch ends without saving (an error, a refusal,
        Ctrl-C), e.g. to remove a file made for it; its own errors are only logged. Such
        actions run last registered first, so each undoes what came after it first."""
        self._pending.on_abort.append(action)
