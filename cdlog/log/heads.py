"""The stream-head map: what every signed checkpoint says about the newest event of each stream.

A checkpoint of size ``S`` carries, after its root line, the extension line::

    cdlog/heads/v1 <count> <base64 map root>

where the map is a Merkle tree over one entry per stream that has an event among leaves
``0..S-1``, in the order the streams first appear in the log. An entry is the stream's head at
``S`` (its id, version, leaf index, event hash) and, NSEC-style, the id of the next stream in
id order (the smallest id follows the largest)::

    entry       = id[16] || next[16] || u64be(version) || u64be(leaf_index) || event_hash[32]
    entry hash  = SHA-256(0x02 || entry)                                          (80 bytes)
    node hash   = SHA-256(0x03 || left || right)
    empty map   = SHA-256("")

The tree has RFC 6962's shape (split at the largest power of two below the width), with its own
prefixes so that no map hash can be read as a leaf or node of the log (0x00, 0x01).
docs/SPEC.md §12 defines it.

Proofs (``cdlog prove head``): a *presence* proof is the stream's entry, its position and its
audit path; an *absence* proof is the one entry whose link spans the missing id (``id < x <
next``, or across the wrap from the largest id to the smallest) with its path, or nothing for
an empty map.

Where it is kept: the map is updated when a checkpoint is signed, from the stored map and the
leaves added since, in the signing transaction (:mod:`cdlog.log.headstore`): a stream's entry keeps
its position, a new stream takes the next one, so an update rewrites only the entries that
changed and their paths. Nothing is written when an event is appended.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdlog.errors import InputError, NoteError, ProofError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.merkle import path_ranges as merkle_path_ranges
from cdlog.log.merkle import range_positions
from cdlog.log.note import CosignatureVerifier, NoteVerifier
from cdlog.log.sealing import stream_id

EXTENSION = "cdlog/heads/v1"
HASH_SIZE = 32
ENTRY_SIZE = 96
LEAF_PREFIX = b"\x02"
NODE_PREFIX = b"\x03"
LINK_PREFIX = b"\x04"
_sha256 = hashlib.sha256
_U64_PAIR = struct.Struct(">QQ").pack
_INSORT_MOST = 96
"""New streams a :meth:`MapBuilder.state` inserts one by one; more are merged by one sort
(at 100,000 ids about as costly as 96 insertions: 0.65 ms)."""
EMPTY_MAP_ROOT = hashlib.sha256(b"").digest()
MAX_U64 = 2**64 - 1
HEAD_KEYS = ("stream", "case", "tree_size", "heads_size", "heads_root", "head", "gap",
             "checkpoint")
ENTRY_KEYS = ("position", "case", "link", "next", "next_event_hash", "version", "leaf_index",
              "event_hash", "proof")


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


def link_hash(next_id: bytes, next_event_hash: bytes) -> bytes:
    """SHA-256(0x04 || next id || next stream's event hash): an entry's link to the next id."""
    return hashlib.sha256(LINK_PREFIX + next_id + next_event_hash).digest()


@dataclass(frozen=True)
class HeadEntry:
    """One stream's head: its id (16 bytes), its link (to the next id in id order), version,
    leaf index and event hash. ``next_id`` and ``next_hash`` (the link's preimage) are known
    for entries built from the whole map and for a gap entry; a presence proof shows only the
    link, so it reveals no other stream's id."""

    stream_id: bytes
    link: bytes
    version: int
    leaf_index: int
    event_hash: bytes
    next_id: bytes = field(default=b"", compare=False)
    next_hash: bytes = field(default=b"", compare=False)

    def __post_init__(self) -> None:
        if len(self.stream_id) != 16 or len(self.link) != HASH_SIZE:
            raise InputError("stream_id", "an id is not 16 bytes or a link not 32",
                             "a 16-byte stream id and a 32-byte link")
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
        """The 96 bytes hashed for this entry."""
        return (self.stream_id + self.link + struct.pack(">QQ", self.version, self.leaf_index)
                + self.event_hash)

    def hash(self) -> bytes:
        """SHA-256(0x02 || entry)."""
        return hashlib.sha256(LEAF_PREFIX + self.encode()).digest()

    def spans(self, key: bytes) -> bool:
        """Whether ``key`` lies strictly inside this entry's link (no stream has that id);
        needs ``next_id``."""
        if len(self.next_id) != 16:
            return False
        if self.stream_id < self.next_id:
            return self.stream_id < key < self.next_id
        return key != self.stream_id and (key > self.stream_id or key < self.next_id)

    def as_json(self, *, gap: bool = False) -> dict[str, Any]:
        """The entry's JSON fields (without position and proof): the link, or for a gap entry
        the link's preimage (next id and its event hash)."""
        doc: dict[str, Any] = {"case": self.case}
        if gap:
            doc.update({"next": str(uuid.UUID(bytes=self.next_id)),
                        "next_event_hash": _b64(self.next_hash)})
        else:
            doc["link"] = _b64(self.link)
        doc.update({"version": self.version, "leaf_index": self.leaf_index,
                    "event_hash": _b64(self.event_hash)})
        return doc


Head = tuple[bytes, int, int, bytes]
"""A stream's head before linking: id, version, leaf index, event hash."""


def link(heads: Sequence[Head]) -> list[HeadEntry]:
    """The entries of ``heads`` (one per stream, in map order), each linked to the next id."""
    ids = sorted(h[0] for h in heads)
    if len(set(ids)) != len(ids):
        raise InputError("heads", "name a stream twice", "one head per stream")
    following = dict(zip(ids, ids[1:] + ids[:1], strict=True))
    hashes = {h[0]: h[3] for h in heads}
    out = []
    for key, version, leaf, value in heads:
        after = following[key]
        out.append(HeadEntry(key, link_hash(after, hashes[after]), version, leaf, value,
                             after, hashes[after]))
    return out


class MapBuilder:
    """The map kept up to date in memory while heads arrive in log order (store verification).

    :meth:`set` records a stream's new head; :meth:`state` applies what was set since the last
    call and returns ``(count, root)``, rehashing only the entries that changed (a new head,
    the link of the stream before a changed one in id order) and the nodes above them:
    ``O(k log n)`` per call for ``k`` streams touched, as the store updates its map.
    """

    def __init__(self) -> None:
        self._order: list[list[Any]] = []  # map order: [id, version, leaf_index, event_hash]
        self._position: dict[bytes, int] = {}
        self._ids: list[bytes] = []  # sorted
        self._levels: list[list[bytes]] = [[]]
        self._pending: dict[bytes, Head] = {}

    def set(self, key: bytes, version: int, leaf_index: int, event_hash: bytes) -> None:
        """Record ``key``'s head (applied at the next :meth:`state`)."""
        self._pending[key] = (key, version, leaf_index, event_hash)

    def _entry_hash(self, pos: int) -> bytes:
        """``HeadEntry(...).hash()`` of the entry at ``pos``, linked to the next id: the same
        bytes hashed (:meth:`HeadEntry.encode`'s), without the entry object (whose checks
        :meth:`set`'s callers made)."""
        key, version, leaf_index, value = self._order[pos]
        i = bisect.bisect_left(self._ids, key)
        after = self._ids[(i + 1) % len(self._ids)]
        link = link_hash(after, self._order[self._position[after]][3])
        return _sha256(LEAF_PREFIX + key + link + _U64_PAIR(version, leaf_index)
                       + value).digest()

    def state(self) -> tuple[int, bytes]:
        """Apply the pending heads; return the map's ``(count, root)``."""
        pending, self._pending = self._pending, {}
        new = []
        for key, version, leaf_index, value in pending.values():
            pos = self._position.get(key)
            if pos is None:
                self._position[key] = len(self._order)
                self._order.append([key, version, leaf_index, value])
                new.append(key)
            else:
                self._order[pos][1:] = [version, leaf_index, value]
        if len(new) > _INSORT_MOST:  # one merge of the sorted ids with the new ones
            self._ids.extend(new)
            self._ids.sort()
        else:  # a few: each moves the ids after it once
            for key in new:
                bisect.insort(self._ids, key)
        if not self._order:
            return 0, EMPTY_MAP_ROOT
        dirty = set()
        for key in pending:  # its own entry, and the entry whose link names it
            i = bisect.bisect_left(self._ids, key)
            dirty.add(self._position[key])
            dirty.add(self._position[self._ids[i - 1]])
        level = self._levels[0]
        level.extend(b"" for _ in range(len(self._order) - len(level)))
        for pos in dirty:
            level[pos] = self._entry_hash(pos)
        depth = 0
        while len(self._levels[depth]) > 1:
            below = self._levels[depth]
            if depth + 1 == len(self._levels):
                self._levels.append([])
            above = self._levels[depth + 1]
            width = (len(below) + 1) // 2
            above.extend(b"" for _ in range(width - len(above)))
            parents = {pos >> 1 for pos in dirty}
            for j in parents:
                left = below[2 * j]
                above[j] = map_node(left, below[2 * j + 1]) if 2 * j + 1 < len(below) else left
            dirty, depth = parents, depth + 1
        return len(self._order), self._levels[depth][0]


def map_node(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x03 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def id_bytes(case: str | uuid.UUID) -> bytes:
    """A case id (UUID, or its text: 32 hex digits or hyphenated) as its 16 bytes."""
    if isinstance(case, uuid.UUID):
        return case.bytes
    if len(case) == 32:
        try:
            return bytes.fromhex(case)
        except ValueError:
            pass
    return uuid.UUID(case).bytes


# ---------------------------------------------------------------------------- the tree
def build_levels(entries: Sequence[HeadEntry]) -> list[list[bytes]]:
    """Every node of the map over ``entries`` (in map order), level 0 first.

    Level ``l + 1`` pairs level ``l`` left to right and promotes a lone last node unchanged,
    which is exactly RFC 6962's shape.
    """
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
    """The map root over ``entries`` (in map order)."""
    return root_of(build_levels(entries))


def path_positions(index: int, size: int) -> list[tuple[int, int]]:
    """The ``(level, idx)`` of the audit path of entry ``index`` in a map of ``size``,
    leaf to root, in :func:`build_levels` terms (a lone last node has no sibling at its level
    and adds nothing)."""
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


def subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, idx)`` (covering ``[idx·2^level, (idx+1)·2^level)``)
    that make up the range ``[lo, hi)`` of an RFC 6962 tree, left to right (the same cut as
    the log's own tree: :func:`cdlog.log.merkle.range_positions`)."""
    return range_positions(lo, hi)


def path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` ranges whose hashes form the audit path of ``index``, leaf to root
    (the log tree's shape: :func:`cdlog.log.merkle.path_ranges`)."""
    return merkle_path_ranges(index, size)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from its complete subtrees (left to right), folded right to left."""
    value = hashes[-1]
    for h in reversed(hashes[:-1]):
        value = map_node(h, value)
    return value


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
def entry_doc(position: int, entry: HeadEntry, proof: Sequence[bytes], *, gap: bool = False
              ) -> dict[str, Any]:
    """A proven entry as JSON: position, entry fields, audit path."""
    return {"position": position, **entry.as_json(gap=gap),
            "proof": [_b64(h) for h in proof]}


def _int(doc: Mapping[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    if type(value) is not int or value < 0:
        raise ProofError(f"{where}: {key} must be an integer >= 0, not {value!r}")
    return value


def _uuid(doc: Mapping[str, Any], key: str, where: str) -> bytes:
    try:
        return uuid.UUID(str(doc.get(key))).bytes
    except ValueError:
        raise ProofError(f"{where}: {key} {doc.get(key)!r} is not a UUID") from None


def _entry(doc: Any, where: str, *, gap: bool) -> tuple[int, HeadEntry, list[bytes]]:
    if not isinstance(doc, Mapping):
        raise ProofError(f"{where} is not a JSON object")
    allowed = set(ENTRY_KEYS) - ({"link"} if gap else {"next", "next_event_hash"})
    extra = sorted(set(doc) - allowed)
    if extra:
        raise ProofError(f"{where} has unknown fields {extra}")
    proof = doc.get("proof")
    if not isinstance(proof, list):
        raise ProofError(f"{where}: proof must be a list of base64 hashes")
    next_id = next_hash = b""
    if gap:
        next_id = _uuid(doc, "next", where)
        next_hash = _unb64(doc.get("next_event_hash"), f"{where}: next_event_hash")
        link = link_hash(next_id, next_hash)
    else:
        link = _unb64(doc.get("link"), f"{where}: link")
    try:
        entry = HeadEntry(_uuid(doc, "case", where), link, _int(doc, "version", where),
                          _int(doc, "leaf_index", where),
                          _unb64(doc.get("event_hash"), f"{where}: event_hash"),
                          next_id, next_hash)
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
    """Verify a head document (``cdlog prove head`` output; its ``checkpoint`` field is not
    read here).

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
    head, gap = doc.get("head"), doc.get("gap")
    if head is not None and gap is not None:
        raise ProofError("a head proof carries a head or a gap, not both")
    if head is None and gap is None:
        if count != 0:
            raise ProofError(f"an absence proof without a gap entry needs an empty map, not "
                             f"one of {count} streams")
        return ProvenHead(name, str(target), size, None)
    where = "head" if head is not None else "gap"
    position, entry, proof = _entry(head if head is not None else gap, where,
                                    gap=head is None)
    if entry.leaf_index >= size:
        raise ProofError(f"{where}: leaf index {entry.leaf_index} is not below tree size "
                         f"{size}")
    if root_from_path(entry.hash(), position, count, proof) != root:
        raise ProofError(f"{where}: the audit path of position {position} does not lead to "
                         "the map root")
    if head is not None:
        if entry.stream_id != target.bytes:
            raise ProofError(f"the proven entry is stream {entry.case}, not {target}")
        return ProvenHead(name, str(target), size, entry)
    if not entry.spans(target.bytes):
        raise ProofError(f"the gap entry {entry.case} -> {uuid.UUID(bytes=entry.next_id)} "
                         f"does not span {target}")
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


Proven = tuple[int, HeadEntry, Sequence[bytes]]


def head_doc(stream: str, tree_size: int, count: int, root: bytes, found: Proven | None,
             gap: Proven | None = None) -> dict[str, Any]:
    """A head document (without ``checkpoint``)."""
    return {"stream": stream, "case": str(stream_id(stream)), "tree_size": tree_size,
            "heads_size": count, "heads_root": _b64(root),
            "head": None if found is None else entry_doc(*found),
            "gap": None if gap is None else entry_doc(*gap, gap=True)}


def gap_entry(entries: Sequence[HeadEntry], key: bytes) -> int:
    """The position of the entry whose link spans ``key`` (not an id of ``entries``)."""
    return next(i for i, e in enumerate(entries) if e.spans(key))


def prove_in_memory(entries: Sequence[HeadEntry], stream: str, tree_size: int
                    ) -> dict[str, Any]:
    """A head document from a whole map held in memory (entries in map order)."""
    levels = build_levels(entries)
    root = root_of(levels)
    key = stream_id(stream).bytes
    for i, e in enumerate(entries):
        if e.stream_id == key:
            return head_doc(stream, tree_size, len(entries), root, (i, e, audit_path(levels, i)))
    if not entries:
        return head_doc(stream, tree_size, 0, root, None)
    i = gap_entry(entries, key)
    return head_doc(stream, tree_size, len(entries), root, None,
                    (i, entries[i], audit_path(levels, i)))
