"""Verification from stored bytes and public keys alone: the replay (serial or parallel), the
whole-store runner, audit bundles and what pins them, and the witness that cosigns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog import lazy_exports

if TYPE_CHECKING:
    from cdlog.verify.bundle import (
        DEPENDENCY_TYPES,
        BundleReport,
        BundleVerifier,
        export_bundle,
        verify_bundle,
    )
    from cdlog.verify.bundleheads import check_held
    from cdlog.verify.pinning import uncosigned_witnesses
    from cdlog.verify.replay import Report, parse_checked
    from cdlog.verify.runner import (
        PARALLEL_MIN_EVENTS,
        LogReport,
        default_workers,
        stored_log_verifier,
        verify_log,
        verify_store,
    )
    from cdlog.verify.witness import Witness, create_witness_key, load_witness_key

_MODULES: dict[str, tuple[str, ...]] = {
    "cdlog.verify.bundle": (
        "BundleReport", "BundleVerifier", "DEPENDENCY_TYPES", "export_bundle", "verify_bundle",
    ),
    "cdlog.verify.bundleheads": (
        "check_held",
    ),
    "cdlog.verify.pinning": (
        "uncosigned_witnesses",
    ),
    "cdlog.verify.replay": (
        "Report", "parse_checked",
    ),
    "cdlog.verify.runner": (
        "LogReport", "PARALLEL_MIN_EVENTS", "default_workers", "stored_log_verifier", "verify_log",
        "verify_store",
    ),
    "cdlog.verify.witness": (
        "Witness", "create_witness_key", "load_witness_key",
    ),
}

__all__ = [
    "DEPENDENCY_TYPES",
    "PARALLEL_MIN_EVENTS",
    "BundleReport",
    "BundleVerifier",
    "LogReport",
    "Report",
    "Witness",
    "check_held",
    "create_witness_key",
    "default_workers",
    "export_bundle",
    "load_witness_key",
    "parse_checked",
    "stored_log_verifier",
    "uncosigned_witnesses",
    "verify_bundle",
    "verify_log",
    "verify_store",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_exports(__name__, _MODULES)
