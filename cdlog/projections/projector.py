"""Keeping the views up from the log's notification log: catch up, rebuild, read.

SQLite has no subscription, so views are pulled: :meth:`Projections.catch_up` reads the
notification log a page at a time from the lowest view position, decodes each event once and
hands every view the events past its own position, writing the view's entries and its new
position in one transaction. A view another process moved on meanwhile refuses the page
(eventsourcing's guarded tracking upsert) and the loop re-reads positions, so every event is
applied to every view exactly once. Opening a :class:`Projections` catches up.

Cost: the page is decoded once (``parse`` and ``fact_of``) for all views, each view's events
are picked by a set lookup on their type (:meth:`View.wanted_types`), the columns every entry
of an event shares are formatted once (:meth:`Processed.rows`), and a view's page is
inserted at once (:class:`~cdlog.projections.store.PagePrior` keeps what its handler may read
meanwhile). Python's cyclic garbage collector waits while a page is applied.

Two halves: a view's SQLite storage is two files, one for the cases whose stored id ends in
an even hex digit and one for the others (:mod:`cdlog.projections.shards`); every handler
reads only its own stream's entries, so the two are independent. When the views are
:data:`PARALLEL_FROM` events behind or more on a machine with two cores, a forked process
(:class:`cdlog.verify.beside.Beside`: the log opened anew, no connection crosses the fork)
catches up every view's second file while this process does the first, each reading and
decoding only its half of the log (:func:`~cdlog.projections.pages.read_page` by shard): on
the benchmark's workload a rebuild runs about twice as fast (docs/PERFORMANCE.md). Events
the views skip are warned of here, once each, in log order. No fork happens while another
thread runs (a PostgreSQL log's connection pool runs threads: its views are caught up here);
a forked share that fails is caught up here after this process's share.

Files: ``<store home>/views/<store name>.<view>.db`` and ``<store name>.<view>.1.db``, two
per view. A PostgreSQL log keeps its views beside it in its schema instead
(:mod:`cdlog.projections.pgstore`), unless a folder is given. A view whose schema,
configuration fingerprint or layout changed, or that was built from another log, is rebuilt
on open.

Opening reads each view's state (position and metadata, :mod:`cdlog.projections.viewstate`)
once, in one statement (on PostgreSQL one for all views), runs DDL only for missing tables,
and reads the log's first event and each distinct head once: opening caught-up views on
PostgreSQL is five statements (catalogue, states, first event, head, catch-up page), and
writes nothing.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import IntegrityError as ESIntegrityError

from cdlog import _native
from cdlog.application import CaseLog
from cdlog.canonical import is_canonical_time, parse_time
from cdlog.errors import VerificationError
from cdlog.log.facts import fact_of
from cdlog.logging import get_logger
from cdlog.projections.pages import (
    PageRow,
    case_hex,
    case_shard_of_hex,
    misfiled,
    read_page,
    row_shard,
    stored_case,
)
from cdlog.projections.shards import SHARDS, ShardedViewStore, shard_paths
from cdlog.projections.store import Entry, Processed, SQLiteViewStore, fingerprint, to_us
from cdlog.projections.views import View, default_views
from cdlog.projections.viewstate import ViewState
from cdlog.verify.beside import Beside, can_fork, reopener
from cdlog.verify.rows import plain_sqlite

if TYPE_CHECKING:
    from cdlog.projections.pgstore import PostgresViewStore

    Store = ShardedViewStore | SQLiteViewStore | PostgresViewStore
from cdlog.log.sealing import leaf_hash, parse

log = get_logger("cdlog.projections")

_CANONICAL_TIME = getattr(_native.speedups, "canonical_time", None)  # None: pure

PAGE = 1000
MAX_RETRIES = 20
PARALLEL_FROM = 20_000
"""Events behind from which :meth:`Projections.catch_up` splits the views between this process
and a forked one (when the machine has two cores and this process may fork)."""


def views_folder(case_log: CaseLog) -> Path:
    """Where the views of a log live: ``<store home>/views``."""
    return case_log.store.home / "views"


def _store_name(case_log: CaseLog) -> str:
    store = case_log.store
    if store.path is not None:
        return store.path.stem
    return f"{store.kind}-{store.dbname or 'store'}"


class Projections:
    """The views of one log, kept up from its notification log."""

    def __init__(self, case_log: CaseLog, *, folder: Path | None = None,
                 views: Sequence[View] | None = None, catch_up: bool = True,
                 shard: int | None = None) -> None:
        self.log = case_log
        self.folder = folder or views_folder(case_log)
        self.views = {v.name: v for v in (views or default_views(case_log.config))}
        self._in_pg = self.log.store.kind == "postgresql" and folder is None
        self._shard = None if self._in_pg else shard  # a split's share: this shard's files
        self._by_type = _ByType(self.views.values())
        self.split_ran = ""
        """Where the forked share of the last catch-up ran: ``process``, else ``here`` (it
        failed and was run here); empty when that catch-up was not split."""
        self.stores = self._open_stores()
        states = {name: store.opened for name, store in self.stores.items()}
        hashes: dict[int, str | None] = {}
        self._check_fingerprints(states, hashes)
        if catch_up:
            self._catch_up(None, states, hashes, None)

    def _open_stores(self) -> dict[str, Store]:
        """Each view's storage: tables beside a PostgreSQL log (unless a folder was given),
        else two SQLite files per view in the folder (:mod:`cdlog.projections.shards`; for a
        split's share, the one file of its shard)."""
        if self._in_pg:
            from cdlog.projections.pgstore import open_views  # noqa: PLC0415 - psycopg

            recorder: Any = self.log.app.recorder
            return dict(open_views(recorder.datastore, list(self.views)))
        name = _store_name(self.log)
        if self._shard is not None:
            return {v: SQLiteViewStore(shard_paths(self.folder, name, v)[self._shard], v)
                    for v in self.views}
        return {v: ShardedViewStore(shard_paths(self.folder, name, v), v) for v in self.views}

    def fingerprint(self, name: str) -> str:
        """What view ``name``'s stored fingerprint must be: the view's own
        (:meth:`View.fingerprint`), and for a view in SQLite files, the number of files."""
        want = self.views[name].fingerprint()
        return want if self._in_pg else fingerprint(want, f"shards {SHARDS}")

    def _states(self, stores: dict[str, Store] | None = None) -> dict[str, ViewState]:
        """Each view's position and metadata, read now (one statement on PostgreSQL)."""
        if stores is not None:
            return {name: store.state() for name, store in stores.items()}
        if self._in_pg:
            from cdlog.projections.pgstore import (  # noqa: PLC0415 - psycopg
                PostgresViewStore,
                read_states,
            )

            tables = [s for s in self.stores.values() if isinstance(s, PostgresViewStore)]
            return dict(zip(self.stores, read_states(tables), strict=True))
        return {name: store.state() for name, store in self.stores.items()}

    def __enter__(self) -> Projections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every view's connections."""
        for store in self.stores.values():
            store.close()

    # ------------------------------------------------------------ maintenance
    def _upstream(self) -> str:
        first = self.log.app.recorder.select_notifications(start=1, limit=1)
        return leaf_hash(first[0].state).hex() if first else ""

    def _hash_at(self, position: int, known: dict[int, str | None] | None = None
                 ) -> str | None:
        """The hash of the log's event at ``position`` (None when there is none); ``known``
        remembers the hashes read during one opening or catch-up."""
        if known is not None and position in known:
            return known[position]
        row = self.log.app.recorder.select_notifications(start=position, limit=1)
        found = leaf_hash(row[0].state).hex() if row and int(row[0].id) == position else None
        if known is not None:
            known[position] = found
        return found

    def _same_log(self, state: ViewState, hashes: dict[int, str | None]) -> bool:
        """Was the view built from this log? Its recorded head (position and event hash, set
        after each catch-up) must still be in the log. The events are hash-chained, so the
        log's prefix up to the head is the one the view was built from; a head past the
        view's position (set before the view was reset, which a catch-up cut short did not
        move back) proves the same of the view's rows."""
        if not state.position:
            return True
        pos, _, digest = (state.meta.get("head") or "").partition(":")
        return pos.isdigit() and int(pos) > 0 and self._hash_at(int(pos), hashes) == digest

    def _mark_heads(self, states: dict[str, ViewState], hashes: dict[int, str | None],
                    stores: dict[str, Store]) -> None:
        for name, state in states.items():
            store = stores[name]
            position = state.position
            head = f"{position}:{self._hash_at(position, hashes)}" if position else ""
            if state.meta.get("head") != head:
                store.set_meta("head", head)
                state.meta["head"] = head

    def _check_fingerprints(self, states: dict[str, ViewState],
                            hashes: dict[int, str | None]) -> None:
        """Reset each view whose fingerprint, upstream or head says it is not this log's
        view of this configuration; ``states`` (as read) are kept up to date."""
        upstream = self._upstream()
        for name, store in self.stores.items():
            state = states[name]
            want = self.fingerprint(name)
            if state.meta.get("fingerprint") != want or (
                    state.meta.get("upstream") not in ("", upstream)) or \
                    not self._same_log(state, hashes):
                if state.position or state.meta.get("fingerprint") is not None:
                    log.info("view rebuilt", view=name, reason="schema, configuration or log "
                             "changed")
                store.reset()
                state.position = 0
                store.set_meta("fingerprint", want)
                state.meta["fingerprint"] = want
            if state.meta.get("upstream") != upstream:
                store.set_meta("upstream", upstream)
                state.meta["upstream"] = upstream

    def positions(self) -> dict[str, int]:
        """Each view's tracking position."""
        return {name: state.position for name, state in self._states().items()}

    def catch_up(self, progress: Callable[[int], None] | None = None, *,
                 processes: int | None = None) -> int:
        """Apply every event not yet in every view; return how many log events were read.

        ``progress`` is called with the log position reached after each page (by this
        process's half of the views when they are split). ``processes``: 1 keeps the work in
        this process; 2 (or more) splits the views' two halves (:mod:`cdlog.projections.shards`)
        between this process and a forked one (each reads and decodes its half of the log
        and writes its own files); None (the default) splits them when the views are
        :data:`PARALLEL_FROM` events behind or more and the machine has two cores. A split
        needs views in SQLite files over a cdlog SQLite log, a fork without other threads
        running and a log that can be opened again (:func:`cdlog.verify.beside.can_fork`);
        else, and when no view is behind, the work stays here. Should the forked process
        fail in any way, its half is caught up here, so the outcome (and any error) is the
        serial one's."""
        return self._catch_up(progress, None, {}, processes)

    def _catch_up(self, progress: Callable[[int], None] | None,
                  states: dict[str, ViewState] | None, hashes: dict[int, str | None],
                  processes: int | None) -> int:
        """:meth:`catch_up`, from ``states`` just read (else read now); ``hashes`` as for
        :meth:`_hash_at`."""
        self.split_ran = ""
        if states is None:
            states = self._states()
        if any(s.meta.get("upstream") == "" for s in states.values()) and self._upstream():
            self._check_fingerprints(states, hashes)
        if self._split(states, processes):
            return self._catch_up_split(progress, hashes)
        return self._catch_up_views(progress, states, hashes)

    def _split(self, states: dict[str, ViewState], processes: int | None) -> bool:
        """Whether the views' two shards are caught up by this process and a forked one
        (see :meth:`catch_up`)."""
        if processes == 1 or (processes is not None and processes < 1):
            return False
        if self._in_pg or self._shard is not None or not plain_sqlite(self.log.app.recorder):
            return False
        if reopener(self.log) is None or not can_fork():
            return False
        top = self.log.max_position()
        behind = [state.position for state in states.values() if state.position < top]
        if not behind:
            return False
        return processes is not None or (_cores() >= 2 and top - min(behind) >= PARALLEL_FROM)

    def _catch_up_split(self, progress: Callable[[int], None] | None,
                        hashes: dict[int, str | None]) -> int:
        """Catch up every view's shard 0 here and its shard 1 in a forked process, each
        reading and decoding only its shard's events; then every view here (what the process
        left, and what was recorded meanwhile). The events skipped meanwhile are warned of
        here, in log order, once each."""
        views = {name: cast("ShardedViewStore", store) for name, store in self.stores.items()}
        mine: dict[str, Store] = {name: store.parts[0] for name, store in views.items()}
        since = min(store.parts[1].position() for store in views.values())
        beside: Beside[tuple[int, list[Skipped]]] = Beside(self.log, functools.partial(
            _catch_up_beside, folder=self.folder, views=list(self.views.values()),
            since=since))
        beside.start()
        skipped: list[Skipped] = []
        try:
            read = self._catch_up_views(progress, self._states(mine), hashes, stores=mine,
                                        shard=0, skipped=skipped)
        except BaseException:
            beside.abandon()
            raise
        theirs, their_skipped = beside.result()
        self.split_ran = beside.where
        for position, failure in sorted(skipped + their_skipped, key=lambda s: int(s[0])):
            log.warning("event skipped by the views", position=position, failure=failure)
        warned = {shard: min(store.parts[shard].position() for store in views.values())
                  for shard in range(SHARDS)}  # each shard's events read so far
        return read + theirs + self._catch_up_views(progress, self._states(), hashes,
                                                    warned=warned)

    def _catch_up_views(self, progress: Callable[[int], None] | None,
                        states: dict[str, ViewState], hashes: dict[int, str | None], *,
                        stores: dict[str, Store] | None = None, shard: int | None = None,
                        skipped: list[Skipped] | None = None,
                        warned: dict[int, int] | None = None) -> int:
        """The catch-up loop in this process, for the views of ``states`` (in ``stores``,
        by default the views' own; with ``shard``, only that shard's events are read).
        Events skipped are warned of (``skipped``: listed instead), but not those of a shard
        at or before its position in ``warned``."""
        recorder = self.log.app.recorder
        stores = self.stores if stores is None else stores
        names = list(states)
        read = 0
        retries = 0
        last: dict[str, int] = {}
        while True:
            positions = {name: state.position for name, state in states.items()}
            if positions == last:
                retries += 1  # refused, yet nobody moved on: something is wrong
                if retries > MAX_RETRIES:
                    msg = f"views stuck at {positions}: every write refused, none moved on"
                    raise ESIntegrityError(msg)
            else:
                retries = 0
            last = {}
            start = min(positions.values(), default=0)
            page = read_page(recorder, start + 1, PAGE, shard)
            if not page:
                self._mark_heads(states, hashes, stores)
                return read
            read += len(page)
            upto = int(page[-1].id)
            with _collector_paused():
                processed = _decode(page, skipped, warned)
                del page  # the stored rows are done with: free them before the views' work
                if not self._apply(processed, upto, positions, stores):
                    last = positions  # another process applied it first: re-read positions
                del processed
            if progress is not None:
                progress(upto)
            every = self._states(None if stores is self.stores else stores)
            states = {name: every[name] for name in names}

    def _skipped_before(self, since: int, upto: int, shard: int) -> list[Skipped]:
        """The events of ``shard`` after ``since`` up to ``upto`` that the views skip (a
        share that failed part way read them, and its warnings were lost with it)."""
        recorder = self.log.app.recorder
        found: list[Skipped] = []
        while since < upto:
            page = [n for n in read_page(recorder, since + 1, PAGE, shard) if int(n.id) <= upto]
            if not page:
                break
            _decode(page, found)
            since = int(page[-1].id)
        return found

    def _apply(self, processed: list[Processed], upto: int, positions: dict[str, int],
               stores: dict[str, Store]) -> bool:
        """Write one decoded page, whose last stored event is at ``upto``, into every view of
        ``positions`` not yet past it; False when a view refused it."""
        by_view = self._by_type.split(processed)
        applied = True
        for name, position in positions.items():
            store = stores[name]
            if position >= upto:
                continue
            view = self.views[name]
            batch = by_view[name] if name in by_view else _select(view, processed, [],
                                                                   position)
            if processed and position >= processed[0].position:
                batch = [p for p in batch if p.position > position]
            try:
                store.write(batch, upto, view.handle)
            except ESIntegrityError:
                applied = False
                log.info("view moved on by another writer", view=name, upto=upto)
        return applied

    def rebuild(self, names: Iterable[str] | None = None,
                progress: Callable[[int], None] | None = None, *,
                processes: int | None = None) -> int:
        """Forget the named views (default: all) and build them again from the log
        (``progress`` and ``processes`` as for :meth:`catch_up`)."""
        for name in names or list(self.stores):
            self.stores[name].reset()
        return self.catch_up(progress, processes=processes)

    # ------------------------------------------------------------ reading
    def select(self, view: str, *, stream: str | None = None,
               kinds: Iterable[str] | None = None, key: str | None = None,
               recorded_by: Any = None) -> list[Entry]:
        """Entries of a view, filtered by stream, kinds, key and recording time."""
        clauses: list[str] = []
        params: list[Any] = []
        if stream is not None:
            clauses.append("stream=?")
            params.append(stream)
        if kinds is not None:
            wanted = list(kinds)
            clauses.append(f"kind IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if key is not None:
            clauses.append("key=?")
            params.append(key)
        if recorded_by is not None:
            clauses.append("recorded_us<=?")
            params.append(to_us(recorded_by))
        store = self.stores[view]
        if stream is not None and isinstance(store, ShardedViewStore):
            return store.part_of(stream).select(" AND ".join(clauses), params)
        return store.select(" AND ".join(clauses), params)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every view with its position (for comparing two builds)."""
        return {name: store.dump() for name, store in self.stores.items()}


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


Skipped = tuple[Any, str]
"""An event the views skip: its position (as read) and why."""


def _catch_up_beside(log: CaseLog, *, folder: Path, views: list[View], since: int
                     ) -> tuple[int, list[Skipped]]:
    """The forked share of a split catch-up: shard 1 of ``views`` caught up from ``log``
    (opened anew); how many events were read, and the events skipped (the other process
    warns of them). ``since`` is where the share's files stood when the split began: were
    they further on (a share that failed part way, run again here), the events it read and
    skipped before are listed too."""
    with Projections(log, folder=folder, views=views, catch_up=False, shard=1) as share:
        states = share._states()
        low = min(state.position for state in states.values())
        skipped = share._skipped_before(since, low, 1) if low > since else []
        read = share._catch_up_views(None, states, {}, shard=1, skipped=skipped)
        return read, skipped


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page is applied.

    A page holds a few dozen container objects per decoded event until every view has
    written it, and the collector, run every 700 allocations, traversed them again and again
    (about 10 µs per event, measured on the benchmark's 20k-event log). Applying a page makes
    no reference cycles to speak of (reference counting frees it), so the collector waits
    until the page is done and then runs as usual. A collector already disabled is left so.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _ByType:
    """Each event type's readers among the views that keep :meth:`View.wants` (they read the
    case events of :meth:`View.wanted_types`), looked up once per type: a page is split
    among them in one pass over its events instead of one filter per view."""

    def __init__(self, views: Iterable[View]) -> None:
        self._tables = [(v.name, v.wanted_types()) for v in views
                        if type(v).wants is View.wants]
        self._readers: dict[str, tuple[str, ...]] = {}

    def readers(self, type_: str) -> tuple[str, ...]:
        """The names of the views that read case events of ``type_``."""
        found = self._readers.get(type_)
        if found is None:
            found = self._readers[type_] = tuple(
                name for name, wanted in self._tables if wanted is None or type_ in wanted)
        return found

    def split(self, processed: list[Processed]) -> dict[str, list[Processed]]:
        """Each such view's events of the page (all positions), in log order."""
        out: dict[str, list[Processed]] = {name: [] for name, _ in self._tables}
        readers = self._readers
        for p in processed:
            fact = p.fact
            if fact.stream.startswith("trust:"):
                continue
            names = readers.get(fact.type)
            if names is None:
                names = self.readers(fact.type)
            for name in names:
                out[name].append(p)
        return out


def _select(view: View, processed: list[Processed], cases: list[Processed],
            after: int) -> list[Processed]:
    """The events of a page past ``after`` that ``view`` reads, in log order.

    A view that keeps the base class's :meth:`View.wants` reads case events of a set of types
    (:meth:`View.wanted_types`), tested by set lookups; any other view is asked event by
    event. ``cases`` are the page's events outside the trust streams.
    """
    if not processed:
        return []
    if type(view).wants is View.wants:
        wanted = view.wanted_types()
        pool = cases if after < processed[0].position else \
            [p for p in cases if p.position > after]
        if wanted is None:
            return pool
        return [p for p in pool if p.fact.type in wanted]
    return [p for p in processed if p.position > after and view.wants(p.fact)]


def _recorded(envelope: Any) -> datetime | None:
    """An event's recorded time when its stored text is canonical, else None (``fact_of``
    then parses and checks the text itself). Given to ``fact_of``, it is taken as the event's
    occurrence too when the event occurred at the time it was recorded (``{"at": <the same
    text>}``, as live entries are), without validating ``occurred`` again: 2.35 against 1.2
    us an event (the verifier passes it the same way after its form check)."""
    text = envelope.get("recorded") if type(envelope) is dict else None
    if type(text) is not str:
        return None
    canonical = _CANONICAL_TIME(text) if _CANONICAL_TIME is not None else None
    if canonical is None:
        canonical = is_canonical_time(text)
    return parse_time(text, "recorded") if canonical else None


def _decode(page: Sequence[Any], skipped: list[Skipped] | None = None,
            warned: dict[int, int] | None = None) -> list[Processed]:
    """The events of a page that decode and are stored under their stream's case id, in
    order; the others are skipped with a warning (listed in ``skipped`` instead when it is
    given), except those of a shard at or before its position in ``warned`` (read and warned
    of before)."""
    out = []
    for n in page:
        try:
            sealed = parse(n.state)  # where and version only name a failure: see below
            fact = fact_of(sealed, _recorded(sealed.envelope))
        except VerificationError:
            try:
                sealed = parse(n.state, str(n.originator_id), n.originator_version)
                fact = fact_of(sealed)
            except VerificationError as exc:
                _skip(n, exc.failures[0].detail if exc.failures else str(exc), skipped,
                      warned)
                continue
        if type(n) is PageRow:  # a cdlog SQLite store's row: its case id text and shard
            stored, shard = n.stored_id, n.shard
            if type(stored) is not str:
                stored = stored_case(n)
        else:  # a recorder's notification: its case id's last digit (as SHARD_SQL)
            stored = stored_case(n)
            shard = case_shard_of_hex(stored)
        if stored != case_hex(fact.stream):
            _skip(n, misfiled(stored, fact.stream), skipped, warned)
            continue
        out.append(Processed(int(n.id), sealed, fact, shard))
    return out


def _skip(row: Any, failure: str, skipped: list[Skipped] | None,
          warned: dict[int, int] | None) -> None:
    """Warn of (or list) an event the views skip, unless it was warned of before."""
    if warned is not None and int(row.id) <= warned.get(row_shard(row), 0):
        return
    if skipped is not None:
        skipped.append((row.id, failure))
    else:
        log.warning("event skipped by the views", position=row.id, failure=failure)
