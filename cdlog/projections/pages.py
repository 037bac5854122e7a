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

import re
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

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

    @property
    def originator_id(self) -> uuid.UUID:
        """The case id as eventsourcing's read gives it."""
        value = self.stored_id
        return uuid.UUID(hex=value) if isinstance(value, str) else value


def read_page(recorder: Any, start: int, limit: int) -> Sequence[Any]:
    """The stored events from position ``start`` on, at most ``limit``, in log order."""
    if not plain_sqlite(recorder):
        return recorder.select_notifications(start=start, limit=limit)  # type: ignore[no-any-return]
    statement = ("SELECT rowid, originator_id, originator_version, state "  # noqa: S608
                 f"FROM {recorder.events_table_name} WHERE rowid>=? ORDER BY rowid LIMIT ?")
    with recorder.datastore.transaction(commit=False) as c:
        c.row_factory = None  # plain tuples: this cursor only (the connection's are Rows)
        c.execute(statement, (start, limit))
        raw = c.fetchall()
    plain = _HEX_ID.fullmatch
    convert = recorder.convert_originator_id
    return [PageRow(r[0], r[1] if type(r[1]) is str and plain(r[1]) else convert(r[1]),
                    r[2], r[3]) for r in raw]
