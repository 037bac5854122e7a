"""The examples in README.md and docs/*.md run as written.

Python blocks (```python) run in-process, each on its own.

Shell blocks (```sh) run with ``bash -e``, line by line as a script, in a fresh temporary
folder per document holding a copy of ``examples/``; the blocks of one document run in order
in that folder, each in a new shell, so a later block may use the files an earlier one made
(but not its variables or ``cd``). The environment: ``PATH`` with the virtualenv's ``bin``
first (``cdlog``, ``python``), ``CDLOG_PASSPHRASE`` set to a test passphrase, and no other
``CDLOG_*`` variable (``CDLOG_STORE`` unset: the default store ``.cdlog/cdlog.db`` of that
folder). Conventions in the documents:

* a command line (or the last line of one continued with ``\\``) that ends in ``# exit N``
  must exit with status N (for example ``cdlog verify ...  # exit 1`` on a tampered store);
  every other line must succeed, as ``bash -e`` demands;
* a block right after a line ``<!-- not run -->`` is not executed (only where running is
  impossible here, e.g. a PostgreSQL server elsewhere); README's opening ``make demo`` /
  ``make test`` block is not run either (the test suite is part of ``make test``);
* no output may contain a Python traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import cdlog.cli
from cdlog.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.DOTALL | re.MULTILINE)
NOT_RUN = "<!-- not run -->"
EXIT = re.compile(r"\s#\s*exit\s+(?P<code>\d+)\s*$")
PASSPHRASE = "docs test passphrase"
BLOCK_TIMEOUT = 600


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        for i, match in enumerate(BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            out.append((doc.name, i, match.group(1)))
    return out


@dataclass(frozen=True)
class ShellBlock:
    """One ```sh block of a document."""

    doc: str
    line: int  # of the opening fence, 1-based
    body: str
    run: bool


def shell_blocks(doc: Path) -> list[ShellBlock]:
    """The ```sh blocks of ``doc`` in order, marked whether they are to be run."""
    text = doc.read_text(encoding="utf-8")
    out = []
    first = True
    for match in FENCE.finditer(text):
        if match.group("lang") != "sh":
            continue
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        opening = first and doc.name == "README.md"
        first = False
        out.append(ShellBlock(doc.name, text.count("\n", 0, match.start()) + 1,
                              match.group("body"), run=before != NOT_RUN and not opening))
    return out


def logical_lines(body: str) -> list[tuple[int, str]]:
    """The block's lines with ``\\`` continuations joined, each with its first line's index."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for i, line in enumerate(body.split("\n")):
        if not pending:
            start = i
        if line.endswith("\\"):
            pending.append(line)
            continue
        out.append((start, "\n".join([*pending, line])))
        pending = []
    if pending:
        out.append((start, "\n".join(pending)))
    return out


def script(block: ShellBlock) -> str:
    """The block as a bash script: ``# exit N`` lines checked for exactly that status."""
    out = []
    for offset, line in logical_lines(block.body):
        expected = EXIT.search(line)
        if expected is None:
            out.append(line)
            continue
        where = f"{block.doc} line {block.line + 1 + offset}"
        out.append(
            f"set +e\n{line}\n__rc=$?\nset -e\n"
            f'if [ "$__rc" != {expected["code"]} ]; then echo "{where}: exit status $__rc, '
            f'the document says {expected["code"]}" >&2; exit 99; fi')
    return "\n".join(out) + "\n"


def doc_env() -> dict[str, str]:
    """The environment the shell examples run in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDLOG_")}
    venv_bin = ROOT / ".venv" / "bin"
    first = venv_bin if (venv_bin / "cdlog").exists() else Path(sys.executable).parent
    env["PATH"] = f"{first}{os.pathsep}{env.get('PATH', '')}"
    env["CDLOG_PASSPHRASE"] = PASSPHRASE
    env.pop("COLUMNS", None)
    return env


def run_document(doc: Path, folder: Path) -> None:
    """Run every runnable shell block of ``doc`` in ``folder``, failing on the first error."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    env = doc_env()
    for block in (b for b in shell_blocks(doc) if b.run):
        done = subprocess.run(["bash", "-e", "-c", script(block)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
        output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert done.returncode == 0, (
            f"{block.doc}: the sh block at line {block.line} failed (exit {done.returncode})"
            f"\n{block.body}\n{output}")
        assert "Traceback (most recent call last)" not in done.stdout + done.stderr, (
            f"{block.doc}: the sh block at line {block.line} printed a traceback\n{output}")


def test_readme_has_an_example() -> None:
    """The README carries at least one Python example (so the test below is not vacuous)."""
    assert any(name == "README.md" for name, _, _ in _blocks())


def test_readme_opens_with_the_two_commands() -> None:
    """README.md opens with exactly `make demo` and `make test`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert first is not None
    assert first.group(1).split("\n")[:2] == ["make demo", "make test"]
    assert text.index("```sh") < text.index("```python")


@pytest.mark.parametrize(("doc", "index", "code"), _blocks(),
                         ids=[f"{d}-{i}" for d, i, _ in _blocks()])
def test_example_runs(doc: str, index: int, code: str) -> None:
    """Each Python block runs without error."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"{doc}[{index}]", "exec"), {"__name__": "__doc_example__"})
    if doc == "README.md" and index == 0:
        assert "R2 OI has not accepted the case" in out.getvalue()
        assert "events verified" in out.getvalue()


SHELL_DOCS = [doc for doc in DOCS if any(b.run for b in shell_blocks(doc))]


@pytest.mark.parametrize("doc", SHELL_DOCS, ids=[d.name for d in SHELL_DOCS])
def test_shell_examples_run(doc: Path, tmp_path: Path) -> None:
    """Every shell block of the document runs as written, in order, in an empty folder with
    a copy of examples/ (see the module docstring for the conventions)."""
    run_document(doc, tmp_path)


def test_the_cli_guide_and_readme_have_shell_examples() -> None:
    """README.md, docs/CLI.md and docs/SCENARIOS.md have shell examples that run (so the test
    above is not vacuous)."""
    assert {"README.md", "CLI.md", "SCENARIOS.md"} <= {d.name for d in SHELL_DOCS}


def test_the_cli_guide_runs_every_command() -> None:
    """docs/CLI.md runs every top-level ``cdlog`` command at least once."""
    for module in pkgutil.iter_modules(cdlog.cli.__path__):  # each registers its commands
        importlib.import_module(f"cdlog.cli.{module.name}")
    run = "\n".join(b.body for b in shell_blocks(ROOT / "docs" / "CLI.md") if b.run)
    used = set(re.findall(r"\bcdlog(?:\s+--?[\w-]+(?:[ =](?!-)\S+)?)*\s+([a-z][\w-]*)", run))
    missing = sorted(set(cli.commands) - used)
    assert missing == [], f"docs/CLI.md runs no example of: {', '.join(missing)}"


def test_the_harness_checks_exit_codes(tmp_path: Path) -> None:
    """A line marked ``# exit N`` must exit N; a marked line that exits otherwise, or an
    unmarked line that fails, fails the block."""
    doc = tmp_path / "x.md"
    for body, ok in (("false  # exit 1\ntrue", True), ("true  # exit 1", False),
                     ("false", False), ("sh -c 'exit 3' \\\n  # exit 3", True)):
        doc.write_text(f"# x\n\n```sh\n{body}\n```\n", encoding="utf-8")
        folder = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        if ok:
            run_document(doc, folder)
        else:
            with pytest.raises(AssertionError):
                run_document(doc, folder)


def test_not_run_marker_skips_a_block(tmp_path: Path) -> None:
    """A block after ``<!-- not run -->`` is not executed; the next block is."""
    doc = tmp_path / "x.md"
    doc.write_text(f"{NOT_RUN}\n```sh\nexit 7\n```\n\n```sh\ntouch ran\n```\n",
                   encoding="utf-8")
    assert [b.run for b in shell_blocks(doc)] == [False, True]
    folder = tmp_path / "run"
    folder.mkdir()
    run_document(doc, folder)
    assert (folder / "ran").exists()
