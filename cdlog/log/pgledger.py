"""The PostgreSQL Merkle-log recorder (needs ``cdlog[postgres]``: psycopg).

:class:`CdlogPostgresApplicationRecorder` is the twin of
:class:`cdlog.log.ledger.CdlogSQLiteApplicationRecorder`: the same
:class:`~cdlog.log.ledger.LedgerCursor`
code appends leaves and serves roots and proofs, with the statements of
:class:`~cdlog.log.ledger_sql.PostgresLedgerSQL`. Selected by
:meth:`cdlog.store.urls.StoreConfig.environment`
for ``postgresql://`` stores, through :class:`CdlogPostgresFactory`, whose datastore turns the
driver's errors into a one-line :class:`~cdlog.errors.StoreError` (server, cause, never the
password) and whose pool waits :data:`~cdlog.store.urls.CONNECT_TIMEOUT` seconds, not 30.
:func:`probe` checks a server, database and schema before a log is opened on them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.utils import retry
from psycopg.errors import DuplicateObject
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from cdlog.errors import ConfigurationError
from cdlog.log.frontier import FrontierCache
from cdlog.log.ledger import LedgerCursor, LedgerRecorder, leaf_rows
from cdlog.log.ledger_sql import PostgresLedgerSQL, quote_ident
from cdlog.restricted.vault_store import apply_vault, postgres_vault_sql
from cdlog.store.urls import (
    EVENTS_TABLE,
    HOW_TO_CREATE,
    StoreAccessError,
    StoreConfig,
    connect_timeout,
    postgres_error,
)


def serialise_ddl(curs: Any, name: str) -> None:
    """Hold a transaction-scoped advisory lock named after ``name`` (schema-qualified), so
    processes creating the same tables at the same moment do it one after the other."""
    curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["cdlog-ddl:" + name])


class CdlogPostgresApplicationRecorder(LedgerRecorder, PostgresApplicationRecorder):
    """PostgreSQL application recorder that appends each event to the Merkle log as it is stored.

    Selected through ``APPLICATION_RECORDER_TOPIC`` (see :mod:`cdlog.store.urls`). One transaction
    takes the events table's ``EXCLUSIVE`` lock (as eventsourcing's own insert path does),
    inserts the events and appends their leaves and node hashes, so leaves are in commit order
    and gap-free even where the notification-id sequence skips values (a rolled-back insert
    uses some up; that is not tampering). ``POSTGRES_ENABLE_DB_FUNCTIONS`` is refused: that
    insert path takes no lock, so ids could commit out of order.
    """

    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        if datastore.enable_db_functions:
            raise ConfigurationError("POSTGRES_ENABLE_DB_FUNCTIONS is not supported by cdlog: "
                                     "its insert function takes no table lock, so events "
                                     "could commit out of notification-id order")
        self.frontier = FrontierCache()
        self._select_shapes: dict[tuple[bool, bool, bool, bool], Any] = {}
        super().__init__(datastore, events_table_name=events_table_name)
        base = events_table_name.removesuffix("events")
        prefix = base if base != events_table_name else events_table_name + "_"
        self.ledger_sql = PostgresLedgerSQL(datastore.schema, prefix)
        self.vault_sql = postgres_vault_sql(datastore.schema, prefix)
        self.qualified_events_table = (f"{quote_ident(datastore.schema)}."
                                       f"{quote_ident(events_table_name)}")
        # The lock-free insert function is never used (refused above): do not create it.
        del self.sql_create_statements[self.create_insert_function_statement_index]
        # The events as four arrays sent in binary (see _insert_stored_events).
        self.insert_arrays_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id").format(
                schema=Identifier(datastore.schema), table=Identifier(events_table_name),
                id_type=Identifier(datastore.originator_id_type))

    def create_table(self) -> None:
        """Create the composite type and every table in one transaction, one process at a
        time (concurrent ``CREATE ... IF NOT EXISTS`` can fail in PostgreSQL)."""
        with self.datastore.transaction(commit=True) as curs:
            serialise_ddl(curs, self.qualified_events_table)
            for statement in self.sql_create_statements:
                if "CREATE TYPE" in statement.as_string():  # has no IF NOT EXISTS
                    with contextlib.suppress(DuplicateObject), curs.connection.transaction():
                        curs.execute(statement, prepare=False)
            self._create_table(curs)
        self.datastore.register_type_adapters()

    def _create_table(self, curs: Any) -> None:
        super()._create_table(curs)
        for statement in (*self.ledger_sql.create, *self.vault_sql.create):
            curs.execute(statement)
        # A store written before the tree existed gets its leaves here (see catch_up).
        self.ledger(curs).catch_up()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """Insert the events and their leaves in one transaction (after the table lock)."""
        notification_ids: Sequence[int] | None = None
        try:
            # Pipelined, as eventsourcing's own path: statements go out together until a result
            # is needed; an error rolls the whole transaction back.
            with (self.datastore.get_connection() as conn, conn.transaction(),
                  conn.pipeline() as pipeline):
                tuples = conn.cursor(row_factory=tuple_row)
                ledger = LedgerCursor(tuples, self.ledger_sql, self.qualified_events_table,
                                      self.frontier)
                tail = conn.cursor(row_factory=tuple_row)
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)  # tracking, if any
                    if stored_events:
                        # lock timeout, EXCLUSIVE table lock, NOTIFY, INSERT ... RETURNING,
                        # and the Merkle tail read after them: one round trip
                        self._insert_stored_events(curs, stored_events, **kwargs)
                        tail.execute(*ledger.tail_query())
                        pipeline.sync()  # a duplicate version raises IntegrityError here
                        notification_ids = self._fetch_ids_after_insert_events(
                            curs, stored_events, **kwargs)
                if stored_events:
                    assert notification_ids is not None
                    ledger.append_events(
                        leaf_rows(notification_ids, stored_events, kwargs.get("leaves")),
                        kwargs.get("context_since"), kwargs.get("context_topics", ()),
                        tail=tail.fetchone())
                    # restricted values written, erased or read with these events
                    apply_vault(kwargs, tuples, self.vault_sql, sqlite=False,
                                fresh=lambda: conn.cursor(row_factory=tuple_row))
        except BaseException:
            self.frontier.discard()
            raise
        self.frontier.publish()  # committed: this process' frontier is the tree's
        return notification_ids

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        """The table lock, NOTIFY and the INSERT ... RETURNING of eventsourcing's path, with
        the events sent as four binary arrays instead of one array of the composite type in
        text (whose dump escapes every state byte by byte in Python: 29 of this append's
        123 µs of CPU per event at 100 per save)."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_arrays_statement,
                     ([e.originator_id for e in stored_events],
                      [e.originator_version for e in stored_events],
                      [e.topic for e in stored_events],
                      [e.state for e in stored_events]))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(self, originator_id: Any, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> Sequence[StoredEvent]:
        """eventsourcing's statement and rows, read with :meth:`CdlogPostgresDatastore.look`
        (a kept connection, tuple rows): the state read of each new case, without a pooled
        hand-out around it (retried as eventsourcing's)."""
        if not isinstance(self.datastore, CdlogPostgresDatastore):
            return cast("Sequence[StoredEvent]", super().select_events(
                originator_id, gt=gt, lte=lte, desc=desc, limit=limit))
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._select_shapes.get(shape)
        if statement is None:
            statement = SQL("SELECT originator_id, originator_version, topic, state "
                            "FROM {}.{} WHERE originator_id = %s").format(
                                Identifier(self.datastore.schema),
                                Identifier(self.events_table_name))
            if gt is not None:
                statement += SQL(" AND originator_version > %s")
            if lte is not None:
                statement += SQL(" AND originator_version <= %s")
            statement += SQL(" ORDER BY originator_version DESC" if desc
                             else " ORDER BY originator_version ASC")
            if limit is not None:
                statement += SQL(" LIMIT %s")
            # as text once (quoting does not depend on the connection's encoding): a composed
            # statement is rendered again on every execute (about 4 µs)
            statement = statement.as_string(None)
            self._select_shapes[shape] = statement
        params = [originator_id, *(p for p in (gt, lte, limit) if p is not None)]
        return [StoredEvent(originator_id=row[0], originator_version=row[1], topic=row[2],
                            state=bytes(row[3]))
                for row in self.datastore.look(statement, params, prepare=True)]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def max_notification_id(self) -> int | None:
        """The newest notification id (None for an empty log), read with
        :meth:`CdlogPostgresDatastore.glance`: the freshness look every command takes,
        without a pooled hand-out around it (retried as eventsourcing's)."""
        if isinstance(self.datastore, CdlogPostgresDatastore):
            newest: int | None = self.datastore.glance(self.max_notification_id_statement)
            return newest
        return cast("int | None", super().max_notification_id())

    def ledger(self, cursor: Any) -> LedgerCursor:
        """The Merkle-log tables through a tuple-row cursor on ``cursor``'s connection."""
        return LedgerCursor(cursor.connection.cursor(row_factory=tuple_row), self.ledger_sql,
                            self.qualified_events_table)

    @contextmanager
    def read(self) -> Iterator[LedgerCursor]:
        """A read-only view of the log (one REPEATABLE READ snapshot)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield self.ledger(c)

    @contextmanager
    def write(self) -> Iterator[LedgerCursor]:
        """A write transaction holding the events table's EXCLUSIVE lock from the start."""
        with self.datastore.transaction(commit=True) as c:
            self._lock_table(c)  # lock timeout, then the insert path's own lock
            yield self.ledger(c)

    def select_raw_notifications(self, start: int | None, limit: int) -> list[Notification]:
        """A page of the notification log as stored, a NULL state kept as None (eventsourcing's
        own reader fails on it; verification reports it instead)."""
        where = SQL("WHERE notification_id >= %s ") if start is not None else SQL("")
        params = [start, limit] if start is not None else [limit]
        statement = SQL("SELECT notification_id, originator_id, originator_version, topic, "
                        "state FROM {}.{} {}ORDER BY notification_id LIMIT %s").format(
                            Identifier(self.datastore.schema),
                            Identifier(self.events_table_name), where)
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [Notification(id=row["notification_id"], originator_id=row["originator_id"],
                                 originator_version=row["originator_version"],
                                 topic=row["topic"], state=row["state"])
                    for row in c.fetchall()]


def drop_tables(store: StoreConfig) -> list[str]:
    """Drop every cdlog table (``cdlog_*``: events, Merkle log, checkpoints, views) from a
    PostgreSQL store's schema, as ``cdlog demo --fresh`` does; return their names."""
    schema = store.schema or "public"
    with _connect(store) as conn:
        names = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (schema, "cdlog\\_%"))]
        if names:
            conn.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                SQL(", ").join(SQL("{}.{}").format(Identifier(schema), Identifier(name))
                               for name in names)))
    return names


def _connect(store: StoreConfig) -> psycopg.Connection[Any]:
    """A direct connection to ``store``'s database (no pool), failing within
    :data:`~cdlog.store.urls.CONNECT_TIMEOUT` seconds with a one-line StoreError."""
    try:
        return psycopg.connect(host=store.host, port=store.port, dbname=store.dbname,
                               user=store.user, password=store.password, autocommit=True,
                               connect_timeout=connect_timeout())
    except psycopg.Error as exc:
        raise postgres_error(store, exc) from None


def probe(store: StoreConfig, *, create: bool = True) -> bool:
    """Check that ``store``'s server answers, the user may log in, the database and schema
    exist and (``create=False``) that the schema holds a cdlog log; return whether it does.

    Raises :class:`~cdlog.errors.StoreError` with the specific cause (connection refused,
    unknown host, password authentication failed, no such database or schema, no log); the
    password never appears. Nothing is created.
    """
    schema = store.schema or "public"
    with _connect(store) as conn:
        try:
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                            (schema,)).fetchone() is None:
                raise StoreAccessError(
                    f"{store.where}: there is no schema {schema!r} (create it first: "
                    f"CREATE SCHEMA {quote_ident(schema)})")
            row = conn.execute("SELECT to_regclass(%s)",
                               (f"{quote_ident(schema)}.{quote_ident(EVENTS_TABLE)}",)
                               ).fetchone()
        except psycopg.Error as exc:
            raise postgres_error(store, exc) from None
    exists = row is not None and row[0] is not None
    if not exists and not create:
        raise StoreAccessError(f"no cdlog store in {store.where}: it has no table "
                               f"{EVENTS_TABLE!r}; {HOW_TO_CREATE}")
    return exists


class CdlogPostgresDatastore(PostgresDatastore):
    """eventsourcing's PostgreSQL datastore whose errors are one-line
    :class:`~cdlog.errors.StoreError` (also ``PersistenceError``) naming the server and the
    cause; ``IntegrityError`` (another writer appended first) passes unchanged."""

    store: StoreConfig
    _own: tuple[contextlib.AbstractContextManager[Any], Any] | None = None
    _own_lock: threading.Lock

    def glance(self, statement: Any) -> Any:
        """The first column of the first row of one read-only ``statement`` (autocommit: its
        own snapshot), on a pooled connection this datastore keeps out for such looks.

        The newest notification id before every command through the pool cost a hand-out
        and return each time (42 µs of CPU and 145 µs of wall time here, against 21 and 61
        on a kept connection). Errors are :meth:`get_connection`'s (the kept connection goes
        back to the pool, which drops a broken one, and the next look takes another).
        """
        rows = self.look(statement, (), limit=1)
        return rows[0][0] if rows else None

    def look(self, statement: Any, params: Sequence[Any], *, limit: int | None = None,
             prepare: bool | None = None) -> list[tuple[Any, ...]]:
        """The rows (tuples) of one read-only ``statement`` on the kept connection of
        :meth:`glance` (autocommit: its own snapshot), at most ``limit``."""
        with self._own_lock:
            if self._own is None:
                taken = self.get_connection()
                self._own = (taken, taken.__enter__())
            held, conn = self._own
            try:
                with conn.cursor(row_factory=tuple_row) as curs:
                    curs.execute(statement, params or None, prepare=prepare)
                    rows: list[tuple[Any, ...]] = (curs.fetchall() if limit is None
                                                   else curs.fetchmany(limit))
            except BaseException as exc:
                self._own = None
                if not held.__exit__(type(exc), exc, exc.__traceback__):
                    raise
                raise
        return rows

    def close(self) -> None:
        """Give the kept connection back, then close the pool."""
        lock = getattr(self, "_own_lock", None)
        if lock is not None:
            with lock:
                own, self._own = self._own, None
            if own is not None:
                with contextlib.suppress(Exception):
                    own[0].__exit__(None, None, None)
        super().close()

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        """A pooled connection; the driver's and the pool's errors become StoreError."""
        try:
            with super().get_connection() as conn:
                yield conn
        except IntegrityError:
            raise
        except (psycopg.Error, PersistenceError) as exc:
            error = postgres_error(self.store, exc)
            if "no connection within" in str(error):  # the pool timed out: find out why
                try:
                    _connect(self.store).close()
                except StoreAccessError as cause:
                    raise cause from exc
            raise error from exc


class CdlogPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with :class:`CdlogPostgresDatastore` and a connect
    timeout on every pooled connection
    (``PERSISTENCE_MODULE=cdlog.log.pgledger:CdlogPostgresFactory``)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        datastore = self.datastore
        # eventsourcing builds its own datastore class; give this one cdlog's error handling
        datastore.__class__ = CdlogPostgresDatastore
        datastore._own_lock = threading.Lock()  # type: ignore[attr-defined]
        store = StoreConfig(url="", kind="postgresql", host=str(self.env.get("POSTGRES_HOST")),
                            port=int(self.env.get("POSTGRES_PORT") or 5432),
                            dbname=str(self.env.get("POSTGRES_DBNAME")),
                            user=str(self.env.get("POSTGRES_USER")),
                            password=str(self.env.get("POSTGRES_PASSWORD") or ""),
                            schema=datastore.schema)
        cast(CdlogPostgresDatastore, datastore).store = store
        kwargs = datastore.pool.kwargs
        if isinstance(kwargs, dict):
            kwargs.setdefault("connect_timeout", connect_timeout())
