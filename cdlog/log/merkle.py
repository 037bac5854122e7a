"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs over persisted subtrees, and verifiers.

Hashing: leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right),
empty tree root = SHA-256(""). Indices are 0-based; proofs are ordered leaf-to-root exactly as
RFC 9162 §2.1.3 (inclusion) and RFC 6962 §2.1.2 ``SUBPROOF`` (consistency).

Storage model: every *complete* subtree hash is stored once at ``(level, index)``; level 0
holds the leaf hashes and node ``(l, i)`` covers leaves ``[i * 2**l, (i + 1) * 2**l)``.
:func:`append_positions` returns the rows to persist when a leaf is appended, and
:func:`tree_root`, :func:`inclusion_proof` and :func:`consistency_proof` read ``O(log n)``
stored hashes with one :meth:`HashReader.read_hashes` call each. Any node of the RFC 6962 tree
of size ``n`` is either a complete stored subtree or lies on the right edge, in which case it is
folded from the complete subtrees given by the binary digits of its width.

Decisions (verifiers raise :class:`~cdlog.errors.ProofError` with a specific message):

* Every hash (leaf, roots, proof elements) must be exactly 32 bytes.
* Inclusion needs ``0 <= index < size``; inclusion in the empty tree (size 0) is rejected.
* The proof must have exactly the expected number of hashes; extra or missing hashes are
  rejected before any hashing.
* ``verify_consistency`` needs ``size1 <= size2``. ``size1 == size2`` is valid only with an
  empty proof and ``root1 == root2``. ``size1 == 0`` is REJECTED (RFC 6962 defines
  consistency only for ``0 < m``; transparency-dev/merkle and x/mod agree): a witness that sees
  old size 0 (C2SP tlog-witness sends an empty proof) must handle that case itself.
* ``consistency_proof(reader, 0, n)`` returns ``[]`` for that tlog-witness case, even though
  the verifier rejects size 0.
* Proof generators raise :class:`~cdlog.errors.InputError` for impossible arguments and let the
  reader's :class:`~cdlog.errors.NotFoundError` through when a stored hash is missing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from cdlog.errors import InputError, NotFoundError, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Position = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def b64(h: bytes) -> str:
    """Encode bytes as standard base64 with padding (the JSON proof format)."""
    return base64.b64encode(h).decode("ascii")


def unb64(s: str) -> bytes:
    """Decode strict, canonical standard base64; raise ProofError on anything else."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ProofError(f"invalid base64 {s!r}: {exc}") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise ProofError(f"non-canonical base64 {s!r}")
    return raw


class HashReader(Protocol):
    """Read access to stored complete-subtree hashes."""

    def read_hashes(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the hashes at ``(level, index)`` positions, in order.

        Raise :class:`~cdlog.errors.NotFoundError` if any of them is not stored.
        """
        ...


class MemoryHashStore:
    """A dict-backed :class:`HashReader` that can also append leaves (tests, offline tools)."""

    def __init__(self) -> None:
        self._hashes: dict[Position, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def read_hashes(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the stored hashes at ``positions``; NotFoundError if one is missing."""
        try:
            return [self._hashes[(level, index)] for level, index in positions]
        except KeyError as exc:
            raise NotFoundError(f"no stored Merkle hash at (level, index) {exc.args[0]}") from None

    def append(self, leaf_hash: bytes) -> int:
        """Append a leaf *hash* (see :func:`leaf_hash`); return its 0-based leaf index."""
        index = self._size
        for level, pos, value in append_positions(index, leaf_hash, self):
            self._hashes[(level, pos)] = value
        self._size += 1
        return index


def _read(reader: HashReader, positions: Sequence[Position]) -> dict[Position, bytes]:
    """Read each distinct position once, in one call, and check the answer's shape."""
    unique = list(dict.fromkeys(positions))
    if not unique:
        return {}
    values = reader.read_hashes(unique)
    if len(values) != len(unique):
        raise NotFoundError(f"hash reader returned {len(values)} hashes for {len(unique)}")
    return dict(zip(unique, values, strict=True))


def append_positions(n: int, leaf: bytes, reader: HashReader) -> list[tuple[int, int, bytes]]:
    """Return the ``(level, index, hash)`` rows to persist when leaf number ``n`` is appended.

    ``leaf`` is the leaf *hash* (see :func:`leaf_hash`); the tree had ``n`` leaves before. The
    rows are the leaf itself plus every parent completed by it, bottom-up; only the left
    siblings on that path (one per trailing 1 bit of ``n``) are read.
    """
    if n < 0:
        raise InputError("n", f"{n} is negative", "a leaf count >= 0")
    if len(leaf) != HASH_SIZE:
        raise InputError("leaf", f"is {len(leaf)} bytes", "a 32-byte leaf hash")
    siblings: list[Position] = []
    level = 0
    while (n >> level) & 1:
        siblings.append((level, (n >> level) - 1))
        level += 1
    stored = _read(reader, siblings)
    rows = [(0, n, leaf)]
    current = leaf
    for lvl, sibling_index in siblings:
        current = node_hash(stored[(lvl, sibling_index)], current)
        rows.append((lvl + 1, (sibling_index + 1) >> 1, current))
    return rows


def range_positions(lo: int, hi: int) -> list[Position]:
    """Complete stored subtrees covering ``[lo, hi)``, left to right.

    ``lo`` must be a multiple of the smallest power of two >= ``hi - lo``, which holds for every
    node of an RFC 6962 tree.
    """
    positions: list[Position] = []
    start = lo
    for level in range((hi - lo).bit_length() - 1, -1, -1):
        if (hi - lo) >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


def _range_hash(stored: dict[Position, bytes], lo: int, hi: int) -> bytes:
    """Fold the stored subtrees of ``[lo, hi)`` right to left into MTH(D[lo:hi])."""
    hashes = [stored[p] for p in range_positions(lo, hi)]
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def _hash_ranges(reader: HashReader, ranges: Sequence[Position]) -> list[bytes]:
    """Return MTH of each ``(lo, hi)`` range using one batched read."""
    positions = [p for lo, hi in ranges for p in range_positions(lo, hi)]
    stored = _read(reader, positions)
    return [_range_hash(stored, lo, hi) for lo, hi in ranges]


def _split(width: int) -> int:
    """Largest power of two strictly smaller than ``width`` (``width >= 2``)."""
    return 1 << ((width - 1).bit_length() - 1)


def tree_root(reader: HashReader, size: int) -> bytes:
    """Return the RFC 6962 root of the first ``size`` leaves (EMPTY_ROOT for 0)."""
    if size < 0:
        raise InputError("size", f"{size} is negative", "a tree size >= 0")
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges(reader, [(0, size)])[0]


def inclusion_proof(reader: HashReader, index: int, size: int) -> list[bytes]:
    """Return the RFC 9162 inclusion proof (audit path, leaf-to-root) of leaf ``index``."""
    if not 0 <= index < size:
        raise InputError("index", f"{index} is not a leaf of a tree of size {size}",
                         "0 <= index < size")
    return _hash_ranges(reader, path_ranges(index, size))


def path_ranges(index: int, size: int) -> list[Position]:
    """The ``[lo, hi)`` ranges whose hashes form the audit path of leaf ``index`` in a tree
    of ``size`` leaves, leaf to root."""
    ranges: list[Position] = []  # siblings, root-to-leaf
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    return ranges[::-1]


def consistency_proof(reader: HashReader, size1: int, size2: int) -> list[bytes]:
    """Return the RFC 6962 consistency proof PROOF(size1, D[size2]), bottom-up.

    Returns ``[]`` when ``size1 == size2`` and, for the tlog-witness old-size-0 case, when
    ``size1 == 0`` (which :func:`verify_consistency` rejects; see the module docstring).
    """
    if not 0 <= size1 <= size2:
        raise InputError("size1", f"{size1} is not between 0 and size2 {size2}",
                         "0 <= size1 <= size2")
    if size1 in (0, size2):
        return []
    ranges: list[Position] = []  # appended nodes, root-to-leaf
    lo, hi, m, complete = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    hashes = _hash_ranges(reader, [*ranges, (lo, hi)])
    proof = list(reversed(hashes[:-1]))
    return proof if complete else [hashes[-1], *proof]


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"proof hash {i}", h)


def _walk(fn: int, sn: int, path: Sequence[bytes], kind: str) -> Iterator[tuple[bool, bytes]]:
    """RFC 9162's walk up the tree from node ``fn`` of last node ``sn``: each hash of ``path``
    with whether it is the left sibling; :class:`ProofError` if the path is too long or short."""
    for p in path:
        if sn == 0:  # unreachable after the length check; kept as in RFC 9162
            raise ProofError(f"{kind} proof is too long")
        left = bool(fn & 1) or fn == sn
        yield left, p
        if left:
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{kind} proof is too short")


def _inclusion_length(index: int, size: int) -> int:
    """Exact audit-path length for ``index`` in a tree of ``size`` leaves."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Verify an inclusion proof (RFC 9162 §2.1.3.2); return None or raise ProofError."""
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    _check_proof_hashes(proof)
    if size <= 0:
        raise ProofError(f"inclusion in a tree of size {size} is impossible")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {want} "
                         f"for index {index} in size {size}")
    r = leaf_hash
    for left, p in _walk(index, size - 1, proof, "inclusion"):
        r = node_hash(p, r) if left else node_hash(r, p)
    if r != root:
        raise ProofError(f"inclusion proof for index {index} does not lead to the root of "
                         f"size {size}")


def _consistency_length(size1: int, size2: int) -> int:
    """Exact proof length for ``0 < size1 < size2``."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       proof: Sequence[bytes]) -> None:
    """Verify a consistency proof (RFC 9162 §2.1.4.2); return None or raise ProofError."""
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof_hashes(proof)
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes must not be negative (size1 {size1}, size2 {size2})")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == 0:
        raise ProofError("consistency with an empty old tree (size1 0) is not verified here")
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the proof is not empty")
        if root1 != root2:
            raise ProofError(f"sizes are equal ({size1}) but the roots differ")
        return
    want = _consistency_length(size1, size2)
    if len(proof) != want:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {want} "
                         f"for {size1} -> {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for left, c in _walk(fn, sn, path[1:], "consistency"):
        if left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    if fr != root1:
        raise ProofError(f"consistency proof does not lead to the old root (size {size1})")
    if sr != root2:
        raise ProofError(f"consistency proof does not lead to the new root (size {size2})")
