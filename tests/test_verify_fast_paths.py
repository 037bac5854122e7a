"""The quicker paths of verification give exactly what the plain ones give.

* decoding: :func:`cdlog.log.sealing.parse` on its quick path (cdlog's own shapes) returns the
  event, or the failure, of the plain checks, and the fields it fills in ahead are the ones the
  event's cached properties compute;
* form checks: the one-expression field check and the envelope encoding that walks only the
  nested fields decide, word and encode as the plain listing and :func:`canonical_bytes`, and
  the signature half is encoded as :func:`cdlog.log.sealing.signatures_bytes` encodes it;
* the inlined canonical-time test equals ``format_time(parse) == text``, refusals included;
* facts: :func:`cdlog.log.facts.fact_of` builds the very :class:`~cdlog.domain.case.Fact` the
  dataclass constructor builds;
* the Merkle frontier appends the rows :func:`cdlog.log.merkle.append_positions` gives;
* reading: :func:`cdlog.verify.replay.iter_rows` gives the rows :func:`iter_notifications` gives,
  whatever the case id columns of an SQLite store hold.
"""

from __future__ import annotations

import base64
import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.canonical import (
    _TIME_RE,
    canonical_bytes,
    format_time,
    is_canonical_time,
    parse_time,
)
from cdlog.domain.case import Fact
from cdlog.domain.values import Occurred, instant
from cdlog.errors import CdlogError, VerificationError
from cdlog.log.facts import _PLAIN_FACT, fact_of, officer_of
from cdlog.log.merkle import MemoryHashStore, append_positions, leaf_hash, tree_root
from cdlog.log.sealing import (
    _PLAIN_EVENT,
    SealedEvent,
    Signature,
    _parse_plain,
    parse,
    signatures_bytes,
)
from cdlog.log.tree_audit import Frontier
from cdlog.verify.replay import (
    _canonical_envelope,
    _canonical_signatures,
    _case_text,
    _check_form,
    _lenient_id,
    _raise_malformed,
    iter_notifications,
    iter_rows,
)

if TYPE_CHECKING:
    from conftest import World, build_world
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import World, build_world


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A small SQLite log: roots, certified officers, a case with a cosigned event."""
    folder = tmp_path_factory.mktemp("fast-verify")
    world = build_world(f"sqlite:///{folder / 'cdlog.db'}")
    world.open_case("OP-FAST-1", at=0)
    world.rec("case:OP-FAST-1", "ConveyanceArrived", {"conveyance": "truck"}, by="cbpo", at=5)
    world.rec("case:OP-FAST-1", "ExaminationReferred", {"reason": "seal"}, by="cbpo", at=10)
    yield world
    world.log.close()


def stored(world: World) -> list[bytes]:
    """The stored bytes of every event of the sample log."""
    return [bytes(n.state) for n in iter_notifications(world.log.app.recorder)]


# --- decoding -----------------------------------------------------------------------------------

jsonish = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6)
sig_texts = st.sampled_from(["QUFB", "QQ==", "QR==", "QQ", "", "Q Q==", "é", "QUFB\n",
                             base64.b64encode(b"\x01" * 64).decode()]) | st.text(max_size=8)


@st.composite
def sealed_bytes(draw: st.DrawFn, world: World) -> bytes:
    """A stored event, its JSON halves changed where cdlog's own shapes could differ."""
    head, _, tail = draw(st.sampled_from(stored(world))).partition(b"\n")
    envelope = orjson.loads(head)
    sigs = orjson.loads(tail)
    change = draw(st.sampled_from(["none", "field", "drop", "add", "sig", "sigs", "whole"]))
    if change == "field":
        envelope[draw(st.sampled_from(sorted(envelope)))] = draw(
            jsonish | st.sampled_from([True, 2**53, "x", 1.0]))
    elif change == "drop":
        del envelope[draw(st.sampled_from(sorted(envelope)))]
    elif change == "add":
        envelope[draw(st.text(max_size=4))] = draw(jsonish)
    elif change == "sig" and sigs:
        sigs[0][draw(st.sampled_from(["key", "sig", "other"]))] = draw(sig_texts | jsonish)
    elif change == "sigs":
        sigs = draw(jsonish)
    elif change == "whole":
        envelope = draw(jsonish)
    return orjson.dumps(envelope) + b"\n" + orjson.dumps(sigs)


def outcome(decode: Any) -> Any:
    """The event a decoder returns (with its cached properties), or its failures."""
    try:
        event = decode()
    except VerificationError as exc:
        return ("failed", exc.failures)
    return ("event", event, event.stream, event.case, event.version, event.type,
            event.hash_hex)


def plain_parse(data: bytes) -> SealedEvent:
    """parse as it was: every check one by one."""
    head, sep, tail = data.partition(b"\n")
    assert sep
    return _parse_plain(data, head, orjson.loads(head), orjson.loads(tail), "w", 3)


@settings(max_examples=400)
@given(data=st.data())
def test_quick_parse_equals_the_plain_checks(sample: World, data: st.DataObject) -> None:
    """parse gives the event, or the failures, of the plain checks, for any shape."""
    raw = data.draw(sealed_bytes(sample))
    assert outcome(lambda: parse(raw, "w", 3)) == outcome(lambda: plain_parse(raw))


def test_fields_filled_in_ahead_are_what_the_properties_compute(sample: World) -> None:
    """The fields parse fills in ahead equal the cached properties' own computation, and the
    event equals one built by the dataclass constructor."""
    assert _PLAIN_EVENT  # the quick construction is the one in use
    for raw in stored(sample):
        event = parse(raw)
        built = SealedEvent(envelope=event.envelope, envelope_bytes=event.envelope_bytes,
                            signatures=event.signatures, sealed=raw, hash=leaf_hash(raw))
        assert event == built
        for name in ("stream", "case", "version", "type", "hash_hex"):
            assert vars(event)[name] == getattr(SealedEvent, name).func(built)


# --- form checks ----------------------------------------------------------------------------------


def plain_check_form(sealed: SealedEvent) -> None:
    """_check_form as it was."""
    env = sealed.envelope
    _raise_malformed(env, "w", 3)  # the field listing, as it was (it words the failure)
    try:
        canonical_env = canonical_bytes(env)
    except CdlogError as exc:
        raise VerificationError.at("w", 3, "decode",
                                   f"envelope is not canonical JSON: {exc}") from exc
    if canonical_env != sealed.envelope_bytes:
        raise VerificationError.at("w", 3, "decode",
                                   "envelope bytes are not in canonical (RFC 8785) form")


nested = st.recursive(
    st.none() | st.booleans() | st.text(max_size=4)
    | st.integers(-(2**54), 2**54) | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.text(max_size=3) | st.sampled_from(["\ue000", "\U0001f600", "\ud7ff", "é"]), c,
        max_size=3),
    max_leaves=8)
times = st.datetimes(timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]))


@st.composite
def envelopes(draw: st.DrawFn, world: World) -> SealedEvent:
    """A decoded event whose fields and nested values vary, encoded in several ways."""
    head, _, tail = draw(st.sampled_from(stored(world))).partition(b"\n")
    envelope = orjson.loads(head)
    field = draw(st.sampled_from(["payload", "occurred", "actor", "cosigners", "recorded",
                                  "version", "prev", "late", "log", "stream", "none"]))
    if field in ("payload", "occurred", "actor"):
        envelope[field][draw(st.text(max_size=3) | st.just("key"))] = draw(nested)
    elif field == "cosigners":
        envelope[field] = draw(st.lists(st.dictionaries(st.sampled_from(["key", "id"]), nested,
                                                        max_size=2), max_size=2) | nested)
    elif field == "recorded":
        envelope[field] = draw(times.map(format_time) | st.text(max_size=4)
                               | st.sampled_from(["2006-03-14T09:12:00Z",
                                                  "2006-03-14T09:12:00.000000+00:00"]))
    elif field == "version":
        envelope[field] = draw(st.sampled_from([0, 1, True, 2**53 - 1, 2**53, "1"]))
    elif field == "prev":
        envelope[field] = draw(st.sampled_from([None, "ab" * 32, "AB" * 32, "ab", 1]))
    elif field != "none":
        envelope[field] = draw(nested | st.just("case:X"))
    encode = draw(st.sampled_from(["sorted", "unsorted", "reference"]))
    try:
        if encode == "sorted":
            head = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
        elif encode == "unsorted":
            head = orjson.dumps(envelope)
        else:
            head = canonical_bytes(envelope)
    except (CdlogError, TypeError):
        head = orjson.dumps(envelope)
    try:
        return parse(head + b"\n" + tail)
    except VerificationError:  # not decodable: _check_form never sees it
        assume(False)
        raise


def form_outcome(check: Any, sealed: SealedEvent) -> Any:
    try:
        check(sealed)
    except VerificationError as exc:
        return exc.failures
    except ValueError as exc:
        return ("ValueError", str(exc))
    return "ok"


@settings(max_examples=500)
@given(data=st.data())
def test_form_checks_decide_as_the_plain_ones(sample: World, data: st.DataObject) -> None:
    """_check_form accepts, refuses and words its refusal as the plain listing and
    canonical_bytes do (the signature half is untouched here)."""
    sealed = data.draw(envelopes(sample))
    assert form_outcome(lambda s: _check_form(s, "w", 3), sealed) == form_outcome(
        plain_check_form, sealed)


@settings(max_examples=500)
@given(data=st.data())
def test_envelope_encoding_equals_canonical_bytes(sample: World, data: st.DataObject) -> None:
    """For envelopes whose fields have the format's types, the encoding that walks only the
    nested fields is canonical_bytes, refusals included."""
    sealed = data.draw(envelopes(sample))
    try:
        plain_check_form(sealed)
    except VerificationError as exc:
        if "field(s)" in exc.failures[0].detail:
            return  # _canonical_envelope is used only after the field checks pass
    except ValueError:
        return
    env = sealed.envelope
    try:
        expected: Any = canonical_bytes(env)
    except CdlogError as exc:
        expected = type(exc)
    try:
        got: Any = _canonical_envelope(env)
    except CdlogError as exc:
        got = type(exc)
    assert got == expected


def plain_is_canonical_time(text: str) -> bool:
    """is_canonical_time as it was."""
    if not _TIME_RE.match(text) or text.endswith("Z"):
        return False
    return format_time(datetime.fromisoformat(text)) == text


def time_outcome(check: Any, text: str) -> Any:
    try:
        return check(text)
    except (ValueError, CdlogError) as exc:
        return (type(exc), str(exc))


@settings(max_examples=500)
@given(times.map(format_time) | times.map(lambda t: t.isoformat(timespec="milliseconds"))
       | times.map(lambda t: t.isoformat().replace("+00:00", "Z"))
       | times.map(lambda t: format_time(t).replace("+00:00", "-00:00"))
       | st.from_regex(_TIME_RE, fullmatch=True) | st.text(max_size=30)
       | st.sampled_from(["2006-03-14T09:12:60+00:00", "2006-02-30T09:12:00+00:00",
                          "2006-03-14T09:12:00+24:00", "2006-03-14T09:12:00+05:75",
                          "2006-03-14T09:12:00.000000+00:00", "2006-03-14T09:12:00.5+00:00",
                          "0000-03-14T09:12:00+00:00", "2006-03-14T09:12:00+00:00\n"]))
def test_canonical_time_equals_format_of_parse(text: str) -> None:
    """is_canonical_time answers, or refuses, as format_time(fromisoformat(text)) == text."""
    assert time_outcome(is_canonical_time, text) == time_outcome(plain_is_canonical_time, text)


@given(st.lists(st.tuples(st.text(max_size=20) | st.integers(), st.binary(max_size=66)),
                max_size=3))
def test_signature_half_equals_signatures_bytes(sigs: list[tuple[Any, bytes]]) -> None:
    """The expected signature half is signatures_bytes', or fails as it does."""
    signatures = [Signature(key, sig) for key, sig in sigs]
    try:
        expected: Any = signatures_bytes(signatures)
    except (CdlogError, TypeError) as exc:  # strings orjson cannot write (lone surrogates)
        expected = type(exc)
    try:
        got: Any = _canonical_signatures(signatures)
    except (CdlogError, TypeError) as exc:
        got = type(exc)
    assert got == expected


# --- facts --------------------------------------------------------------------------------------


def test_facts_equal_the_dataclass_construction(sample: World) -> None:
    """fact_of fills the Fact directly; the result is what Fact(...) builds."""
    assert _PLAIN_FACT  # the quick construction is the one in use
    for raw in stored(sample):
        fact = fact_of(parse(raw))
        rebuilt = Fact(**{name: getattr(fact, name) for name in vars(fact)})
        assert fact == rebuilt
        assert vars(fact) == vars(rebuilt)
        assert list(vars(fact)) == list(vars(rebuilt))


def test_facts_given_the_recorded_time_are_the_facts_without_it(sample: World) -> None:
    """The verifier hands fact_of the recorded time it parsed (and the actor): the fact is the
    one fact_of builds on its own, its occurrence too (equal, its time of the same class and
    offset), for events that occurred when recorded and for those that did not."""
    kinds = set()
    events = [parse(raw) for raw in stored(sample)]
    for sealed in events[:20]:  # the same events, as if they had occurred before recording
        recorded = parse_time(sealed.envelope["recorded"], "recorded")
        earlier = {"at": format_time(recorded - timedelta(minutes=5))}
        events.append(dataclasses.replace(sealed, envelope={**sealed.envelope,
                                                            "occurred": earlier}))
    for sealed in events:
        env = sealed.envelope
        recorded = parse_time(env["recorded"], "recorded")
        given = fact_of(sealed, recorded, officer_of(env["actor"]))
        alone = fact_of(sealed)
        assert vars(given) == vars(alone)
        assert vars(given.occurred) == vars(alone.occurred)
        for a, b in ((given.occurred.start, alone.occurred.start),
                     (given.occurred.end, alone.occurred.end)):
            assert (type(a.tzinfo), a.utcoffset(), a.fold) == (type(b.tzinfo), b.utcoffset(),
                                                                b.fold)
        kinds.add(env["occurred"] == {"at": env["recorded"]})
    assert kinds == {True, False}


_WHOLE_MINUTES = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=400, deadline=None)
@given(at=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=_WHOLE_MINUTES | st.just(UTC)))
def test_an_occurrence_at_a_canonical_time_is_its_parsed_time(at: datetime) -> None:
    """For a canonical time text (what the form check lets through), pydantic's Occurred of
    ``{"at": text}`` is instant(parse_time(text)): what fact_of takes for an event that
    occurred when it was recorded."""
    text = format_time(at)
    assert is_canonical_time(text)
    validated = Occurred.model_validate({"at": text})
    made = instant(parse_time(text, "recorded"))
    assert made == validated
    assert vars(made) == vars(validated)
    assert made.model_fields_set == validated.model_fields_set
    assert made.at is not None
    assert validated.at is not None
    assert (type(made.at.tzinfo), made.at.utcoffset()) == (type(validated.at.tzinfo),
                                                           validated.at.utcoffset())
    assert made.as_json() == validated.as_json() == {"at": text}


# --- Merkle frontier ----------------------------------------------------------------------------


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
def test_frontier_appends_the_rows_of_append_positions(leaves: list[bytes]) -> None:
    """Each append returns append_positions' rows, and the root is the stored tree's."""
    tree, store = Frontier(), MemoryHashStore()
    for leaf in leaves:
        assert tree.append(leaf) == append_positions(store.size, leaf, store)
        store.append(leaf)
    if leaves:
        assert tree.root() == tree_root(store, store.size)


# --- reading rows -------------------------------------------------------------------------------


def read_both(log: CaseLog) -> tuple[Any, Any]:
    """iter_rows, and iter_notifications as iter_rows names its fields (or their errors)."""
    def plain() -> Any:
        return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in iter_notifications(log.app.recorder)]

    def quick() -> Any:
        return list(iter_rows(log.app.recorder))

    out = []
    for read in (quick, plain):
        try:
            out.append(read())
        except Exception as exc:  # the same error either way
            out.append((type(exc), str(exc)))
    return out[0], out[1]


ids = (st.uuids().map(lambda u: u.hex) | st.uuids().map(str)
       | st.uuids().map(lambda u: u.hex.upper()) | st.text(max_size=12)
       | st.sampled_from([None, b"\x01\x02", 7, "urn:uuid:" + "a" * 32]))


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 40), ids), max_size=3))
def test_rows_read_equal_the_notifications(sample: World, tmp_path_factory: pytest.TempPathFactory,
                                           changes: list[tuple[int, Any]]) -> None:
    """iter_rows reads what iter_notifications reads, whatever the case id columns hold."""
    source = sample.log.store.path
    assert source is not None
    folder = tmp_path_factory.mktemp("rows")
    path = folder / "copy.db"
    with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
        rowids = [r[0] for r in dst.execute("SELECT rowid FROM stored_events ORDER BY rowid")]
        for pick, value in changes:  # (a change that would clash with another row is skipped)
            dst.execute("UPDATE OR IGNORE stored_events SET originator_id = ? WHERE rowid = ?",
                        (value, rowids[pick % len(rowids)]))
    src.close()
    dst.close()
    try:
        log = CaseLog(f"sqlite:///{path}")
    except Exception:  # the log's own first read refused the rows
        return
    try:
        quick, plain = read_both(log)
    finally:
        log.close()
    assert quick == plain


@given(ids.filter(lambda v: isinstance(v, str)))
def test_case_text_is_the_lenient_reading(column: str) -> None:
    """A text case id column reads as eventsourcing's UUID, else as the text itself."""
    assert _case_text(column) == str(_lenient_id(column))
    try:
        assert _case_text(column) == str(uuid.UUID(column))
    except ValueError:
        assert _case_text(column) == column
