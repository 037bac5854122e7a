"""Tests for cdlog.log.note: Go x/mod and C2SP vectors, cosignatures, malformed notes, tampering."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.errors import InputError, NoteError
from cdlog.log.note import (
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    cosignature_message,
    generate_cosigner,
    generate_signer,
    open_note,
    parse_cosigner_skey,
    parse_skey,
    parse_vkey,
    sign_note,
    split_note,
)

if TYPE_CHECKING:
    from conftest import vectors_dir
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import vectors_dir


NOTE_VECTORS = vectors_dir() / "signed-note"
GO: dict[str, Any] = json.loads((NOTE_VECTORS / "golang-x-mod-note-test.json").read_text())
C2SP: dict[str, Any] = json.loads((NOTE_VECTORS / "c2sp-signed-note-example.json").read_text())
PETER = GO["keys"]["PeterNeumann"]
ENOCH = GO["keys"]["EnochRoot"]
TEXT: str = GO["text"]

SEED_A = bytes(range(32))
SEED_B = bytes(range(32, 64))
SEED_C = bytes(range(64, 96))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- Go x/mod vectors ----------------------------------------------------------------------


def test_peter_keys() -> None:
    signer = parse_skey(PETER["skey"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == PETER["key_id_hex"]
    assert signer.vkey == PETER["vkey"]
    assert signer.skey == PETER["skey"]
    verifier = NoteVerifier.from_vkey(PETER["vkey"])
    assert verifier.key_id.hex() == PETER["key_id_hex"]
    assert verifier == signer.verifier()
    assert parse_vkey(PETER["vkey"]) == verifier


def test_enoch_vkey() -> None:
    verifier = parse_vkey(ENOCH["vkey"])
    assert isinstance(verifier, NoteVerifier)
    assert verifier.key_id.hex() == ENOCH["key_id_hex"]
    assert verifier.vkey == ENOCH["vkey"]


def test_sign_is_byte_exact() -> None:
    expected = GO["sign_expected"]
    assert expected["signer"] == "PeterNeumann"
    assert sign_note(TEXT, [parse_skey(PETER["skey"])]) == expected["signed_note"]


@pytest.mark.parametrize("case", GO["open_cases"], ids=lambda c: c["desc"][:50])
def test_open_cases(case: dict[str, Any]) -> None:
    verifiers = [parse_vkey(v) for v in case["known_vkeys"]]
    if not case["want_ok"]:
        with pytest.raises(NoteError):
            open_note(case["note"], verifiers)
        return
    note = open_note(case["note"], verifiers)
    assert note.text == TEXT
    assert [name for name, _ in note.verified] == case["want_verified"]
    unverified = [line.split(" ")[1] for line in note.unverified_lines]
    assert unverified == case.get("want_unverified", [])


def test_corrupted_known_signature_names_the_key() -> None:
    case = next(c for c in GO["open_cases"] if "corrupted" in c["desc"])
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann"):
        open_note(case["note"], [parse_vkey(PETER["vkey"])])


def test_0xff_prefixed_note_is_malformed() -> None:
    raw = bytes.fromhex(GO["malformed_note_with_0xff_prefix_hex"])
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(raw, [parse_vkey(PETER["vkey"])])


@pytest.mark.parametrize("case", GO["bad_vkeys"], ids=lambda c: c["why"])
def test_bad_vkeys(case: dict[str, str]) -> None:
    with pytest.raises(NoteError):
        parse_vkey(case["vkey"])


# --- C2SP example ---------------------------------------------------------------------------


def test_c2sp_example_verifies() -> None:
    verifier = parse_vkey(C2SP["vkey"])
    note = open_note(C2SP["signed_note"], [verifier])
    assert note.text == "This is an example message.\n"
    assert note.verified == [("example.com/foo", bytes.fromhex("530d903a"))]


def test_quasimodo_separator_is_last_blank_line() -> None:
    message: str = C2SP["unverifiable_example_no_vkey_published"]
    text, signatures = split_note(message)
    assert text == ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
                    "ed è subito sera.\n")
    assert [s.name for s in signatures] == ["quasimodo.example/salvatore"]
    with pytest.raises(NoteError, match="no valid signature by a known key"):
        open_note(message, [parse_vkey(C2SP["vkey"])])


# --- key formats ----------------------------------------------------------------------------


def test_key_id_formula() -> None:
    signer = NoteSigner(SEED_A, "example.com/log")
    pub = bytes(nacl.signing.SigningKey(SEED_A).verify_key)
    want = hashlib.sha256(b"example.com/log\n\x01" + pub).digest()[:4]
    assert signer.key_id == want
    key64 = _b64(b"\x01" + pub)
    assert signer.vkey == f"example.com/log+{want.hex()}+{key64}"


def test_generated_keys_round_trip() -> None:
    signer = generate_signer("example.com/log")
    assert parse_skey(signer.skey).vkey == signer.vkey
    assert NoteVerifier.from_vkey(signer.vkey) == signer.verifier()
    cosigner = generate_cosigner("witness.example/w1")
    assert parse_cosigner_skey(cosigner.skey).vkey == cosigner.vkey
    assert CosignatureVerifier.from_vkey(cosigner.vkey) == cosigner.verifier()


def test_uppercase_key_id_hex_is_accepted() -> None:
    name, kid, key = PETER["vkey"].split("+")
    assert parse_vkey(f"{name}+{kid.upper()}+{key}") == parse_vkey(PETER["vkey"])


def _replace_id(vkey: str, new_id: str) -> str:
    name, _, key = vkey.split("+")
    return f"{name}+{new_id}+{key}"


@pytest.mark.parametrize("vkey", [
    "",
    "PeterNeumann",
    "PeterNeumann+c74f20a3",
    _replace_id(PETER["vkey"], "c74f20a4"),
    _replace_id(PETER["vkey"], "c74f20a"),
    _replace_id(PETER["vkey"], "0xc74f20"),
    _replace_id(PETER["vkey"], "c74f_0a3"),
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",
])
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_vkey(vkey)


def test_vkey_type_must_match_the_class() -> None:
    cosigner = CosignatureSigner(SEED_A, "w.example")
    assert isinstance(parse_vkey(cosigner.vkey), CosignatureVerifier)
    with pytest.raises(NoteError, match="not an Ed25519 note key"):
        NoteVerifier.from_vkey(cosigner.vkey)
    with pytest.raises(NoteError, match="not a cosignature"):
        CosignatureVerifier.from_vkey(PETER["vkey"])
    with pytest.raises(NoteError, match="not an Ed25519 note key"):
        parse_skey(cosigner.skey)
    with pytest.raises(NoteError, match="not a cosignature"):
        parse_cosigner_skey(PETER["skey"])


@pytest.mark.parametrize("skey", [
    PETER["skey"].replace("PRIVATE+KEY", "PUBLIC+KEY"),
    PETER["skey"].replace("c74f20a3", "c74f20a4"),
    PETER["skey"][:-1],
    PETER["vkey"],
    "PRIVATE+KEY+PeterNeumann",
])
def test_malformed_skeys(skey: str) -> None:
    with pytest.raises(NoteError):
        parse_skey(skey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\tb", "a\nb"])
def test_invalid_signer_names(name: str) -> None:
    with pytest.raises(InputError):
        NoteSigner(SEED_A, name)
    with pytest.raises(InputError):
        CosignatureSigner(SEED_A, name)


@pytest.mark.parametrize("seed", [b"", b"\x00" * 31, b"\x00" * 33])
def test_seed_must_be_32_bytes(seed: bytes) -> None:
    with pytest.raises(InputError):
        NoteSigner(seed, "a")


# --- signing and opening ------------------------------------------------------------------


def test_sign_and_open_two_signers() -> None:
    a, b = NoteSigner(SEED_A, "a.example"), NoteSigner(SEED_B, "b.example")
    message = sign_note("hello\n", [a, b])
    assert message.startswith("hello\n\n— a.example ")
    assert message.count("\n— ") == 2
    note = open_note(message, [b.verifier(), a.verifier()])
    assert note.verified == [("a.example", a.key_id), ("b.example", b.key_id)]
    assert note.unverified_lines == []
    note = open_note(message.encode(), [b.verifier()])
    assert note.verified == [("b.example", b.key_id)]
    assert len(note.unverified_lines) == 1
    assert note.unverified_lines[0].startswith("— a.example ")


@pytest.mark.parametrize("text", ["x", "x\r\n", "\tx\n", "x\x00\n", "x\ud800\n"])
def test_sign_rejects_bad_text(text: str) -> None:
    with pytest.raises(InputError):
        sign_note(text, [NoteSigner(SEED_A, "a")])


def test_sign_rejects_no_or_duplicate_signers() -> None:
    with pytest.raises(InputError):
        sign_note("x\n", [])
    with pytest.raises(InputError):
        sign_note("x\n", [NoteSigner(SEED_A, "a"), NoteSigner(SEED_A, "a")])


def test_text_may_contain_blank_lines() -> None:
    signer = NoteSigner(SEED_A, "a")
    for text in ["\n", "a\n\n", "a\n\nb\n", "\n\n\n"]:
        assert open_note(sign_note(text, [signer]), [signer.verifier()]).text == text


def test_same_name_other_key_is_ignored() -> None:
    real, other = NoteSigner(SEED_A, "log.example"), NoteSigner(SEED_B, "log.example")
    message = sign_note("x\n", [other])
    with pytest.raises(NoteError, match="no valid signature by a known key"):
        open_note(message, [real.verifier()])
    note = open_note(sign_note("x\n", [other, real]), [real.verifier()])
    assert note.verified == [("log.example", real.key_id)]
    assert len(note.unverified_lines) == 1


class _ImpostorVerifier:
    """Claims another key's name and ID, but holds a different public key."""

    def __init__(self, name: str, key_id: bytes, seed: bytes) -> None:
        self.name = name
        self.key_id = key_id
        self._inner = NoteVerifier(name, bytes(nacl.signing.SigningKey(seed).verify_key))

    def verify(self, text: str, payload: bytes) -> None:
        self._inner.verify(text, payload)


def test_known_key_with_bad_signature_rejects_even_with_another_valid() -> None:
    a, b = NoteSigner(SEED_A, "a"), NoteSigner(SEED_B, "b")
    message = sign_note("x\n", [a, b])
    impostor = _ImpostorVerifier("b", b.key_id, SEED_C)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(message, [a.verifier(), impostor])


def test_duplicate_signature_lines_are_all_checked() -> None:
    a = NoteSigner(SEED_A, "a")
    message = sign_note("x\n", [a])
    line = message.split("\n\n", 1)[1]
    note = open_note(message + line, [a.verifier()])
    assert note.verified == [("a", a.key_id)]
    bad = line.replace(line[20], "A" if line[20] != "A" else "B", 1)
    with pytest.raises(NoteError):
        open_note(message + bad, [a.verifier()])


def test_ambiguous_verifiers_are_rejected() -> None:
    b = NoteSigner(SEED_B, "b")
    message = sign_note("x\n", [b])
    impostor = _ImpostorVerifier("b", b.key_id, SEED_C)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(message, [b.verifier(), impostor])
    open_note(message, [b.verifier(), b.verifier()])  # the same key twice is harmless


def _with_unknown_lines(count: int) -> tuple[str, NoteVerifier]:
    known = NoteSigner(SEED_A, "known")
    message = sign_note("x\n", [known])
    unknown = "".join(f"— u{i} {_b64(bytes([i % 256]) * 68)}\n" for i in range(count))
    return message + unknown, known.verifier()


def test_up_to_100_signatures_accepted() -> None:
    message, verifier = _with_unknown_lines(99)
    note = open_note(message, [verifier])
    assert len(note.unverified_lines) == 99


def test_more_than_100_signatures_rejected() -> None:
    message, verifier = _with_unknown_lines(100)
    with pytest.raises(NoteError, match="at most 100"):
        open_note(message, [verifier])


SIGNER = NoteSigner(SEED_A, "a")
GOOD = sign_note("x\n", [SIGNER])
GOOD_SIG = GOOD.split("— a ", 1)[1].rstrip("\n")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _non_canonical(sig64: str) -> str:
    """Set a padding bit of the last base64 digit: same bytes, non-canonical text."""
    assert sig64.endswith("=")  # 68 bytes: one "=", 2 padding bits
    assert not sig64.endswith("==")
    last = _ALPHABET.index(sig64[-2])
    return sig64[:-2] + _ALPHABET[last | 1] + "="


def test_non_canonical_base64_is_rejected() -> None:
    variant = _non_canonical(GOOD_SIG)
    assert variant != GOOD_SIG
    assert base64.b64decode(variant) == base64.b64decode(GOOD_SIG)
    with pytest.raises(NoteError, match="non-canonical"):
        open_note(GOOD.replace(GOOD_SIG, variant), [SIGNER.verifier()])


@pytest.mark.parametrize("message", [
    "",
    "x\n",
    "x\n\n",
    GOOD + "\n",                                   # trailing blank line
    GOOD.rstrip("\n"),                             # missing final newline
    GOOD.replace("—", "–"),                        # en dash, not em dash
    GOOD.replace("— ", "—"),                       # no space after the dash
    GOOD.replace("— a ", "— a  "),                 # two spaces
    GOOD.replace("— a ", "— a+b "),                # '+' in key name
    GOOD.replace("— a ", "—  "),                   # empty key name
    GOOD.replace(GOOD_SIG, GOOD_SIG.rstrip("=")),  # unpadded base64
    GOOD.replace(GOOD_SIG, "AAAA"),                # shorter than key ID + 1 byte
    GOOD.replace(GOOD_SIG, ""),                    # empty signature
    GOOD.replace("\n", "\r\n"),                    # CR control characters
    "x\t\n\n— a " + GOOD_SIG + "\n",              # tab in text
    "x\ud800\n\n— a " + GOOD_SIG + "\n",          # lone surrogate
    GOOD + "not a signature\n",
])
def test_malformed_notes_rejected(message: str) -> None:
    with pytest.raises(NoteError):
        open_note(message, [SIGNER.verifier()])


def test_good_note_opens() -> None:
    assert open_note(GOOD, [SIGNER.verifier()]).text == "x\n"


def test_wrong_signature_length_for_known_key() -> None:
    payload = SIGNER.key_id + b"\x00" * 63
    with pytest.raises(NoteError, match="64"):
        open_note(f"x\n\n— a {_b64(payload)}\n", [SIGNER.verifier()])


# --- cosignatures ------------------------------------------------------------------------------

BODY = "example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
LOG = NoteSigner(SEED_A, "example.com/log")
WITNESS = CosignatureSigner(SEED_B, "witness.example/w1")
T = 1679315147


def test_cosigner_key_id_and_vkey() -> None:
    pub = bytes(nacl.signing.SigningKey(SEED_B).verify_key)
    want = hashlib.sha256(b"witness.example/w1\n\x04" + pub).digest()[:4]
    assert WITNESS.key_id == want
    key64 = _b64(b"\x04" + pub)
    assert WITNESS.vkey == f"witness.example/w1+{want.hex()}+{key64}"
    assert NoteSigner(SEED_B, "witness.example/w1").key_id != want


def test_cosignature_payload_is_independently_verifiable() -> None:
    payload = WITNESS.cosign(BODY, T)
    assert payload[:4] == WITNESS.key_id
    assert int.from_bytes(payload[4:12], "big") == T
    message = b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    assert cosignature_message(BODY, T) == message
    nacl.signing.VerifyKey(WITNESS.public_key).verify(message, payload[12:])


def test_cosignature_round_trip() -> None:
    message = sign_note(BODY, [LOG]) + WITNESS.cosignature_line(BODY, T)
    verifier = WITNESS.verifier()
    note = open_note(message, [LOG.verifier(), verifier])
    assert note.verified == [(LOG.name, LOG.key_id), (WITNESS.name, WITNESS.key_id)]
    assert note.timestamps == {(WITNESS.name, WITNESS.key_id): T}
    assert verifier.timestamp_in(note) == T
    alone = open_note(message, [LOG.verifier()])
    with pytest.raises(NoteError, match="no verified cosignature"):
        verifier.timestamp_in(alone)


def _cosig_line(payload: bytes) -> str:
    return f"— {WITNESS.name} {_b64(payload)}\n"


def test_cosignature_tampering_rejected() -> None:
    signed = sign_note(BODY, [LOG])
    verifiers = [LOG.verifier(), WITNESS.verifier()]
    payload = WITNESS.cosign(BODY, T)
    later = payload[:4] + (T + 1).to_bytes(8, "big") + payload[12:]
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(signed + _cosig_line(later), verifiers)
    other_body = WITNESS.cosign(BODY.replace("\n8\n", "\n9\n"), T)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(signed + _cosig_line(other_body), verifiers)
    with pytest.raises(NoteError, match="72"):
        open_note(signed + _cosig_line(payload[:-1]), verifiers)
    big = payload[:4] + (2**63).to_bytes(8, "big") + payload[12:]
    with pytest.raises(NoteError, match="2\\^63"):
        open_note(signed + _cosig_line(big), verifiers)


def test_cosign_arguments() -> None:
    with pytest.raises(InputError):
        WITNESS.cosign(BODY, -1)
    with pytest.raises(InputError):
        WITNESS.cosign(BODY, 2**63)
    with pytest.raises(InputError):
        WITNESS.cosign(BODY.rstrip("\n"), T)
    assert int.from_bytes(WITNESS.cosign(BODY, 2**63 - 1)[4:12], "big") == 2**63 - 1


# --- tampering: flip any byte -----------------------------------------------------------------

_TEXT = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]) | st.just("\n"),
                max_size=80).map(lambda s: s + "\n")


@settings(max_examples=1000, deadline=None)
@given(text=_TEXT, position=st.integers(min_value=0), mask=st.integers(1, 255))
def test_any_flipped_byte_is_rejected(text: str, position: int, mask: int) -> None:
    raw = sign_note(text, [LOG]).encode()
    i = position % len(raw)
    tampered = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
    assert open_note(raw, [LOG.verifier()]).text == text
    with pytest.raises(NoteError):
        open_note(tampered, [LOG.verifier()])


@settings(max_examples=1000, deadline=None)
@given(text=_TEXT, position=st.integers(min_value=0), mask=st.integers(1, 255),
       timestamp=st.integers(0, 2**63 - 1))
def test_flipped_byte_in_cosigned_note_never_keeps_both_signatures(
        text: str, position: int, mask: int, timestamp: int) -> None:
    raw = (sign_note(text, [LOG]) + WITNESS.cosignature_line(text, timestamp)).encode()
    i = position % len(raw)
    tampered = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
    verifiers = [LOG.verifier(), WITNESS.verifier()]
    assert len(open_note(raw, verifiers).verified) == 2
    try:
        note = open_note(tampered, verifiers)
    except NoteError:
        return
    # A flip in a key name or ID turns that signature into an ignored unknown one; the
    # surviving signature still covers the unchanged text.
    assert len(note.verified) == 1
    assert note.text == text
