"""The benchmark workload: a world of agency roots and certified officers, and realistic cases.

Every case is ten events of a port interdiction that ends in a declination (the first half of
scenario C in the shared scenarios, on scenario A's cast): opened, conveyance arrived,
examination referred and conducted, contraband discovered, hold placed, investigators notified
and acknowledging, prosecutor consulted, case declined. Each event has one signer, so one
event is one Ed25519 signature to verify. Case ``i`` is recorded from ``T0 + i`` minutes on,
so a million events stay well inside the officers' certificate validity.

The same payloads feed both the sealed cdlog path and the bare eventsourcing baseline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cdlog.application import CaseLog
from cdlog.domain.values import Officer
from cdlog.keys.signer import Ed25519Signer

T0 = datetime(2006, 3, 14, 11, 0, tzinfo=UTC)
EVENTS_PER_CASE = 10

CAST: dict[str, tuple[str, str, str, str]] = {  # handle -> (id, role, agency, office)
    "cbpo": ("CBP-4417", "CBPO-Enforcement", "CBP", "OFO"),
    "scbpo": ("CBP-2290", "SCBPO", "CBP", "OFO"),
    "oi_duty": ("ICE-7781", "OIDutyAgent", "ICE", "OI"),
    "ausa": ("AUSA-DUTY-A", "AUSA", "DOJ", "USAO-SD-FL"),
}


def _seed(name: str) -> bytes:
    return hashlib.sha256(b"cdlog-bench/" + name.encode()).digest()


@dataclass
class World:
    """Roots and officer keys (deterministic, from fixed seeds) and their identities."""

    roots: dict[str, Ed25519Signer] = field(default_factory=dict)
    signers: dict[str, Ed25519Signer] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)

    @classmethod
    def create(cls) -> World:
        """The bench world's keys (nothing recorded yet)."""
        world = cls()
        for handle, (ident, role, agency, office) in CAST.items():
            world.roots.setdefault(agency, Ed25519Signer(_seed("root/" + agency)))
            world.signers[handle] = Ed25519Signer(_seed("officer/" + handle))
            world.officers[handle] = Officer(id=ident, role=role, agency=agency, office=office)
        return world

    def establish(self, log: CaseLog) -> int:
        """Record the roots and certify every officer in ``log``; return the events written."""
        start = T0 - timedelta(days=1)
        written = 0
        for agency, root in self.roots.items():
            log.establish_root(agency, root, at=start)
            written += 1
        for handle, officer in self.officers.items():
            log.certify_officer(self.roots[officer.agency], officer,
                                self.signers[handle].public_key, not_before=start,
                                not_after=start + timedelta(days=3650), at=start)
            written += 1
        return written


@dataclass(frozen=True)
class Step:
    """One event of a case: stream, type, fields, signer handle, when."""

    stream: str
    type: str
    fields: dict[str, Any]
    by: str
    at: datetime


def case_steps(i: int, world: World) -> list[Step]:
    """The ten events of bench case ``i``."""
    stream = f"case:OP-B-{i:07d}"
    base = T0 + timedelta(minutes=i)

    def at(k: int) -> datetime:
        return base + timedelta(seconds=5 * k)

    oi_duty = world.officers["oi_duty"].id
    ausa = world.officers["ausa"].id
    return [
        Step(stream, "CaseOpened", {"reference": f"OP-B-{i:07d}", "port": "5201",
                                    "refs": {"bol": f"EXLN{i:010d}"}}, "cbpo", at(0)),
        Step(stream, "ConveyanceArrived", {"refs": {"bol": f"EXLN{i:010d}",
                                                    "container": "EXMU1234565"},
                                           "conveyance": "MV Example Star"}, "cbpo", at(1)),
        Step(stream, "ExaminationReferred", {"reason": "NII image anomaly in pallet bases"},
             "cbpo", at(2)),
        Step(stream, "ExaminationConducted", {"method": "devan", "result": "positive"}, "cbpo",
             at(3)),
        Step(stream, "ContrabandDiscovered", {
            "items": [{"item_id": "A-1", "description": "brick, white powder",
                       "category": "drug", "count": 42, "gross_weight_kg": 46.2}],
            "concealment": "hollowed pallet bases",
            "field_test": {"kit": "NIK-type", "result": "cocaine presumptive positive"}},
            "cbpo", at(4)),
        Step(stream, "HoldPlaced", {"hold_type": "quiet_hold_pending_OI",
                                    "reason": "do not alert broker/importer"}, "scbpo", at(5)),
        Step(stream, "InvestigativeNotificationSent", {
            "identified_at": at(4).isoformat(), "to": oi_duty, "channel": "phone"}, "cbpo",
            at(6)),
        Step(stream, "NotificationAcknowledged", {}, "oi_duty", at(7)),
        Step(stream, "ProsecutorConsulted", {"with": ausa, "district": "SD-FL",
                                             "position": "decline",
                                             "threshold_basis": "below district guidelines"},
             "oi_duty", at(8)),
        Step(stream, "CaseDeclined", {"reason_code": "USAO_DECLINATION_QUANTITY",
                                      "referred_to": "administrative"}, "oi_duty", at(9)),
    ]


def steps(world: World, first_case: int, count: int) -> Iterator[Step]:
    """``count`` events, case after case, starting with case ``first_case``."""
    case = first_case
    produced = 0
    while produced < count:
        for step in case_steps(case, world):
            if produced == count:
                return
            yield step
            produced += 1
        case += 1


def record(log: CaseLog, world: World, chunk: list[Step]) -> None:
    """Record ``chunk`` in ``log`` as one save (one command)."""
    if len(chunk) == 1:
        s = chunk[0]
        log.record(s.stream, s.type, s.fields, signer=world.signers[s.by], at=s.at,
                   recorded=s.at)
        return
    with log.batch() as b:
        for s in chunk:
            b.record(s.stream, s.type, s.fields, signer=world.signers[s.by], at=s.at,
                     recorded=s.at)


def fill(log: CaseLog, world: World, events: int, per_save: int = 1000,
         first_case: int = 0) -> int:
    """Append ``events`` case events (whole saves of ``per_save``); return the next case."""
    chunk: list[Step] = []
    for step in steps(world, first_case, events):
        chunk.append(step)
        if len(chunk) == per_save:
            record(log, world, chunk)
            chunk = []
    if chunk:
        record(log, world, chunk)
    return first_case + -(-events // EVENTS_PER_CASE)
