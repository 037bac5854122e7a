"""The notification log a page at a time, as the views read it.

The views take of a stored row only its position and its state (and, to name a failure, its
case id and version). On a cdlog SQLite store a page is one plain query: eventsourcing's own
read makes each row a ``Notification`` and each case id a ``uuid.UUID``, and the UUIDs alone
were about a tenth of a catch-up (docs/PERFORMANCE.md, round 8). A case id stored as
eventsourcing writes it (32 lowercase hex digits, ``uuid.UUID.hex``) is kept as that text and
made a UUID only when asked for (the views ask only to name an event that no longer decodes);
any other value is converted on reading, as eventsourcing converts it, so a case id that is no
UUID raises the same error there as here. Other stores are read by their recorder.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from cdlog.log.sealing import case_id
from cdlog.verify.rows import plain_sqlite

_HEX_ID = re.compile(r"[0-9a-f]{32}")


class PageRow(NamedTuple):
    """A stored event as the views read it."""

    id: int
    stored_id: str | uuid.UUID
    """The case id: its 32 hex digits as stored, or the UUID the recorder made of another
    spelling."""
    originator_version: Any
    state: Any
    shard: int
    """Which of a view's two files takes the event (:data:`SHARD_SQL`)."""

    @property
    def originator_id(self) -> uuid.UUID:
        """The case id as eventsourcing's read gives it."""
        value = self.stored_id
        return uuid.UUID(hex=value) if isinstance(value, str) else value


SHARD_SQL = ("(CASE WHEN substr(originator_id, -1, 1) IN ('0','2','4','6','8','a','c','e') "
             "THEN 0 ELSE 1 END)")
"""The shard of a stored event on a cdlog SQLite store: 0 when its case id, as stored, ends in
an even hex digit, else 1. An event the views take is stored under its stream's case id as
32 lowercase hex digits (:func:`stored_case`), so all of a stream's events are in one shard,
the one :func:`case_shard` names."""


def read_page(recorder: Any, start: int, limit: int, shard: int | None = None
              ) -> Sequence[Any]:
    """The stored events from position ``start`` on, at most ``limit``, in log order (with
    ``shard``, only that shard's: a cdlog SQLite store only,
    :func:`~cdlog.verify.rows.plain_sqlite`)."""
    if not plain_sqlite(recorder):
        if shard is not None:
            msg = "only a cdlog SQLite store is read a shard at a time"
            raise ValueError(msg)
        return recorder.select_notifications(start=start, limit=limit)  # type: ignore[no-any-return]
    which = "" if shard is None else f" AND {SHARD_SQL}={int(shard)}"
    statement = (f"SELECT rowid, originator_id, originator_version, state, {SHARD_SQL} "  # noqa: S608
                 f"FROM {recorder.events_table_name} WHERE rowid>=?{which} "
                 "ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as c:
        c.row_factory = None  # plain tuples: this cursor only (the connection's are Rows)
        c.execute(statement, (start, limit))
        raw = c.fetchall()
    plain = _HEX_ID.fullmatch
    convert = recorder.convert_originator_id
    return [PageRow(r[0], r[1] if type(r[1]) is str and plain(r[1]) else convert(r[1]),
                    r[2], r[3], r[4]) for r in raw]


def row_shard(row: Any) -> int:
    """The shard of a stored event as read (:data:`SHARD_SQL`; by its case id's last hex
    digit for a row read by the store's recorder)."""
    shard = getattr(row, "shard", None)
    if type(shard) is int:
        return shard
    return case_shard_of_hex(uuid.UUID(str(row.originator_id)).hex)


def case_shard_of_hex(hex_id: str) -> int:
    """The shard of a case id given as hex digits: 0 when the last is even, else 1."""
    return 0 if hex_id[-1:] in _EVEN else 1


_EVEN = frozenset("02468ace")


def case_shard(stream: str) -> int:
    """The shard of a stream's events (:data:`SHARD_SQL` of its case id)."""
    return case_shard_of_hex(case_hex(stream))


def stored_case(row: Any) -> str:
    """The case id a stored event is filed under: 32 lowercase hex digits, as cdlog stores
    it. On a cdlog SQLite store a case id stored in another spelling is given as the UUID's
    hyphenated text, which no stream's id (:func:`case_hex`) equals: the views skip it."""
    value = getattr(row, "stored_id", None)
    if type(value) is str:
        return value  # read_page kept it only when it is already in that form
    if isinstance(value, uuid.UUID):
        return str(value)
    found = row.originator_id
    if isinstance(found, uuid.UUID):
        return found.hex
    try:
        return uuid.UUID(str(found)).hex
    except ValueError:  # no case id at all: no stream's
        return str(found)


@functools.lru_cache(maxsize=8192)
def case_hex(stream: str) -> str:
    """The case id of ``stream`` (:func:`cdlog.log.sealing.case_id`) as 32 lowercase hex digits:
    what an event of the stream is stored under."""
    return case_id(stream).replace("-", "")


def misfiled(stored: str, stream: str) -> str:
    """Why the views skip an event stored under another case id than its stream's (or in
    another spelling)."""
    return (f"stored under case id {stored}, but its envelope's stream {stream!r} is stored "
            f"under {case_hex(stream)}")
