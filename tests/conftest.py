"""Shared fixtures: a log in a temporary SQLite store with certified officers (a "world")."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, settings

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain.values import Officer
from cdlog.keys.signer import Ed25519Signer
from cdlog.sealing import SealedEvent

settings.register_profile("cdlog", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("cdlog")
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
T0 = parse_time("2006-03-14T06:00:00-05:00")

# handle -> (id, role, agency, office); the cast of scenario A plus a few extra parties.
CAST: dict[str, tuple[str, str, str, str]] = {
    "cbpo": ("CBP-4417", "CBPO-Enforcement", "CBP", "OFO"),
    "scbpo": ("CBP-2290", "SCBPO", "CBP", "OFO"),
    "pd": ("CBP-1001", "PortDirector", "CBP", "OFO"),
    "spc": ("CBP-3150", "SeizedPropertyCustodian", "CBP", "OFO"),
    "shadow": ("CBP-5120", "CBPO", "CBP", "OFO"),
    "pnr": ("CBP-6203", "PNRAnalyst", "CBP", "OFO"),
    "pnr_sup": ("CBP-6001", "PNRApprovingOfficial", "CBP", "OFO"),
    "oi_duty": ("ICE-7781", "OIDutyAgent", "ICE", "OI"),
    "oi_ca": ("ICE-6610", "CaseAgent", "ICE", "OI"),
    "oi_gs": ("ICE-3302", "GroupSupervisor", "ICE", "OI"),
    "oi_sac": ("ICE-0100", "SAC", "ICE", "OI"),
    "ausa": ("AUSA-DUTY-A", "AUSA", "DOJ", "USAO-SD-FL"),
    "dea": ("DEA-0042", "SpecialAgent", "DEA", "DO"),
}


@dataclass
class World:
    """A log with roots and one certified key per cast member; times count from T0."""

    log: CaseLog
    roots: dict[str, Ed25519Signer] = field(default_factory=dict)
    signers: dict[str, Ed25519Signer] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)
    clock_minutes: int = 0

    def t(self, minutes: float) -> datetime:
        """T0 plus ``minutes``."""
        return T0 + timedelta(minutes=minutes)

    def id(self, handle: str) -> str:
        """The officer id of a cast handle."""
        return self.officers[handle].id

    def rec(self, stream: str, type_: str, fields: dict[str, Any] | None = None, *,
            by: str, at: float, cosign: tuple[str, ...] = (),
            recorded: float | None = None) -> SealedEvent:
        """Record ``type_`` by cast member ``by`` at T0 + ``at`` minutes."""
        return self.log.record(
            stream, type_, fields or {}, signer=self.signers[by],
            cosigners=[self.signers[c] for c in cosign], at=self.t(at),
            recorded=self.t(recorded if recorded is not None else at))

    def open_case(self, ref: str = "OP-T-1", port: str = "5201", at: float = 0) -> str:
        """Open a case by the OFO enforcement officer."""
        return self.log.open_case(ref, port=port, signer=self.signers["cbpo"], at=self.t(at),
                                  recorded=self.t(at))


def build_world(store: str) -> World:
    """Create a log in ``store`` with a root per agency and a key per cast member."""
    log = CaseLog(store)
    world = World(log)
    start = T0 - timedelta(days=1)
    for handle, (ident, role, agency, office) in CAST.items():
        if agency not in world.roots:
            world.roots[agency] = Ed25519Signer.generate()
            log.establish_root(agency, world.roots[agency], at=start)
        signer = Ed25519Signer.generate()
        officer = Officer(id=ident, role=role, agency=agency, office=office)
        log.certify_officer(world.roots[agency], officer, signer.public_key, not_before=start,
                            not_after=start + timedelta(days=3650), at=start)
        world.signers[handle] = signer
        world.officers[handle] = officer
    return world


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store URL in a temporary folder."""
    return f"sqlite:///{tmp_path / 'store' / 'cdlog.db'}"


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    """A fresh log with certified officers (see :data:`CAST`)."""
    w = build_world(store_url)
    yield w
    w.log.close()


@pytest.fixture
def shared() -> Path:
    """The shared folder beside the checkout (scenarios, vectors)."""
    if not (SHARED / "scenarios").is_dir():
        pytest.fail(f"shared folder not found at {SHARED}")
    return SHARED
