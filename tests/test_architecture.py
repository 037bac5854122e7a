"""The shape of the package (docs/ARCHITECTURE.md): stages import downwards, no cycles, the top
level reads as the flow, no module grows past 600 lines, and every name the docs use imports.

Read from the source (AST), nothing is imported for the graph: every ``import`` of a cdlog
module is an edge, function-level imports included (they run too); imports under
``if TYPE_CHECKING:`` are not (they never run).
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cdlog"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

TOP_LEVEL = {"__init__", "__main__", "application", "commands", "scenario", "errors", "logging",
             "canonical"}
"""The only modules beside the stage packages: the API a program uses (application and its
commands, scenario replay) and what every stage shares (errors, logging, the canonical form of
JSON and times). A new module goes into the package of its stage."""

# Stage rules: no module under the key may import (directly, or through any chain of imports)
# a module under one of the values.
LAYERS = {
    "cdlog.domain": ("cdlog.log", "cdlog.store", "cdlog.verify", "cdlog.keys", "cdlog.restricted",
                     "cdlog.application", "cdlog.app", "cdlog.commands", "cdlog.scenario",
                     "cdlog.projections", "cdlog.reports", "cdlog.cli"),
    "cdlog.verify": ("cdlog.application", "cdlog.app", "cdlog.commands", "cdlog.scenario",
                     "cdlog.projections", "cdlog.reports", "cdlog.cli"),
    "cdlog.log": ("cdlog.verify", "cdlog.application", "cdlog.app", "cdlog.commands",
                  "cdlog.scenario", "cdlog.projections", "cdlog.reports", "cdlog.cli"),
    "cdlog.store": ("cdlog.verify", "cdlog.application", "cdlog.app", "cdlog.commands",
                    "cdlog.scenario", "cdlog.projections", "cdlog.reports", "cdlog.cli",
                    "cdlog.domain"),
    "cdlog.keys": ("cdlog.store", "cdlog.verify", "cdlog.application", "cdlog.app",
                   "cdlog.commands", "cdlog.scenario", "cdlog.projections", "cdlog.reports",
                   "cdlog.cli"),
    "cdlog.canonical": ("cdlog.",),
    "cdlog.errors": ("cdlog.",),
    "cdlog.logging": ("cdlog.",),
    "cdlog.projections": ("cdlog.reports", "cdlog.cli", "cdlog.scenario"),
    "cdlog.reports": ("cdlog.cli", "cdlog.scenario"),
    "cdlog.application": ("cdlog.cli", "cdlog.projections", "cdlog.reports", "cdlog.scenario",
                          "cdlog.verify"),
    "cdlog.app": ("cdlog.cli", "cdlog.projections", "cdlog.reports", "cdlog.scenario",
                  "cdlog.verify"),
}

# The imports a rule allows anyway, each with the reason; may only shrink.
LAYER_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("cdlog.canonical", "cdlog.errors"): "errors are shared by every stage",
    ("cdlog.logging", "cdlog.errors"): "errors are shared by every stage",
    ("cdlog.canonical", "cdlog._native"): "the optional compiled canonical form",
}

KNOWN_CYCLES: list[set[str]] = []
"""Cycles that exist and are owed a fix (the issue that owns each says which); the list may
only shrink: a new cycle fails, and so does a listed one that is gone (remove it here)."""

MAX_LINES = 600
LARGE: dict[str, int] = {
}
"""Modules over MAX_LINES lines when the packages were formed, with their length then. Issue 13
splits them next (queries by question family, the event catalogue by stage, the ledger's SQL
apart from its tree logic, ...); until then each may only shrink, and leaves this list when it
is no longer over the limit. No other module may grow past the limit."""

API = ["cdlog.application.CaseLog", "cdlog.verify.verify_store", "cdlog.verify.verify_log",
       "cdlog.scenario.Replayer", "cdlog.canonical.parse_time", "cdlog.errors.CdlogError",
       "cdlog.verify.verify_bundle", "cdlog.verify.PARALLEL_MIN_EVENTS"]
"""Names programs use, importable at these paths whatever module holds them."""


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str) -> str | None:
    """The module ``name`` (a module, or a name in one) refers to."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


@cache
def imported_names(module: str) -> tuple[tuple[str, str | None], ...]:
    """(module named by an import, name imported from it or None) for each runtime import."""
    tree = ast.parse(modules()[module].read_text())
    out: list[tuple[str, str | None]] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.extend((node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((a.name, None) for a in node.names)
    return tuple(out)


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the cdlog modules it imports."""
    edges = {}
    for module in modules():
        targets = set()
        for name, attr in imported_names(module):
            if not name.startswith("cdlog"):
                continue
            target = _resolve(f"{name}.{attr}" if attr else name)
            if target and target != module:
                targets.add(target)
        edges[module] = frozenset(targets)
    return edges


def cycles(edges: dict[str, frozenset[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix if prefix.endswith(".") else prefix + ".")


def _path(edges: dict[str, frozenset[str]], start: str, banned: tuple[str, ...],
          allowed: set[tuple[str, str]]) -> list[str] | None:
    """The shortest import chain from ``start`` to a module under ``banned``, if any."""
    seen = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node]):
            if child in seen or (node, child) in allowed:
                continue
            chain = [*seen[node], child]
            if any(_under(child, b) for b in banned) and not _under(child, start):
                return chain
            seen[child] = chain
            queue.append(child)
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    """The finder itself: a three-module loop and a self-contained chain."""
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}),
             "d": frozenset({"a"}), "e": frozenset()}
    assert cycles(edges) == [{"a", "b", "c"}]
    assert cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_no_import_cycles() -> None:
    """No module imports, through any chain, a module that imports it back (beyond the listed
    ones, which may only go away)."""
    found = cycles(graph())
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not new, f"import cycles: {new}"
    assert not gone, f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_stages_import_downwards() -> None:
    """Each stage reaches no module of the stages its rule names, by any chain of imports
    (domain: nothing of the log, sealing, storage, keys or CLI; verification: nothing of the
    application or projections; ...)."""
    edges = graph()
    allowed = {(a, b) for (a, b) in LAYER_EXCEPTIONS}
    wrong = []
    for module in sorted(edges):
        for stage, banned in LAYERS.items():
            if _under(module, stage):
                chain = _path(edges, module, banned, allowed | _known_cycle_edges())
                if chain:
                    wrong.append(" -> ".join(chain))
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)


def _known_cycle_edges() -> set[tuple[str, str]]:
    """The edges inside the known cycles (their chains are reported by the cycle test)."""
    edges = graph()
    return {(a, b) for c in KNOWN_CYCLES for a in c for b in edges.get(a, ()) if b in c}


def test_layer_rule_catches_an_upward_import() -> None:
    """The rule checker itself: an upward import two steps away is found."""
    edges = {"cdlog.domain.x": frozenset({"cdlog.canonical"}),
             "cdlog.canonical": frozenset({"cdlog.log.sealing"}),
             "cdlog.log.sealing": frozenset()}
    assert _path(edges, "cdlog.domain.x", ("cdlog.log",), set()) == [
        "cdlog.domain.x", "cdlog.canonical", "cdlog.log.sealing"]


def test_the_top_level_is_the_flow() -> None:
    """Beside the stage packages there are only the API and what every stage shares."""
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL, (f"modules to place in a stage package: {sorted(top - TOP_LEVEL)}"
                              if top - TOP_LEVEL else f"gone: {sorted(TOP_LEVEL - top)}")


def test_inside_cdlog_imports_name_the_module() -> None:
    """cdlog's own code imports from the module that holds a name, never through a package's
    lazy re-exports (cdlog.log, cdlog.store, cdlog.verify), so the graph above is the truth."""
    lazy = {m for m, p in modules().items() if p.name == "__init__.py"
            and "lazy_exports(__name__" in p.read_text()}
    wrong = [f"{m}: from {name} import {attr}" for m in modules() for name, attr in
             imported_names(m) if name in lazy and attr is not None
             and f"{name}.{attr}" not in modules() and m not in lazy]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["cdlog.log", "cdlog.store", "cdlog.verify"])
def test_package_exports_resolve(package: str) -> None:
    """Each public name a package lists is there, from the module that holds it; the package
    says in its first lines what it is for."""
    mod = importlib.import_module(package)
    assert mod.__doc__ is not None
    assert len(mod.__doc__.strip().splitlines()) >= 2
    homes = {name: module for module, names in mod._MODULES.items() for name in names}
    assert sorted(mod.__all__) == sorted(homes)
    for name in mod.__all__:
        assert getattr(mod, name) is getattr(importlib.import_module(homes[name]), name)
    with pytest.raises(AttributeError):
        _ = mod.no_such_name


def test_a_module_loads_without_its_siblings() -> None:
    """Importing one module of a package loads neither the package's other modules nor the
    PostgreSQL driver (the packages' re-exports are lazy)."""
    code = ("import sys, cdlog.log.merkle, cdlog.store.urls, cdlog.verify.replay; "
            "print(sorted(m for m in sys.modules if m.startswith(('cdlog.log.ledger', "
            "'cdlog.verify.bundle', 'cdlog.log.pgledger', 'psycopg'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def _doc_names() -> list[str]:
    """Dotted names README and docs/*.md import or cite (``from cdlog.x import y``,
    ``cdlog.x.y``) whose first part is a cdlog module."""
    names: set[str] = set()
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"from (cdlog(?:\.\w+)*) import ([\w, ]+)", text):
            names |= {f"{m.group(1)}.{p.strip().split(' as ')[0]}" for p in m.group(2).split(",")
                      if p.strip()}
        names |= set(re.findall(r"(?<![\w./-])(cdlog(?:\.\w+)+)", text))
    tops = {n.split(".")[1] for n in modules() if n.count(".") >= 1}
    return sorted(n for n in names if n.split(".")[1] in tops)


@pytest.mark.parametrize("dotted", sorted({*API, *_doc_names()}))
def test_documented_names_import(dotted: str) -> None:
    """Every name the docs use (and the API above) imports at the path they give."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{dotted} does not import")


def test_no_module_grows_past_the_limit() -> None:
    """Modules over MAX_LINES lines are the listed ones, each no longer than listed."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines())
             for p in modules().values()}
    over = {p: n for p, n in sizes.items() if n > MAX_LINES}
    new = {p: n for p, n in over.items() if p not in LARGE}
    grown = {p: (LARGE[p], n) for p, n in over.items() if p in LARGE and n > LARGE[p]}
    done = sorted(p for p in LARGE if sizes.get(p, 0) <= MAX_LINES)
    assert not new, f"over {MAX_LINES} lines: {new} (split them by responsibility)"
    assert not grown, f"grown since listed (listed, now): {grown}"
    assert not done, f"no longer over the limit: remove from LARGE: {done}"


def test_every_package_says_what_it_is_for() -> None:
    """Each package's ``__init__`` opens with a docstring of at least two lines that is more
    than the package's own name (what it is for, and its public names or modules)."""
    thin = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        lines = [line for line in doc.splitlines() if line.strip()]
        name = ".".join(init.parent.relative_to(ROOT).parts)
        if len(lines) < 2 or doc.strip(". ") == name:
            thin.append(name)
    assert not thin, f"packages whose __init__ does not say what they are for: {thin}"
