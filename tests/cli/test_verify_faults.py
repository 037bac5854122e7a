"""Fault campaign for the evidence commands (issue 9, observations 3, 4 and 6): `verify`,
`prove`, `export` and the other read-only commands.

Each refused command exits with the documented code (1 only for evidence that does not
hold, 2 for a usage, input or store error), prints one line starting `cdlog:` and no
traceback, and leaves the store's events, Merkle tree, checkpoints and files unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.log_cmd
import cdlog.cli.query_cmd
import cdlog.cli.report_cmd
import cdlog.cli.verify_cmd  # (these register the commands)
from cdlog.cli.main import cli
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_format import Checkpoint, sign_checkpoint
from cdlog.log.checkpoint_signing import create_log_key
from cdlog.log.checkpoint_signing import sign_checkpoint as sign_log_checkpoint
from cdlog.log.note import NoteSigner
from cdlog.log.sealing import stream_id
from cdlog.projections.projector import Projections
from cdlog.verify.bundle import export_bundle
from cdlog.verify.witness import create_witness_key

if TYPE_CHECKING:
    from conftest import RawStore, World

REF = "OP-D2-0001"
STREAM = f"case:{REF}"
CASE_NO = "MI-06-CD-0042"
MAX = 2**63 - 1


@dataclass
class Setup:
    """A store with one accepted case and a signed checkpoint, and the CLI on it."""

    world: World
    url: str
    raw: RawStore
    dir: Path
    signer: NoteSigner
    checkpoint: Path

    @property
    def vkey(self) -> str:
        """The log's verifier key."""
        return self.signer.verifier().vkey

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--store", self.url, *args])

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused command must leave as it was."""
        home = self.world.log.store.home
        files = {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(home.rglob("*")) if p.is_file() and p.suffix not in
                 {".db-wal", ".db-shm"} and not p.name.endswith(("-wal", "-shm"))
                 and p.name != "cdlog.db"}
        return {"events": self.raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}"),
                "leaves": self.raw.rows("SELECT * FROM {leaves} ORDER BY leaf_index"),
                "nodes": self.raw.rows("SELECT * FROM {nodes} ORDER BY level, idx"),
                "checkpoints": self.raw.rows("SELECT * FROM {checkpoints} ORDER BY size"),
                "files": files}


def accepted_case(world: World) -> str:
    """Open REF, discover, notify and accept it as CASE_NO (4 events)."""
    stream = world.open_case(REF, port="5201", at=0)
    world.rec(stream, "ContrabandDiscovered", {"items": [{
        "item_id": "X-1", "description": "brick", "category": "drug", "count": 3}]},
        by="cbpo", at=5)
    world.rec(stream, "InvestigativeNotificationSent", {
        "identified_at": world.t(5).isoformat(), "to": world.id("oi_duty"),
        "channel": "phone"}, by="cbpo", at=8)
    world.rec(stream, "CaseAccepted", {"case_no": CASE_NO, "lead_office": "SAC-Miami"},
              by="oi_duty", at=20)
    return stream


@pytest.fixture
def setup(world: World, store_url: str, raw: RawStore, tmp_path: Path) -> Setup:
    """The store of the world with an accepted case, a log key and a saved checkpoint."""
    accepted_case(world)
    signer = create_log_key(world.log, b"correct horse")
    cp = sign_log_checkpoint(world.log, signer)
    saved = tmp_path / "cp.txt"
    saved.write_text(cp.text, encoding="utf-8")
    return Setup(world, store_url, raw, tmp_path, signer, saved)


def one_line(result: Result, code: int, *needles: str) -> str:
    """Assert the exit code and a single `cdlog:` line on stderr holding every needle."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cdlog: "), lines
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------------ observation 6: exit codes
@pytest.mark.parametrize("vkey", ["garbage", "", "a+b+c", "cdlog.local/default+00000000+AAAA"])
def test_malformed_log_key_is_a_usage_error(setup: Setup, vkey: str) -> None:
    """`verify --log-key garbage` exited 1 (tampering); it is a usage error, exit 2."""
    before = setup.snapshot()
    one_line(setup("verify", "--log-key", vkey), 2, "configuration error", "--log-key",
             "expected a C2SP verifier key")
    one_line(setup("verify", "--json", "--log-key", vkey), 2, "--log-key")
    assert setup.snapshot() == before


def test_witness_key_given_as_log_key(setup: Setup) -> None:
    """A well-formed key of the wrong type (a witness's cosignature key) is a usage error."""
    wkey = create_witness_key(setup.dir / "w.key", "oig.example/w", b"pw").vkey
    one_line(setup("verify", "--log-key", wkey), 2, "--log-key", "not a log verifier key")
    one_line(setup("verify", "--witness-key", setup.vkey), 2, "--witness-key")


@pytest.mark.parametrize(("name", "content", "why"), [
    ("notes.md", b"# notes\n\nnothing signed here\n", "not a signed checkpoint"),
    ("empty.txt", b"", "not a signed checkpoint"),
    ("binary.bin", b"\xff\xfe\x00\x01garbage", "is not UTF-8 text"),
    ("body-only.txt", b"cdlog.local/default\n4\nAAAA\n", "not a signed checkpoint"),
])
def test_malformed_checkpoint_file_is_a_usage_error(setup: Setup, name: str, content: bytes,
                                                    why: str) -> None:
    """`verify --checkpoint notes.md` exited 1; a file that is no checkpoint is exit 2."""
    path = setup.dir / name
    path.write_bytes(content)
    before = setup.snapshot()
    one_line(setup("verify", "--checkpoint", str(path)), 2, "configuration error",
             "--checkpoint", str(path), why)
    assert setup.snapshot() == before


def test_checkpoint_the_store_does_not_extend_is_exit_1(setup: Setup) -> None:
    """A well-formed checkpoint signed by the log key for another tree is a fork: exit 1."""
    size = int(setup.checkpoint.read_text().split("\n")[1])
    forged = Checkpoint(setup.world.log.log_id, size, bytes(32))
    path = setup.dir / "fork.txt"
    path.write_text(sign_checkpoint(forged, setup.signer), encoding="utf-8")
    before = setup.snapshot()
    result = setup("verify", "--checkpoint", str(path), "--log-key", setup.vkey)
    assert result.exit_code == 1, result.output
    assert "saved checkpoint 1" in result.stderr
    assert "forked" in result.stderr
    ok = setup("verify", "--checkpoint", str(setup.checkpoint), "--log-key", setup.vkey)
    assert ok.exit_code == 0, ok.output
    assert setup.snapshot() == before


def test_trust_file_with_malformed_log_key(setup: Setup) -> None:
    """A trust file whose log_vkey is malformed is a usage error naming the trust file."""
    trust = setup.dir / "trust.json"
    roots = [r.model_dump(mode="json") for r in setup.world.log.context.registry.roots()]
    trust.write_text(json.dumps({"format": "cdlog/trust/v1", "roots": roots,
                                 "certificates": [], "log_vkey": "not-a-key"}))
    one_line(setup("verify", "--trust", str(trust)), 2, "--trust", str(trust), "log_vkey")


# ------------------------------------------------------------------ observation 6: names
def _tamper(setup: Setup) -> None:
    """Rewrite the case's v2 bytes in place (the brick becomes a brack)."""
    rows = setup.raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")
    nid, state = next((n, s) for n, s in rows if b'"brick"' in bytes(s))
    setup.raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?",
                       (bytes(state).replace(b'"brick"', b'"brack"'), nid)))


def test_verify_json_names_cases(setup: Setup) -> None:
    """`verify --json` named cases by internal UUID only; now by stream and case number."""
    _tamper(setup)
    result = setup("verify", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    case_id = str(stream_id(STREAM))
    mine = [f for f in doc["failures"] if f["case"] == case_id]
    assert mine, doc["failures"]
    assert all((f["stream"], f["case_no"]) == (STREAM, CASE_NO) for f in mine)
    assert {(f["version"], f["check"]) for f in mine} >= {(2, "signature")}
    heads = {h["stream"]: h for h in doc["heads"]}
    assert heads[STREAM]["case_no"] == CASE_NO
    assert heads[STREAM]["id"] == case_id
    assert heads[STREAM]["version"] == 4
    assert heads["trust:CBP"]["case_no"] is None
    for failure in doc["failures"]:
        if failure["case"] == "<log>":
            assert failure["stream"] is None
    text = setup("verify")
    assert text.exit_code == 1
    assert f"  {STREAM} v2: signature: " in text.stderr


def test_bundle_json_names_cases(setup: Setup) -> None:
    """`verify --bundle --json` names the cases of a bundle the same way."""
    bundle = setup.dir / "bundle"
    exported = setup("export", "--out", str(bundle), "--case", CASE_NO)
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((bundle / "bundle.json").read_text())
    entry = next(e for e in manifest["events"] if e["stream"] == STREAM and e["version"] == 2)
    event = bundle / entry["file"]
    event.write_bytes(event.read_bytes().replace(b'"brick"', b'"brack"'))
    result = setup("verify", "--bundle", str(bundle), "--log-key", setup.vkey, "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    mine = [f for f in doc["failures"] if f["case"] == str(stream_id(STREAM))]
    assert mine
    assert all((f["stream"], f["case_no"]) == (STREAM, CASE_NO) for f in mine)
    assert {h["stream"]: h["case_no"] for h in doc["heads"]}[STREAM] == CASE_NO


# ------------------------------------------------------------------ observation 4: integers
@pytest.mark.parametrize("args", [
    ["prove", "inclusion", REF, "99999999999999999999"],
    ["prove", "inclusion", REF, "1", "--size", "99999999999999999999"],
    ["prove", "inclusion", REF, str(MAX + 1)],
    ["prove", "consistency", "1", "99999999999999999999"],
    ["prove", "consistency", "99999999999999999999", "99999999999999999999"],
    ["prove", "inclusion", REF, "0"],
    ["prove", "inclusion", REF, "--", "-1"],
])
def test_out_of_range_integers_are_refused(setup: Setup, args: list[str]) -> None:
    """`prove inclusion CASE 99999999999999999999` raised OverflowError; now exit 2."""
    before = setup.snapshot()
    result = setup(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "OverflowError" not in result.output
    assert "range" in result.output
    assert setup.snapshot() == before


def test_largest_integers_are_not_found(setup: Setup) -> None:
    """The largest accepted values reach the store and come back as 'not found', exit 2."""
    before = setup.snapshot()
    size = int(setup.checkpoint.read_text().split("\n")[1])
    one_line(setup("prove", "inclusion", REF, str(MAX)), 2, "not found",
             f"no event version {MAX} in {STREAM} (its head is v4)")
    one_line(setup("prove", "inclusion", CASE_NO, "2", "--size", str(MAX)), 2, "not found",
             f"no checkpoint of size {MAX} (latest is {size}")
    one_line(setup("prove", "inclusion", REF, "2", "--size", "3"), 2,
             f"no checkpoint of size 3 (latest is {size}")
    one_line(setup("prove", "consistency", "1", str(MAX)), 2, "new", "larger than the tree")
    assert setup.snapshot() == before


# ------------------------------------------------------------------ export: all or nothing
def test_export_into_a_non_empty_folder_is_refused(setup: Setup) -> None:
    """A used --out folder is a usage error; its contents and the store are untouched."""
    out = setup.dir / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = setup.snapshot()
    one_line(setup("export", "--out", str(out)), 2, "--out", str(out), "not an empty folder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert setup.snapshot() == before


def test_export_without_checkpoint_leaves_no_folder(world: World, store_url: str,
                                                    tmp_path: Path) -> None:
    """Nothing is created (not even parent folders) when the export is refused."""
    accepted_case(world)
    out = tmp_path / "new" / "deeper" / "bundle"
    result = CliRunner().invoke(cli, ["--store", store_url, "export", "--out", str(out)])
    one_line(result, 2, "no signed checkpoint")
    assert not (tmp_path / "new").exists()


def test_interrupted_export_leaves_nothing(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the bundle is written: exit 130 and no bundle or partial folder left
    (the old export wrote file by file into --out)."""
    def interrupted(log: Any, folder: Any, cases: Any, **kwargs: Any) -> dict[str, Any]:
        export_bundle(log, folder, cases, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cdlog.cli.log_cmd, "export_bundle", interrupted)
    out = setup.dir / "out" / "bundle"
    before = setup.snapshot()
    result = setup("export", "--out", str(out), "--case", REF)
    one_line(result, 130, "interrupted")
    assert not (setup.dir / "out").exists()
    assert setup.snapshot() == before


def test_export_reports_progress(setup: Setup) -> None:
    """export_bundle reports (done, total) to a progress callback, ending at the total."""
    seen: list[tuple[int, int]] = []
    manifest = export_bundle(setup.world.log, setup.dir / "b", [REF],
                             progress=lambda n, total: seen.append((n, total)))
    total = len(manifest["events"])
    assert seen[0] == (0, total)
    assert seen[-1] == (total, total)


def test_no_progress_bar_when_not_a_terminal(setup: Setup) -> None:
    """Under CliRunner (stderr not a terminal) no progress bar is drawn."""
    result = setup("export", "--out", str(setup.dir / "quiet"))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    verified = setup("verify")
    assert verified.exit_code == 0
    assert verified.stderr == ""


# ------------------------------------------------------------------ observation 3: read-only
@pytest.mark.parametrize("args", [
    ["verify"], ["verify", "--json"], ["prove", "inclusion", REF, "1"],
    ["prove", "consistency", "1", "2"], ["export", "--out", "bundle"],
    ["query", "cases"], ["query", "views"], ["report", "case", REF],
])
def test_read_only_commands_never_create_a_store(tmp_path: Path, args: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify` on a mistyped path created it and printed 'OK: 0 events'; now exit 2."""
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "typo" / "cdlog.db"
    result = CliRunner().invoke(cli, ["--store", f"sqlite:///{missing}", *args])
    one_line(result, 2, str(missing))
    assert not (tmp_path / "typo").exists()
    assert not (tmp_path / "bundle").exists()
    assert "OK" not in result.stdout


def test_verify_ok_names_no_uuid(setup: Setup) -> None:
    """A clean store: exit 0, and the JSON names the case's head by stream and number."""
    result = setup("verify", "--json", "--checkpoint", str(setup.checkpoint))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert {h["stream"]: h["case_no"] for h in doc["heads"]}[STREAM] == CASE_NO


def test_another_logs_key_is_exit_1(setup: Setup) -> None:
    """A well-formed log key that did not sign the checkpoints: the evidence fails, exit 1."""
    other = NoteSigner(Ed25519Signer.generate().seed(), setup.world.log.log_id).verifier()
    result = setup("verify", "--log-key", other.vkey)
    assert result.exit_code == 1, result.output
    assert "checkpoint" in result.stderr


def test_event_out_never_overwrites(setup: Setup) -> None:
    """`prove inclusion --event-out FILE` refuses an existing FILE before reading the store,
    and writes the event's sealed bytes to a new one."""
    taken = setup.dir / "taken.sealed"
    taken.write_bytes(b"mine")
    before = setup.snapshot()
    one_line(setup("prove", "inclusion", REF, "2", "--event-out", str(taken)), 2,
             "--event-out", "exists")
    assert taken.read_bytes() == b"mine"
    fresh = setup.dir / "fresh.sealed"
    result = setup("prove", "inclusion", REF, "2", "--event-out", str(fresh))
    assert result.exit_code == 0, result.output
    assert fresh.read_bytes() == setup.world.log.events(STREAM)[1].sealed
    assert setup.snapshot() == before


def test_views_rebuild_reports_progress(setup: Setup) -> None:
    """`query views --rebuild` feeds a progress bar page by page on a terminal (through the
    public ``progress`` callback of ``Projections.rebuild``), and draws nothing when stderr is
    not a terminal."""
    seen: list[int] = []
    with Projections(setup.world.log, catch_up=False) as p:
        p.rebuild(progress=seen.append)
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == setup.world.log.max_position()
    result = setup("query", "views", "--rebuild")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["log_position"] == setup.world.log.max_position()


def test_witness_commands_refuse_malformed_keys_and_files(setup: Setup) -> None:
    """`witness` and `accept-cosignature` given a malformed key or checkpoint: exit 2 (was 1
    for keys), before any key file is read; no witness state, no cosignature stored."""
    create_witness_key(setup.dir / "w.key", "oig.example/w", b"pw")
    state = setup.dir / "state.json"
    notes = setup.dir / "notes.md"
    notes.write_text("# notes\n")
    before = setup.snapshot()
    base = ["--state", str(state), "--key", str(setup.dir / "w.key")]
    one_line(setup("witness", str(setup.checkpoint), *base, "--log-key", "garbage"), 2,
             "--log-key")
    one_line(setup("witness", str(notes), *base, "--log-key", setup.vkey), 2, "CHECKPOINT",
             str(notes), "not a signed checkpoint")
    one_line(setup("witness", str(setup.checkpoint), *base, "--log-key", setup.vkey,
                   "--proof", str(notes)), 2, "--proof", "not JSON")
    one_line(setup("accept-cosignature", str(setup.checkpoint), "--witness-key", "garbage"),
             2, "--witness-key")
    assert not state.exists()
    assert setup.snapshot() == before
