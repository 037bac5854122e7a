"""Errors of the public recording API name the field, the problem and what was expected, and a
refused call writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.domain import events as ev
from cdlog.errors import CdlogError, InputError, RuleViolationError
from cdlog.keys.signer import Ed25519Signer
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import World

CASE = "case:OP-T-1"


def refused_input(world: World, stream: str = CASE, type_: Any = "ConveyanceArrived",
                  fields: Any = None, *, signer: Any = None, cosigners: Any = (),
                  at: Any = None, recorded: Any = None) -> InputError:
    """Call ``record`` with bad input; it must raise InputError (not a rule) and write nothing."""
    before = world.log.max_position()
    with pytest.raises(InputError) as info:
        world.log.record(stream, type_, fields, signer=world.signers["cbpo"] if signer is None
                         else signer, cosigners=cosigners,
                         at=world.t(5) if at is None else at,
                         recorded=world.t(5) if recorded is None else recorded)
    assert not isinstance(info.value, RuleViolationError)
    assert world.log.max_position() == before
    err = info.value
    assert str(err).startswith(f"{err.field}: {err.problem}")
    if err.expected:
        assert str(err).endswith(f"(expected {err.expected})")
    return err


# ---------------------------------------------------------------- event type and stream
def test_unknown_event_type_names_type_and_the_catalogue(world: World) -> None:
    """An unknown event type is refused on field ``type``, listing the catalogue."""
    world.open_case()
    err = refused_input(world, type_="ContrabandFound")
    assert err.field == "type"
    assert "'ContrabandFound' is not an event type" in err.problem
    assert err.expected.startswith("one of ")
    assert "ContrabandDiscovered" in err.expected
    assert err.expected.count(",") == len(ev.CATALOGUE) - 1


@pytest.mark.parametrize("stream", ["cases:OP-T-1", "case:", "pnr:", "audit:2006",
                                    "pnr_access:2006-03"])
def test_unknown_stream_kind_names_stream_and_the_kinds(world: World, stream: str) -> None:
    """A stream name of no known kind is refused on field ``stream``, listing the kinds."""
    err = refused_input(world, stream)
    assert err.field == "stream"
    assert repr(stream) in err.problem
    assert err.expected == ("case:<ref>, pnr:<key>, pnr-access:<partition>, trust:<agency> or "
                            "programme:<name>")


def test_trust_event_outside_a_trust_stream_refused(world: World) -> None:
    """Trust events may open only ``trust:<agency>`` streams."""
    err = refused_input(world, "case:T-ROOT", "TrustRootEstablished",
                        {"agency": "CBP", "key_id": "k", "public_key": "p"},
                        signer=world.roots["CBP"])
    assert (err.field, err.expected) == ("stream", "trust:<agency>")


def test_payload_instance_with_fields_refused(world: World) -> None:
    """A payload instance and a fields mapping together are ambiguous and refused."""
    world.open_case()
    err = refused_input(world, type_=ev.ConveyanceArrived(), fields={"conveyance": "truck"})
    assert (err.field, err.expected) == ("fields", "one or the other")


def test_payload_class_and_instance_are_accepted(world: World) -> None:
    """A payload class with fields, or a payload instance, records like a type name."""
    stream = world.open_case()
    by_class = world.log.record(stream, ev.ExaminationReferred, {"reason": "r"},
                                signer=world.signers["cbpo"], at=world.t(5),
                                recorded=world.t(5))
    by_instance = world.log.record(stream, ev.ExaminationReferred(reason="r"),
                                   signer=world.signers["cbpo"], at=world.t(6),
                                   recorded=world.t(6))
    assert by_class.payload == by_instance.payload == {"reason": "r"}


# ---------------------------------------------------------------- times
def test_naive_recorded_time_refused(world: World) -> None:
    """A naive recording time is refused on field ``recorded``."""
    world.open_case()
    err = refused_input(world, recorded=datetime(2006, 3, 14, 6, 5))
    assert (err.field, err.problem, err.expected) == (
        "recorded", "has no UTC offset", "a timezone-aware time")


def test_naive_occurred_time_refused(world: World) -> None:
    """A naive time of occurrence is refused on field ``occurred.at``."""
    world.open_case()
    err = refused_input(world, at=datetime(2006, 3, 14, 6, 5))
    assert err.field == "occurred.at"
    assert "timezone" in err.problem


def test_naive_payload_time_refused(world: World) -> None:
    """A naive time inside the payload is refused on its dotted field path."""
    world.open_case()
    err = refused_input(world, type_="IncidentOccurred",
                        fields={"incident_id": "I-1", "incident_type": "other",
                                "discovered_at": datetime(2006, 3, 14, 6, 5)})
    assert err.field == "IncidentOccurred.discovered_at"


@pytest.mark.parametrize(("window", "says"), [
    ({"from": 8, "to": 6}, "'to' is before 'from'"),
    ({"from": 6}, "needs both"),
    ({"at": 6, "to": 7}, "not both"),
])
def test_bad_occurrence_window_refused(world: World, window: dict[str, int], says: str) -> None:
    """A malformed window (reversed, half, or mixed with ``at``) is refused on ``occurred``."""
    world.open_case()
    err = refused_input(world, at={k: world.t(v) for k, v in window.items()},
                        recorded=world.t(10))
    assert err.field == "occurred"
    assert says in err.problem


# ---------------------------------------------------------------- signers and cosigners
@pytest.mark.parametrize("bad", ["CBP-4417", None, {"key_id": "ed25519:00"}, 42])
def test_signer_that_is_not_a_signer_refused(world: World, bad: Any) -> None:
    """A signer that is not a Signer is refused on field ``signer`` naming its type."""
    world.open_case()
    before = world.log.max_position()
    with pytest.raises(InputError) as info:
        world.log.record(CASE, "ConveyanceArrived", {}, signer=bad, at=world.t(5),
                         recorded=world.t(5))
    err = info.value
    assert err.field == "signer"
    assert f"{type(bad).__name__} is not a Signer" in err.problem
    assert "key_id, public_key and sign()" in err.expected
    assert world.log.max_position() == before


def test_cosigner_that_is_not_a_signer_refused(world: World) -> None:
    """A cosigner that is not a Signer is refused the same way."""
    world.open_case()
    err = refused_input(world, cosigners=[world.signers["scbpo"], "CBP-2290"])
    assert err.field == "signer"
    assert "str is not a Signer" in err.problem


def test_uncertified_cosigner_refused_naming_its_key(world: World) -> None:
    """A cosigner whose key no root certified is refused, naming the key."""
    world.open_case()
    stranger = Ed25519Signer.generate()
    err = refused_input(world, cosigners=[stranger])
    assert err.field == "ConveyanceArrived.signer"
    assert stranger.key_id in err.problem
    assert err.expected == "a key certified by its agency root and valid at this time"


def test_cosigners_on_a_trust_root_refused(world: World) -> None:
    """A trust root is signed by the root alone; cosigners are refused."""
    err = refused_input(world, "trust:DHS", "TrustRootEstablished",
                        {"agency": "DHS", "key_id": "k", "public_key": "p"},
                        signer=Ed25519Signer.generate(), cosigners=[world.signers["cbpo"]])
    assert (err.field, err.expected) == ("cosigners", "none")


def test_root_key_cannot_sign_case_events(world: World) -> None:
    """An agency root key signs only its trust stream, never a case event."""
    world.open_case()
    err = refused_input(world, signer=world.roots["CBP"])
    assert err.field == "ConveyanceArrived.signer"
    assert "trust:CBP" in err.problem


def test_key_outside_its_validity_window_refused(world: World) -> None:
    """A certified key cannot sign at a recording time after its certificate ends."""
    world.open_case()
    late = world.t(0) + timedelta(days=3660)
    err = refused_input(world, at=late, recorded=late)
    assert err.field == "ConveyanceArrived.signer"
    assert "is valid from" in err.problem


class _Imposter:
    """Claims a certified key id but signs with another key (a misconfigured HSM)."""

    def __init__(self, claimed: Ed25519Signer) -> None:
        self._claimed = claimed
        self._other = Ed25519Signer.generate()

    @property
    def key_id(self) -> str:
        return self._claimed.key_id

    @property
    def public_key(self) -> bytes:
        return self._claimed.public_key

    def sign(self, message: bytes) -> bytes:
        return self._other.sign(message)


@pytest.mark.parametrize("role", ["signer", "cosigner"])
def test_signature_not_matching_its_key_refused(world: World, role: str) -> None:
    """A signer or cosigner whose signature does not match its key is refused; nothing stored."""
    stream = world.open_case()
    imposter = _Imposter(world.signers["spc" if role == "cosigner" else "cbpo"])
    signer: Any = world.signers["cbpo"] if role == "cosigner" else imposter
    cosigners: list[Any] = [imposter] if role == "cosigner" else []
    try:
        with pytest.raises(InputError):
            world.log.record(stream, "ConveyanceArrived", {}, signer=signer,
                             cosigners=cosigners, at=world.t(5), recorded=world.t(5))
    finally:
        assert verify_store(world.log).ok


# ---------------------------------------------------------------- shapes of arguments
@pytest.mark.parametrize(("at", "fields"), [("2006-03-14T06:05:00-05:00", {"reason": "r"}),
                                            (None, ["reason"])])
def test_wrongly_shaped_arguments_are_input_errors(world: World, at: Any, fields: Any) -> None:
    """A time given as text, or fields given as a list, are InputErrors naming the argument."""
    world.open_case()
    with pytest.raises(InputError):
        world.log.record(CASE, "ExaminationReferred", fields, signer=world.signers["cbpo"],
                         at=world.t(5) if at is None else at, recorded=world.t(5))


def test_batch_with_authorisation_and_more_pnr_events(world: World) -> None:
    """One batch may record a disclosure authorisation and a further event of its PNR stream."""
    world.rec("pnr:K-1", "PNRRecordIngested",
              {"received_at": world.t(0), "flight": "XX1", "key_id": "K-1",
               "pnr_locator_commitment": "sha256:00"}, by="pnr", at=1)
    with world.log.batch() as batch:
        batch.record("pnr:K-1", "ThirdPartyDisclosureAuthorized",
                     {"requesting_agency": "ICE", "case_no": "MI-T-1", "purpose": "p",
                      "expires": "2006-06-16"}, signer=world.signers["pnr_sup"],
                     at=world.t(2), recorded=world.t(2))
        linked = batch.record("pnr:K-1", "PNRLinkedToCase", {"case_no": "MI-T-1"},
                              signer=world.signers["pnr_sup"], at=world.t(3),
                              recorded=world.t(3))
    assert linked.version == 3
    assert world.log.state("pnr:K-1").version == 3


# ---------------------------------------------------------------- rule errors
def test_rule_violation_is_an_input_error_naming_type_and_rule(world: World) -> None:
    """A rule refusal is an InputError whose field is ``<Type> [<rule>]``."""
    world.open_case()
    with pytest.raises(RuleViolationError) as info:
        world.rec(CASE, "NotificationAcknowledged", {}, by="oi_duty", at=5)
    err = info.value
    assert isinstance(err, InputError)
    assert isinstance(err, CdlogError)
    assert (err.rule, err.event_type, err.field) == ("R3", "NotificationAcknowledged",
                                                     "NotificationAcknowledged [R3]")
    assert str(err) == ("NotificationAcknowledged [R3]: nothing was notified "
                        "(expected InvestigativeNotificationSent first)")
