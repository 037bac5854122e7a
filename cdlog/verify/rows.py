"""Reading a store's rows for the replay: in log order, a page at a time, whatever they hold."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder

PAGE = 1000
"""Rows read per query."""


def _as_bytes(state: object) -> bytes | None:
    """The stored state as bytes, or None when the column holds something else."""
    if isinstance(state, bytes):
        return state
    if isinstance(state, bytearray | memoryview):
        return bytes(state)
    return None


def iter_notifications(recorder: Any, start: int | None = None) -> Iterator[Notification]:
    """Every stored event in log order, read a page at a time.

    With ``start`` None the replay begins at the lowest position the store holds, so a row
    slipped in before position 1 is seen (and reported) too.
    """
    while True:
        page = _notification_page(recorder, start)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def _notification_page(recorder: Any, start: int | None) -> Sequence[Notification]:
    try:
        return recorder.select_notifications(start=start, limit=PAGE)  # type: ignore[no-any-return]
    except (ValueError, TypeError):  # a row eventsourcing cannot convert (case id, state)
        if hasattr(recorder, "select_raw_notifications"):  # cdlog.log.pgledger
            return recorder.select_raw_notifications(start, PAGE)  # type: ignore[no-any-return]
        if isinstance(recorder, SQLiteApplicationRecorder):
            return _select_raw(recorder, start, PAGE)
        raise


RowFields = tuple[int, str, Any, Any, Any]
"""A stored row as the replay reads it: position, case id as text, version, topic, state."""


def iter_rows(recorder: Any) -> Iterator[RowFields]:
    """Every stored event in log order (as :func:`iter_notifications` reads them from the
    lowest position on) as plain tuples, the case id as the text failures name
    (``str(originator_id)``).

    A cdlog SQLite store is read with one plain query per page: a page whose case id columns
    are all text gives exactly what eventsourcing's page, or the lenient one read when
    eventsourcing refuses a row, would give (each column that is a UUID as that UUID, any
    other text as it is); a page holding a case id of another SQL type is read the ordinary
    way. Other stores are read through :func:`iter_notifications`.
    """
    if not plain_sqlite(recorder):
        for row in iter_notifications(recorder):
            yield row.id, str(row.originator_id), row.originator_version, row.topic, row.state
        return
    table = recorder.events_table_name
    columns = ("SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
               f"FROM {table} ")
    first, following = (columns + "ORDER BY rowid LIMIT ?",
                        columns + "WHERE rowid>=? ORDER BY rowid LIMIT ?")
    start: int | None = None
    while True:
        with recorder.datastore.transaction(commit=False) as c:
            c.row_factory = None  # plain tuples: this cursor only (the connection's are Rows)
            c.execute(first if start is None else following,
                      (PAGE,) if start is None else (start, PAGE))
            raw = c.fetchall()
        if all(type(r[1]) is str for r in raw):
            for r in raw:
                yield r[0], _case_text(r[1]), r[2], r[3], r[4]
        else:
            for row in _notification_page(recorder, start):
                yield row.id, str(row.originator_id), row.originator_version, row.topic, row.state
        if len(raw) < PAGE:
            return
        start = raw[-1][0] + 1


def plain_sqlite(recorder: Any) -> bool:
    """True for an SQLite recorder that reads notifications as eventsourcing's does."""
    plain = SQLiteApplicationRecorder.select_notifications
    return (isinstance(recorder, SQLiteApplicationRecorder)
            and type(recorder).select_notifications is plain
            and recorder.datastore.originator_id_type == "uuid")


@functools.lru_cache(maxsize=8192)
def _case_text(column: str) -> str:
    """A text case id column as the replay names the case: the UUID it spells (eventsourcing
    converts it so) in its standard form, else the text itself (the lenient read)."""
    try:
        return str(uuid.UUID(column))
    except ValueError:
        return column


def _select_raw(recorder: SQLiteApplicationRecorder, start: int | None,
                limit: int) -> Sequence[Notification]:
    """Read a page of an SQLite store keeping case ids that are not UUIDs as text."""
    where = "WHERE rowid>=? " if start is not None else ""
    params = [start, limit] if start is not None else [limit]
    statement = (f"SELECT rowid, * FROM {recorder.events_table_name} "  # noqa: S608
                 f"{where}ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, params)
        return [Notification(id=row["rowid"], originator_id=_lenient_id(row["originator_id"]),
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=row["state"]) for row in c.fetchall()]


def _lenient_id(value: object) -> uuid.UUID | str:
    """A case id column as eventsourcing reads it, or as text when it is no UUID."""
    if not isinstance(value, str):
        return repr(value)
    try:
        return uuid.UUID(value)
    except ValueError:
        return value
