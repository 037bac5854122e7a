"""The rows of the Merkle log as the ledger reads them: leaves, events, checkpoints, cosignatures,
each decoded with a located error for a damaged column.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cdlog.errors import VerificationError


def case_of(originator_id: str) -> str:
    """A stored originator id (hex or text) as the hyphenated UUID string used everywhere
    else; a value that is no UUID at all is returned as it is, so it can be reported."""
    try:
        return str(uuid.UUID(originator_id))
    except ValueError:
        return originator_id


class _OfCase:
    """A row of one case's event: :attr:`case` from its stored ``originator_id``."""

    originator_id: str

    @property
    def case(self) -> str:
        """The case (stream) id as a string UUID."""
        return case_of(self.originator_id)


@dataclass(frozen=True)
class LeafRow(_OfCase):
    """One ``merkle_leaves`` row: where a leaf's event is in the events table."""

    leaf_index: int
    notification_id: int
    originator_id: str  # hex UUID, as the events table stores it
    originator_version: int


@dataclass(frozen=True)
class EventRow(_OfCase):
    """One row of the events table, with its notification id."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class CheckpointRow:
    """One stored signed checkpoint (without the cosignatures, kept apart)."""

    size: int
    root: bytes
    note: str
    created_at: str


@dataclass(frozen=True)
class CosignatureRow:
    """One stored witness cosignature line of a checkpoint."""

    name: str
    key_id: bytes
    timestamp: int
    line: str


def _int(value: Any, where: str, column: str) -> int:
    """An integer column; anything else (NULL, text, a float: a rewritten or damaged row) is
    a located verification failure, not a crash."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise VerificationError.at("<log>", None, "decode",
                               f"{where} holds {value!r} as its {column}, not a whole number")


def _bytes(value: Any, where: str, column: str) -> bytes:
    """A binary column; anything else (NULL, text: a rewritten or damaged row) is a located
    verification failure, not a crash."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise VerificationError.at("<log>", None, "decode",
                               f"{where} holds {value!r} as its {column}, not bytes")


def _leaf(row: Any) -> LeafRow:
    if type(row[0]) is int and type(row[1]) is int and type(row[3]) is int:  # as SQL gives them
        return LeafRow(row[0], row[1], str(row[2]), row[3])  # (the checks below pass them)
    where = f"the Merkle leaf row {row[0]!r}"
    return LeafRow(_int(row[0], "a Merkle leaf row", "leaf_index"),
                   _int(row[1], where, "notification_id"), str(row[2]),
                   _int(row[3], where, "originator_version"))


def _blob(value: Any) -> bytes:
    """A state column as bytes, whatever SQL left in it (a rewritten row may hold text)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def _event(row: Any) -> EventRow:
    if type(row[0]) is int and type(row[2]) is int and type(row[4]) is bytes:  # as SQL gives them
        return EventRow(row[0], str(row[1]), row[2], str(row[3]), row[4])  # (as below)
    where = f"the events row at notification id {row[0]!r}"
    return EventRow(_int(row[0], "an events row", "notification_id"), str(row[1]),
                    _int(row[2], where, "originator_version"), str(row[3]), _blob(row[4]))


def _checkpoint(row: Any) -> CheckpointRow:
    where = f"the checkpoint row of size {row[0]!r}"
    return CheckpointRow(_int(row[0], "a checkpoint row", "size"), _bytes(row[1], where, "root"),
                         str(row[2]), str(row[3]))
