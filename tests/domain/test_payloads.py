"""Payload models: strict input (unknown fields, wrong types, naive times), decimal weights in
the sealed form, and a property test that every model's JSON form round-trips unchanged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cdlog.canonical import canonical_bytes, format_time
from cdlog.domain import events as ev
from cdlog.errors import InputError, RuleViolationError

if TYPE_CHECKING:
    from conftest import World

DRUG = {"item_id": "A-1", "description": "brick", "category": "drug", "count": 42,
        "gross_weight_kg": "46.2"}


def rejected(world: World, type_: str, fields: dict[str, Any], *, stream: str = "case:OP-T-1",
             by: str = "cbpo", at: Any = None, recorded: Any = None) -> InputError:
    """Record bad input; it must raise a plain InputError and write nothing."""
    before = (world.log.max_position(), world.log.state(stream).version)
    with pytest.raises(InputError) as info:
        world.log.record(stream, type_, fields, signer=world.signers[by],
                         at=world.t(20) if at is None else at,
                         recorded=world.t(20) if recorded is None else recorded)
    assert not isinstance(info.value, RuleViolationError)
    assert (world.log.max_position(), world.log.state(stream).version) == before
    return info.value


def floats_in(value: Any) -> list[Any]:
    """Every float anywhere in a JSON value."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats_in(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats_in(v)]
    return []


# ---------------------------------------------------------------- strict input
@pytest.mark.parametrize(("type_", "fields", "path"), [
    ("ConveyanceArrived", {"bogus": 1}, "ConveyanceArrived.bogus"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "colour": "white"}]},
     "ContrabandDiscovered.items.0.colour"),
    ("ContrabandDiscovered", {"items": [DRUG], "field_test": {"result": "pos", "lab": "x"}},
     "ContrabandDiscovered.field_test.lab"),
    ("HoldPlaced", {"hold_type": "commercial", "reason": "r", "decided_by": "CBP-1"},
     "HoldPlaced.decided_by"),
])
def test_unknown_fields_rejected_with_field_path(world: World, type_: str,
                                                 fields: dict[str, Any], path: str) -> None:
    """Payloads forbid unknown fields, at any depth; the error names the dotted path."""
    world.open_case()
    err = rejected(world, type_, fields)
    assert err.field == path
    assert err.expected == "no such field"


@pytest.mark.parametrize(("type_", "fields", "path"), [
    ("ContrabandDiscovered", {"items": [{**DRUG, "count": "many"}]},
     "ContrabandDiscovered.items.0.count"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "count": -1}]},
     "ContrabandDiscovered.items.0.count"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "gross_weight_kg": "heavy"}]},
     "ContrabandDiscovered.items.0.gross_weight_kg"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "gross_weight_kg": "-1"}]},
     "ContrabandDiscovered.items.0.gross_weight_kg"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "gross_weight_kg": "1.2345"}]},
     "ContrabandDiscovered.items.0.gross_weight_kg"),
    ("ContrabandDiscovered", {"items": [{**DRUG, "category": "cheese"}]},
     "ContrabandDiscovered.items.0.category"),
    ("ContrabandDiscovered", {"items": []}, "ContrabandDiscovered.items"),
    ("ContrabandDiscovered", {"items": DRUG}, "ContrabandDiscovered.items"),
    ("ExaminationConducted", {"method": "xray", "result": "positive"},
     "ExaminationConducted.method"),
    ("ExaminationReferred", {"reason": ""}, "ExaminationReferred.reason"),
    ("ExaminationReferred", {"reason": 7}, "ExaminationReferred.reason"),
    ("ReleasedUnderPassThrough", {"requested_by": "a", "authorised_by": "b",
                                  "exam_performed": "maybe"},
     "ReleasedUnderPassThrough.exam_performed"),
])
def test_wrong_types_rejected_with_field_path(world: World, type_: str, fields: dict[str, Any],
                                              path: str) -> None:
    """A wrong type or value names the field path, the problem and the given value."""
    world.open_case()
    err = rejected(world, type_, fields)
    assert err.field == path
    assert "given" in err.problem
    assert err.expected


def test_missing_field_rejected_with_field_path(world: World) -> None:
    """A missing required field is named, with problem ``missing``."""
    world.open_case()
    err = rejected(world, "HoldPlaced", {"hold_type": "commercial"})
    assert (err.field, err.problem, err.expected) == ("HoldPlaced.reason", "missing",
                                                      "a value")


def test_several_problems_are_counted(world: World) -> None:
    """When several fields are wrong, the first is named and the others counted."""
    world.open_case()
    err = rejected(world, "ExaminationConducted", {"method": "xray", "result": "meh"})
    assert err.field == "ExaminationConducted.method"
    assert "1 more problem" in err.problem


# ---------------------------------------------------------------- times
def test_naive_time_in_payload_rejected(world: World) -> None:
    """Payload times must carry a UTC offset."""
    world.open_case()
    err = rejected(world, "InvestigativeNotificationSent",
                   {"identified_at": datetime(2006, 3, 14, 9, 12), "to": world.id("oi_duty"),
                    "channel": "phone"})
    assert err.field == "InvestigativeNotificationSent.identified_at"
    assert "timezone" in err.problem


def test_naive_time_string_in_payload_rejected(world: World) -> None:
    """An ISO string without an offset is as naive as a naive datetime."""
    world.open_case()
    err = rejected(world, "InvestigativeNotificationSent",
                   {"identified_at": "2006-03-14T09:12:00", "to": world.id("oi_duty"),
                    "channel": "phone"})
    assert err.field == "InvestigativeNotificationSent.identified_at"


def test_naive_occurred_rejected(world: World) -> None:
    """The time an event happened must be timezone-aware."""
    world.open_case()
    err = rejected(world, "ConveyanceArrived", {}, at=datetime(2006, 3, 14, 6, 10))
    assert err.field == "occurred.at"


def test_naive_occurred_window_rejected(world: World) -> None:
    """Both ends of a window must be timezone-aware."""
    world.open_case()
    err = rejected(world, "ConveyanceArrived", {},
                   at={"from": world.t(1), "to": datetime(2006, 3, 14, 6, 10)})
    assert err.field == "occurred.to"


def test_naive_recorded_rejected(world: World) -> None:
    """The recording time must be timezone-aware."""
    world.open_case()
    err = rejected(world, "ConveyanceArrived", {}, recorded=datetime(2006, 3, 14, 6, 30))
    assert err.field == "recorded"


def test_times_sealed_in_canonical_form_with_their_offset(world: World) -> None:
    """Payload times are sealed as text with seconds and the offset they were given in."""
    stream = world.open_case()
    world.rec(stream, "ContrabandDiscovered", {"items": [DRUG]}, by="cbpo", at=10)
    sealed = world.rec(stream, "InvestigativeNotificationSent",
                       {"identified_at": "2006-03-14T09:12-05:00", "to": world.id("oi_duty"),
                        "channel": "phone"}, by="cbpo", at=200)
    assert sealed.payload["identified_at"] == "2006-03-14T09:12:00-05:00"
    assert sealed.envelope["occurred"] == {"at": "2006-03-14T09:20:00-05:00"}
    utc = datetime(2006, 3, 14, 14, 12, tzinfo=UTC)
    model = ev.InvestigativeNotificationSent(identified_at=utc, to="x", channel="phone")
    assert model.model_dump(mode="json")["identified_at"] == "2006-03-14T14:12:00+00:00"


# ---------------------------------------------------------------- weights
@pytest.mark.parametrize(("given", "sealed"), [
    ("46.2", "46.2"), (Decimal("46.200"), "46.2"), (46.2, "46.2"), (46, "46"), ("100", "100"),
    ("0.001", "0.001"), ("1E+2", "100"), ("0.000", "0"),
])
def test_weights_sealed_as_decimal_strings(world: World, given: Any, sealed: str) -> None:
    """Weights are sealed as normalised decimal strings, never as JSON numbers."""
    stream = world.open_case()
    event = world.rec(stream, "ContrabandDiscovered",
                      {"items": [{**DRUG, "gross_weight_kg": given}]}, by="cbpo", at=10)
    assert event.payload["items"][0]["gross_weight_kg"] == sealed
    assert f'"gross_weight_kg":"{sealed}"'.encode() in event.envelope_bytes
    assert floats_in(dict(event.envelope)) == []


def test_weight_float_that_is_not_a_short_decimal_rejected(world: World) -> None:
    """A float carrying binary noise (0.1 + 0.2) is refused rather than rounded silently."""
    world.open_case()
    err = rejected(world, "ContrabandDiscovered",
                   {"items": [{**DRUG, "gross_weight_kg": 0.1 + 0.2}]})
    assert err.field == "ContrabandDiscovered.items.0.gross_weight_kg"


def test_sealed_payloads_carry_no_floats(world: World) -> None:
    """Every weight of a custody or substitution payload is a string in the envelope."""
    stream = world.open_case()
    world.rec(stream, "ContrabandDiscovered", {"items": [DRUG]}, by="cbpo", at=10)
    event = world.rec(stream, "CustodyTransferred",
                      {"from": world.id("cbpo"), "to": "CBP vault V1",
                       "items": [{"item": "A-1", "count": 42, "gross_weight_kg": 46.2}]},
                      by="cbpo", at=20)
    assert floats_in(dict(event.envelope)) == []
    assert event.payload["items"][0]["gross_weight_kg"] == "46.2"


def test_aliases_are_sealed_by_their_json_names(world: World) -> None:
    """Fields named ``from``/``with`` in JSON are sealed under those names."""
    stream = world.open_case()
    event = world.rec(stream, "ProsecutorConsulted",
                      {"with_": world.id("ausa"), "district": "SD-FL", "position": "concur"},
                      by="cbpo", at=10)
    assert "with" in event.payload
    assert "with_" not in event.payload


# ---------------------------------------------------------------- round trip (property)
refs = st.text(st.characters(codec="utf-8"), min_size=1,
               max_size=20)
texts = st.text(min_size=1, max_size=60)
counts = st.integers(min_value=0, max_value=2**53 - 1)
weights = st.decimals(min_value=0, max_value=Decimal("999999999.999"), places=3,
                      allow_nan=False, allow_infinity=False)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m)))
zones = st.one_of(offsets, st.sampled_from([UTC, ZoneInfo("America/New_York"),
                                           ZoneInfo("America/Los_Angeles")]))
times = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=zones)
days = st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1))


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy or None (a field left out)."""
    return st.none() | strategy


items = st.builds(ev.Item, item_id=refs,
                  description=texts, category=st.sampled_from(
                      ["drug", "IPR", "firearm", "currency", "wildlife", "merchandise", "other"]),
                  count=opt(counts), gross_weight_kg=opt(weights), unit=opt(refs))
item_refs = st.builds(ev.ItemRef, item=refs, count=opt(counts), gross_weight_kg=opt(weights),
                      description=opt(texts))

PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "ContrabandDiscovered": st.builds(
        ev.ContrabandDiscovered, items=st.lists(items, min_size=1, max_size=3),
        concealment=opt(texts),
        field_test=opt(st.builds(ev.FieldTest, kit=opt(refs), result=texts)),
        subjects=st.lists(refs, max_size=3)),
    "CustodyTransferred": st.builds(
        ev.CustodyTransferred, from_=refs, to=refs, items=st.lists(item_refs, min_size=1,
                                                                   max_size=3),
        seals=st.lists(refs, max_size=2), receipt_ref=opt(refs)),
    "InvestigativeNotificationSent": st.builds(
        ev.InvestigativeNotificationSent, identified_at=times, to=refs,
        channel=st.sampled_from(["phone", "email", "radio", "in_person", "system", "fax",
                                 "other"]), summary_digest=opt(refs)),
    "IncidentOccurred": st.builds(
        ev.IncidentOccurred, incident_id=refs, incident_type=st.sampled_from(ev.INCIDENT_TYPES),
        severity=st.sampled_from(["low", "medium", "high", "critical"]), discovered_at=times,
        discovered_by=opt(refs), items_affected=st.lists(item_refs, max_size=2),
        persons_affected=st.lists(refs, max_size=2)),
    "InventoryReconciled": st.builds(
        ev.InventoryReconciled, expected=st.dictionaries(refs, counts, max_size=3),
        found=st.dictionaries(refs, counts, max_size=3), discrepancy=counts,
        explained_by=opt(texts)),
    "ActionItemAssigned": st.builds(ev.ActionItemAssigned, item_id=refs, owner=refs, due=days,
                                    what=texts, source=opt(texts)),
    "ThirdPartyDisclosureAuthorized": st.builds(
        ev.ThirdPartyDisclosureAuthorized, requesting_agency=refs, case_no=refs, purpose=texts,
        written_understanding_ref=opt(texts), expires=days),
    "SurveillanceLost": st.builds(
        ev.SurveillanceLost, last_confirmed=st.builds(ev.LastConfirmed, at=times,
                                                      position=texts, by=refs),
        cause=opt(texts)),
    "SubstitutionPerformed": st.builds(
        ev.SubstitutionPerformed, witnesses=st.lists(refs, min_size=1, max_size=3),
        removed=item_refs, remaining=item_refs,
        sham_added=st.builds(ev.Sham, item=opt(refs), count=counts), removed_stored_at=texts),
    "OperationProposed": st.builds(
        ev.OperationProposed,
        operation_type=st.sampled_from(["controlled_delivery", "pass_through", "cold_convoy"]),
        mode=st.builds(ev.Mode, courier=st.sampled_from(["unwitting", "cooperating",
                                                         "le_delivered"]),
                       contents=st.sampled_from(["intact", "partial_substitution",
                                                 "full_substitution"]),
                       direction=st.sampled_from(["inbound", "outbound", "transit"]),
                       vector=st.sampled_from(["mail", "rail", "POV"])),
        destination=st.builds(ev.Destination, district=refs, aor=opt(refs)),
        targets=st.lists(refs, max_size=2), sensitive=st.booleans(),
        border=st.sampled_from(["domestic", "international"])),
    "CaseOpened": st.builds(
        ev.CaseOpened, reference=refs, port=refs, operation_id=opt(refs),
        refs=st.dictionaries(refs, st.one_of(refs, counts, st.lists(refs, max_size=2)),
                             max_size=3)),
    "InformationShared": st.builds(
        ev.InformationShared, from_agency=refs, to_agency=refs,
        basis=st.sampled_from(["dhs_need_to_know", "third_party_rule", "routine_use", "court"]),
        pnr_derived=st.booleans(), data_classes=st.lists(refs, max_size=2),
        authorisation_ref=opt(texts)),
}


def sealed_form(model: ev.Payload) -> dict[str, Any]:
    """The JSON form that is sealed."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def test_round_trip_strategies_cover_the_models() -> None:
    """The property test below covers every model it names, and they are all in the catalogue."""
    assert set(PAYLOADS) <= set(ev.CATALOGUE)
    assert len(PAYLOADS) >= 10


@pytest.mark.parametrize("type_", sorted(PAYLOADS))
@given(data=st.data())
def test_payload_json_round_trip_is_identical(type_: str, data: st.DataObject) -> None:
    """model_validate(model_dump(json, by_alias, exclude_none)) dumps identically, no floats."""
    model = data.draw(PAYLOADS[type_])
    assert type_ == model.TYPE
    first = sealed_form(model)
    again = type(model).model_validate(first)
    assert sealed_form(again) == first
    assert canonical_bytes(sealed_form(again)) == canonical_bytes(first)
    assert floats_in(first) == []


def test_offsets_with_seconds_are_refused() -> None:
    """A time in a zone whose UTC offset has seconds (historic LMT) is refused, not mangled."""
    old = datetime(1880, 1, 1, tzinfo=ZoneInfo("America/New_York"))   # LMT -04:56:02
    with pytest.raises(ValidationError, match="whole minutes"):
        ev.InvestigativeNotificationSent(identified_at=old, to="x", channel="phone")
    with pytest.raises(InputError, match="whole minutes"):
        format_time(old)
