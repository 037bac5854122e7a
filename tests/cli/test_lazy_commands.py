"""The command line imports only the module of the command a run asks for (issue 12: time to
first answer of a new process), and the table that says which module that is stays whole."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cdlog.cli
from cdlog.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
COMMAND_MODULES: dict[str, str] = sys.modules["cdlog.cli.main"].COMMAND_MODULES

LOADED = ("import sys, atexit\n"
          "atexit.register(lambda: print(' '.join(sorted(m for m in sys.modules\n"
          "    if m.startswith('cdlog.cli.') and m.endswith('_cmd'))), file=sys.stderr))\n"
          "from cdlog.cli import main\n"
          "sys.argv = ['cdlog', *sys.argv[1:]]\n"
          "main()\n")


def test_every_command_is_in_the_table_with_the_module_that_registers_it() -> None:
    for module in pkgutil.iter_modules(cdlog.cli.__path__):
        importlib.import_module(f"cdlog.cli.{module.name}")
    shown = {name: command for name, command in cli.commands.items() if not command.hidden}
    assert sorted(shown) == sorted(COMMAND_MODULES)
    for name, command in shown.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"cdlog.cli.{COMMAND_MODULES[name]}", name


def _loaded(*args: str) -> list[str]:
    """The command modules a new process imported running ``cdlog ARGS``."""
    done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True,
                          text=True, cwd=ROOT, check=False, timeout=120)
    return done.stderr.strip().splitlines()[-1].split()


@pytest.mark.parametrize(("args", "modules"), [
    (("query", "--help"), ["cdlog.cli.query_cmd"]),
    (("verify", "--help"), ["cdlog.cli.verify_cmd"]),
    (("prove", "head", "--help"), ["cdlog.cli.log_cmd"]),
])
def test_a_run_imports_only_its_command_module(args: tuple[str, ...],
                                               modules: list[str]) -> None:
    assert _loaded(*args) == modules


def test_help_and_an_unknown_command_see_every_command() -> None:
    assert len(_loaded("--help")) == len(set(COMMAND_MODULES.values()))
    result = CliRunner().invoke(cli, ["log"])
    assert result.exit_code == 2
    assert "log-key" in result.output  # click's suggestion needs every command
