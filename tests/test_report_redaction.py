"""Reports name their store without its password (issue 9, obs. 5: no password from a URL in
any message, log or document)."""

from __future__ import annotations

import html

import pytest

from cdlog.stores import resolve_store

try:
    from test_reports import run, store
except ImportError:  # pragma: no cover - run from the repository root as a package
    from tests.test_reports import run, store

assert store is not None  # the fixture, imported to be used here


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_reports_never_carry_the_store_password(store: str, fmt: str) -> None:
    """Every report format names the store, with any password replaced by ***."""
    password = resolve_store(store).password
    result = run(store, "report", "case", "OP-2006-0001", "--format", fmt)
    assert result.exit_code == 0, result.output
    if password:
        assert password not in result.stdout
        assert "***" in result.stdout
    redacted = resolve_store(store).redacted
    assert (html.escape(redacted) if fmt == "html" else redacted) in result.stdout
