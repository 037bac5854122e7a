"""The replay's cache of officer keys (``cdlog.log.signers``) answers as the key registry
does, whatever trust events come between two questions.

Its reference: ``KeyRegistry.public_key``, ``signer_in_force`` and ``officer_of(party) ==
subject``, asked of the registry at the moment of each question. Hypothesis interleaves
certifications, revocations, rotations, refused trust events and key-clock moves with
questions about random keys, positions, times and parties.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cdlog.canonical import format_time
from cdlog.domain.values import Officer
from cdlog.errors import CdlogError
from cdlog.keys.certificate import SignedCertificate, issue_certificate
from cdlog.keys.registry import (
    KEY_CERTIFIED,
    KEY_REVOKED,
    KEY_ROTATED,
    ROOT_ESTABLISHED,
    KeyRegistry,
    key_certified_payload,
    key_revoked_payload,
    key_rotated_payload,
    root_established_payload,
)
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustRoot
from cdlog.log.facts import officer_json, officer_of
from cdlog.log.sealing import SealedEvent, build_envelope, seal
from cdlog.log.signers import SignerCache

CBP_ROOT = Ed25519Signer(b"\x10" * 32)
K1 = Ed25519Signer(b"\x21" * 32)
K2 = Ed25519Signer(b"\x22" * 32)
K3 = Ed25519Signer(b"\x23" * 32)
T0 = datetime(2006, 3, 14, 9, 0, tzinfo=UTC)
GARCIA = Officer(id="CBP-2290", role="SCBPO", agency="CBP", office="OFO")
NGUYEN = Officer(id="ICE-0412", role="SA", agency="ICE", office="OI")
KEYS = {"K1": K1, "K2": K2, "K3": K3}
PROMOTED = GARCIA.model_copy(update={"role": "SCBPO-Supervisor"})


def cert(key: Ed25519Signer, subject: Officer = GARCIA, serial: int = 1) -> SignedCertificate:
    return issue_certificate(CBP_ROOT, public_key=key.public_key, subject=subject,
                             not_before=datetime(2006, 1, 1, tzinfo=UTC),
                             not_after=datetime(2007, 1, 1, tzinfo=UTC), serial=serial)


class Trust:
    """Trust events of agency CBP applied to a registry at rising positions, each recorded at
    a chosen time (which moves the key clock)."""

    def __init__(self) -> None:
        self.registry = KeyRegistry()
        self.position = 0
        self.version = 0
        self.prev: str | None = None
        self.apply(ROOT_ESTABLISHED,
                   root_established_payload(TrustRoot.for_key("CBP", CBP_ROOT.public_key)), T0)

    def event(self, type_: str, payload: dict[str, Any], recorded: datetime) -> SealedEvent:
        envelope = build_envelope(
            log="test", stream="trust:CBP", version=self.version + 1, type_=type_,
            occurred={"at": format_time(recorded)}, recorded=format_time(recorded),
            actor={"id": "root", "key": CBP_ROOT.key_id}, cosigners=[], payload=payload,
            prev=self.prev, late=False)
        return seal(envelope, [CBP_ROOT])

    def apply(self, type_: str, payload: dict[str, Any], recorded: datetime) -> bool:
        """Apply the event at the next position; True when the registry took it."""
        event = self.event(type_, payload, recorded)
        self.position += 1
        try:
            self.registry.apply(event, self.position)
        except CdlogError:
            return False
        self.version, self.prev = event.version, event.hash_hex
        return True


def registry_answer(registry: KeyRegistry, key_id: str, position: int, at: datetime,
                    party: dict[str, Any]) -> tuple[Any, ...]:
    """The reference: what the replay asked the registry before the cache."""
    if registry.is_root(key_id):
        return ("not an officer key",)
    try:
        public = registry.public_key(key_id)
    except CdlogError:
        return ("not an officer key",)
    subject = registry.signer_in_force(key_id, position, at)
    if subject is None:
        return (public, "not in force")
    try:
        claimed = officer_of(party)
    except ValueError:
        return (public, "malformed party")
    return (public, claimed, claimed == subject)


def cache_answer(cache: SignerCache, registry: KeyRegistry, key_id: str, position: int,
                 at: datetime, party: dict[str, Any]) -> tuple[Any, ...]:
    signer = cache.get(registry, key_id)
    if signer is None:
        return ("not an officer key",)
    if not signer.in_force(position, at):
        return (signer.public, "not in force")
    try:
        claimed, same = signer.signs_as(party)
    except ValueError:
        return (signer.public, "malformed party")
    return (signer.public, claimed, same)


def test_generation_moves_on_every_apply() -> None:
    trust = Trust()
    seen = trust.registry.generation
    assert trust.apply(KEY_CERTIFIED, key_certified_payload(cert(K1)), T0)
    assert trust.registry.generation > seen
    seen = trust.registry.generation
    assert not trust.apply(KEY_REVOKED, key_revoked_payload(K2.key_id, "lost"), T0)  # refused
    assert trust.registry.generation > seen
    assert trust.registry.copy().generation == trust.registry.generation


def test_an_entry_is_dropped_when_the_registry_moves_on() -> None:
    trust = Trust()
    trust.apply(KEY_CERTIFIED, key_certified_payload(cert(K1)), T0)
    cache = SignerCache()
    before = cache.get(trust.registry, K1.key_id)
    assert before is not None
    assert before.revoked_at is None
    assert cache.get(trust.registry, K1.key_id) is before  # remembered while unchanged
    trust.apply(KEY_REVOKED, key_revoked_payload(K1.key_id, "lost"), T0)
    after = cache.get(trust.registry, K1.key_id)
    assert after is not None
    assert after is not before
    assert after.revoked_at == trust.position
    assert not after.in_force(trust.position + 1, T0)
    assert after.in_force(trust.position, T0)
    assert cache.get(trust.registry, CBP_ROOT.key_id) is None  # a root key is no officer key
    assert cache.get(KeyRegistry(), K1.key_id) is None  # another registry: asked anew


def test_a_party_is_remembered_only_when_all_its_values_are_text() -> None:
    trust = Trust()
    trust.apply(KEY_CERTIFIED, key_certified_payload(cert(K1)), T0)
    signer = SignerCache().get(trust.registry, K1.key_id)
    assert signer is not None
    party = officer_json(GARCIA, K1.key_id)
    assert signer.signs_as(party) == (GARCIA, True)
    assert signer.party == party
    other = officer_json(NGUYEN, K1.key_id)
    assert signer.signs_as(other) == (NGUYEN, False)
    assert signer.party == other
    with pytest.raises(ValueError):
        signer.signs_as({**party, "id": 7})
    assert signer.party == other


_times = st.sampled_from([
    T0, T0, T0, T0 + timedelta(days=30), T0 - timedelta(days=80), datetime(2006, 1, 1, tzinfo=UTC),
    datetime(2007, 1, 1, tzinfo=UTC), datetime(2007, 1, 1, 0, 0, 1, tzinfo=UTC),
    datetime(2008, 6, 1, tzinfo=UTC)])
_parties = st.sampled_from(["garcia", "promoted", "nguyen", "number", "extra"])
_changes = st.one_of(
    st.none(),
    st.tuples(st.just("certify"), st.sampled_from(sorted(KEYS)), st.booleans(), _times),
    st.tuples(st.just("revoke"), st.sampled_from(sorted(KEYS)), st.booleans(), _times),
    st.tuples(st.just("rotate"), st.sampled_from(sorted(KEYS)), st.sampled_from(sorted(KEYS)),
              _times),
)
_asks = st.tuples(st.sampled_from(["K1", "K1", "K2", "K2", "K3", "root", "unknown"]),
                  st.integers(-3, 2), _times, _parties)


def _party(name: str, key_id: str) -> dict[str, Any]:
    officer = {"garcia": GARCIA, "promoted": PROMOTED, "nguyen": NGUYEN}.get(name, GARCIA)
    party: dict[str, Any] = officer_json(officer, key_id)
    if name == "number":
        party["id"] = 2290
    elif name == "extra":
        party["rank"] = "chief"
    return party


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(_changes, _asks), min_size=1, max_size=20))
def test_the_cache_answers_as_the_registry(
        steps: list[tuple[tuple[Any, ...] | None, tuple[Any, ...]]]) -> None:
    trust = Trust()
    trust.apply(KEY_CERTIFIED, key_certified_payload(cert(K1)), T0)
    trust.apply(KEY_CERTIFIED, key_certified_payload(cert(K2, subject=PROMOTED, serial=2)), T0)
    cache = SignerCache()
    serial = 2
    for change, ask in steps:
        if change is not None:
            serial += 1
            _apply(trust, change, serial)
        name, offset, at, party_name = ask
        key_id = {"root": CBP_ROOT.key_id, "unknown": "ed25519:0000000000000000"}.get(
            name) or KEYS[name].key_id
        position = trust.position + offset
        party = _party(party_name, key_id)
        expected = registry_answer(trust.registry, key_id, position, at, party)
        for _ in range(2):  # asked again: the remembered answer is the same
            assert cache_answer(cache, trust.registry, key_id, position, at, party) == expected
        event(f"answer: {expected[-1] if len(expected) < 3 else expected[2]}")


def _apply(trust: Trust, change: tuple[Any, ...], serial: int) -> None:
    """One trust event (which the registry may refuse: a key certified twice, revoked
    twice, rotated to itself...)."""
    kind, name, other, at = change
    if kind == "certify":
        trust.apply(KEY_CERTIFIED, key_certified_payload(
            cert(KEYS[name], subject=PROMOTED if other else GARCIA, serial=serial)), at)
    elif kind == "revoke":
        trust.apply(KEY_REVOKED, key_revoked_payload(KEYS[name].key_id, "lost"), at)
    else:
        trust.apply(KEY_ROTATED, key_rotated_payload(
            KEYS[name].key_id, cert(KEYS[other], serial=serial), "scheduled"), at)
