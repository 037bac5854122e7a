"""cdlog: a tamper-evident, event-sourced record of controlled deliveries (docs/ARCHITECTURE.md).

Programs use :class:`cdlog.application.CaseLog` (record and read), :mod:`cdlog.verify`
(``verify_store``, ``verify_log``, ``verify_bundle``), :class:`cdlog.scenario.Replayer`,
:mod:`cdlog.projections` (views and queries) and :mod:`cdlog.errors` (``CdlogError`` and its
kinds); the stages are the packages ``domain``, ``keys``, ``log``, ``store``, ``verify``,
``projections``, ``reports``, ``restricted`` and ``cli``.
"""

import importlib
from collections.abc import Callable
from typing import Any


def native_status() -> str:
    """Which build of cdlog's per-event hot loops is active: ``native (...)`` when the
    compiled extension is in use, else ``pure (why)`` (see :mod:`cdlog._native`)."""
    from cdlog._native import status  # noqa: PLC0415 - only when asked

    return status()


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of a stage package (cdlog.log, cdlog.store, cdlog.verify):
    each public name is imported from its module on first use, so importing one module of a
    package never loads its siblings (nor the PostgreSQL driver)."""
    homes = {name: module for module, names in modules.items() for name in names}

    def attribute(name: str) -> Any:
        try:
            module = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), name)

    return attribute
