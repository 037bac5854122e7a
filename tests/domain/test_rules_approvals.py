"""Approvals that depend on the operation: destination district, foreign consent, lapse."""

from __future__ import annotations

from typing import Any

import pytest

from cdlog.errors import InputError, RuleViolationError

MODE = {"courier": "unwitting", "contents": "intact", "direction": "inbound",
        "vector": "maritime_container"}


def _ready(world: Any, *, district: str = "SD-FL", border: str = "domestic",
           sac_until: float | None = None) -> str:
    """A case accepted by OI, responsibility assumed, operation proposed, hold placed."""
    case: str = world.open_case()
    world.rec(case, "ContrabandDiscovered", {"items": [
        {"item_id": "A-1", "description": "bricks", "category": "drug", "count": 2}]},
        by="cbpo", at=1)
    world.rec(case, "HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "r"},
              by="scbpo", at=2)
    world.rec(case, "InvestigativeNotificationSent", {
        "identified_at": world.t(1), "to": world.id("oi_duty"), "channel": "phone"},
        by="cbpo", at=3)
    world.rec(case, "ProsecutorConsulted", {"with": world.id("ausa"), "district": "SD-FL",
                                            "position": "concur"}, by="oi_duty", at=4)
    world.rec(case, "CaseAccepted", {"case_no": "MI-1", "lead_office": "SAC-Miami"},
              by="oi_duty", cosign=("oi_gs",), at=5)
    world.rec(case, "ResponsibilityAssumed", {"agency": "ICE", "office": "OI",
                                              "scope": "OP-T-1"}, by="oi_gs", at=6)
    world.rec(case, "OperationProposed", {
        "operation_type": "controlled_delivery", "mode": MODE, "border": border,
        "destination": {"district": district}}, by="oi_ca", at=7)
    for minute, (kind, by) in enumerate((("GS", "oi_gs"), ("SAC", "oi_sac"),
                                         ("USAO-origin", "ausa")), start=8):
        fields: dict[str, Any] = {"kind": kind}
        if kind == "SAC" and sac_until is not None:
            fields["valid_until"] = world.t(sac_until)
        world.rec(case, "ApprovalGranted", fields, by=by, at=minute)
    return case


def _release(world: Any, case: str, at: float = 30) -> None:
    world.rec(case, "HoldReleased", {"reason": "CD"}, by="pd", at=at)


def test_same_district_needs_no_destination_concurrence(world: Any) -> None:
    """Origin district = destination district: the three configured approvals suffice."""
    case = _ready(world)
    _release(world, case)
    assert world.log.state(case).released


def test_other_district_needs_destination_usao(world: Any) -> None:
    """A destination in another district needs USAO-destination before release."""
    case = _ready(world, district="ND-GA")
    before = world.log.max_position()
    with pytest.raises(RuleViolationError, match="USAO-destination") as err:
        _release(world, case)
    assert err.value.rule == "approvals"
    assert world.log.max_position() == before
    world.rec(case, "ApprovalGranted", {"kind": "USAO-destination"}, by="ausa", at=20)
    _release(world, case)


def test_international_needs_foreign_consent(world: Any) -> None:
    """An international operation needs the foreign approval before release."""
    case = _ready(world, border="international")
    with pytest.raises(RuleViolationError, match="foreign"):
        _release(world, case)


def test_lapsed_approval_refuses_release(world: Any) -> None:
    """An approval whose valid_until passed before the release no longer counts."""
    case = _ready(world, sac_until=20)
    with pytest.raises(RuleViolationError, match="lapsed: SAC") as err:
        _release(world, case, at=30)
    assert err.value.rule == "approvals"


def test_approval_still_valid_allows_release(world: Any) -> None:
    """Released while every approval is still valid."""
    case = _ready(world, sac_until=40)
    _release(world, case, at=30)
    assert world.log.state(case).released


def test_same_key_cannot_sign_twice(world: Any) -> None:
    """An event may not list the same key as actor and cosigner."""
    case = world.open_case()
    with pytest.raises(InputError, match="signs twice"):
        world.rec(case, "ConveyanceArrived", {}, by="cbpo", cosign=("cbpo",), at=1)
