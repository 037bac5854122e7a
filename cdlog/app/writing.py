"""The write path of CaseLog: batches, preparing (validate, check, seal), committing, saving."""

from __future__ import annotations

import base64
import copy
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from cdlog.app.base import LogBase, _Call, _Pending
from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.case import check
from cdlog.domain.evolve import evolve
from cdlog.domain.values import Occurred, Officer, instant
from cdlog.errors import ConcurrencyError, ContextChangedError, InputError, VerificationError
from cdlog.keys.registry import root_officer
from cdlog.keys.signer import Ed25519Signer, Signer, signature_is_valid
from cdlog.log.context import CONTEXT_TOPICS, CONTEXT_TYPES, LogContext
from cdlog.log.facts import new_fact, officer_json, payload_json, validation_to_input_error
from cdlog.log.sealing import (
    SealedEvent,
    case_id,
    owned_envelope,
    seal,
    signing_message,
    stream_id,
)
from cdlog.logging import get_logger
from cdlog.restricted.record import split_restricted, vault_rows
from cdlog.restricted.vault_store import VaultOps
from cdlog.store.mapper import SealedRecord

log = get_logger("cdlog")
_LOGGER = logging.getLogger("cdlog")

CONTEXT_RETRIES = 5
"""How often a command is prepared again when keys keep changing under it."""
_TRUST_TYPES = CONTEXT_TYPES - {"ThirdPartyDisclosureAuthorized"}
"""The context events that are no case events (keys): no case rules, no case state."""


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
    plain = type(value) is datetime  # the usual case, without the checks of the other classes
    if not plain and isinstance(value, Occurred):
        return value
    if not plain and not isinstance(value, datetime | Mapping):
        raise InputError("at", f"{type(value).__name__} {value!r} is not a time",
                         "a timezone-aware datetime or a window {'from': t1, 'to': t2}")
    try:
        if plain or isinstance(value, datetime):
            return instant(value)  # type: ignore[arg-type]  # Occurred(at=value)
        return Occurred.model_validate(dict(value))
    except ValidationError as exc:
        raise validation_to_input_error(exc, "occurred") from None



class WritePath(LogBase):
    """Recording: a command's events are prepared in a batch and saved in one transaction."""

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
        event, signer, cosigners, recorded = call.event, call.signer, call.cosigners, call.recorded
        stream = self.resolve(call.stream)
        ev.stream_kind(stream)
        payload = self._payload(event, call.fields)
        occurred = _occurred(call.at)
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
            for floor in (current.state.last_recorded, ctx.registry.clock):
                if floor is not None and floor > when:
                    when = floor
        version = current.state.version + 1
        first = stream not in pending.streams  # this stream's first event in the command
        if first and pending.bases.setdefault(stream, current.state.version) != version - 1:
            raise ConcurrencyError(f"{stream} version {pending.bases[stream] + 1} was written "
                                   "by another writer first; nothing of this command was "
                                   "saved. Reload and retry.")
        position = pending.since + len(pending.events) + 1
        signers = [signer, *cosigners]
        type_ = payload.TYPE
        if isinstance(payload, ev.TrustRootEstablished):
            parties = [root_officer(payload.agency)]  # the registry checks it on observe
            if cosigners:
                raise InputError("cosigners", "given for a trust root", "none")
        else:
            parties = [self._identify(ctx, s, position, when, stream, version, payload)
                       for s in signers]
        late = when - occurred.end > self.config.deadlines.late_entry_after
        fact = new_fact(type=type_, payload=payload, occurred=occurred, recorded=when,
                     actor=parties[0], cosigners=tuple(parties[1:]), version=version,
                     stream=stream, late=late)
        trust = type_ in _TRUST_TYPES
        if trust:
            if current.state.version == 0 and stream.partition(":")[0] != "trust":
                raise InputError("stream", f"{stream!r} is not a trust stream", "trust:<agency>")
        else:
            check(current.state, fact, ctx)
        envelope = owned_envelope(  # build_envelope's dict, of parts made for it alone
            self.log_id, stream, version, type_, occurred.as_json(), format_time(when),
            officer_json(parties[0], signer.key_id),
            [officer_json(o, s.key_id) for o, s in zip(parties[1:], cosigners, strict=True)]
            if cosigners else [],
            payload_json(payload), current.head, late)
        if cosigners and len({s.key_id for s in signers}) != len(signers):
            raise InputError("cosigners", "the same key signs twice", "distinct signers")
        rows = []
        if call.restricted:  # cdlog committed them in the payload; the values go to the vault
            owner = call.restricted[0].cls.owner
            rows = vault_rows(self.log_id, str(stream_id(stream)), version, call.restricted,
                              self.vault_keys.wrapper_for(owner))
        sealed = seal(envelope, signers)
        self._check_own_signatures(ctx, sealed, payload, signers)
        if trust or type_ == "ThirdPartyDisclosureAuthorized":
            if ctx is self._context:  # try it on a copy; the store's order decides later
                ctx = pending.context = copy.deepcopy(self._context)
            ctx.observe(sealed, position)  # raises if the registry refuses it
        try:  # folding the event in: an interruption here leaves the batch unusable
            if trust:
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
        if type(event) is not str and isinstance(event, ev.Payload):
            if fields:
                raise InputError("fields", "given with a payload instance", "one or the other")
            return event
        model = ev.payload_model(event) if isinstance(event, str) else event
        if fields is not None and not isinstance(fields, Mapping):
            raise InputError("fields", f"{type(fields).__name__} is not a mapping",
                             f"a mapping of {model.TYPE} field names to values")
        try:
            if isinstance(event, str):  # a catalogue model: model_validate's own call
                made: ev.Payload = model.__pydantic_validator__.validate_python(
                    fields if type(fields) is dict else dict(fields or {}))
                return made
            return model.model_validate(dict(fields or {}))
        except ValidationError as exc:
            raise validation_to_input_error(exc, f"{model.TYPE}") from None

    def _identify(self, ctx: LogContext, signer: Signer, position: int, when: datetime,
                  stream: str, version: int, payload: ev.Payload) -> Officer:
        if type(signer) is not Ed25519Signer and not isinstance(signer, Signer):
            raise InputError("signer", f"{type(signer).__name__} is not a Signer",
                             "an object with key_id, public_key and sign()")
        known = self._signers.get(ctx.registry, signer.key_id)
        if known is not None and known.in_force(position, when):
            return known.subject  # check_signer's answer for an officer key in force
        try:
            return ctx.registry.check_signer(signer.key_id, position, when,
                                             case=case_id(stream), version=version)
        except VerificationError as exc:
            raise InputError(f"{payload.TYPE}.signer",
                             f"key {signer.key_id} cannot sign here: {exc.failures[0].detail}",
                             "a key certified by its agency root and valid at this time") from None

    def _check_own_signatures(self, ctx: LogContext, sealed: SealedEvent, payload: ev.Payload,
                              signers: Sequence[Signer]) -> None:
        """Refuse an event whose signatures do not verify (a broken signer or HSM).

        cdlog's own :class:`Ed25519Signer` signs with libsodium under the very public key it
        holds; where that is the key the log knows for its key id, its signature verifies by
        construction and is not verified again here (``cdlog verify`` checks every signature).
        Every other signer's signature is verified.
        """
        message = None
        for sig, signer in zip(sealed.signatures, signers, strict=True):
            if isinstance(payload, ev.TrustRootEstablished):
                public = base64.b64decode(payload.public_key)
            else:
                known = self._signers.get(ctx.registry, sig.key)
                public = ctx.registry.public_key(sig.key) if known is None else known.public
            if type(signer) is Ed25519Signer and signer.public_key == public:
                continue
            if message is None:
                message = signing_message(sealed.envelope_bytes)
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
        records = [SealedRecord(s, stream_id(s.stream)) for s in pending.events]
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
        if _LOGGER.isEnabledFor(logging.INFO):  # (structlog's own check costs a dropped event)
            log.info("recorded", events=len(pending.events),
                     types=_type_counts(pending.events))

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


class _Batch:
    """Collects the events of one command; see :meth:`CaseLog.batch`."""

    def __init__(self, log: WritePath, pending: _Pending) -> None:
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
        sealed, call.recorded = self._log._prepare(self._pending, call)
        self._pending.calls.append(call)  # prepared again, if need be, at the same time
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
