"""Disclosure packages (docs/SPEC.md §13): values and salts that open the signed commitments,
checked on their own and inside an audit bundle; any change to a value, salt, commitment or
the event is found and located."""

from __future__ import annotations

import base64
import copy
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdlog.errors import InputError, VerificationError
from cdlog.keys.trust import TRUST_FORMAT, TrustFile
from cdlog.log.checkpoint_signing import create_log_key, sign_checkpoint
from cdlog.log.sealing import SealedEvent, stream_id
from cdlog.restricted.commitment import commitment
from cdlog.restricted.disclosure import (
    DISCLOSURE_FORMAT,
    build_disclosure,
    check_disclosure,
    disclosure_bytes,
    disclosure_file,
)
from cdlog.verify.bundle import export_bundle, verify_bundle

if TYPE_CHECKING:
    from conftest import World
else:
    from tests.conftest import World

RECORD = "pnr:K-D-1"
SALT = bytes(range(32))
LOCATOR = "ABC123"


def _ingest(world: World) -> SealedEvent:
    """A PNR record whose locator commitment is a real one (salt and value known here)."""
    return world.rec(RECORD, "PNRRecordIngested", {
        "received_at": "2006-02-27T00:00:00+00:00", "flight": "XX1", "key_id": "K-D-1",
        "pnr_locator_commitment": commitment("locator", LOCATOR, SALT)}, by="pnr", at=1)


def test_package_opens_the_signed_commitment(world: World) -> None:
    event = _ingest(world)
    doc = build_disclosure(event, {"locator": LOCATOR}, {"locator": SALT})
    assert doc["format"] == DISCLOSURE_FORMAT
    assert doc["fields"] == [{"field": "locator", "value": LOCATOR,
                              "salt": base64.b64encode(SALT).decode(),
                              "commitment": event.payload["pnr_locator_commitment"]}]
    assert check_disclosure(json.loads(disclosure_bytes(doc))) == []


def test_a_package_that_would_not_verify_is_never_made(world: World) -> None:
    event = _ingest(world)
    with pytest.raises(VerificationError) as exc:
        build_disclosure(event, {"locator": "ABC124"}, {"locator": SALT})
    assert exc.value.failures[0].check == "vault"
    with pytest.raises(InputError):
        build_disclosure(event, {"itinerary": ["X"]}, {"itinerary": SALT})


def _mutations() -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        st.tuples(st.just("value"), st.text(max_size=12).filter(lambda v: v != LOCATOR)),
        st.tuples(st.just("salt"), st.binary(min_size=32, max_size=32).filter(
            lambda b: b != SALT)),
        st.tuples(st.just("salt_len"), st.binary(max_size=40).filter(lambda b: len(b) != 32)),
        st.tuples(st.just("commitment"), st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)),
        st.tuples(st.just("event_byte"), st.integers(min_value=0, max_value=10_000)),
        st.tuples(st.just("version"), st.integers(min_value=2, max_value=9)),
        st.tuples(st.just("field"), st.sampled_from(["passenger", "itinerary", "x"])),
    )


def _tamper(doc: dict[str, Any], kind: str, arg: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    f = out["fields"][0]
    if kind == "value":
        f["value"] = arg
    elif kind in ("salt", "salt_len"):
        f["salt"] = base64.b64encode(arg).decode()
    elif kind == "commitment":
        f["commitment"] = arg
    elif kind == "event_byte":
        raw = bytearray(base64.b64decode(out["event"]))
        i = arg % len(raw)
        raw[i] ^= 0x01
        out["event"] = base64.b64encode(bytes(raw)).decode()
    elif kind == "version":
        out["version"] = arg
    elif kind == "field":
        f["field"] = arg
    return out


@given(change=_mutations())
def test_tampering_is_found_and_located(world: World, change: tuple[str, Any]) -> None:
    if not world.log.events(RECORD):
        _ingest(world)
    event = world.log.events(RECORD)[0]
    doc = build_disclosure(event, {"locator": LOCATOR}, {"locator": SALT})
    bad = _tamper(doc, *change)
    failures = check_disclosure(bad, "pkg.json")
    assert failures, change
    assert all(f.check == "disclosure" for f in failures)
    assert failures[0].case == str(stream_id(RECORD))
    assert "pkg.json" in failures[0].detail


def test_not_a_package() -> None:
    docs: list[Any] = [None, [], {"format": "x"}, {"format": DISCLOSURE_FORMAT}]
    for doc in docs:
        failures = check_disclosure(doc)
        assert len(failures) == 1
        assert failures[0].check == "disclosure"


# ------------------------------------------------------------------ inside an audit bundle
def _bundle(world: World, tmp_path: Path) -> tuple[Path, TrustFile, dict[str, Any]]:
    event = _ingest(world)
    signer = create_log_key(world.log, b"pw")
    sign_checkpoint(world.log, signer)
    out = tmp_path / "disc"
    manifest = export_bundle(world.log, out, [RECORD])
    leaf = next(e["leaf_index"] for e in manifest["events"] if e["stream"] == RECORD)
    doc = build_disclosure(event, {"locator": LOCATOR}, {"locator": SALT})
    (out / "disclosures").mkdir()
    (out / disclosure_file(leaf)).write_bytes(disclosure_bytes(doc))
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(world.log.context.registry.roots()),
                      log_vkey=signer.vkey)
    return out, trust, doc


def test_bundle_verifies_the_disclosure(world: World, tmp_path: Path) -> None:
    out, trust, _ = _bundle(world, tmp_path)
    report = verify_bundle(out, trust)
    assert report.ok, [str(f) for f in report.failures]
    assert report.disclosed == [f"{RECORD} v1 locator"]
    assert report.as_json()["disclosed"] == [f"{RECORD} v1 locator"]


def test_bundle_finds_a_changed_value_salt_or_misplaced_package(world: World,
                                                                  tmp_path: Path) -> None:
    out, trust, doc = _bundle(world, tmp_path)
    (path,) = (out / "disclosures").iterdir()
    for kind, arg in (("value", "ABC124"), ("salt", bytes(32))):
        copy_dir = tmp_path / kind
        shutil.copytree(out, copy_dir)
        (copy_dir / "disclosures" / path.name).write_bytes(
            disclosure_bytes(_tamper(doc, kind, arg)))
        report = verify_bundle(copy_dir, trust)
        assert not report.ok
        assert report.disclosed == []
        (failure,) = report.failures
        assert (failure.case, failure.version, failure.check) == (
            str(stream_id(RECORD)), 1, "disclosure")
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    (moved / "disclosures" / path.name).rename(moved / "disclosures" / "000000000000.json")
    report = verify_bundle(moved, trust)
    assert [f.check for f in report.failures] == ["disclosure"]
    assert "not the bundle's event" in report.failures[0].detail
