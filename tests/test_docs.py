"""The Python examples in README.md and docs/*.md run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        for i, match in enumerate(BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            out.append((doc.name, i, match.group(1)))
    return out


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
