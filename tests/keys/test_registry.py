"""Key registry (trust events in log order) and trust files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.canonical import canonical_bytes, format_time
from cdlog.domain.values import Officer
from cdlog.errors import ConfigurationError, InputError, NotFoundError, VerificationError
from cdlog.keys.certificate import SignedCertificate, issue_certificate
from cdlog.keys.registry import (
    KEY_CERTIFIED,
    KEY_REVOKED,
    KEY_ROTATED,
    ROOT_ESTABLISHED,
    KeyRegistry,
    is_trust_event,
    key_certified_payload,
    key_revoked_payload,
    key_rotated_payload,
    root_established_payload,
    root_officer,
    trust_stream,
)
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustFile, TrustRoot, load_trust, save_trust
from cdlog.log.sealing import SealedEvent, build_envelope, parse, seal, stream_id

CBP_ROOT = Ed25519Signer(b"\x10" * 32)
ICE_ROOT = Ed25519Signer(b"\x11" * 32)
ROGUE_ROOT = Ed25519Signer(b"\x12" * 32)
K1 = Ed25519Signer(b"\x21" * 32)
K2 = Ed25519Signer(b"\x22" * 32)
K3 = Ed25519Signer(b"\x23" * 32)
T0 = datetime(2006, 3, 14, 9, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2006, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2007, 1, 1, tzinfo=UTC)
GARCIA = Officer(id="CBP-2290", role="SCBPO", agency="CBP", office="OFO")
NGUYEN = Officer(id="ICE-0412", role="SA", agency="ICE", office="OI")
CBP = TrustRoot.for_key("CBP", CBP_ROOT.public_key)
ICE = TrustRoot.for_key("ICE", ICE_ROOT.public_key)


def cert(key: Ed25519Signer, subject: Officer = GARCIA, root: Ed25519Signer = CBP_ROOT,
         serial: int = 1) -> SignedCertificate:
    return issue_certificate(root, public_key=key.public_key, subject=subject,
                             not_before=NOT_BEFORE, not_after=NOT_AFTER, serial=serial)


@dataclass
class Log:
    """Builds sealed trust events the way the app would, with positions from 0."""

    registry: KeyRegistry = field(default_factory=KeyRegistry)
    position: int = -1
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    def event(self, stream: str, type_: str, payload: dict[str, Any],
              actor: Ed25519Signer) -> SealedEvent:
        version, prev = self.heads.get(stream, (0, None))
        envelope = build_envelope(
            log="test", stream=stream, version=version + 1, type_=type_,
            occurred={"at": format_time(T0)}, recorded=format_time(T0),
            actor={"id": "root", "key": actor.key_id}, cosigners=[], payload=payload,
            prev=prev, late=False)
        return seal(envelope, [actor])

    def apply(self, event: SealedEvent) -> int:
        """Apply at the next position; only a committed (accepted) event moves the log on."""
        self.registry.apply(event, self.position + 1)
        self.position += 1
        self.heads[event.stream] = (event.version, event.hash_hex)
        return self.position

    def append(self, stream: str, type_: str, payload: dict[str, Any],
               actor: Ed25519Signer) -> int:
        return self.apply(self.event(stream, type_, payload, actor))

    def refused(  # reads like the event it builds
        self, stream: str, type_: str, payload: dict[str, Any], actor: Ed25519Signer,
        check: str, match: str | None = None,
    ) -> VerificationError:
        event = self.event(stream, type_, payload, actor)
        with pytest.raises(VerificationError, match=match) as info:
            self.registry.apply(event, self.position + 1)
        failure = info.value.failures[0]
        assert failure.check == check
        assert (failure.case, failure.version) == (event.case, event.version)
        return info.value

    def establish(self, root: Ed25519Signer = CBP_ROOT, agency: str = "CBP") -> int:
        return self.append(trust_stream(agency), ROOT_ESTABLISHED,
                           root_established_payload(TrustRoot.for_key(agency,
                                                                      root.public_key)),
                           root)

    def certify(self, signed: SignedCertificate, root: Ed25519Signer = CBP_ROOT,
                agency: str = "CBP") -> int:
        return self.append(trust_stream(agency), KEY_CERTIFIED, key_certified_payload(signed),
                           root)

    def revoke(self, key_id: str, root: Ed25519Signer = CBP_ROOT, agency: str = "CBP") -> int:
        return self.append(trust_stream(agency), KEY_REVOKED,
                           key_revoked_payload(key_id, "lost device"), root)


def cbp_case() -> str:
    return str(stream_id("case:OP-2006-0001"))


def check(registry: KeyRegistry, key: Ed25519Signer, position: int,
          at: datetime = T0, case: str = "") -> Officer:
    return registry.check_signer(key.key_id, position, at, case=case or cbp_case(), version=3)


def refused_signer(registry: KeyRegistry, key: Ed25519Signer, position: int,
                   at: datetime = T0, case: str = "") -> str:
    with pytest.raises(VerificationError) as info:
        check(registry, key, position, at, case)
    failure = info.value.failures[0]
    assert failure.check == "key"
    assert failure.version == 3
    return failure.detail


@pytest.fixture
def log() -> Log:
    log = Log()
    log.establish()
    log.establish(ICE_ROOT, "ICE")
    return log


# ---------------------------------------------------------------- allowed paths


def test_certified_key_signs_from_its_position(log: Log) -> None:
    p = log.certify(cert(K1))
    assert check(log.registry, K1, p) == GARCIA
    assert check(log.registry, K1, p + 100) == GARCIA
    assert log.registry.public_key(K1.key_id) == K1.public_key
    assert log.registry.officer("CBP-2290") == GARCIA
    assert log.registry.certificates() == [cert(K1)]


def test_key_certified_later_is_unknown_earlier(log: Log) -> None:
    p = log.certify(cert(K1))
    assert "not certified at position" in refused_signer(log.registry, K1, p - 1)


def test_revoked_key_is_refused_only_after_the_revocation(log: Log) -> None:
    p_cert = log.certify(cert(K1))
    p_rev = log.revoke(K1.key_id)
    assert check(log.registry, K1, p_cert) == GARCIA
    assert check(log.registry, K1, p_rev) == GARCIA
    detail = refused_signer(log.registry, K1, p_rev + 1)
    assert f"revoked at position {p_rev}" in detail
    assert "lost device" in detail
    record = log.registry.record(K1.key_id)
    assert (record.certified_at, record.revoked_at) == (p_cert, p_rev)
    # still resolvable, for verifying old events
    assert log.registry.public_key(K1.key_id) == K1.public_key


def test_validity_window_is_inclusive(log: Log) -> None:
    p = log.certify(cert(K1))
    assert check(log.registry, K1, p, at=NOT_BEFORE) == GARCIA
    assert check(log.registry, K1, p, at=NOT_AFTER) == GARCIA


@pytest.mark.parametrize("at", [NOT_BEFORE - timedelta(seconds=1),
                                NOT_AFTER + timedelta(microseconds=1)])
def test_key_outside_its_validity_window_is_refused(log: Log, at: datetime) -> None:
    p = log.certify(cert(K1))
    assert "is valid from" in refused_signer(log.registry, K1, p, at=at)


def test_naive_time_is_an_input_error(log: Log) -> None:
    p = log.certify(cert(K1))
    with pytest.raises(InputError):
        log.registry.check_signer(K1.key_id, p, datetime(2006, 3, 14), case="c", version=1)


def test_rotation(log: Log) -> None:
    p1 = log.certify(cert(K1))
    p_rot = log.append("trust:CBP", KEY_ROTATED,
                       key_rotated_payload(K1.key_id, cert(K2, serial=2), "scheduled"), CBP_ROOT)
    assert p_rot > p1
    assert check(log.registry, K1, p_rot) == GARCIA
    assert "revoked" in refused_signer(log.registry, K1, p_rot + 1)
    assert check(log.registry, K2, p_rot) == GARCIA
    assert check(log.registry, K2, p_rot + 1) == GARCIA
    assert "not certified" in refused_signer(log.registry, K2, p_rot - 1)
    assert log.registry.record(K1.key_id).revocation_reason == "scheduled"
    assert log.registry.certificates() == [cert(K1), cert(K2, serial=2)]
    assert log.registry.officer("CBP-2290") == GARCIA


def test_officer_is_the_subject_of_the_newest_certificate(log: Log) -> None:
    log.certify(cert(K1))
    promoted = GARCIA.model_copy(update={"role": "SCBPO-Supervisor"})
    log.certify(cert(K2, subject=promoted, serial=2))
    assert log.registry.officer("CBP-2290") == promoted
    assert log.registry.officer("nobody") is None


def test_root_key_signs_only_its_own_trust_stream(log: Log) -> None:
    p = log.position + 1
    expected = root_officer("CBP")
    assert expected == Officer(id="root:CBP", role="TrustRoot", agency="CBP", office="ROOT")
    trust_case = str(stream_id("trust:CBP"))
    assert check(log.registry, CBP_ROOT, p, case=trust_case) == expected
    assert check(log.registry, CBP_ROOT, p, case="trust:CBP") == expected
    assert "may sign only" in refused_signer(log.registry, CBP_ROOT, p)
    assert "may sign only" in refused_signer(log.registry, CBP_ROOT, p,
                                             case=str(stream_id("trust:ICE")))


def test_root_key_is_unknown_before_it_is_established() -> None:
    log = Log()
    log.append("trust:DOJ", ROOT_ESTABLISHED,
               root_established_payload(TrustRoot.for_key("DOJ", ROGUE_ROOT.public_key)),
               ROGUE_ROOT)
    p = log.establish()
    trust_case = str(stream_id("trust:CBP"))
    assert check(log.registry, CBP_ROOT, p, case=trust_case).agency == "CBP"
    refused_signer(log.registry, CBP_ROOT, p - 1, case=trust_case)


def test_roots_and_agency_root(log: Log) -> None:
    assert log.registry.roots() == [CBP, ICE]
    assert log.registry.agency_root("CBP") == CBP
    assert log.registry.agency_root("DEA") is None
    assert log.registry.is_root(CBP_ROOT.key_id)
    assert log.registry.public_key(ICE_ROOT.key_id) == ICE_ROOT.public_key


def test_trusted_roots_are_accepted() -> None:
    log = Log(registry=KeyRegistry(trusted_roots=[CBP, ICE]))
    log.establish()
    log.establish(ICE_ROOT, "ICE")
    assert log.registry.roots() == [CBP, ICE]


def test_events_read_back_from_stored_bytes_apply(log: Log) -> None:
    event = log.event("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT)
    stored = parse(event.sealed)
    p = log.apply(stored)
    assert check(log.registry, K1, p) == GARCIA
    assert is_trust_event(stored)


# ---------------------------------------------------------------- refused paths


def test_unknown_key(log: Log) -> None:
    assert "not certified" in refused_signer(log.registry, K3, log.position)
    with pytest.raises(NotFoundError):
        log.registry.public_key(K3.key_id)
    with pytest.raises(NotFoundError):
        log.registry.record(K3.key_id)


def test_untrusted_root_is_refused() -> None:
    log = Log(registry=KeyRegistry(trusted_roots=[CBP]))
    payload = root_established_payload(TrustRoot.for_key("ICE", ROGUE_ROOT.public_key))
    log.refused("trust:ICE", ROOT_ESTABLISHED, payload, ROGUE_ROOT, "key", "not a trusted root")
    assert log.registry.roots() == []


def test_trusted_key_claimed_for_another_agency_is_refused() -> None:
    log = Log(registry=KeyRegistry(trusted_roots=[CBP]))
    payload = root_established_payload(TrustRoot.for_key("ICE", CBP_ROOT.public_key))
    log.refused("trust:ICE", ROOT_ESTABLISHED, payload, CBP_ROOT, "key", "trusted for agency")


def test_second_root_for_an_agency_is_refused(log: Log) -> None:
    payload = root_established_payload(TrustRoot.for_key("CBP", ROGUE_ROOT.public_key))
    log.refused("trust:CBP", ROOT_ESTABLISHED, payload, ROGUE_ROOT, "key", "second root")
    assert log.registry.agency_root("CBP") == CBP
    assert not log.registry.is_root(ROGUE_ROOT.key_id)


def test_root_key_reused_by_another_agency_is_refused(log: Log) -> None:
    payload = root_established_payload(TrustRoot.for_key("DEA", CBP_ROOT.public_key))
    log.refused("trust:DEA", ROOT_ESTABLISHED, payload, CBP_ROOT, "key", "already in use")


def test_root_must_establish_itself() -> None:
    log = Log()
    log.establish(ICE_ROOT, "ICE")
    log.refused("trust:CBP", ROOT_ESTABLISHED, root_established_payload(CBP), ICE_ROOT, "key",
                "must establish itself")


def test_root_established_in_another_agency_stream_is_refused() -> None:
    log = Log()
    log.refused("trust:ICE", ROOT_ESTABLISHED, root_established_payload(CBP), CBP_ROOT, "key",
                "trust stream of 'ICE'")


def test_certification_by_an_unknown_root_is_refused() -> None:
    log = Log()
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT, "key",
                "not an established root")


def test_certification_signed_by_an_officer_key_is_refused(log: Log) -> None:
    log.certify(cert(K1))
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K2, serial=2)), K1,
                "key", "officer key")


def test_key_of_another_agency_root_cannot_act_in_this_stream(log: Log) -> None:
    signed = cert(K1, root=ICE_ROOT)
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(signed), ICE_ROOT, "key",
                "signed by the root of ICE")


def test_certificate_for_another_agency_officer_is_refused(log: Log) -> None:
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1, subject=NGUYEN)),
                CBP_ROOT, "certificate", "not of the issuing root's agency")


def test_certificate_issued_by_another_root_is_refused(log: Log) -> None:
    # CBP's root carries a certificate that ICE's root issued for a CBP officer
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1, root=ICE_ROOT)),
                CBP_ROOT, "certificate", "names issuer")


def test_certificate_with_an_invalid_signature_is_refused(log: Log) -> None:
    genuine = cert(K1)
    tampered = genuine.model_copy(update={"certificate": genuine.certificate.model_copy(
        update={"subject": GARCIA.model_copy(update={"role": "Port Director"})})})
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(tampered), CBP_ROOT,
                "certificate", "invalid")
    assert log.registry.certificates() == []


def test_duplicate_key_id_is_refused(log: Log) -> None:
    log.certify(cert(K1))
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1, serial=2)), CBP_ROOT,
                "key", "already certified")


def test_root_key_cannot_be_certified_as_an_officer_key(log: Log) -> None:
    log.refused("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(ICE_ROOT)), CBP_ROOT,
                "key", "already certified")


def test_revoking_an_unknown_key_is_refused(log: Log) -> None:
    log.refused("trust:CBP", KEY_REVOKED, key_revoked_payload(K3.key_id, "x"), CBP_ROOT, "key",
                "unknown key")


def test_revoking_twice_is_refused(log: Log) -> None:
    log.certify(cert(K1))
    log.revoke(K1.key_id)
    log.refused("trust:CBP", KEY_REVOKED, key_revoked_payload(K1.key_id, "x"), CBP_ROOT, "key",
                "already revoked")


def test_revoking_a_root_key_is_refused(log: Log) -> None:
    log.refused("trust:CBP", KEY_REVOKED, key_revoked_payload(CBP_ROOT.key_id, "x"), CBP_ROOT,
                "key", "root keys cannot be revoked")


def test_another_agency_cannot_revoke_a_key(log: Log) -> None:
    log.certify(cert(K1))
    log.refused("trust:ICE", KEY_REVOKED, key_revoked_payload(K1.key_id, "x"), ICE_ROOT, "key",
                "belongs to CBP")
    assert log.registry.record(K1.key_id).revoked_at is None


def test_rotation_must_keep_the_subject(log: Log) -> None:
    log.certify(cert(K1))
    other = GARCIA.model_copy(update={"id": "CBP-9999"})
    log.refused("trust:CBP", KEY_ROTATED,
                key_rotated_payload(K1.key_id, cert(K2, subject=other, serial=2), "x"),
                CBP_ROOT, "certificate", "differs")
    # nothing changed: the old key is not revoked, the new one not certified
    assert log.registry.record(K1.key_id).revoked_at is None
    refused_signer(log.registry, K2, log.position + 1)
    assert log.registry.certificates() == [cert(K1)]


def test_rotation_of_an_unknown_key_is_refused(log: Log) -> None:
    log.refused("trust:CBP", KEY_ROTATED, key_rotated_payload(K1.key_id, cert(K2), "x"),
                CBP_ROOT, "key", "unknown key")


def test_rotation_to_a_badly_signed_certificate_is_refused(log: Log) -> None:
    log.certify(cert(K1))
    forged = cert(K2, root=ROGUE_ROOT, serial=5).certificate.model_copy(
        update={"issuer": CBP_ROOT.key_id})
    bad = SignedCertificate(certificate=forged, signature=cert(K2).signature)
    log.refused("trust:CBP", KEY_ROTATED, key_rotated_payload(K1.key_id, bad, "x"), CBP_ROOT,
                "certificate", "invalid")
    assert log.registry.record(K1.key_id).revoked_at is None


def test_bad_actor_signature_is_refused(log: Log) -> None:
    @dataclass
    class Impostor:
        """Claims the CBP root's key id but signs with another key."""

        key_id: str = CBP_ROOT.key_id
        public_key: bytes = CBP_ROOT.public_key

        def sign(self, message: bytes) -> bytes:
            return ROGUE_ROOT.sign(message)

    good = log.event("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT)
    forged = seal(good.envelope, [Impostor()])
    with pytest.raises(VerificationError) as info:
        log.registry.apply(forged, log.position + 1)
    assert info.value.failures[0].check == "signature"
    refused_signer(log.registry, K1, log.position + 1)


def test_malformed_payload_is_a_decode_failure(log: Log) -> None:
    error = log.refused("trust:CBP", KEY_REVOKED, {"key_id": "nope", "reason": "x"}, CBP_ROOT,
                        "decode", "payload.key_id")
    assert "payload.key_id" in error.failures[0].detail
    log.refused("trust:CBP", KEY_CERTIFIED, {"certificate": {}}, CBP_ROOT, "decode")


def test_unknown_trust_event_type_is_refused(log: Log) -> None:
    log.refused("trust:CBP", "OfficerKeyForgotten", {}, CBP_ROOT, "key", "not a trust event")


def test_trust_event_outside_a_trust_stream_is_refused(log: Log) -> None:
    log.refused("case:OP-1", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT, "key",
                "not a trust event")


def test_positions_must_increase(log: Log) -> None:
    event = log.event("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT)
    with pytest.raises(InputError):
        log.registry.apply(event, log.position)
    with pytest.raises(InputError):
        log.registry.apply(event, -1)


def test_duplicate_trusted_roots_are_an_input_error() -> None:
    with pytest.raises(InputError):
        KeyRegistry(trusted_roots=[CBP, TrustRoot.for_key("CBP", ROGUE_ROOT.public_key)])


# ---------------------------------------------------------------- trust files


def trust_file() -> TrustFile:
    return TrustFile(format="cdlog/trust/v1", roots=(CBP, ICE),
                     certificates=(cert(K1), cert(K2, subject=NGUYEN, root=ICE_ROOT)))


def test_trust_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    save_trust(path, trust_file())
    raw = path.read_bytes()
    assert raw.endswith(b"}\n")
    assert raw == canonical_bytes(json.loads(raw)) + b"\n"
    assert load_trust(path) == trust_file()
    # overwrite in place (e.g. when the log's verifier key is added)
    save_trust(path, trust_file().model_copy(update={"log_vkey": "test+0123abcd+AQ=="}))
    assert load_trust(path).log_vkey == "test+0123abcd+AQ=="
    registry = KeyRegistry(trusted_roots=load_trust(path).roots)
    assert registry.roots() == []


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def trust_json() -> dict[str, Any]:
    return trust_file().model_dump(mode="json")


def test_missing_trust_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_trust(tmp_path / "nope.json")


def test_trust_file_not_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("{roots:")
    with pytest.raises(ConfigurationError, match="not JSON"):
        load_trust(path)
    write_json(path, [1])
    with pytest.raises(ConfigurationError, match="JSON object"):
        load_trust(path)


@pytest.mark.parametrize(("change", "field_text"), [
    (lambda d: d["roots"][1].update(public_key="AAAA"), r"roots\[1\]"),
    (lambda d: d["roots"][0].update(key_id=ICE_ROOT.key_id), r"roots\[0\]"),
    (lambda d: d.update(format="cdlog/trust/v2"), "format"),
    (lambda d: d.pop("format"), "format"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d["certificates"][0]["certificate"].update(serial=-1),
     r"certificates\[0\]\.certificate\.serial"),
    (lambda d: d["roots"].append(d["roots"][0]), "more than once"),
])
def test_bad_trust_file_names_file_and_field(tmp_path: Path, change: Any,
                                             field_text: str) -> None:
    data = trust_json()
    change(data)
    path = write_json(tmp_path / "t.json", data)
    with pytest.raises(ConfigurationError, match=field_text) as info:
        load_trust(path)
    assert str(path) in str(info.value)


def test_trust_file_certificate_from_an_unknown_issuer(tmp_path: Path) -> None:
    data = trust_json()
    data["roots"] = data["roots"][:1]  # drop ICE: its certificate has no root here
    path = write_json(tmp_path / "t.json", data)
    with pytest.raises(ConfigurationError, match=r"certificates\[1\]\.certificate\.issuer"):
        load_trust(path)


def test_trust_file_tampered_certificate(tmp_path: Path) -> None:
    data = trust_json()
    data["certificates"][0]["certificate"]["subject"]["role"] = "Port Director"
    path = write_json(tmp_path / "t.json", data)
    with pytest.raises(ConfigurationError, match=r"certificates\[0\]\.signature"):
        load_trust(path)


def test_trust_file_certificate_of_another_agency(tmp_path: Path) -> None:
    data = trust_json()
    foreign = cert(K3, subject=NGUYEN)  # CBP root certifying an ICE officer
    data["certificates"].append(foreign.as_json())
    path = write_json(tmp_path / "t.json", data)
    with pytest.raises(ConfigurationError, match=r"certificates\[2\]\.certificate\.subject"):
        load_trust(path)


def test_same_event_at_the_same_position_again_is_a_no_op(log: Log) -> None:
    event = log.event("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT)
    p = log.apply(event)
    log.registry.apply(event, p)
    log.registry.apply(parse(event.sealed), p)
    assert log.registry.certificates() == [cert(K1)]
    other = log.event("trust:CBP", KEY_REVOKED, key_revoked_payload(K1.key_id, "x"), CBP_ROOT)
    with pytest.raises(InputError, match="already holds another"):
        log.registry.apply(other, p)


def test_copy_is_independent(log: Log) -> None:
    trial = log.registry.copy()
    event = log.event("trust:CBP", KEY_CERTIFIED, key_certified_payload(cert(K1)), CBP_ROOT)
    trial.apply(event, log.position + 1)
    assert check(trial, K1, log.position + 1) == GARCIA
    refused_signer(log.registry, K1, log.position + 1)
    assert log.registry.certificates() == []
    log.apply(event)  # the original still accepts it
    assert log.registry.roots() == trial.roots()


def _registry_with_history() -> tuple[KeyRegistry, int]:
    """Roots, K1 certified then rotated to K2, K3 (an ICE officer) certified then revoked."""
    log = Log()
    log.establish()
    log.establish(ICE_ROOT, "ICE")
    log.certify(cert(K1))
    log.append("trust:CBP", KEY_ROTATED, key_rotated_payload(K1.key_id, cert(K2, serial=2),
                                                              "new device"), CBP_ROOT)
    log.certify(cert(K3, NGUYEN, ICE_ROOT, serial=3), ICE_ROOT, "ICE")
    log.revoke(K3.key_id, ICE_ROOT, "ICE")
    return log.registry, log.position


_AT = st.sampled_from([NOT_BEFORE - timedelta(seconds=1), NOT_BEFORE, T0, NOT_AFTER,
                       NOT_AFTER + timedelta(microseconds=1), T0.replace(tzinfo=None),
                       T0.astimezone(timezone(timedelta(hours=-5)))])


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from([K1, K2, K3, CBP_ROOT, ICE_ROOT, ROGUE_ROOT]),
       position=st.integers(-2, 12), at=_AT,
       clock=st.sampled_from([None, T0, NOT_AFTER + timedelta(days=1)]))
def test_a_signer_in_force_is_the_one_check_signer_names(key: Ed25519Signer, position: int,
                                                         at: datetime,
                                                         clock: datetime | None) -> None:
    """signer_in_force (the verifier's clean path) names the subject check_signer names, or
    None where check_signer refuses (or for a root key, which it leaves to check_signer)."""
    registry, _ = _registry_with_history()
    registry.clock = clock
    fast = registry.signer_in_force(key.key_id, position, at)
    try:
        full: Officer | None = registry.check_signer(key.key_id, position, at, case=cbp_case(),
                                                     version=3)
    except (VerificationError, InputError):
        full = None
    if key in (CBP_ROOT, ICE_ROOT):
        assert fast is None
    else:
        assert fast == full
