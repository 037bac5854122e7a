"""A fault campaign for ``cdlog keys``: every refused, failed or interrupted key command
writes nothing (issue 9, observations 2, 5, 6 and 8).

Each fault asserts the exit code, exactly one ``cdlog:`` line on stderr, no traceback, and
that the store's events and Merkle tree and the key files folder are unchanged afterwards
(no key file, no temporary file, no event, no leaf).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.keys_cmd  # noqa: F401  (registers the commands)
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.domain.values import Officer
from cdlog.errors import ConcurrencyError, InputError, NotFoundError
from cdlog.keys import keyfile
from cdlog.keys.keyfile import read_key_file, read_key_file_info
from cdlog.keys.signer import Ed25519Signer
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import assert_one_line_refusal, store_snapshot
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import assert_one_line_refusal, store_snapshot

PASS = "correct horse battery staple"


@dataclass
class Keys:
    """A store with the roots of CBP and ICE and three CBP officer keys: ``active`` (in
    force), ``rotated`` (replaced by ``active``) and ``revoked``; key files in ``folder``."""

    store: str
    folder: Path
    raw: Any  # conftest.RawStore (direct SQL on the store)
    ids: dict[str, str]

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(cli, ["--store", self.store, *args], env=env,
                                  catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def snapshot(self) -> tuple[Any, ...]:
        """The store's events and Merkle tree, and every file in the key folder."""
        return store_snapshot(self.raw, self.folder)

    def events(self) -> int:
        return len(self.raw.rows("SELECT {nid} FROM {events}"))


@pytest.fixture
def keys(tmp_path: Path, store_url: str, raw: Any,
         monkeypatch: pytest.MonkeyPatch) -> Keys:
    folder = tmp_path / "keys"
    folder.mkdir()
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASS)
    monkeypatch.setattr(keyfile, "KDF_ROUNDS", 1)  # fast key files; the format is the same
    monkeypatch.chdir(folder)
    k = Keys(store_url, folder, raw, {})
    k.ok("keys", "init-root", "CBP", "--out", "cbp.key")
    k.ok("keys", "init-root", "ICE", "--out", "ice.key")
    for name, ident in (("first", "CBP-4417"), ("revoked", "CBP-2290")):
        k.ok("keys", "create-officer", "--root", "cbp.key", "--id", ident, "--role", "CBPO",
             "--agency", "CBP", "--office", "OFO", "--out", f"{name}.key")
    k.ids = {name: read_key_file_info(folder / f"{name}.key").key_id
             for name in ("cbp", "ice", "first", "revoked")}
    k.ok("keys", "rotate", "--root", "cbp.key", k.ids["first"], "--reason", "scheduled",
         "--out", "active.key")
    k.ok("keys", "revoke", "--root", "cbp.key", k.ids["revoked"], "--reason", "lost")
    k.ids["rotated"] = k.ids.pop("first")
    (folder / "first.key").rename(folder / "rotated.key")
    k.ids["active"] = read_key_file_info(folder / "active.key").key_id
    (folder / "taken.key").write_text("an existing file that must not be replaced\n")
    return k


def assert_refused(result: Result, *needles: str, code: int = 2) -> str:
    """Exit ``code``, one ``cdlog:`` line naming every needle, no traceback, no passphrase."""
    return assert_one_line_refusal(result, *needles, code=code, secret=PASS)


OFFICER = ("--role", "CBPO", "--agency", "CBP", "--office", "OFO")

# (name, command with {placeholders}, text the one-line message must contain)
FAULTS: list[tuple[str, list[str], list[str]]] = [
    # observation 2: --out exists; nothing recorded, the file is untouched
    ("rotate --out exists", ["keys", "rotate", "--root", "cbp.key", "{active}", "--reason",
                             "x", "--out", "taken.key"], ["taken.key", "already exists"]),
    ("create-officer --out exists", ["keys", "create-officer", "--root", "cbp.key", "--id",
                                     "CBP-9", *OFFICER, "--out", "taken.key"],
     ["taken.key", "already exists"]),
    ("init-root twice", ["keys", "init-root", "CBP", "--out", "new.key"],
     ["CBP already has the trust root {cbp}", "position 1"]),
    ("--out is a folder", ["keys", "rotate", "--root", "cbp.key", "{active}", "--reason", "x",
                           "--out", "sub"], ["sub", "already exists"]),
    ("--out in a missing folder", ["keys", "create-officer", "--root", "cbp.key", "--id",
                                   "CBP-9", *OFFICER, "--out", "no/such/o.key"],
     ["no/such/o.key", "does not exist"]),
    ("--out is a dangling symlink", ["keys", "create-officer", "--root", "cbp.key", "--id",
                                     "CBP-9", *OFFICER, "--out", "dangling.key"],
     ["dangling.key", "already exists"]),
    # observation 6: refusals in words, naming key, agency, file and position
    ("revoke a rotated key", ["keys", "revoke", "--root", "cbp.key", "{rotated}", "--reason",
                              "x"],
     ["{rotated}", "CBP-4417", "already rotated at position", "{active}", "nothing to revoke"]),
    ("revoke a revoked key", ["keys", "revoke", "--root", "cbp.key", "{revoked}", "--reason",
                              "x"], ["{revoked}", "CBP-2290", "already revoked at position"]),
    ("rotate a rotated key", ["keys", "rotate", "--root", "cbp.key", "{rotated}", "--reason",
                              "x", "--out", "new.key"],
     ["{rotated}", "already rotated", "nothing to rotate"]),
    ("officer key as --root", ["keys", "create-officer", "--root", "active.key", "--id",
                               "CBP-9", *OFFICER, "--out", "new.key"],
     ["active.key", "{active}", "officer key of", "not an agency trust root"]),
    ("CBP root certifies an ICE officer", ["keys", "create-officer", "--root", "cbp.key",
                                           "--id", "ICE-9", "--role", "SA", "--agency", "ICE",
                                           "--office", "OI", "--out", "new.key"],
     ["cbp.key", "trust root of CBP", "ICE"]),
    ("ICE root revokes a CBP key", ["keys", "revoke", "--root", "ice.key", "{active}",
                                    "--reason", "x"],
     ["ice.key", "trust root of ICE", "CBP"]),
    ("ICE root rotates a CBP key", ["keys", "rotate", "--root", "ice.key", "{active}",
                                    "--reason", "x", "--out", "new.key"],
     ["ice.key", "trust root of ICE"]),
    ("revoke an unknown key", ["keys", "revoke", "--root", "cbp.key",
                               "ed25519:0000000000000000", "--reason", "x"],
     ["not found", "ed25519:0000000000000000"]),
    ("revoke a root key", ["keys", "revoke", "--root", "cbp.key", "{cbp}", "--reason", "x"],
     ["{cbp}", "trust root of CBP", "cannot be revoked"]),
    ("revoke with an empty reason", ["keys", "revoke", "--root", "cbp.key", "{active}",
                                     "--reason", " "], ["--reason", "empty"]),
    ("init-root with an empty agency", ["keys", "init-root", "", "--out", "new.key"],
     ["AGENCY"]),
    ("create-officer with an empty id", ["keys", "create-officer", "--root", "cbp.key", "--id",
                                         "", *OFFICER, "--out", "new.key"], ["officer.id"]),
    ("missing root key file", ["keys", "create-officer", "--root", "nope.key", "--id", "CBP-9",
                               *OFFICER, "--out", "new.key"], ["nope.key"]),
    ("not a key file as --root", ["keys", "revoke", "--root", "taken.key", "{active}",
                                  "--reason", "x"], ["taken.key", "not a cdlog key file"]),
]


@pytest.mark.parametrize(("command", "needles"), [(c, n) for _, c, n in FAULTS],
                         ids=[name for name, _, _ in FAULTS])
def test_refused_key_command_writes_nothing(keys: Keys, command: list[str],
                                            needles: list[str]) -> None:
    """Each refused key command exits 2 with one line naming what was wrong, and leaves the
    store's events and tree and the key folder exactly as they were."""
    (keys.folder / "sub").mkdir()
    (keys.folder / "dangling.key").symlink_to(keys.folder / "nowhere")
    args = [a.format(**keys.ids) for a in command]
    before = keys.snapshot()
    result = keys(*args)
    assert_refused(result, *(n.format(**keys.ids) for n in needles))
    assert keys.snapshot() == before
    assert not (keys.folder / "nowhere").exists()


def test_wrong_passphrase_writes_nothing(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A root key file that the passphrase does not open: exit 2 naming the file."""
    monkeypatch.setenv("CDLOG_PASSPHRASE", "not the passphrase")
    before = keys.snapshot()
    result = keys("keys", "rotate", "--root", "cbp.key", keys.ids["active"], "--reason", "x",
                  "--out", "new.key")
    assert_refused(result, "cbp.key", "wrong passphrase")
    assert "not the passphrase" not in result.output
    assert keys.snapshot() == before


@pytest.mark.parametrize("command", [
    ["keys", "init-root", "DEA", "--out", "dea.key"],
    ["keys", "create-officer", "--root", "cbp.key", "--id", "CBP-9", *OFFICER,
     "--out", "new.key"],
    ["keys", "rotate", "--root", "cbp.key", "{active}", "--reason", "x", "--out", "new.key"],
    ["keys", "revoke", "--root", "cbp.key", "{active}", "--reason", "x"],
], ids=["init-root", "create-officer", "rotate", "revoke"])
def test_no_passphrase_and_no_terminal(keys: Keys, monkeypatch: pytest.MonkeyPatch,
                                       command: list[str]) -> None:
    """Observation 5: without CDLOG_PASSPHRASE and without a terminal, no prompt: exit 2
    naming CDLOG_PASSPHRASE, before anything is written."""
    monkeypatch.delenv("CDLOG_PASSPHRASE")
    before = keys.snapshot()
    result = keys(*[a.format(**keys.ids) for a in command])
    assert_refused(result, "CDLOG_PASSPHRASE")
    assert keys.snapshot() == before


@pytest.mark.parametrize("method", ["rotate_key", "certify_officer", "establish_root"])
@pytest.mark.parametrize("failure", ["conflict", "interrupt"])
def test_failure_while_recording_leaves_no_key_file(
        keys: Keys, monkeypatch: pytest.MonkeyPatch, method: str, failure: str) -> None:
    """Observation 2: when recording the key fails (another writer first) or is interrupted
    (Ctrl-C), no key file and no temporary file is left, and nothing is recorded
    (exit 2, or 130 for the interrupt)."""
    def fail(*args: object, **kwargs: object) -> None:
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise ConcurrencyError("trust:CBP version 9 was written by another writer first; "
                               "nothing of this command was saved. Reload and retry.")

    monkeypatch.setattr(CaseLog, "_save", fail)
    command = {
        "rotate_key": ["keys", "rotate", "--root", "cbp.key", keys.ids["active"], "--reason",
                       "x", "--out", "new.key"],
        "certify_officer": ["keys", "create-officer", "--root", "cbp.key", "--id", "CBP-9",
                            *OFFICER, "--out", "new.key"],
        "establish_root": ["keys", "init-root", "DEA", "--out", "new.key"],
    }[method]
    before = keys.snapshot()
    result = keys(*command)
    if failure == "interrupt":
        assert_refused(result, "interrupted", "nothing partial", code=130)
    else:
        assert_refused(result, "another writer")
    assert keys.snapshot() == before


def test_out_appearing_while_recording_keeps_the_key(keys: Keys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--out created by someone else while the rotation is recorded: the file found there is
    not replaced, and the recorded key is not lost: the message names the temporary file
    that holds it (exit 2)."""
    rotate = CaseLog.rotate_key

    def racing(self: CaseLog, *args: Any, **kwargs: Any) -> Any:
        (keys.folder / "new.key").write_text("someone else's file\n")
        return rotate(self, *args, **kwargs)

    monkeypatch.setattr(CaseLog, "rotate_key", racing)
    events = keys.events()
    result = keys("keys", "rotate", "--root", "cbp.key", keys.ids["active"], "--reason", "x",
                  "--out", "new.key")
    line = assert_refused(result, "new.key", "kept in")
    assert (keys.folder / "new.key").read_text() == "someone else's file\n"
    kept = keys.folder / line.split("kept in ")[1].split(":")[0]
    signer = read_key_file(kept, PASS.encode())
    assert keys.events() == events + 1
    with CaseLog(keys.store) as log:
        record = log.context.registry.record(signer.key_id)
        assert log.context.registry.record(keys.ids["active"]).replaced_by == signer.key_id
    assert record.revoked_at is None


def test_successful_commands_leave_only_their_key_files(keys: Keys) -> None:
    """A rotation, a certification and a root each leave exactly their key file (mode 0600,
    readable with the passphrase, of the key the log now holds) and no temporary file."""
    before = {p.name for p in keys.folder.iterdir()}
    keys.ok("keys", "rotate", "--root", "cbp.key", keys.ids["active"], "--reason", "x",
            "--out", "r.key")
    keys.ok("keys", "create-officer", "--root", "ice.key", "--id", "ICE-9", "--role", "SA",
            "--agency", "ICE", "--office", "OI", "--out", "i.key")
    keys.ok("keys", "init-root", "DEA", "--out", "dea.key")
    assert {p.name for p in keys.folder.iterdir()} == before | {"r.key", "i.key", "dea.key"}
    with CaseLog(keys.store) as log:
        reg = log.context.registry
        for name in ("r.key", "i.key", "dea.key"):
            path = keys.folder / name
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            key_id = read_key_file(path, PASS.encode()).key_id
            assert reg.is_root(key_id) or reg.record(key_id).revoked_at is None


def test_keys_list_json(keys: Keys) -> None:
    """Observation 8: ``keys list --json`` is a JSON array with stable field names; roots and
    officer keys with their kind, subject and state (rotated keys name their successor)."""
    rows: list[dict[str, Any]] = json.loads(keys.ok("keys", "list", "--json").stdout)
    fields = {"key_id", "kind", "agency", "subject", "not_before", "not_after",
              "certified_at", "revoked_at", "state"}
    assert all(fields <= set(row) for row in rows)
    by_id = {row["key_id"]: row for row in rows}
    assert set(by_id) == set(keys.ids.values())
    assert by_id[keys.ids["cbp"]]["kind"] == "root"
    assert by_id[keys.ids["cbp"]]["certified_at"] == 1
    rotated, active = by_id[keys.ids["rotated"]], by_id[keys.ids["active"]]
    assert rotated["state"] == "rotated"
    assert rotated["replaced_by"] == keys.ids["active"]
    assert rotated["revoked_at"] == active["certified_at"]
    assert active["state"] == "active"
    assert active["subject"]["id"] == "CBP-4417"
    assert active["subject"]["agency"] == active["agency"] == "CBP"
    assert by_id[keys.ids["revoked"]]["state"] == "revoked"
    assert by_id[keys.ids["revoked"]]["revocation_reason"] == "lost"
    text = keys.ok("keys", "list").stdout
    assert "rotated -> " + keys.ids["active"] in text


def test_api_refusals_are_input_errors(keys: Keys) -> None:
    """Observation 6 through the API: revoking a rotated key, or certifying with another
    agency's root, is an InputError that names the key and agency, and writes nothing."""
    cbp = read_key_file(keys.folder / "cbp.key", PASS.encode())
    before = keys.snapshot()
    calls: list[tuple[Callable[[CaseLog], object], type[Exception], str]] = [
        (lambda log: log.revoke_key(cbp, "CBP", keys.ids["rotated"], "x"), InputError,
         "already rotated"),
        (lambda log: log.revoke_key(cbp, "CBP", "ed25519:0000000000000000", "x"),
         NotFoundError, "ed25519:0000000000000000"),
        (lambda log: log.revoke_key(cbp, "CBP", keys.ids["active"], ""), InputError,
         "reason"),
        (lambda log: log.certify_officer(
            cbp, Officer(id="ICE-9", role="SA", agency="ICE", office="OI"),
            Ed25519Signer.generate().public_key, not_before=log.clock(),
            not_after=log.clock() + timedelta(days=1)), InputError, "trust root of CBP"),
        (lambda log: log.establish_root("ICE", Ed25519Signer.generate()), InputError,
         "ICE already has the trust root"),
    ]
    with CaseLog(keys.store) as log:
        for call, kind, needle in calls:
            with pytest.raises(kind) as info:
                call(log)
            assert type(info.value) is kind
            assert needle in str(info.value)
    assert keys.snapshot() == before


def test_keys_list_piped_is_whole_tab_separated_lines(keys: Keys) -> None:
    """Observation 8: piped, ``keys list`` prints a header and one tab-separated line per key,
    nothing truncated or wrapped (a long office name survives whole)."""
    office = "OFO-" + "X" * 150
    keys.ok("keys", "create-officer", "--root", "cbp.key", "--id", "CBP-7", "--role", "CBPO",
            "--agency", "CBP", "--office", office, "--out", "long.key")
    lines = keys.ok("keys", "list").stdout.splitlines()
    assert lines[0].split("\t") == ["key_id", "subject", "valid", "certified_at",
                                    "revoked_at", "state"]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 6 for row in rows)
    assert {row[0] for row in rows} == {*keys.ids.values(),
                                        read_key_file_info(keys.folder / "long.key").key_id}
    assert any(row[1] == f"CBP/{office} CBPO CBP-7" for row in rows)
    assert [row[5] for row in rows if row[0] == keys.ids["rotated"]] == [
        f"rotated -> {keys.ids['active']}"]


def test_key_revoked_by_another_writer_meanwhile(keys: Keys) -> None:
    """Another writer revokes the key after this revocation passed its checks and before it
    is saved: this one is refused as a conflict (nothing of it saved; not a verification
    failure of an event never written); only the other writer's revocation is in the log,
    the log verifies, and a retry is refused in words."""
    cbp = read_key_file(keys.folder / "cbp.key", PASS.encode())
    key_id = keys.ids["active"]
    with CaseLog(keys.store) as mine, CaseLog(keys.store) as other:
        save = mine._save
        raced: list[int] = []

        def hooked(pending: Any) -> None:
            if not raced:
                other.revoke_key(cbp, "CBP", key_id, "revoked by the other writer")
                raced.append(other.max_position())
            save(pending)

        mine._save = hooked  # type: ignore[method-assign]
        events = keys.events()
        with pytest.raises(ConcurrencyError, match="trust:CBP version"):
            mine.revoke_key(cbp, "CBP", key_id, "revoked by this writer")
        assert keys.events() == events + 1
        record = other.context.registry.record(key_id)
        assert record.revocation_reason == "revoked by the other writer"
        report = verify_log(other)
        assert report.ok, report.failures
        with pytest.raises(InputError, match=f"already revoked at position {raced[0]}"):
            mine.revoke_key(cbp, "CBP", key_id, "revoked by this writer")
        assert keys.events() == events + 1
