"""The stream-head map: what every signed checkpoint says about the newest event of each stream.

A checkpoint of size ``S`` carries, after its root line, the extension line::

    cdlog/heads/v1 <count> <base64 map root>

where the map is an ordered Merkle tree over one entry per stream that has an event among
leaves ``0..S-1``, sorted by stream id (the 16 bytes of the UUIDv5 the envelope names as
``case``). An entry is the stream's head at ``S``: its id, version, leaf index and event hash::

    entry       = id[16] || u64be(version) || u64be(leaf_index) || event_hash[32]   (64 bytes)
    entry hash  = SHA-256(0x02 || entry)
    node hash   = SHA-256(0x03 || left || right)
    empty map   = SHA-256("")

The tree has RFC 6962's shape (split at the largest power of two below the width; equivalently,
pair left to right level by level and promote a lone last node), with its own prefixes so that
no map hash can be read as a leaf or node of the log (0x00, 0x01). docs/SPEC.md §12 defines it.

Proofs (``cdlog prove head``): a *presence* proof is the stream's entry, its position and its
audit path; an *absence* proof is the entries at positions ``p`` and ``p + 1`` that enclose the
missing id (or the first or last entry alone, at an edge; nothing for an empty map), with their
audit paths. The signed size of the map and the positions make adjacency provable.

Where it is kept: the map is computed when a checkpoint is signed, from the heads of the last
map (``head_entries``) and the leaves added since, in the signing transaction; the entries and
every node of the latest map are stored (``head_entries``, ``head_nodes``), so a head proof at
the latest checkpoint reads ``O(log n)`` rows. Nothing is written when an event is appended.
A proof at an older checkpoint rebuilds that map from the leaf rows (``O(size)``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdlog.checkpoint import Checkpoint, open_checkpoint
from cdlog.errors import InputError, NoteError, ProofError
from cdlog.note import CosignatureVerifier, NoteVerifier
from cdlog.sealing import stream_id

EXTENSION = "cdlog/heads/v1"
HASH_SIZE = 32
ENTRY_SIZE = 64
LEAF_PREFIX = b"\x02"
NODE_PREFIX = b"\x03"
EMPTY_MAP_ROOT = hashlib.sha256(b"").digest()
MAX_U64 = 2**64 - 1
HEAD_KEYS = ("stream", "case", "tree_size", "heads_size", "heads_root", "head", "neighbours",
             "checkpoint")
ENTRY_KEYS = ("position", "case", "version", "leaf_index", "event_hash", "proof")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProofError(f"{what} must be a base64 string, not {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ProofError(f"{what} is not base64") from None
    if len(raw) != HASH_SIZE or _b64(raw) != text:
        raise ProofError(f"{what} is not canonical base64 of {HASH_SIZE} bytes")
    return raw


@dataclass(frozen=True, order=True)
class HeadEntry:
    """One stream's head: its id (16 bytes), version, leaf index and event hash."""

    stream_id: bytes
    version: int
    leaf_index: int
    event_hash: bytes

    def __post_init__(self) -> None:
        if len(self.stream_id) != 16:
            raise InputError("stream_id", f"is {len(self.stream_id)} bytes", "16 bytes")
        if not 1 <= self.version <= MAX_U64 or not 0 <= self.leaf_index <= MAX_U64:
            raise InputError("version", f"{self.version}/{self.leaf_index} is out of range",
                             "a version >= 1 and a leaf index >= 0 below 2**64")
        if len(self.event_hash) != HASH_SIZE:
            raise InputError("event_hash", f"is {len(self.event_hash)} bytes", "32 bytes")

    @property
    def case(self) -> str:
        """The stream id as the hyphenated UUID the envelope names."""
        return str(uuid.UUID(bytes=self.stream_id))

    def encode(self) -> bytes:
        """The 64 bytes hashed for this entry."""
        return (self.stream_id + struct.pack(">QQ", self.version, self.leaf_index)
                + self.event_hash)

    def hash(self) -> bytes:
        """SHA-256(0x02 || entry)."""
        return hashlib.sha256(LEAF_PREFIX + self.encode()).digest()

    def as_json(self) -> dict[str, Any]:
        """The entry's JSON fields (without position and proof)."""
        return {"case": self.case, "version": self.version, "leaf_index": self.leaf_index,
                "event_hash": _b64(self.event_hash)}


def map_node(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x03 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def entry_of(case: str | uuid.UUID, version: int, leaf_index: int, event_hash: bytes
             ) -> HeadEntry:
    """A :class:`HeadEntry` from a case id (UUID or its text, hex or hyphenated)."""
    value = case if isinstance(case, uuid.UUID) else uuid.UUID(case)
    return HeadEntry(value.bytes, version, leaf_index, event_hash)


# ---------------------------------------------------------------------------- the tree
def build_levels(entries: Sequence[HeadEntry]) -> list[list[bytes]]:
    """Every node of the map over ``entries`` (sorted by id, unique), level 0 first.

    Level ``l + 1`` pairs level ``l`` left to right and promotes a lone last node unchanged,
    which is exactly RFC 6962's shape.
    """
    for a, b in itertools.pairwise(entries):
        if a.stream_id >= b.stream_id:
            raise InputError("entries", "are not sorted by stream id without repeats",
                             "one entry per stream, sorted by id")
    levels = [[e.hash() for e in entries]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [map_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def root_of(levels: Sequence[Sequence[bytes]]) -> bytes:
    """The root of a map built by :func:`build_levels` (the empty map's for no entries)."""
    return levels[-1][0] if levels and levels[-1] else EMPTY_MAP_ROOT


def map_root(entries: Sequence[HeadEntry]) -> bytes:
    """The map root over ``entries`` (sorted by id)."""
    return root_of(build_levels(entries))


def path_positions(index: int, size: int) -> list[tuple[int, int]]:
    """The ``(level, idx)`` of the audit path of entry ``index`` in a map of ``size``,
    leaf to root (a lone last node has no sibling at its level and adds nothing)."""
    if not 0 <= index < size:
        raise InputError("index", f"{index} is not an entry of a map of {size}",
                         "0 <= index < size")
    out = []
    level, idx, width = 0, index, size
    while width > 1:
        sibling = idx ^ 1
        if sibling < width:
            out.append((level, sibling))
        level, idx, width = level + 1, idx >> 1, (width + 1) >> 1
    return out


def audit_path(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The audit path of entry ``index`` from in-memory levels."""
    return [levels[lvl][i] for lvl, i in path_positions(index, len(levels[0]))]


def root_from_path(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Fold an audit path into the root it leads to; ProofError if its length is wrong."""
    want = path_positions(index, size) if 0 <= index < size else None
    if want is None:
        raise ProofError(f"position {index} is not below the map size {size}")
    if len(proof) != len(want):
        raise ProofError(f"the audit path has {len(proof)} hashes, expected {len(want)} for "
                         f"position {index} of {size}")
    value = leaf
    for (_, sibling), h in zip(want, proof, strict=True):
        if len(h) != HASH_SIZE:
            raise ProofError(f"an audit path hash is {len(h)} bytes, expected {HASH_SIZE}")
        value = map_node(h, value) if sibling < (sibling ^ 1) else map_node(value, h)
    return value


# ---------------------------------------------------------------------------- the line
def heads_line(count: int, root: bytes) -> str:
    """The checkpoint extension line for a map of ``count`` entries and ``root``."""
    return f"{EXTENSION} {count} {_b64(root)}"


def heads_of(cp: Checkpoint) -> tuple[int, bytes] | None:
    """The (count, root) a checkpoint's heads line commits to; None if it has none.

    Raises NoteError for a malformed ``cdlog/heads/v1`` line or more than one.
    """
    found = [line for line in cp.extensions if line.split(" ", 1)[0] == EXTENSION]
    if not found:
        return None
    if len(found) > 1:
        raise NoteError(f"checkpoint of size {cp.size} carries {len(found)} {EXTENSION} lines")
    parts = found[0].split(" ")
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit() or (
            parts[1] != str(int(parts[1]))):
        raise NoteError(f"checkpoint heads line {found[0]!r} is not "
                        f"'{EXTENSION} <count> <base64 root>'")
    try:
        root = _unb64(parts[2], "heads root")
    except ProofError as exc:
        raise NoteError(f"checkpoint heads line: {exc.failures[0].detail}") from None
    count = int(parts[1])
    if count > cp.size:
        raise NoteError(f"checkpoint heads line names {count} streams in a tree of {cp.size} "
                        "events")
    return count, root


# ---------------------------------------------------------------------------- proofs
def entry_doc(position: int, entry: HeadEntry, proof: Sequence[bytes]) -> dict[str, Any]:
    """A proven entry as JSON: position, entry fields, audit path."""
    return {"position": position, **entry.as_json(), "proof": [_b64(h) for h in proof]}


def _int(doc: Mapping[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    if type(value) is not int or value < 0:
        raise ProofError(f"{where}: {key} must be an integer >= 0, not {value!r}")
    return value


def _entry(doc: Any, where: str) -> tuple[int, HeadEntry, list[bytes]]:
    if not isinstance(doc, Mapping):
        raise ProofError(f"{where} is not a JSON object")
    extra = sorted(set(doc) - set(ENTRY_KEYS))
    if extra:
        raise ProofError(f"{where} has unknown fields {extra}")
    try:
        case = uuid.UUID(str(doc.get("case")))
    except ValueError:
        raise ProofError(f"{where}: case {doc.get('case')!r} is not a UUID") from None
    proof = doc.get("proof")
    if not isinstance(proof, list):
        raise ProofError(f"{where}: proof must be a list of base64 hashes")
    try:
        entry = HeadEntry(case.bytes, _int(doc, "version", where),
                          _int(doc, "leaf_index", where),
                          _unb64(doc.get("event_hash"), f"{where}: event_hash"))
    except InputError as exc:
        raise ProofError(f"{where}: {exc.field} {exc.problem}") from None
    return (_int(doc, "position", where), entry,
            [_unb64(h, f"{where}: proof hash {i}") for i, h in enumerate(proof)])


@dataclass(frozen=True)
class ProvenHead:
    """What a verified head document proves: the stream's head at ``tree_size``, or None
    (the log holds no event of the stream at that size)."""

    stream: str
    case: str
    tree_size: int
    head: HeadEntry | None


def verify_head_doc(doc: Any, stream: str | None = None, *,
                    checkpoint: Checkpoint) -> ProvenHead:
    """Verify a head document (``cdlog prove head`` output; ``checkpoint`` field optional).

    ``stream`` (the name the caller wants) must be the document's; ``checkpoint`` (verified by
    the caller) binds the proof to its size and heads line: the map's size and root come from
    there, as an RFC 9162 inclusion proof takes its tree size from a signed tree head (an
    audit path alone does not fix the size). Raises ProofError.
    """
    if not isinstance(doc, Mapping):
        raise ProofError(f"head proof is a {type(doc).__name__}, not an object")
    extra = sorted(set(doc) - set(HEAD_KEYS))
    if extra:
        raise ProofError(f"head proof has unknown fields {extra}")
    name = doc.get("stream")
    if not isinstance(name, str):
        raise ProofError("head proof names no stream")
    if stream is not None and name != stream:
        raise ProofError(f"the head proof is for {name}, not {stream}")
    target = stream_id(name)
    if doc.get("case") != str(target):
        raise ProofError(f"case {doc.get('case')!r} is not the id of stream {name!r}")
    size = _int(doc, "tree_size", "head proof")
    count = _int(doc, "heads_size", "head proof")
    root = _unb64(doc.get("heads_root"), "heads_root")
    line = heads_of(checkpoint)
    if line is None:
        raise ProofError(f"the checkpoint of size {checkpoint.size} carries no "
                         f"{EXTENSION} line (signed before the map existed)")
    if (checkpoint.size, line[0], line[1]) != (size, count, root):
        raise ProofError(f"the head proof is for tree size {size}, {count} streams, map "
                         f"root {_b64(root)}, but the checkpoint has size "
                         f"{checkpoint.size}, {line[0]} streams, map root {_b64(line[1])}")
    if count > size:
        raise ProofError(f"{count} streams cannot have heads in {size} events")

    def check(item: Any, where: str) -> tuple[int, HeadEntry]:
        position, entry, proof = _entry(item, where)
        if entry.leaf_index >= size:
            raise ProofError(f"{where}: leaf index {entry.leaf_index} is not below tree size "
                             f"{size}")
        if root_from_path(entry.hash(), position, count, proof) != root:
            raise ProofError(f"{where}: the audit path of position {position} does not lead "
                             f"to the map root")
        return position, entry

    head = doc.get("head")
    neighbours = doc.get("neighbours", [])
    if head is not None:
        if neighbours:
            raise ProofError("a presence proof carries no neighbours")
        _, entry = check(head, "head")
        if entry.stream_id != target.bytes:
            raise ProofError(f"the proven entry is stream {entry.case}, not {target}")
        return ProvenHead(name, str(target), size, entry)
    if not isinstance(neighbours, list) or len(neighbours) > 2:
        raise ProofError("neighbours must be a list of at most two entries")
    proven = [check(n, f"neighbour {i}") for i, n in enumerate(neighbours)]
    key = target.bytes
    if not proven:
        if count != 0:
            raise ProofError(f"an absence proof without neighbours needs an empty map, not "
                             f"one of {count} streams")
    elif len(proven) == 2:
        (p1, left), (p2, right) = proven
        if p2 != p1 + 1 or not left.stream_id < key < right.stream_id:
            raise ProofError(f"neighbours at positions {p1} and {p2} do not enclose {target}")
    else:
        (p, only), = proven
        if not ((p == 0 and key < only.stream_id) or (p == count - 1 and only.stream_id < key)):
            raise ProofError(f"the neighbour at position {p} of {count} does not show that "
                             f"{target} is before the first or after the last stream")
    return ProvenHead(name, str(target), size, None)


def verify_head_proof(doc: Any, log_verifier: NoteVerifier, *, stream: str | None = None,
                      origin: str | None = None,
                      cosigners: Sequence[CosignatureVerifier] = ()
                      ) -> tuple[ProvenHead, Checkpoint]:
    """Verify ``cdlog prove head`` output end to end (its checkpoint signed by the log key)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("checkpoint"), str):
        raise ProofError("head proof carries no checkpoint")
    cp, _ = open_checkpoint(doc["checkpoint"], log_verifier, origin or log_verifier.name,
                            cosigners)
    return verify_head_doc(doc, stream, checkpoint=cp), cp


def head_doc(stream: str, tree_size: int, count: int, root: bytes,
             found: tuple[int, HeadEntry, Sequence[bytes]] | None,
             neighbours: Iterable[tuple[int, HeadEntry, Sequence[bytes]]] = ()
             ) -> dict[str, Any]:
    """A head document (without ``checkpoint``)."""
    return {"stream": stream, "case": str(stream_id(stream)),
            "tree_size": tree_size, "heads_size": count, "heads_root": _b64(root),
            "head": None if found is None else entry_doc(*found),
            "neighbours": [entry_doc(*n) for n in neighbours]}


def prove_in_memory(entries: Sequence[HeadEntry], stream: str, tree_size: int
                    ) -> dict[str, Any]:
    """A head document from a whole map held in memory (sorted entries)."""
    levels = build_levels(entries)
    root = root_of(levels)
    key = stream_id(stream).bytes
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if entries[mid].stream_id < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(entries) and entries[lo].stream_id == key:
        return head_doc(stream, tree_size, len(entries), root,
                        (lo, entries[lo], audit_path(levels, lo)))
    around = [p for p in (lo - 1, lo) if 0 <= p < len(entries)]
    return head_doc(stream, tree_size, len(entries), root, None,
                    [(p, entries[p], audit_path(levels, p)) for p in around])

