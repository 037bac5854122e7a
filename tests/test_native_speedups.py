"""The native hot loops (cdlog/_native/_speedups.c) equal their pure-Python references.

Each compiled function is held to the Python function it replaces, on random and tampered
input (hypothesis):

* ``fast_path_ok`` is :func:`cdlog.canonical._fast_path_ok_pure`, for any value;
* ``canonical_time`` is :func:`cdlog.canonical.is_canonical_time` wherever it answers, and
  answers for every time cdlog writes;
* ``b64_decode`` is ``binascii.a2b_base64(text, strict_mode=True)`` wherever it answers (and,
  asked for the canonical form, answers only for what ``b2a_base64`` writes);
* ``parse`` is :func:`cdlog.log.sealing.parse_pure` (and with the form check,
  ``parse_pure`` followed by :func:`cdlog.verify.replay._check_form`) wherever it answers, answers
  for every event cdlog writes, and hands everything else back: the wrappers
  :func:`cdlog.log.sealing.parse` and :func:`cdlog.verify.replay.parse_checked` return the
  reference's
  event or raise its very failure, for stored events tampered byte by byte and field by field.

The tests compare against the compiled module whenever it is built, also in the pure pass of
``make test`` (``CDLOG_PURE=1``, which only stops cdlog from using it); there they check too
that nothing of it is in use. On a machine without a compiler, the build is absent and they
check that cdlog runs pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import json
import os
import random
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cdlog
from cdlog import _native, canonical
from cdlog.canonical import format_time, is_canonical_time
from cdlog.errors import VerificationError
from cdlog.log import sealing
from cdlog.log.sealing import SealedEvent, parse_pure
from cdlog.verify import replay as verify_module
from cdlog.verify.replay import _check_form, iter_notifications, parse_checked

if TYPE_CHECKING:
    from conftest import World, build_world
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import World, build_world

PURE = os.environ.get("CDLOG_PURE", "").strip().lower() in {"1", "true", "yes", "on"}


def built() -> ModuleType | None:
    """The compiled module when it is built (whether or not cdlog uses it), else None."""
    try:
        module = importlib.import_module("cdlog._native._speedups")
    except ImportError:
        return None
    return module if getattr(module, "ABI", None) == _native.ABI else None


NATIVE = built()


def natives() -> list[ModuleType]:
    """The compiled module, configured as cdlog configures it, in a list (empty when it is not
    built)."""
    if NATIVE is None:
        return []
    NATIVE.configure(SealedEvent, sealing.Signature, orjson.loads, orjson.dumps,
                     orjson.OPT_SORT_KEYS, __import__("hashlib").sha256, sealing.FORMAT)
    return [NATIVE]


# --- which build is active ------------------------------------------------------------------------


def test_the_active_build_is_the_one_status_names() -> None:
    """CDLOG_PURE forces the Python code; otherwise a built extension is used, and every
    native twin is in place; native_status says which."""
    status = cdlog.native_status()
    if PURE or NATIVE is None:
        assert status.startswith("pure (")
        assert _native.speedups is None
        assert not _native.active()
        assert sealing.native_parse is None
        assert verify_module.parse_checked.__globals__["native_parse"] is None
        assert canonical._fast_path_ok is canonical._fast_path_ok_pure
    else:
        assert status.startswith("native (")
        assert _native.speedups is NATIVE
        assert _native.active()
        assert sealing.native_parse is NATIVE.parse
        assert verify_module.parse_checked.__globals__["native_parse"] is NATIVE.parse
        assert canonical._fast_path_ok is NATIVE.fast_path_ok
    if os.environ.get("CDLOG_EXPECT_NATIVE") == "1":  # set by `make unit` when it was built
        assert not PURE
        assert _native.active()


# --- the canonical-JSON walk ----------------------------------------------------------------------

keys = (st.text(max_size=4)
        | st.sampled_from(["\ud7ff", "\ud800", "\udfff", "\ue000", "\U0001f600", "é", "ÿ", ""])
        | st.integers(0, 3) | st.booleans() | st.none() | st.tuples(st.integers(0, 2)))
leaves = (st.none() | st.booleans() | st.text(max_size=4)
          | st.integers(-(2**54), 2**54)
          | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 2**64, -(2**64), 2**200])
          | st.floats() | st.binary(max_size=2) | st.sets(st.integers(), max_size=1))


class _Dict(dict[Any, Any]):
    pass


class _List(list[Any]):
    pass


values = st.recursive(
    leaves,
    lambda c: (st.lists(c, max_size=4) | st.tuples(c, c)
               | st.dictionaries(keys, c, max_size=4)
               | st.dictionaries(st.text(max_size=2), c, max_size=2).map(_Dict)
               | st.lists(c, max_size=2).map(_List)),
    max_leaves=20)


@settings(max_examples=1500)
@given(values)
def test_fast_path_ok_equals_the_reference(value: Any) -> None:
    for native in natives():
        assert native.fast_path_ok(value) is canonical._fast_path_ok_pure(value)
    assert canonical._fast_path_ok(value) is canonical._fast_path_ok_pure(value)


def test_fast_path_ok_walks_deep_values() -> None:
    """A value nested far deeper than the walk's first stack, and wide ones."""
    deep: Any = 1
    for i in range(5000):
        deep = [deep] if i % 2 else {"k": deep}
    wide = [{"a": [1, 2, {"b": "x" * i}]} for i in range(3000)]
    for value in (deep, wide, [deep, 2**53], [wide, 1.5]):
        for native in natives():
            assert native.fast_path_ok(value) is canonical._fast_path_ok_pure(value)


# --- the canonical time check ---------------------------------------------------------------------

times = st.datetimes(timezones=st.timezones())
digit_swaps = st.tuples(st.integers(0, 31), st.sampled_from("0123456789+-:.TZ٣ x"))


def swapped(text: str, at: int, char: str) -> str:
    return text[:at] + char + text[at + 1:] if at < len(text) else text


def _whole_minutes(when: Any) -> bool:
    return bool(when.utcoffset().total_seconds() % 60 == 0)


time_texts = (times.filter(_whole_minutes).map(format_time)
              | st.builds(swapped, times.map(lambda t: t.isoformat()), st.integers(0, 31),
                          st.sampled_from("0123456789+-:.TZ٣ x"))
              | st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?([+-]\d{2}:\d{2}|Z)",
                              fullmatch=True)
              | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                              r"(\.[0-9]{6})?[+-][0-9]{2}:[0-9]{2}", fullmatch=True)
              | st.text(max_size=33)
              | st.sampled_from(["2006-03-14T09:12:60+00:00", "2006-02-29T09:12:00+00:00",
                                 "2008-02-29T09:12:00+00:00", "1900-02-29T09:12:00+00:00",
                                 "2000-02-29T09:12:00+00:00", "2006-03-14T24:00:00+00:00",
                                 "2006-03-14T09:12:00+24:00", "2006-03-14T09:12:00+05:75",
                                 "2006-03-14T09:12:00+23:59", "2006-03-14T09:12:00-00:00",
                                 "2006-03-14T09:12:00.000000+00:00", "0000-03-14T09:12:00+00:00",
                                 "2006-03-14T09:12:00.000001-00:00", "9999-12-31T23:59:59+00:00",
                                 "2006-03-14T09:12:00+00:00\n", "2006-03-14T09:12:00Z"]))


def reference_time(text: Any) -> Any:
    try:
        return is_canonical_time(text)
    except (ValueError, TypeError) as exc:
        return type(exc)


@settings(max_examples=2000)
@given(time_texts)
def test_canonical_time_equals_the_reference_where_it_answers(text: str) -> None:
    for native in natives():
        got = native.canonical_time(text)
        assert got is None or got is reference_time(text)


@settings(max_examples=300)
@given(times)
def test_canonical_time_answers_for_every_time_cdlog_writes(when: Any) -> None:
    if not _whole_minutes(when):
        return  # format_time refuses it: no time cdlog writes
    text = format_time(when)
    for native in natives():
        assert native.canonical_time(text) is True
        assert native.canonical_time(text.replace("+00:00", "-00:00")) is reference_time(
            text.replace("+00:00", "-00:00"))


# --- base64 ---------------------------------------------------------------------------------------

b64_texts = (st.binary(max_size=70).map(lambda b: base64.b64encode(b).decode())
             | st.text(alphabet="ABCDQRwxyz0189+/=", max_size=12)
             | st.text(max_size=8)
             | st.binary(max_size=70).map(lambda b: base64.b64encode(b).decode()).flatmap(
                 lambda t: st.builds(swapped, st.just(t), st.integers(0, 95),
                                     st.sampled_from("AQR=/+-_ \né"))))


def strict(text: str) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


@settings(max_examples=1500)
@given(b64_texts, st.booleans())
def test_b64_decode_equals_strict_base64_where_it_answers(text: str, canonical_only: bool
                                                          ) -> None:
    for native in natives():
        got = native.b64_decode(text, canonical_only)
        if got is None:
            if not canonical_only and text.isascii() and len(text) % 4 == 0 \
                    and base64.b64encode(strict(text) or b"").decode() == text:
                raise AssertionError(f"no answer for canonical base64 {text!r}")
            continue
        assert got == strict(text)
        if canonical_only:
            assert base64.b64encode(got).decode() == text


# --- decoding and the form check of stored events -------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A small SQLite log: roots, certified officers, cases with cosigned and noted events."""
    folder = tmp_path_factory.mktemp("native")
    world = build_world(f"sqlite:///{folder / 'cdlog.db'}")
    world.open_case("OP-NATIVE-1", at=0)
    world.rec("case:OP-NATIVE-1", "ConveyanceArrived", {"conveyance": "truck \"7\"\n\tü"},
              by="cbpo", at=5)
    world.rec("case:OP-NATIVE-1", "ExaminationReferred", {"reason": "seal ✓"}, by="cbpo", at=10)
    yield world
    world.log.close()


def stored(world: World) -> list[bytes]:
    return [bytes(n.state) for n in iter_notifications(world.log.app.recorder)]


jsonish = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False) | st.just(2**53),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.text(max_size=4) | st.sampled_from(["\ue000", "\ud800"]), c, max_size=3),
    max_leaves=6)


@st.composite
def tampered(draw: st.DrawFn, world: World) -> bytes:
    """A stored event, unchanged or changed: in its bytes, in a field, in its signatures, or
    re-encoded in another (non-canonical) JSON form."""
    raw = draw(st.sampled_from(stored(world)))
    how = draw(st.sampled_from(["none", "byte", "insert", "cut", "field", "sig", "recode",
                                "base64", "newline", "spaced", "reordered"]))
    if how == "none":
        return raw
    if how == "byte":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    if how == "insert":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b" ", b"\n", b"0", b",", b"\xff", b"\\"])) \
            + raw[at:]
    if how == "cut":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + raw[at + draw(st.integers(1, 40)):]
    if how == "newline":
        return raw.replace(b"\n", b"")
    head, _, tail = raw.partition(b"\n")
    envelope, sigs = orjson.loads(head), orjson.loads(tail)
    if how in ("spaced", "reordered"):  # the same values, one half not in canonical form
        half = draw(st.sampled_from(["envelope", "signatures"]))
        value = envelope if half == "envelope" else sigs
        if how == "spaced":
            text = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        else:
            text = orjson.dumps(json.loads(orjson.dumps(value),
                                           object_pairs_hook=lambda p: dict(reversed(p))))
        return text + b"\n" + tail if half == "envelope" else head + b"\n" + text
    if how == "field":
        name = draw(st.sampled_from([*sorted(envelope), "extra"]))
        if draw(st.booleans()) and isinstance(envelope.get(name), dict):
            envelope[name][draw(st.text(max_size=3) | st.just("key"))] = draw(jsonish)
        else:
            envelope[name] = draw(jsonish | st.sampled_from(
                [0, 2**53 - 1, 2**53, "ab" * 32, "AB" * 32, ("ab" * 32) + "\n", "case:X", "X",
                 "2006-03-14T09:12:00.000000+00:00", "2006-03-14T09:12:00-00:00",
                 "2006-03-14T09:12:00Z", [], [{"key": 1}], {"key": "k"}]))
    elif how == "sig" and sigs:
        sigs[0][draw(st.sampled_from(["key", "sig", "other"]))] = draw(
            jsonish | st.sampled_from(["QQ==", "QR==", "", "QUFB", "é"]))
    elif how == "base64" and sigs:
        text = sigs[0]["sig"]  # the same bytes with bits set after the data: not canonical
        last = text.rstrip("=")
        sigs[0]["sig"] = last[:-1] + chr(ord(last[-1]) + 1) + text[len(last):]
    option = orjson.OPT_SORT_KEYS if draw(st.booleans()) else None

    def dump(value: Any) -> bytes:
        return orjson.dumps(value, option=option)

    try:
        return dump(envelope) + b"\n" + dump(sigs)
    except TypeError:  # a lone surrogate: bytes no UTF-8 decoder takes
        return (json.dumps(envelope, ensure_ascii=False) + "\n" + json.dumps(sigs)).encode(
            "utf-8", "surrogatepass")


def result(decode: Any) -> Any:
    """What a decoder gives: the event (every attribute it holds), or its failure."""
    try:
        event = decode()
    except VerificationError as exc:
        return ("failed", exc.failures)
    except (ValueError, TypeError) as exc:
        return ("error", type(exc), str(exc))
    return ("event", type(event), vars(event), event.stream, event.case, event.version,
            event.type, event.hash_hex)


def reference_checked(data: bytes) -> SealedEvent:
    sealed = parse_pure(data, "w", 3)
    _check_form(sealed, "w", 3)
    return sealed


@settings(max_examples=1000)
@given(data=st.data())
def test_parse_equals_the_reference(sample: World, data: st.DataObject) -> None:
    """The native parse returns the reference's event or hands the input back; the wrappers
    return the reference's event or raise its failure."""
    raw = data.draw(tampered(sample))
    plain = result(lambda: parse_pure(raw, "w", 3))
    checked = result(lambda: reference_checked(raw))
    assert result(lambda: sealing.parse(raw, "w", 3)) == plain
    assert result(lambda: parse_checked(raw, "w", 3)) == checked
    for native in natives():
        for form, expected in ((False, plain), (True, checked)):
            got = native.parse(raw, form)
            if got is not None:
                assert result(lambda g=got: g) == expected


def test_parse_answers_for_every_event_cdlog_writes(sample: World) -> None:
    """Every stored event of the sample (and of the world's other cases) is decoded and
    checked natively, to the reference's event."""
    events = stored(sample)
    assert len(events) > 10
    for raw in events:
        for native in natives():
            assert result(lambda r=raw, n=native: n.parse(r, True)) == result(
                lambda r=raw: reference_checked(r))
            assert result(lambda r=raw, n=native: n.parse(r, False)) == result(
                lambda r=raw: parse_pure(r))


def test_parse_hashes_alike_however_sha256_is_bound(sample: World) -> None:
    """The decode's leaf hash is taken through OpenSSL's low-level calls once they are bound
    (this machine's OpenSSL 3 has them), else through hashlib: with either, every stored event
    and every tampered one decodes to the reference's event and hash."""
    if not natives():  # configured as cdlog configures it (on the pure run too)
        return
    assert NATIVE is not None
    paths = _native.libcrypto_paths()
    assert any(NATIVE.audit_bind(path) for path in paths)
    assert NATIVE.audit_hashing() == "low-level"
    assert _native.bind_sha256() is (not PURE)  # cdlog itself binds it unless it runs pure
    rng = random.Random(5)
    events = stored(sample)
    noisy = []
    for _ in range(300):
        changed = bytearray(rng.choice(events))
        changed[rng.randrange(len(changed))] = rng.randrange(256)
        noisy.append(bytes(changed))
    try:
        for low_level in (False, True):
            assert any(NATIVE.audit_bind(path, low_level) for path in paths)
            for raw in events + noisy:
                want = result(lambda r=raw: parse_pure(r))
                got = NATIVE.parse(raw, False)
                if got is not None:
                    assert result(lambda g=got: g) == want
                    assert got.hash == hashlib.sha256(b"\x00" + raw).digest()
            assert NATIVE.parse(events[0], False) is not None
    finally:
        assert any(NATIVE.audit_bind(path) for path in paths)
    assert NATIVE.audit_hashing() == "low-level"


def test_parse_hands_back_what_is_not_bytes(sample: World) -> None:
    raw = stored(sample)[0]
    for native in natives():
        for other in (bytearray(raw), memoryview(raw), raw.decode(), None, 1):
            assert native.parse(other, True) is None
            assert native.parse(other, False) is None


def test_parse_is_equal_on_random_byte_noise(sample: World) -> None:
    """Thousands of single-byte changes at random places, against the reference."""
    rng = random.Random(12)
    events = stored(sample)
    for _ in range(3000):
        raw = bytearray(rng.choice(events))
        raw[rng.randrange(len(raw))] = rng.randrange(256)
        data = bytes(raw)
        assert result(lambda d=data: parse_checked(d, "w", 3)) == result(
            lambda d=data: reference_checked(d))
        assert result(lambda d=data: sealing.parse(d, "w", 3)) == result(
            lambda d=data: parse_pure(d, "w", 3))


def test_cli_version_names_the_active_build() -> None:
    """`cdlog --version` says which build of the hot loops runs (once, not per command)."""
    from click.testing import CliRunner

    from cdlog.cli.main import cli

    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0
    assert out.output.strip().endswith(cdlog.native_status())
    assert ("pure (" in out.output) is (PURE or NATIVE is None)
