"""The command line's error contract (cdlog/cli/main.py): one line on stderr, no traceback,
exit 0 ok / 1 verification failed / 2 usage, input, configuration, key or store error /
130 interrupted; no prompt without a terminal; no password from a store URL in a message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cdlog.cli.main import cli, main
from cdlog.errors import (
    ConcurrencyError,
    ConfigurationError,
    InputError,
    KeyStoreError,
    NotFoundError,
    StoreError,
    VerificationError,
)

CDLOG = [sys.executable, "-m", "cdlog"]


@pytest.fixture
def raising() -> Iterator[Callable[[BaseException], None]]:
    """Register a throwaway subcommand that raises a given exception; removed afterwards."""
    box: list[BaseException] = []

    @cli.command("raise-for-test", hidden=True)
    def _raise() -> None:
        raise box[0]

    def set_error(exc: BaseException) -> None:
        box[:] = [exc]

    yield set_error
    cli.commands.pop("raise-for-test", None)


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stderr if hasattr(result, "stderr") else result.output


@pytest.mark.parametrize(("error", "code", "kind"), [
    (VerificationError.at("case:OP-1", 3, "signature", "does not verify"), 1,
     "verification failed"),
    (ConfigurationError("store 'x': unknown scheme"), 2, "configuration error"),
    (InputError("at", "has no UTC offset", "a timezone-aware time"), 2, "refused"),
    (NotFoundError("no case named 'OP-9'"), 2, "not found"),
    (ConcurrencyError("case:OP-1 version 3 was written by another writer first"), 2,
     "conflict"),
    (KeyStoreError("o.key: wrong passphrase"), 2, "key file"),
    (StoreError("/tmp/x.db: database disk image is malformed"), 2, "store"),
    (OSError(13, "Permission denied", "/root/x.key"), 2, "error"),
    (RuntimeError("unexpected"), 2, "internal error"),
    (KeyboardInterrupt(), 130, "interrupted"),
    (click.Abort(), 130, "interrupted"),
])
def test_each_error_is_one_line_with_its_exit_code(
        raising: Callable[[BaseException], None], error: BaseException, code: int,
        kind: str) -> None:
    """Every kind of error maps to its exit code and a single `cdlog: kind: ...` line."""
    raising(error)
    exit_code, err = _run(["raise-for-test"])
    assert exit_code == code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cdlog: {kind}: ")
    assert "Traceback" not in err
    assert "Aborted!" not in err


def test_multiline_input_error_becomes_one_line(raising: Callable[[BaseException], None]) -> None:
    """A message that spans lines (from a library) is printed on one line."""
    raising(InputError("events[3]", "bad\nvalue\n  here"))
    exit_code, err = _run(["raise-for-test"])
    assert exit_code == 2
    assert err.strip() == "cdlog: refused: events[3]: bad value here"


def test_the_store_password_never_appears(raising: Callable[[BaseException], None]) -> None:
    """Whatever raised, a password from the store URL is replaced by *** in the message."""
    raising(StoreError("cannot connect to postgresql://cd:s3cr3t-pw@127.0.0.1:1/db"))
    exit_code, err = _run(["--store", "postgresql://cd:s3cr3t-pw@127.0.0.1:1/db",
                           "raise-for-test"])
    assert exit_code == 2
    assert "s3cr3t-pw" not in err
    assert "***" in err


def test_debug_shows_the_traceback(raising: Callable[[BaseException], None]) -> None:
    """CDLOG_DEBUG=1 adds the traceback after the line (for bug reports)."""
    raising(RuntimeError("unexpected"))
    exit_code, err = _run(["raise-for-test"], env={"CDLOG_DEBUG": "1"})
    assert exit_code == 2
    assert "Traceback" in err


def _no_terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"CDLOG_PASSPHRASE", "CDLOG_STORE"}}
    env["CDLOG_STORE"] = f"sqlite:///{tmp_path}/store/cdlog.db"
    return env


def test_no_prompt_without_a_terminal(tmp_path: Path) -> None:
    """Issue 9 (5): without a terminal and without CDLOG_PASSPHRASE a signing command exits 2
    naming CDLOG_PASSPHRASE (it printed a GetPassWarning and 'Aborted!'), and writes nothing."""
    done = subprocess.run([*CDLOG, "keys", "init-root", "CBP", "--out", "cbp.key"],
                          cwd=tmp_path, env=_no_terminal_env(tmp_path), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "CDLOG_PASSPHRASE" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Warning" not in done.stderr
    assert "Aborted" not in done.stderr
    assert not (tmp_path / "cbp.key").exists()
    assert not (tmp_path / "store").exists()


def test_interrupt_outside_a_command_exits_130(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C that reaches the entry point outside a subcommand still exits 130, one line."""
    def interrupted(**_kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted)
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 130
    assert capsys.readouterr().err.startswith("cdlog: interrupted: ")


def test_usage_errors_exit_2() -> None:
    """Click's own usage errors (unknown option) exit 2 as well."""
    exit_code, _ = _run(["cases", "--no-such-option"])
    assert exit_code == 2


def test_help_and_bad_parameters_are_clicks_not_internal_errors() -> None:
    """--help exits 0 with no error line; a bad parameter is a usage error, not a bug."""
    result = CliRunner().invoke(cli, ["verify", "--help"])
    assert result.exit_code == 0
    assert "internal error" not in result.output
    result = CliRunner().invoke(cli, ["prove", "inclusion", "X", "99999999999999999999"])
    assert result.exit_code == 2
    assert "internal error" not in result.output
    assert "99999999999999999999" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("cdlog: usage: ")


@pytest.mark.parametrize("args", [["checkpoint"], ["log-key"]])
def test_log_key_commands_need_an_existing_store(tmp_path: Path, args: list[str]) -> None:
    """`checkpoint` and `log-key` on a mistyped store path create nothing (they created a
    store and signed a checkpoint of size 0)."""
    env = _no_terminal_env(tmp_path)
    env["CDLOG_PASSPHRASE"] = "a test passphrase"
    done = subprocess.run([*CDLOG, *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("cdlog: store: ")
    assert str(tmp_path / "store") in done.stderr
    assert not (tmp_path / "store").exists()
