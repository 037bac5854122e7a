"""``cdlog record``: one event from the command line, signed with officer key files
(issue 9, observation 8), and its faults: every refusal exits 2 with one line and writes
nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdlog.cli.keys_cmd
import cdlog.cli.record_cmd  # noqa: F401  (registers the commands)
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.keys import keyfile
from cdlog.keys.keyfile import read_key_file_info
from cdlog.keys.signer import Ed25519Signer

if TYPE_CHECKING:
    from conftest import assert_one_line_refusal, store_snapshot
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import assert_one_line_refusal, store_snapshot

PASS = "correct horse battery staple"
OFFICERS = {  # key file -> (root, id, role, agency, office)
    "cbpo": ("cbp", "CBP-4417", "CBPO-Enforcement", "CBP", "OFO"),
    "scbpo": ("cbp", "CBP-2290", "SCBPO", "CBP", "OFO"),
    "ice": ("ice", "ICE-7781", "OIDutyAgent", "ICE", "OI"),
}


@dataclass
class Rec:
    """A store with CBP and ICE roots and the officers of :data:`OFFICERS`, one case open
    (``case:OP-1``, by cbpo); key files in ``folder``."""

    store: str
    folder: Path
    raw: Any  # conftest.RawStore

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--store", self.store, *args], input=input,
                                  catch_exceptions=False)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def snapshot(self) -> tuple[Any, ...]:
        """The store\'s events and Merkle tree, and every file in the key folder."""
        return store_snapshot(self.raw, self.folder)


@pytest.fixture
def rec(tmp_path: Path, store_url: str, raw: Any, monkeypatch: pytest.MonkeyPatch) -> Rec:
    folder = tmp_path / "keys"
    folder.mkdir()
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASS)
    monkeypatch.setattr(keyfile, "KDF_ROUNDS", 1)  # fast key files; the format is the same
    monkeypatch.chdir(folder)
    r = Rec(store_url, folder, raw)
    r.ok("keys", "init-root", "CBP", "--out", "cbp.key")
    r.ok("keys", "init-root", "ICE", "--out", "ice-root.key")
    for name, (root, ident, role, agency, office) in OFFICERS.items():
        root_file = "cbp.key" if root == "cbp" else "ice-root.key"
        r.ok("keys", "create-officer", "--root", root_file, "--id", ident, "--role", role,
             "--agency", agency, "--office", office, "--out", f"{name}.key")
    r.ok("record", "OP-1", "CaseOpened", "--key", "cbpo.key", "--at", "now", "--field",
         "port=5201")
    return r


def refused(result: Result, *needles: str, code: int = 2) -> str:
    """Exit ``code``, one ``cdlog:`` line naming every needle, no traceback, no passphrase."""
    return assert_one_line_refusal(result, *needles, code=code, secret=PASS)


def stored(rec: Rec, stream: str) -> list[Any]:
    with CaseLog(rec.store) as log:
        return log.events(stream)


def test_record_prints_stream_version_and_the_stored_hash(rec: Rec) -> None:
    """An event recorded from flags: the line names the stream, the version and the hash of
    the event as stored; --json prints the whole sealed event."""
    out = rec.ok("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                 "--field", "reason=targeting").stdout
    events = stored(rec, "case:OP-1")
    assert [e.type for e in events] == ["CaseOpened", "ExaminationReferred"]
    assert out.strip() == (f"recorded ExaminationReferred: case:OP-1 version 2 hash "
                           f"{events[1].hash_hex}")
    assert events[1].payload == {"reason": "targeting"}
    doc = json.loads(rec.ok("record", "case:OP-1", "ConveyanceArrived", "--key", "cbpo.key",
                            "--at", "now", "--json-fields", '{"conveyance": "FLT 1"}',
                            "--json").stdout)
    third = stored(rec, "case:OP-1")[2]
    assert doc["stream"] == "case:OP-1"
    assert doc["version"] == 3
    assert doc["hash"] == third.hash_hex
    assert doc["envelope"] == dict(third.envelope)
    assert [s["key"] for s in doc["signatures"]] == [
        read_key_file_info(rec.folder / "cbpo.key").key_id]


def test_fields_from_a_file_stdin_pairs_and_a_window(rec: Rec) -> None:
    """Fields from --fields-file (a file or '-'), typed --field pairs (name:=json, dotted
    names), co-signers and an occurrence window all reach the stored event."""
    (rec.folder / "f.json").write_text('{"reason": "from a file"}')
    rec.ok("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
           "--fields-file", "f.json")
    rec.ok("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
           "--fields-file", "-", input='{"reason": "from stdin"}')
    rec.ok("record", "OP-2", "CaseOpened", "--key", "cbpo.key", "--at", "now", "--field",
           "port=5201", "--field", "refs.bl=MAEU123", "--field", "refs.count:=3")
    rec.ok("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--cosign",
           "scbpo.key", "--at", "2026-01-01T00:00:00Z", "--to", "now", "--field",
           "reason=window")
    one = stored(rec, "case:OP-1")
    assert [e.payload["reason"] for e in one[1:]] == ["from a file", "from stdin", "window"]
    assert one[-1].envelope["occurred"]["from"].startswith("2026-01-01T00:00:00")
    assert [c["id"] for c in one[-1].envelope["cosigners"]] == ["CBP-2290"]
    two = stored(rec, "case:OP-2")[0]
    assert two.payload["reference"] == "OP-2"
    assert two.payload["refs"] == {"bl": "MAEU123", "count": 3}


# (name, arguments after "record", text the one-line message must contain)
FAULTS: list[tuple[str, list[str], list[str]]] = [
    ("misspelt type", ["OP-1", "ConveyanceArived", "--key", "cbpo.key", "--at", "now"],
     ["ConveyanceArived", "did you mean ConveyanceArrived"]),
    ("unknown type", ["OP-1", "Nonsense", "--key", "cbpo.key", "--at", "now"],
     ["'Nonsense' is not an event type"]),
    ("trust type", ["OP-1", "OfficerKeyRevoked", "--key", "cbpo.key", "--at", "now"],
     ["cdlog keys"]),
    ("rule R1", ["OP-9", "CaseOpened", "--key", "ice.key", "--at", "now", "--field",
                 "port=5201"], ["[R1]", "ICE-7781"]),
    ("lifecycle", ["OP-1", "CaseOpened", "--key", "cbpo.key", "--at", "now", "--field",
                   "port=5201"], ["[lifecycle]"]),
    ("missing field", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now"],
     ["ExaminationReferred.reason", "missing"]),
    ("unknown field", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                       "--field", "reason=x", "--field", "colour=red"], ["colour"]),
    ("field twice", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                     "--field", "reason=x", "--field", "reason=y"], ["reason", "twice"]),
    ("field without =", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                         "--field", "reason"], ["--field", "no '='"]),
    ("bad json value", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                        "--field", "reason:={"], ["reason", "not JSON"]),
    ("not JSON", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                  "--json-fields", "{reason: x}"], ["--json-fields", "not JSON", "line 1"]),
    ("JSON array", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                    "--json-fields", "[1, 2]"], ["--json-fields", "array, not an object"]),
    ("NaN", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
             "--json-fields", '{"reason": NaN}'], ["NaN"]),
    ("deep JSON", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                   "--json-fields", "[" * 100_000 + "]" * 100_000], ["--json-fields"]),
    ("two sources", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                     "--json-fields", "{}", "--field", "reason=x"], ["given together"]),
    ("missing fields file", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at",
                             "now", "--fields-file", "nope.json"],
     ["nope.json", "does not exist"]),
    ("naive time", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at",
                    "2026-01-01T10:00", "--field", "reason=x"], ["--at", "no UTC offset"]),
    ("not a time", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "yesterday",
                    "--field", "reason=x"], ["--at", "yesterday"]),
    ("window backwards", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                          "--to", "2000-01-01T00:00:00Z", "--field", "reason=x"],
     ["--to", "before --at"]),
    ("unknown case", ["OP-404", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                      "--field", "reason=x"], ["not found", "OP-404"]),
    ("root key signs", ["OP-1", "ExaminationReferred", "--key", "cbp.key", "--at", "now",
                        "--field", "reason=x"], ["--key", "cbp.key", "trust root"]),
    ("uncertified key", ["OP-1", "ExaminationReferred", "--key", "stranger.key", "--at",
                         "now", "--field", "reason=x"], ["stranger.key", "no agency root"]),
    ("missing key file", ["OP-1", "ExaminationReferred", "--key", "nope.key", "--at", "now",
                          "--field", "reason=x"], ["nope.key"]),
    ("key file is a folder", ["OP-1", "ExaminationReferred", "--key", "sub", "--at", "now",
                              "--field", "reason=x"], ["sub"]),
    ("same co-signer", ["OP-1", "ExaminationReferred", "--key", "cbpo.key", "--cosign",
                        "cbpo.key", "--at", "now", "--field", "reason=x"], ["twice"]),
]


@pytest.mark.parametrize(("args", "needles"), [(a, n) for _, a, n in FAULTS],
                         ids=[name for name, _, _ in FAULTS])
def test_refused_record_writes_nothing(rec: Rec, args: list[str], needles: list[str]) -> None:
    """Each refused record exits 2 with one line naming the problem (the rule id for a rule),
    and the store's events and tree and the key folder stay as they were."""
    keyfile.write_key_file(rec.folder / "stranger.key", Ed25519Signer.generate(),
                           PASS.encode(), label="stranger")
    (rec.folder / "sub").mkdir()
    before = rec.snapshot()
    refused(rec("record", *args), *needles)
    assert rec.snapshot() == before


def test_revoked_key_cannot_record(rec: Rec) -> None:
    """A revoked officer key: exit 2 naming the key and the revocation; nothing written."""
    key_id = read_key_file_info(rec.folder / "scbpo.key").key_id
    rec.ok("keys", "revoke", "--root", "cbp.key", key_id, "--reason", "lost")
    before = rec.snapshot()
    refused(rec("record", "OP-1", "ExaminationReferred", "--key", "scbpo.key", "--at", "now",
                "--field", "reason=x"), key_id, "revoked")
    assert rec.snapshot() == before


def test_no_passphrase_without_a_terminal(rec: Rec, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CDLOG_PASSPHRASE and no terminal: exit 2 naming it, nothing written."""
    monkeypatch.delenv("CDLOG_PASSPHRASE")
    before = rec.snapshot()
    refused(rec("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                "--field", "reason=x"), "CDLOG_PASSPHRASE")
    assert rec.snapshot() == before


def test_interrupted_record_writes_nothing(rec: Rec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the event is being saved: exit 130, one line, nothing written."""
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(CaseLog, "_save", interrupted)
    before = rec.snapshot()
    refused(rec("record", "OP-1", "ExaminationReferred", "--key", "cbpo.key", "--at", "now",
                "--field", "reason=x"), "interrupted", code=130)
    assert rec.snapshot() == before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                max_size=4),
    max_leaves=12)
GARBAGE = st.one_of(
    st.tuples(st.just("--json-fields"), st.text(max_size=200)),
    st.tuples(st.just("--json-fields"), JSON.map(json.dumps)),
    st.tuples(st.just("--field"), st.text(max_size=80)),
    st.tuples(st.just("--field"), st.builds("{}:={}".format, st.text(max_size=20),
                                            JSON.map(json.dumps))),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(garbage=st.lists(GARBAGE, min_size=1, max_size=3),
       type_name=st.sampled_from(["ExaminationReferred", "ConveyanceArrived", "HoldPlaced"]))
def test_record_garbage_fields_never_half_writes(rec: Rec, garbage: list[tuple[str, str]],
                                                 type_name: str) -> None:
    """Random text, JSON and --field pairs: never a traceback; either exactly one event is
    recorded (exit 0) or nothing is (exit 2, one line)."""
    args = [f"{option}={value}" for option, value in garbage]
    before = rec.snapshot()
    result = rec("record", "OP-1", type_name, "--key", "cbpo.key", "--at", "now", *args)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert len(rec.snapshot()[0]) == len(before[0]) + 1
    else:
        refused(result)
        assert rec.snapshot() == before


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.text(max_size=40) | st.sampled_from(["OP-1", "case:OP-1", "case:", "pnr:x"]),
       type_name=st.text(max_size=30) | st.sampled_from(["ExaminationReferred",
                                                          "CaseOpened"]),
       at=st.text(max_size=30) | st.sampled_from(["now", "2026-01-01T00:00:00Z"]))
def test_record_garbage_arguments_never_half_write(rec: Rec, case: str, type_name: str,
                                                   at: str) -> None:
    """Random CASE, TYPE and --at: never a traceback; one event or nothing. (CASE and TYPE
    come after ``--``, so that one starting with '-' is not taken for an option.)"""
    before = rec.snapshot()
    result = rec("record", "--key", "cbpo.key", f"--at={at}", "--field", "reason=x",
                 "--field", "port=5201", "--", case, type_name)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert len(rec.snapshot()[0]) == len(before[0]) + 1
    else:
        refused(result)
        assert rec.snapshot() == before
