"""Tests for cdlog.log.checkpoint_format: body format, strict parsing, signing, cosigning, origin
checks."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.errors import InputError, NoteError
from cdlog.log.checkpoint_format import (
    Checkpoint,
    add_cosignature,
    open_checkpoint,
    sign_checkpoint,
)
from cdlog.log.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_inclusion,
)
from cdlog.log.note import CosignatureSigner, NoteSigner, open_note, sign_note

if TYPE_CHECKING:
    from conftest import vectors_dir
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import vectors_dir


REFERENCE: dict[str, Any] = json.loads(
    (vectors_dir() / "reference-tree-8-leaves.json").read_text())
ROOT8 = bytes.fromhex(REFERENCE["root_hashes_hex_by_size"]["8"])
ROOT8_B64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
ORIGIN = "example.com/cd-audit-log/test"

LOG = NoteSigner(bytes(range(32)), ORIGIN)
OTHER_LOG = NoteSigner(bytes(range(1, 33)), ORIGIN)
W1 = CosignatureSigner(bytes(range(32, 64)), "witness.example/w1")
W2 = CosignatureSigner(bytes(range(64, 96)), "witness.example/w2")
CP = Checkpoint(ORIGIN, 8, ROOT8)


# --- body format and parsing ---------------------------------------------------------------


def test_body_format() -> None:
    assert CP.body() == f"{ORIGIN}\n8\n{ROOT8_B64}\n"
    with_ext = Checkpoint(ORIGIN, 8, ROOT8, ("ext one", "ext-two"))
    assert with_ext.body() == f"{ORIGIN}\n8\n{ROOT8_B64}\next one\next-two\n"


def test_empty_tree_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert cp.body() == f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert Checkpoint.parse(cp.body()) == cp


def test_parse_round_trip_with_extensions() -> None:
    cp = Checkpoint("origin with spaces", 2**63 - 1, ROOT8, ("a", "b c"))
    assert Checkpoint.parse(cp.body()) == cp


_LINE = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1,
                max_size=40)


@settings(max_examples=200, deadline=None)
@given(origin=_LINE, size=st.integers(0, 2**63 - 1), root=st.binary(min_size=32, max_size=32),
       extensions=st.lists(_LINE, max_size=3))
def test_parse_round_trip_property(origin: str, size: int, root: bytes,
                                   extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(cp.body()) == cp


def _body(origin: str = ORIGIN, size: str = "8", root: str = ROOT8_B64, *rest: str) -> str:
    return "".join(line + "\n" for line in (origin, size, root, *rest))


_ROOT31 = base64.b64encode(ROOT8[:31]).decode()
_ROOT33 = base64.b64encode(ROOT8 + b"\x00").decode()


@pytest.mark.parametrize("body", [
    "",
    _body()[:-1],                          # no final newline
    f"{ORIGIN}\n8\n",                      # two lines
    _body(origin=""),                      # empty origin
    _body(size="08"),                      # leading zero
    _body(size="00"),
    _body(size="+8"),
    _body(size="-1"),
    _body(size=" 8"),
    _body(size="8 "),
    _body(size="8.0"),
    _body(size="0x8"),
    _body(size="\u0668"),                  # ARABIC-INDIC DIGIT EIGHT
    _body(size="\uff18"),                  # FULLWIDTH DIGIT EIGHT
    _body(size=str(2**63)),                # beyond int64
    _body(size=""),
    _body(root=_ROOT31),
    _body(root=_ROOT33),
    _body(root=ROOT8_B64.rstrip("=")),     # unpadded
    _body(root=ROOT8_B64[:-2] + "z="),     # non-canonical padding bits
    _body(root=ROOT8_B64.replace("+", "-")),  # URL-safe alphabet
    _body(root=""),
    _body(ORIGIN, "8", ROOT8_B64, ""),     # empty extension line
    _body() + "\n",                        # trailing blank line
    _body(origin="ex\rample"),             # control character
    _body(ORIGIN, "8", ROOT8_B64, "ext\tab"),
])
def test_parse_rejects(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body)


@pytest.mark.parametrize(("origin", "size", "root", "ext"), [
    ("", 8, ROOT8, ()),
    ("a\nb", 8, ROOT8, ()),
    (ORIGIN, -1, ROOT8, ()),
    (ORIGIN, 2**63, ROOT8, ()),
    (ORIGIN, 8, ROOT8[:31], ()),
    (ORIGIN, 8, ROOT8, ("",)),
    (ORIGIN, 8, ROOT8, ("a\nb",)),
])
def test_constructor_rejects(origin: str, size: int, root: bytes, ext: tuple[str, ...]) -> None:
    with pytest.raises(InputError):
        Checkpoint(origin, size, root, ext)


# --- signing and opening --------------------------------------------------------------------


def test_sign_and_open() -> None:
    signed = sign_checkpoint(CP, LOG)
    assert signed.startswith(CP.body() + "\n— " + ORIGIN + " ")
    cp, cosigs = open_checkpoint(signed, LOG.verifier(), ORIGIN)
    assert cp == CP
    assert cosigs == []


def test_cosignatures_are_returned_with_timestamps() -> None:
    signed = sign_checkpoint(CP, LOG)
    signed = add_cosignature(signed, W1, 1_700_000_000)
    signed = add_cosignature(signed, W2, 1_700_000_005)
    cp, cosigs = open_checkpoint(signed, LOG.verifier(), ORIGIN, [W2.verifier(), W1.verifier()])
    assert cp == CP
    assert cosigs == [(W1.name, 1_700_000_000), (W2.name, 1_700_000_005)]
    _, only_w2 = open_checkpoint(signed, LOG.verifier(), ORIGIN, [W2.verifier()])
    assert only_w2 == [(W2.name, 1_700_000_005)]
    _, none = open_checkpoint(signed, LOG.verifier(), ORIGIN)
    assert none == []


def test_wrong_origin_rejected() -> None:
    signed = sign_checkpoint(CP, LOG)
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(signed, LOG.verifier(), "example.com/other-log")


def test_log_signature_required() -> None:
    body = CP.body()
    only_cosigned = sign_note(body, [NoteSigner(bytes(32), "someone")]) \
        + W1.cosignature_line(body, 1)
    open_note(only_cosigned, [W1.verifier()])  # a valid note for the witness alone
    with pytest.raises(NoteError, match="not signed by the log key"):
        open_checkpoint(only_cosigned, LOG.verifier(), ORIGIN, [W1.verifier()])
    with pytest.raises(NoteError, match="no valid signature"):
        open_checkpoint(sign_checkpoint(CP, OTHER_LOG), LOG.verifier(), ORIGIN)


def test_tampered_cosignature_rejects_checkpoint() -> None:
    signed = sign_checkpoint(CP, LOG)
    cosigned = add_cosignature(signed, W1, 1_700_000_000)
    line = cosigned[len(signed):]
    payload = base64.b64decode(line.split(" ")[2])
    forged = payload[:4] + (1_800_000_000).to_bytes(8, "big") + payload[12:]
    tampered = signed + f"— {W1.name} {base64.b64encode(forged).decode()}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(tampered, LOG.verifier(), ORIGIN, [W1.verifier()])
    # Unknown to this verifier configuration: ignored.
    cp, cosigs = open_checkpoint(tampered, LOG.verifier(), ORIGIN)
    assert (cp, cosigs) == (CP, [])


def test_tampered_body_rejected() -> None:
    signed = sign_checkpoint(CP, LOG)
    tampered = signed.replace("\n8\n", "\n9\n", 1)
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(tampered, LOG.verifier(), ORIGIN)


def test_signed_malformed_body_rejected() -> None:
    signed = sign_note(f"{ORIGIN}\n08\n{ROOT8_B64}\n", [LOG])
    with pytest.raises(NoteError, match="leading zeros"):
        open_checkpoint(signed, LOG.verifier(), ORIGIN)


def test_add_cosignature_checks_structure() -> None:
    with pytest.raises(NoteError):
        add_cosignature(CP.body(), W1, 1)
    with pytest.raises(NoteError):
        add_cosignature(sign_note("not a checkpoint\n", [LOG]), W1, 1)


def test_checkpoint_binds_an_inclusion_proof() -> None:
    store = MemoryHashStore()
    for i in range(13):
        store.append(leaf_hash(f"event {i}".encode()))
    signed = sign_checkpoint(Checkpoint(ORIGIN, 13, tree_root(store, 13)), LOG)
    cp, _ = open_checkpoint(signed, LOG.verifier(), ORIGIN)
    verify_inclusion(leaf_hash(b"event 7"), 7, cp.size, inclusion_proof(store, 7, cp.size),
                     cp.root)


@settings(max_examples=500, deadline=None)
@given(position=st.integers(min_value=0), mask=st.integers(1, 255))
def test_any_flipped_byte_of_signed_checkpoint_is_rejected(position: int, mask: int) -> None:
    raw = sign_checkpoint(CP, LOG).encode()
    i = position % len(raw)
    tampered = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
    with pytest.raises(NoteError):
        open_checkpoint(tampered, LOG.verifier(), ORIGIN)
