"""The vault table's SQL on SQLite and PostgreSQL, its cursor, and what a command does to it.

Each vaulted value is one row of ``restricted_vault`` (SQLite) or ``cdlog_restricted_vault``
(PostgreSQL, in the store's schema), keyed by (case id, version, field), written by the
recorder in the very transaction that inserts its event (:class:`VaultOps`, passed to the
insert as the ``vault`` keyword, applied by :func:`apply_vault`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdlog.errors import InputError
from cdlog.log.ledger_sql import quote_ident
from cdlog.restricted.vault_record import VaultRow

_COLUMNS = ("case_id, version, field, class, commitment, kek_id, wrapped_key, nonce, "
            "ciphertext, erased_by")


@dataclass(frozen=True)
class VaultSQL:
    """The vault's statements in one dialect (``table`` already qualified)."""

    create: tuple[str, ...]
    insert: str
    erase: str
    select_one: str
    select_case: str
    select_all: str
    exists: str
    exists_params: tuple[str, ...]

    @classmethod
    def for_dialect(cls, table: str, mark: str, blob: str, integer: str,
                    exists: tuple[str, tuple[str, ...]]) -> VaultSQL:
        """Statements for ``table`` with parameter mark ``mark`` (``?`` or ``%s``); the
        table name is cdlog's own (quoted), never user input."""
        marks = ", ".join([mark] * 10)
        return cls(
            create=(f"CREATE TABLE IF NOT EXISTS {table} (case_id TEXT NOT NULL, "
                    f"version {integer} NOT NULL, field TEXT NOT NULL, class TEXT NOT NULL, "
                    f"commitment TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped_key {blob}, "
                    f"nonce {blob}, ciphertext {blob}, erased_by {integer}, "
                    "PRIMARY KEY (case_id, version, field))",),
            insert=f"INSERT INTO {table} ({_COLUMNS}) VALUES ({marks})",  # noqa: S608
            erase=(f"UPDATE {table} SET wrapped_key = NULL, nonce = NULL, ciphertext = NULL, "  # noqa: S608
                   f"erased_by = {mark} WHERE case_id = {mark} AND version = {mark} AND "
                   f"field = {mark} AND erased_by IS NULL RETURNING field"),
            select_one=(f"SELECT {_COLUMNS} FROM {table} WHERE case_id = {mark} AND "  # noqa: S608
                        f"version = {mark} AND field = {mark}"),
            select_case=(f"SELECT {_COLUMNS} FROM {table} WHERE case_id = {mark} "  # noqa: S608
                         "ORDER BY version, field"),
            select_all=f"SELECT {_COLUMNS} FROM {table} ORDER BY case_id, version, field",  # noqa: S608
            exists=exists[0], exists_params=exists[1],
        )


SQLITE_VAULT_SQL = VaultSQL.for_dialect(
    "restricted_vault", "?", "BLOB", "INTEGER",
    ("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
     ("restricted_vault",)))


def postgres_vault_sql(schema: str, prefix: str = "cdlog_") -> VaultSQL:
    """The PostgreSQL statements, table ``<prefix>restricted_vault`` in ``schema``."""
    table = f"{quote_ident(schema)}.{quote_ident(prefix + 'restricted_vault')}"
    return VaultSQL.for_dialect(table, "%s", "BYTEA", "BIGINT",
                                ("SELECT COUNT(to_regclass(%s))", (table,)))


def _opt_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")  # a rewritten row: fails to decrypt, reported


def _row(raw: Sequence[Any]) -> VaultRow:
    return VaultRow(str(raw[0]), int(raw[1]), str(raw[2]), str(raw[3]), str(raw[4]),
                    str(raw[5]), _opt_bytes(raw[6]), _opt_bytes(raw[7]), _opt_bytes(raw[8]),
                    None if raw[9] is None else int(raw[9]))


class VaultCursor:
    """The vault table through one database cursor (one transaction).

    ``fresh`` makes a new cursor of the same transaction for each statement whose rows are
    fetched (psycopg's pipeline mode: a fetch on a cursor that also queued other statements
    may meet another statement's result)."""

    def __init__(self, cursor: Any, sql: VaultSQL, fresh: Callable[[], Any] | None = None,
                 *, known: bool = False) -> None:
        self._c = cursor
        self.sql = sql
        self._fresh = fresh
        self._known = known

    def _query(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._fresh() if self._fresh is not None else self._c
        cursor.execute(statement, tuple(params))
        return cursor

    def exists(self) -> bool:
        """Whether the store has the vault table (a store older than the vault has none)."""
        if self._known:
            return True
        return bool(self._query(self.sql.exists, self.sql.exists_params).fetchone()[0])

    def create(self) -> None:
        """Create the vault table if it is missing."""
        for statement in self.sql.create:
            self._c.execute(statement)

    def insert(self, rows: Sequence[VaultRow]) -> None:
        """Insert new rows (a duplicate (case, version, field) fails the transaction)."""
        if rows:
            self._c.executemany(self.sql.insert, [
                (r.case_id, r.version, r.field, r.class_name, r.commitment, r.kek_id,
                 r.wrapped_key, r.nonce, r.ciphertext, r.erased_by) for r in rows])

    def get(self, case_id: str, version: int, field_name: str) -> VaultRow | None:
        """One row, or None."""
        if not self.exists():
            return None
        raw = self._query(self.sql.select_one, (case_id, version, field_name)).fetchone()
        return None if raw is None else _row(tuple(raw))

    def of_case(self, case_id: str) -> list[VaultRow]:
        """Every row of one case (stream), by version and field."""
        if not self.exists():
            return []
        return [_row(tuple(r)) for r in self._query(self.sql.select_case,
                                                     (case_id,)).fetchall()]

    def all(self) -> list[VaultRow]:
        """Every row."""
        if not self.exists():
            return []
        return [_row(tuple(r)) for r in self._query(self.sql.select_all).fetchall()]

    def erase(self, case_id: str, version: int, field_name: str, erased_by: int) -> None:
        """Destroy one held row's data key and ciphertext; a row that is missing or already
        erased fails the transaction (:class:`InputError`)."""
        if not self._query(self.sql.erase, (erased_by, case_id, version,
                                            field_name)).fetchall():
            raise InputError("fields", f"field {field_name!r} of version {version} has no "
                             "held value in the vault (erased meanwhile?)",
                             "a vaulted value not erased yet")


# ---------------------------------------------------------------------------- in the insert
@dataclass
class VaultOps:
    """What a command does to the vault, inside the transaction that inserts its events.

    ``writes``: new rows; ``erase``: ``(case_id hex, version, field, erased_by version)``;
    ``reads``: ``(case_id hex, version, field)`` whose rows ``on_read`` receives (in the
    transaction, after the events are inserted; raising rolls everything back).
    """

    writes: list[VaultRow] = field(default_factory=list)
    erase: list[tuple[str, int, str, int]] = field(default_factory=list)
    reads: list[tuple[str, int, str]] = field(default_factory=list)
    on_read: Callable[[list[VaultRow | None]], None] | None = None
    secure_delete: bool = True

    def __bool__(self) -> bool:
        return bool(self.writes or self.erase or self.reads)

    def apply(self, cursor: Any, sql: VaultSQL, *, sqlite: bool,
              fresh: Callable[[], Any] | None = None) -> None:
        """Run the operations through ``cursor`` (the insert transaction's)."""
        vault = VaultCursor(cursor, sql, fresh, known=True)
        vault.create()  # a store made before the vault existed (and opened create=False)
        vault.insert(self.writes)
        if self.erase and sqlite and self.secure_delete:
            with contextlib.suppress(Exception):  # overwrite freed bytes where SQLite can
                cursor.execute("PRAGMA secure_delete = ON")
        for case_id, version, field_name, erased_by in self.erase:
            vault.erase(case_id, version, field_name, erased_by)
        if self.reads:
            rows = [vault.get(*key) for key in self.reads]
            if self.on_read is not None:
                self.on_read(rows)


def apply_vault(kwargs: dict[str, Any], cursor: Any, sql: VaultSQL, *, sqlite: bool,
                fresh: Callable[[], Any] | None = None) -> None:
    """The recorders' hook: apply ``kwargs["vault"]`` (a :class:`VaultOps`) if given."""
    ops = kwargs.get("vault")
    if ops:
        assert isinstance(ops, VaultOps)
        ops.apply(cursor, sql, sqlite=sqlite, fresh=fresh)
