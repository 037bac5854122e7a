"""The views' tables: every entry makes the rows it made before the views became tables.

A fixed log (the example scenarios, and cases of seeded random steps with extra event types
the generated steps do not reach) is projected into every view; the rows of each (view, event
type) are reduced to a digest, without the columns that change from build to build (position,
hash, recording time: signatures are random, the rest is fixed by the steps) and held to the
digests in ``view_rows.json``, which were taken from the handlers before the tables. A table
entry that makes another kind, key or document, or none, changes its digest (the message
names the view and event type). When a view is changed on purpose (its schema bumped),
``CDLOG_REGENERATE_VIEW_ROWS=1`` rewrites the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdlog.canonical import format_time
from cdlog.domain.config import Config
from cdlog.domain.events import CATALOGUE
from cdlog.errors import RuleViolationError
from cdlog.keys.signer import Ed25519Signer
from cdlog.projections.projector import Projections
from cdlog.projections.view import Rows
from cdlog.projections.views import default_views
from cdlog.scenario import Replayer

if TYPE_CHECKING:
    from conftest import SCENARIOS, World, world_with_scenarios
    from test_views import SPINE, STEPS, Ctx, record_case, run_step
else:
    from tests.conftest import SCENARIOS, world_with_scenarios
    from tests.projections.test_views import SPINE, STEPS, record_case, run_step

GOLDEN = Path(__file__).with_name("view_rows.json")

EXTRAS: list[tuple[str, str, dict[str, Any]]] = [
    ("ApprovalRequested", "oi_ca", {"kind": "SAC", "requested_of": "SAC-Miami"}),
    ("ApprovalDenied", "ausa", {"kind": "USAO-destination", "reason": "not now"}),
    ("ForeignConsentRecorded", "oi_ca", {"state": "MX", "authority": "FGR",
                                         "instrument": "MLAT"}),
    ("ReceivingOfficeNotified", "oi_ca", {"office": "SAC-Houston", "note": "inbound"}),
    ("ReceivingOfficeNotified", "oi_ca", {"office": "SAC-Houston"}),
    ("TrackingDeviceInstalled", "oi_ca", {"device_ref": "GPS-1", "legal_basis_ref": "W-1"}),
    ("SurveillanceHandedOff", "oi_ca", {"from_team": "A", "to_team": "B", "position": "I-95"}),
    ("TrackingDeviceFailed", "oi_ca", {"device_ref": "GPS-1", "cause": "battery"}),
    ("IncidentUpdated", "oi_ca", {"incident_id": "INC-1", "findings": "more"}),
    ("IncidentClosed", "oi_gs", {"incident_id": "INC-1", "findings": "done"}),
    ("SampleTaken", "cbpo", {"sample_of": "I0", "count": 1, "destination": "lab"}),
    ("EvidenceStored", "oi_ca", {"location": "vault", "custodian": "SPC-1",
                                 "items": [{"item": "I0", "count": 1}]}),
    ("ActionItemWaived", "scbpo", {"item_id": "AI-0", "reason": "moot"}),
    ("ShadowReleased", "scbpo", {"cbp_officer": "CBP-5120"}),
    ("ExaminationConducted", "cbpo", {"method": "K9", "result": "alert"}),
    ("PenaltyAssessed", "cbpo", {"fpf_no": "FP-1", "statute": "19 USC 1595a",
                                 "amount_usd": 500}),
]
"""Event types the generated steps do not reach: tried after some cases' steps (the rules may
refuse one; a refused one is simply not recorded), after an incident and a shadow."""


def _extras(w: World, ctx: Ctx, rng: random.Random) -> None:
    for step in ("incident", "shadow", "action"):
        with contextlib.suppress(RuleViolationError):
            run_step(w, ctx, step, 1)
    ctx.t += 30
    with contextlib.suppress(RuleViolationError):
        w.log.record(ctx.stream, "IncidentOccurred", {
            "incident_id": "INC-9", "incident_type": "merchandise_missing",
            "discovered_at": format_time(w.t(ctx.t)),
            "items_affected": [{"item": "I0", "count": 1}]}, signer=w.signers["oi_ca"],
            at=w.t(ctx.t - 10), recorded=w.t(ctx.t))
    for type_, by, fields in EXTRAS:
        if rng.random() < 0.4:
            continue
        ctx.t += rng.randint(1, 300)
        try:
            w.log.record(ctx.stream, type_, fields, signer=w.signers[by], at=w.t(ctx.t),
                         recorded=w.t(ctx.t + rng.choice((0, 0, 2000))))
        except RuleViolationError:
            continue


def _fixed_log(path: Path) -> World:
    world = world_with_scenarios(path / "views.db")
    replayer = Replayer(world.log, root_signer=lambda agency: world.roots.setdefault(
        agency, Ed25519Signer.generate()))
    for scenario in sorted((SCENARIOS / "origins").glob("*.yaml")):
        replayer.replay(scenario)
    for n in range(48):
        rng = random.Random(n)
        steps = [(name, rng.randint(1, 120), k, False) for name, k in SPINE] if n % 4 else []
        steps += [(rng.choice(STEPS), rng.randint(1, 900), rng.randint(0, 3), False)
                  for _ in range(rng.randint(4, 30))]
        ctx = record_case(world, 9000 + n, steps)
        if n % 2:
            _extras(world, ctx, rng)
    return world


def _digests(dump: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {}
    for view, stored in dump.items():
        for row in stored[:-1]:  # the last is the tracking position
            _, seq, stream, version, _hash, type_, kind, key, start, end, end_us, *_, data = row
            rows.setdefault(f"{view} {type_}", []).append(
                [seq, stream, version, kind, key, start, end, end_us, data])
    return {k: [len(v), hashlib.sha256(json.dumps(v).encode()).hexdigest()[:16]]
            for k, v in sorted(rows.items())}


def test_every_table_entry_makes_the_rows_it_made(tmp_path: Path) -> None:
    """Each (view, event type) of a fixed log holds the rows recorded in view_rows.json."""
    world = _fixed_log(tmp_path)
    with Projections(world.log, folder=tmp_path / "views") as views:
        got = _digests(views.dump())
    if os.environ.get("CDLOG_REGENERATE_VIEW_ROWS") == "1":
        GOLDEN.write_text(json.dumps(got, indent=0) + "\n")
    want = json.loads(GOLDEN.read_text())
    changed = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    assert not changed, f"rows changed for (view, event type): {changed}"


UNREACHED = {("pnr", "PNRCaseArchived"), ("pnr", "RestrictedValuesRead"),
             ("pnr", "RestrictedValuesErased")}
"""Table entries the fixed log does not reach (they need the restricted-data vault); the PNR
and restricted-data query tests exercise them."""


def test_the_fixed_log_reaches_every_table_entry() -> None:
    """The digests cover every table entry but :data:`UNREACHED`, so that a table entry going
    wrong shows."""
    covered = {tuple(k.split(" ")) for k in json.loads(GOLDEN.read_text())}
    entries = {(v.name, t) for v in default_views(Config()) for t in v.table}
    assert entries - covered == UNREACHED


def test_tables_name_event_types_and_payload_lists() -> None:
    """Every table names catalogue event types; ``each`` names a list field of the payload."""
    for view in default_views(Config()):
        for type_, rows in view.table.items():
            assert type_ in CATALOGUE, (view.name, type_)
            assert isinstance(rows, Rows)
            if rows.each is not None:
                annotation = CATALOGUE[type_].model_fields[rows.each].annotation
                assert str(annotation).startswith("list["), (view.name, type_, rows.each)
        assert not view.types or view.types >= set(view.table), view.name
