"""The native hot loops, when they are built, and which build is active.

``cdlog/_native/_speedups.c`` holds compiled twins of a few per-event functions (the
canonical-JSON walk, the canonical time check, the decode and form check of a stored
event, in ``verify.c`` one Ed25519 signature check through the libsodium PyNaCl loaded, in
``views.c`` a view's rows and shared columns of one event, in ``audit.c`` a clean page of
the tree audit, and in ``times.c`` the canonical text of a time). The pure-Python functions
stay the reference: a native function either returns what its reference returns or hands
the input back to it, and ``tests/test_native_*.py`` hold the two equal on random and
tampered input.

The extension is built by ``make demo`` / ``make native`` (``scripts/build-native``) or by
``pip install``; without a C compiler it is not built and cdlog runs pure. ``CDLOG_PURE=1`` in
the environment forces the pure-Python code even where the extension is built (read once, at
import). :func:`status` says which is active and why.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from types import ModuleType

ABI = 6
"""The version of the C source this Python code expects (``_speedups.ABI``); a stale build
with another number is not used."""

_PURE_VALUES = frozenset({"1", "true", "yes", "on"})


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("CDLOG_PURE", "").strip().lower() in _PURE_VALUES:
        return None, "pure (CDLOG_PURE is set)"
    try:
        _speedups = importlib.import_module("cdlog._native._speedups")  # optional, compiled
    except ImportError:
        return None, "pure (the native extension is not built: no C compiler at install?)"
    if getattr(_speedups, "ABI", None) != ABI:
        return None, (f"pure (the native extension is stale: ABI {getattr(_speedups, 'ABI', '?')}"
                      f", expected {ABI}; rebuild with `make native`)")
    return _speedups, f"native ({os.path.basename(_speedups.__file__ or '_speedups')})"


speedups, _STATUS = _load()
"""The compiled module, or None when cdlog runs on its pure-Python code."""


def status() -> str:
    """Which build of the hot loops is active: ``native (...)`` or ``pure (why)``."""
    return _STATUS


def active() -> bool:
    """True when the native hot loops are in use."""
    return speedups is not None


def libcrypto_paths() -> list[str]:
    """The libcrypto files this process has loaded (hashlib's), by their mapped paths."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ["libcrypto.so.3"]
    return sorted({line.split()[-1] for line in maps.splitlines()
                   if "/libcrypto" in line.split()[-1]}) or ["libcrypto.so.3"]


@functools.cache
def bind_sha256() -> bool:
    """Bind the native code's SHA-256 to the libcrypto hashlib loaded (once a process): the
    tree audit's hashing and the decode's leaf hash (``audit_bind``, ``audit.c``). False when
    cdlog runs pure or no loaded libcrypto gives the known answer; the decode then hashes
    through hashlib, and the audit hands its pages to Python."""
    bind = getattr(speedups, "audit_bind", None)
    if bind is None:
        return False
    try:
        importlib.import_module("_hashlib")  # hashlib's OpenSSL, loaded once
    except ImportError:
        return False
    return any(bind(path) for path in libcrypto_paths())
