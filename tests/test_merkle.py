"""Tests for cdlog.log.merkle: vectors, a naive RFC 6962 reference, read counts, tampering."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.errors import InputError, NotFoundError, ProofError
from cdlog.log.merkle import (
    EMPTY_ROOT,
    HashReader,
    MemoryHashStore,
    append_positions,
    b64,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    unb64,
    verify_consistency,
    verify_inclusion,
)

if TYPE_CHECKING:
    from conftest import vectors_dir
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import vectors_dir


VECTORS = vectors_dir()
PROBES = VECTORS / "transparency-dev-merkle" / "testdata"
REFERENCE: dict[str, Any] = json.loads((VECTORS / "reference-tree-8-leaves.json").read_text())


def _probe_files(kind: str) -> list[Path]:
    return sorted((PROBES / kind).rglob("*.json"))


INCLUSION_PROBES = _probe_files("inclusion")
CONSISTENCY_PROBES = _probe_files("consistency")

# The one probe that expects success with 12-byte "don't care" roots: meaningful only for
# byte-slice verifiers. Our documented rule (all hashes are exactly 32 bytes) rejects it.
TWELVE_BYTE_ROOTS_PROBE = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


def _probe_id(path: Path) -> str:
    return path.relative_to(PROBES).as_posix()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# --- naive recursive RFC 6962 reference (section 2.1) --------------------------------------

N_LEAVES = 5000
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(N_LEAVES)]


@cache
def naive_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) straight from the RFC's recursive definition (over leaf hashes)."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return LEAVES[lo]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(naive_mth(lo, lo + k), naive_mth(lo + k, hi))


def naive_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) per RFC 6962 2.1.1 (m relative to lo)."""
    n = hi - lo
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, lo, lo + k), naive_mth(lo + k, hi)]
    return [*naive_path(m - k, lo + k, hi), naive_mth(lo, lo + k)]


def naive_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) per RFC 6962 2.1.2."""
    n = hi - lo
    if m == n:
        return [] if b else [naive_mth(lo, hi)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, lo, lo + k, b), naive_mth(lo + k, hi)]
    return [*naive_subproof(m - k, lo + k, hi, False), naive_mth(lo, lo + k)]


class CountingReader:
    """Wrap a reader and record each read_hashes call."""

    def __init__(self, inner: HashReader) -> None:
        self.inner = inner
        self.calls: list[list[tuple[int, int]]] = []

    def read_hashes(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(positions))
        return self.inner.read_hashes(positions)


def _build(n: int) -> MemoryHashStore:
    store = MemoryHashStore()
    for h in LEAVES[:n]:
        store.append(h)
    return store


STORE = _build(N_LEAVES)


def _flip(data: bytes, byte: int, bit: int) -> bytes:
    i = byte % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


# --- transparency-dev probes -----------------------------------------------------------------


def test_probe_counts() -> None:
    assert len(INCLUSION_PROBES) == 98
    assert len(CONSISTENCY_PROBES) == 98


def _run_inclusion_probe(p: dict[str, Any]) -> None:
    verify_inclusion(unb64(p["leafHash"]), p["leafIdx"], p["treeSize"],
                     [unb64(h) for h in p["proof"] or []], unb64(p["root"]))


def _run_consistency_probe(p: dict[str, Any]) -> None:
    verify_consistency(p["size1"], p["size2"], unb64(p["root1"]), unb64(p["root2"]),
                       [unb64(h) for h in p["proof"] or []])


@pytest.mark.parametrize("path", INCLUSION_PROBES, ids=_probe_id)
def test_inclusion_probe(path: Path) -> None:
    probe = _load(path)
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            _run_inclusion_probe(probe)
    else:
        _run_inclusion_probe(probe)


@pytest.mark.parametrize("path", CONSISTENCY_PROBES, ids=_probe_id)
def test_consistency_probe(path: Path) -> None:
    probe = _load(path)
    if _probe_id(path) == TWELVE_BYTE_ROOTS_PROBE:
        # Explicit exception (see the vectors README): wantErr is false, but the roots are
        # 12 bytes ("don't care 2") and we reject every hash that is not 32 bytes.
        assert probe["wantErr"] is False
        with pytest.raises(ProofError, match="root1 is 12 bytes"):
            _run_consistency_probe(probe)
        return
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            _run_consistency_probe(probe)
    else:
        _run_consistency_probe(probe)


# --- the CT 8-leaf reference tree --------------------------------------------------------------

REF_LEAVES = [bytes.fromhex(h) for h in REFERENCE["leaf_inputs_hex"]]
REF_ROOTS = {int(k): bytes.fromhex(v) for k, v in REFERENCE["root_hashes_hex_by_size"].items()}


def _ref_store() -> MemoryHashStore:
    store = MemoryHashStore()
    for data in REF_LEAVES:
        store.append(leaf_hash(data))
    return store


def test_reference_roots_every_size() -> None:
    store = _ref_store()
    assert sorted(REF_ROOTS) == list(range(9))
    for size, root in REF_ROOTS.items():
        assert tree_root(store, size) == root
    assert REF_ROOTS[0] == EMPTY_ROOT


def test_reference_node_hashes() -> None:
    store = _ref_store()
    for level, row in enumerate(REFERENCE["node_hashes_hex_by_level"]):
        positions = [(level, i) for i in range(len(row))]
        assert store.read_hashes(positions) == [bytes.fromhex(h) for h in row]


def test_reference_hasher_vectors() -> None:
    vectors = REFERENCE["hasher_vectors"]
    assert EMPTY_ROOT.hex() == vectors[0]["root_hex"]
    assert leaf_hash(b"").hex() == vectors[1]["leaf_hash_hex"]
    assert leaf_hash(b"L123456").hex() == vectors[2]["leaf_hash_hex"]
    assert node_hash(b"N123", b"N456").hex() == vectors[3]["node_hash_hex"]


@pytest.mark.parametrize("case", REFERENCE["inclusion_proofs"],
                         ids=lambda c: f"{c['leaf_index_1based']}of{c['tree_size']}")
def test_reference_inclusion_proofs(case: dict[str, Any]) -> None:
    index = case["leaf_index_1based"] - 1  # proofgen counts leaves from 1
    size = case["tree_size"]
    want = [bytes.fromhex(h) for h in case["audit_path_hex"]]
    assert inclusion_proof(_ref_store(), index, size) == want
    verify_inclusion(leaf_hash(REF_LEAVES[index]), index, size, want, REF_ROOTS[size])


@pytest.mark.parametrize("case", REFERENCE["consistency_proofs"],
                         ids=lambda c: f"{c['size1']}to{c['size2']}")
def test_reference_consistency_proofs(case: dict[str, Any]) -> None:
    size1, size2 = case["size1"], case["size2"]
    want = [bytes.fromhex(h) for h in case["proof_hex"]]
    assert consistency_proof(_ref_store(), size1, size2) == want
    verify_consistency(size1, size2, REF_ROOTS[size1], REF_ROOTS[size2], want)


def test_happy_probes_match_generated_proofs() -> None:
    """Every happy-path probe on the reference tree is exactly what we generate."""
    store = _ref_store()
    checked = 0
    for path in INCLUSION_PROBES:
        p = _load(path)
        size = p["treeSize"]
        if p["wantErr"] or size > 8 or unb64(p["root"]) != REF_ROOTS[size]:
            continue
        assert inclusion_proof(store, p["leafIdx"], size) == [unb64(h) for h in p["proof"] or []]
        checked += 1
    for path in CONSISTENCY_PROBES:
        p = _load(path)
        if p["wantErr"] or p["size2"] > 8 or unb64(p["root2"]) != REF_ROOTS[p["size2"]]:
            continue
        got = consistency_proof(store, p["size1"], p["size2"])
        assert got == [unb64(h) for h in p["proof"] or []]
        checked += 1
    assert checked >= 8


# --- round trips against the naive reference ----------------------------------------------


def test_stored_nodes_are_complete_subtree_hashes() -> None:
    store = _build(300)
    for level in range(9):
        width = 1 << level
        for index in range(300 // width):
            got = store.read_hashes([(level, index)])[0]
            assert got == naive_mth(index * width, (index + 1) * width)
        with pytest.raises(NotFoundError):
            store.read_hashes([(level, 300 // width)])


def test_roots_every_size_to_300() -> None:
    for size in range(301):
        assert tree_root(STORE, size) == naive_mth(0, size)


def _check_inclusion(index: int, size: int) -> None:
    proof = inclusion_proof(STORE, index, size)
    assert proof == naive_path(index, 0, size)
    verify_inclusion(LEAVES[index], index, size, proof, naive_mth(0, size))


def _check_consistency(size1: int, size2: int) -> None:
    proof = consistency_proof(STORE, size1, size2)
    assert proof == (naive_subproof(size1, 0, size2, True) if size1 < size2 else [])
    verify_consistency(size1, size2, naive_mth(0, size1), naive_mth(0, size2), proof)


def test_inclusion_every_index_to_64() -> None:
    for size in range(1, 65):
        for index in range(size):
            _check_inclusion(index, size)


def test_inclusion_sampled_to_300() -> None:
    rng = random.Random(6962)
    for size in range(65, 301):
        picks = {0, 1, size // 2, size - 2, size - 1, *rng.sample(range(size), 5)}
        for index in picks:
            _check_inclusion(index, size)


def test_consistency_all_pairs_to_64() -> None:
    for size2 in range(1, 65):
        for size1 in range(1, size2 + 1):
            _check_consistency(size1, size2)


def test_consistency_sampled_to_300() -> None:
    rng = random.Random(9162)
    for size2 in range(65, 301):
        picks = {1, 2, size2 // 2, size2 - 1, size2, 64, *rng.sample(range(1, size2 + 1), 5)}
        for size1 in picks:
            _check_consistency(size1, size2)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), size=st.integers(1, N_LEAVES))
def test_inclusion_random_large(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(0, size - 1))
    _check_inclusion(index, size)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), size2=st.integers(1, N_LEAVES))
def test_consistency_random_large(data: st.DataObject, size2: int) -> None:
    size1 = data.draw(st.integers(1, size2))
    _check_consistency(size1, size2)


# --- read counts: O(log n), one batched call -----------------------------------------------


def test_append_positions_reads_only_left_siblings() -> None:
    store = MemoryHashStore()
    for n in range(1100):
        reader = CountingReader(store)
        rows = append_positions(n, LEAVES[n], reader)
        trailing_ones = (n ^ (n + 1)).bit_length() - 1
        assert len(rows) == trailing_ones + 1
        assert rows[0] == (0, n, LEAVES[n])
        assert len(reader.calls) == (1 if trailing_ones else 0)
        assert sum(len(c) for c in reader.calls) == trailing_ones
        store.append(LEAVES[n])
        assert store.read_hashes([(lvl, i) for lvl, i, _ in rows]) == [h for _, _, h in rows]
    assert store.size == 1100


def test_generators_read_logarithmically_in_one_call() -> None:
    rng = random.Random(1)
    for size in [1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 4095, 4096, 4097, N_LEAVES]:
        bound = 2 * size.bit_length() + 1
        reader = CountingReader(STORE)
        tree_root(reader, size)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= size.bit_length()
        for index in {0, size - 1, rng.randrange(size)}:
            reader = CountingReader(STORE)
            inclusion_proof(reader, index, size)
            assert len(reader.calls) <= 1
            assert sum(len(c) for c in reader.calls) <= bound
        for size1 in {1, size, rng.randrange(1, size + 1)}:
            reader = CountingReader(STORE)
            consistency_proof(reader, size1, size)
            assert len(reader.calls) <= 1
            assert sum(len(c) for c in reader.calls) <= bound


def test_empty_tree_reads_nothing() -> None:
    reader = CountingReader(STORE)
    assert tree_root(reader, 0) == EMPTY_ROOT
    assert consistency_proof(reader, 0, 10) == []
    assert reader.calls == []


def test_missing_hash_raises_not_found() -> None:
    store = _build(5)
    with pytest.raises(NotFoundError):
        tree_root(store, 6)
    with pytest.raises(NotFoundError):
        inclusion_proof(store, 0, 9)


# --- argument errors of the generators ---------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 5), (6, 5)])
def test_inclusion_proof_bad_index(index: int, size: int) -> None:
    with pytest.raises(InputError):
        inclusion_proof(STORE, index, size)


@pytest.mark.parametrize(("size1", "size2"), [(6, 5), (-1, 5), (-2, -1)])
def test_consistency_proof_bad_sizes(size1: int, size2: int) -> None:
    with pytest.raises(InputError):
        consistency_proof(STORE, size1, size2)


def test_bad_generator_arguments() -> None:
    with pytest.raises(InputError):
        append_positions(0, b"\x00" * 31, MemoryHashStore())
    with pytest.raises(InputError):
        append_positions(-1, LEAVES[0], MemoryHashStore())
    with pytest.raises(InputError):
        tree_root(STORE, -1)


# --- documented verifier decisions ----------------------------------------------------------

ROOT5, ROOT8 = naive_mth(0, 5), naive_mth(0, 8)


def test_consistency_size1_zero_is_rejected() -> None:
    with pytest.raises(ProofError, match="size1 0"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="size1 0"):
        verify_consistency(0, 8, EMPTY_ROOT, ROOT8, [])


def test_consistency_equal_sizes() -> None:
    verify_consistency(5, 5, ROOT5, ROOT5, [])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(5, 5, ROOT5, ROOT8, [])
    with pytest.raises(ProofError, match="not empty"):
        verify_consistency(5, 5, ROOT5, ROOT5, [ROOT5])


def test_consistency_size_order_and_sign() -> None:
    with pytest.raises(ProofError, match="larger"):
        verify_consistency(8, 5, ROOT8, ROOT5, consistency_proof(STORE, 5, 8))
    with pytest.raises(ProofError, match="negative"):
        verify_consistency(-1, 5, ROOT8, ROOT5, [])


def test_inclusion_size_zero_and_index_bounds() -> None:
    with pytest.raises(ProofError, match="size 0"):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not below"):
        verify_inclusion(LEAVES[5], 5, 5, inclusion_proof(STORE, 4, 5), ROOT5)
    with pytest.raises(ProofError, match="not below"):
        verify_inclusion(LEAVES[0], -1, 5, inclusion_proof(STORE, 0, 5), ROOT5)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_every_hash_must_be_32_bytes(bad: bytes) -> None:
    proof = inclusion_proof(STORE, 2, 5)
    with pytest.raises(ProofError, match="bytes"):
        verify_inclusion(bad, 2, 5, proof, ROOT5)
    with pytest.raises(ProofError, match="bytes"):
        verify_inclusion(LEAVES[2], 2, 5, proof, bad)
    with pytest.raises(ProofError, match="bytes"):
        verify_inclusion(LEAVES[2], 2, 5, [*proof[:-1], bad], ROOT5)
    cproof = consistency_proof(STORE, 5, 8)
    with pytest.raises(ProofError, match="bytes"):
        verify_consistency(5, 8, bad, ROOT8, cproof)
    with pytest.raises(ProofError, match="bytes"):
        verify_consistency(5, 8, ROOT5, bad, cproof)
    with pytest.raises(ProofError, match="bytes"):
        verify_consistency(5, 8, ROOT5, ROOT8, [bad, *cproof[1:]])


def test_proof_length_must_be_exact() -> None:
    proof = inclusion_proof(STORE, 2, 5)
    for wrong in ([*proof, proof[0]], [proof[0], *proof], proof[:-1], []):
        with pytest.raises(ProofError, match="expected"):
            verify_inclusion(LEAVES[2], 2, 5, wrong, ROOT5)
    cproof = consistency_proof(STORE, 5, 8)
    for wrong in ([*cproof, cproof[0]], [cproof[0], *cproof], cproof[:-1], []):
        with pytest.raises(ProofError, match="expected"):
            verify_consistency(5, 8, ROOT5, ROOT8, wrong)


def test_wrong_roots_have_specific_messages() -> None:
    proof = inclusion_proof(STORE, 2, 5)
    with pytest.raises(ProofError, match="does not lead to the root"):
        verify_inclusion(LEAVES[3], 2, 5, proof, ROOT5)
    cproof = consistency_proof(STORE, 5, 8)
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(5, 8, ROOT8, ROOT8, cproof)
    with pytest.raises(ProofError, match="new root"):
        verify_consistency(5, 8, ROOT5, ROOT5, cproof)


# --- tampering ----------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(data=st.data(), size=st.integers(1, 600), byte=st.integers(0, 31), bit=st.integers(0, 7))
def test_inclusion_any_flipped_bit_is_rejected(data: st.DataObject, size: int, byte: int,
                                               bit: int) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(STORE, index, size)
    leaf, root = LEAVES[index], naive_mth(0, size)
    target = data.draw(st.integers(-2, len(proof) - 1))
    if target == -2:
        leaf = _flip(leaf, byte, bit)
    elif target == -1:
        root = _flip(root, byte, bit)
    else:
        proof[target] = _flip(proof[target], byte, bit)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), size2=st.integers(2, 600), byte=st.integers(0, 31),
       bit=st.integers(0, 7))
def test_consistency_any_flipped_bit_is_rejected(data: st.DataObject, size2: int, byte: int,
                                                 bit: int) -> None:
    size1 = data.draw(st.integers(1, size2 - 1))
    proof = consistency_proof(STORE, size1, size2)
    root1, root2 = naive_mth(0, size1), naive_mth(0, size2)
    target = data.draw(st.integers(-2, len(proof) - 1))
    if target == -2:
        root1 = _flip(root1, byte, bit)
    elif target == -1:
        root2 = _flip(root2, byte, bit)
    else:
        proof[target] = _flip(proof[target], byte, bit)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, root1, root2, proof)


# --- base64 for the JSON proof format -------------------------------------------------------------


@given(st.binary(max_size=100))
def test_b64_round_trip(raw: bytes) -> None:
    assert unb64(b64(raw)) == raw


def test_b64_of_empty_root() -> None:
    assert b64(EMPTY_ROOT) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


@pytest.mark.parametrize("bad", ["YQ", "YQ=", "YR==", "Y Q==", "YQ==\n", "-_==", "é===",
                                 "WrongLeaf", "YQ==YQ=="])
def test_unb64_is_strict(bad: str) -> None:
    with pytest.raises(ProofError):
        unb64(bad)
