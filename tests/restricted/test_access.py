"""Reads of restricted values: entitlement, reads as events, refusals recorded.

Properties (hypothesis, on SQLite and PostgreSQL): a third party never receives a plaintext
value without an unexpired authorisation for the case, in the record's stream, recorded before
the read; every served read has its access event, committed with it; every refused read has
its refusal event. A value that does not match its signed commitment is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from restricted_kit import (
    VALUES,
    authorise,
    events_of_type,
    ingest,
    now,
    vault_rows,
    vault_table,
)

from cdlog.application import CaseLog
from cdlog.errors import AccessRefusedError, InputError, KeyStoreError, VerificationError
from cdlog.log.sealing import stream_id
from cdlog.restricted import access
from cdlog.restricted.vault import VaultOps, X25519KeyWrapper, seal_value

if TYPE_CHECKING:
    from conftest import RawStore, World

CASE = "MI-06-CD-0001"
DAY = 24 * 60


def test_owner_reads_and_the_read_is_an_event(pworld: World) -> None:
    """CBP reads every vaulted field; the RestrictedValuesRead names reader, fields, record."""
    w = pworld
    ingest(w, "K-1")
    now(w.log, w.t(5))
    got = w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="targeting")
    assert got.values == VALUES
    assert got.event.type == "RestrictedValuesRead"
    assert got.event.stream == "pnr-access:2006-03"
    assert got.event.envelope["actor"]["id"] == w.id("pnr")
    assert got.event.payload["record"] == "pnr:K-1"
    assert sorted(got.event.payload["fields"]) == sorted(VALUES)
    assert "authorisation_version" not in got.event.payload
    assert w.log.events("pnr-access:2006-03")[-1].sealed == got.event.sealed
    assert "ABC123" not in got.event.sealed.decode()


def test_third_party_reads_under_its_authorisation(pworld: World) -> None:
    """ICE reads for the authorised case; the event names the authorisation's version."""
    w = pworld
    ingest(w, "K-1")
    auth = authorise(w, "K-1")
    now(w.log, w.t(5))
    got = w.log.read_restricted("pnr:K-1", reader=w.signers["oi_ca"], purpose="case",
                                case_no=CASE, fields=["itinerary"])
    assert got.values == {"itinerary": VALUES["itinerary"]}
    assert got.event.payload["authorisation_version"] == auth.version
    assert got.event.payload["case_no"] == CASE


@pytest.mark.parametrize(("reader", "case_no", "why"), [
    ("oi_ca", CASE, "no ThirdPartyDisclosureAuthorized"),
    ("oi_ca", None, "named no case"),
    ("dea", CASE, "no ThirdPartyDisclosureAuthorized for DEA"),
])
def test_refused_reads_are_recorded(pworld: World, reader: str, case_no: str | None,
                                    why: str) -> None:
    """A third party without authorisation gets nothing; the refusal is an event."""
    w = pworld
    ingest(w, "K-1")
    now(w.log, w.t(5))
    with pytest.raises(AccessRefusedError, match=why) as err:
        w.log.read_restricted("pnr:K-1", reader=w.signers[reader], purpose="curious",
                              case_no=case_no)
    assert "ABC123" not in str(err.value)
    refused = events_of_type(w, "RestrictedReadRefused")
    assert len(refused) == 1
    assert refused[0].envelope["actor"]["id"] == w.id(reader)
    assert why in refused[0].payload["reason"]
    assert events_of_type(w, "RestrictedValuesRead") == []


def test_a_read_event_by_an_unentitled_reader_is_refused_by_the_rules(pworld: World) -> None:
    """Writing a RestrictedValuesRead by hand for an unentitled reader is refused (and
    ``cdlog verify`` would find such an event: the same rule)."""
    w = pworld
    ingest(w, "K-1")
    with pytest.raises(InputError, match="restricted"):
        w.rec("pnr-access:2006-03", "RestrictedValuesRead",
              {"restricted_class": "EU_PNR", "record": "pnr:K-1", "record_version": 1,
               "fields": ["locator"], "purpose": "x", "case_no": CASE}, by="oi_ca", at=5)


def test_a_locked_kek_refuses_before_anything_is_written(world: World) -> None:
    """Only the public half loaded: values are vaulted, but a read needs the private half."""
    w = world
    w.log.vault_keys.add(X25519KeyWrapper.generate("CBP").public_only())
    ingest(w, "K-1")
    before = w.log.max_position()
    now(w.log, w.t(5))
    with pytest.raises(KeyStoreError, match="not unlocked"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    assert w.log.max_position() == before


def test_a_read_is_served_only_if_its_event_commits(pworld: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The values are read in the transaction that inserts the access event: when that
    transaction fails after the read, nothing is served and no event is stored."""
    w = pworld
    ingest(w, "K-1")
    before = w.log.max_position()
    original = VaultOps.apply

    def apply_then_fail(self: VaultOps, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.reads:
            raise RuntimeError("the transaction fails after the read")

    monkeypatch.setattr(VaultOps, "apply", apply_then_fail)
    now(w.log, w.t(5))
    with pytest.raises(RuntimeError, match="after the read"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    assert w.log.max_position() == before
    assert events_of_type(w, "RestrictedValuesRead") == []


def test_a_value_not_matching_its_commitment_is_refused(pworld: World, raw: RawStore,
                                                        kek: X25519KeyWrapper) -> None:
    """Someone holding the KEK re-encrypts another value in the row: the read is refused
    (located: case, version, field), the refusal recorded, nothing served."""
    w = pworld
    event = ingest(w, "K-1")
    forged = seal_value(w.log.log_id, event.case, 1, "locator", "EU_PNR",
                        event.payload["pnr_locator_commitment"], "XYZ999", b"s" * 32, kek)
    raw.execute((f"UPDATE {vault_table(raw)} SET wrapped_key = ?, nonce = ?, ciphertext = ? "
                 "WHERE field = ?", (forged.wrapped_key, forged.nonce, forged.ciphertext,
                                     "locator")))
    now(w.log, w.t(5))
    with pytest.raises(VerificationError) as err:
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x")
    failure = err.value.failures[0]
    assert (failure.case, failure.version, failure.check) == (event.case, 1, "vault")
    assert "'locator'" in failure.detail
    assert "XYZ999" not in str(err.value)
    assert events_of_type(w, "RestrictedValuesRead") == []
    assert len(events_of_type(w, "RestrictedReadRefused")) == 1
    # the other fields still read
    now(w.log, w.t(6))
    got = w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="x",
                                fields=["contact"])
    assert got.values == {"contact": VALUES["contact"]}


READERS = st.sampled_from(["pnr", "oi_ca", "dea"])
AUTHS = st.sampled_from(["none", "this", "other_agency", "other_case", "other_stream",
                         "after_read"])


@settings(max_examples=25)
@given(reader=READERS, auth=AUTHS, gap=st.integers(0, 3), valid=st.integers(0, 3))
def test_no_plaintext_without_a_prior_unexpired_authorisation(
        pworld: World, reader: str, auth: str, gap: int, valid: int) -> None:
    """Property: a read is served exactly when the reader is CBP or holds an authorisation
    for its agency, the case and the record, recorded before the read, given before it and
    unexpired on the read's day; a served read has its access event, committed with it, and a
    refused one its refusal event."""
    w = pworld
    n = len(events_of_type(w, "PNRRecordIngested"))
    base = n * 5 * DAY  # every example later than the one before (streams' times go forward)
    key = f"K-{n}"
    agency = {"pnr": "CBP", "oi_ca": "ICE", "dea": "DEA"}[reader]
    ingest(w, key, at=base)
    read_at = base + gap * DAY + 10
    auth_day = w.t(base + 1).date()
    expires = (auth_day + timedelta(days=valid)).isoformat()
    if auth == "this":
        authorise(w, key, agency=agency, at=base + 1, expires=expires)
    elif auth == "other_agency":
        authorise(w, key, agency="FBI", at=base + 1, expires=expires)
    elif auth == "other_case":
        authorise(w, key, agency=agency, case_no="MI-06-CD-9999", at=base + 1,
                  expires=expires)
    elif auth == "other_stream":
        ingest(w, key + "-B", at=base)
        authorise(w, key + "-B", agency=agency, at=base + 1, expires=expires)
    elif auth == "after_read":  # in the log before the read, but given after it
        authorise(w, key, agency=agency, at=read_at + 5,
                  expires=(w.t(read_at + 5).date() + timedelta(days=3)).isoformat())
    entitled = agency == "CBP" or (auth == "this" and w.t(read_at).date()
                                   <= auth_day + timedelta(days=valid))
    reads = len(events_of_type(w, "RestrictedValuesRead"))
    refusals = len(events_of_type(w, "RestrictedReadRefused"))
    try:
        now(w.log, w.t(read_at))
        got = w.log.read_restricted(f"pnr:{key}", reader=w.signers[reader],
                                    purpose="property", case_no=CASE)
    except AccessRefusedError:
        assert not entitled, (reader, auth, gap, valid)
        assert len(events_of_type(w, "RestrictedReadRefused")) == refusals + 1
        assert len(events_of_type(w, "RestrictedValuesRead")) == reads
    else:
        assert entitled, (reader, auth, gap, valid)
        assert got.values == VALUES
        assert got.event.sealed in [e.sealed for e in w.log.events(got.event.stream)]
        assert len(events_of_type(w, "RestrictedValuesRead")) == reads + 1
        assert len(events_of_type(w, "RestrictedReadRefused")) == refusals


def test_vault_rows_hold_no_plaintext(pworld: World, raw: RawStore) -> None:
    """No value or salt appears in the vault table or the events."""
    w = pworld
    ingest(w, "K-1")
    rows = vault_rows(raw)
    assert {r[2] for r in rows} == set(VALUES)
    assert {r[0] for r in rows} == {stream_id("pnr:K-1").hex}
    dump = repr(rows) + repr(raw.rows("SELECT state FROM {events}"))
    for secret in ("ABC123", "DOE/JANE", "+49 30 000000"):
        assert secret not in dump


def test_a_read_cannot_be_dated_back_past_an_expiry(pworld: World) -> None:
    """Reads happen at the log's clock, never before what the log has shown: after ICE's
    authorisation expired and a read was refused, a clock stepped back to before the expiry
    still cannot get the values (the read is judged at the access stream's last time)."""
    w = pworld
    ingest(w, "K-1")
    authorise(w, "K-1", expires="2006-03-15")
    now(w.log, w.t(3 * DAY))
    with pytest.raises(AccessRefusedError, match="expired"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["oi_ca"], purpose="late",
                              case_no=CASE)
    now(w.log, w.t(5))  # a clock stepped back, to inside the authorisation
    with pytest.raises(AccessRefusedError, match="expired"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["oi_ca"], purpose="late",
                              case_no=CASE)
    refused = events_of_type(w, "RestrictedReadRefused")
    assert [e.envelope["recorded"] for e in refused][-1] == refused[0].envelope["recorded"]
    assert events_of_type(w, "RestrictedValuesRead") == []


def test_an_erasure_racing_a_read_wins(pworld: World, store_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer erases the value after the read looked at the vault but before its
    transaction: the read, which takes its rows inside that transaction, serves nothing and
    records a refusal."""
    w = pworld
    ingest(w, "K-1")
    original = access.rows_of

    def rows_then_erased(log: Any, event: Any) -> Any:
        rows = original(log, event)
        if log is not w.log:  # the other writer's own look
            return rows
        with CaseLog(store_url) as other:
            now(other, w.t(6))
            other.erase_restricted("pnr:K-1", signer=w.signers["pnr_sup"],
                                   reason="legal_order", order_ref="ORDER-R",
                                   fields=["locator"])
        return rows

    monkeypatch.setattr(access, "rows_of", rows_then_erased)
    now(w.log, w.t(7))
    with pytest.raises(VerificationError, match="erased"):
        w.log.read_restricted("pnr:K-1", reader=w.signers["pnr"], purpose="race",
                              fields=["locator"])
    assert events_of_type(w, "RestrictedValuesRead") == []
    assert "erased" in events_of_type(w, "RestrictedReadRefused")[0].payload["reason"]


def test_a_read_event_must_name_an_authorisation_in_force(pworld: World) -> None:
    """The rules accept a third party's RestrictedValuesRead only under an authorisation in
    force for its agency: another version is refused, the right one recorded."""
    w = pworld
    ingest(w, "K-1")
    auth = authorise(w, "K-1")
    other = authorise(w, "K-1", agency="DEA", at=2)
    fields = {"restricted_class": "EU_PNR", "record": "pnr:K-1", "record_version": 1,
              "fields": ["locator"], "purpose": "x", "case_no": CASE}
    for wrong in (other.version, 99):
        with pytest.raises(InputError, match="not one in force"):
            w.rec("pnr-access:2006-03", "RestrictedValuesRead",
                  {**fields, "authorisation_version": wrong}, by="oi_ca", at=5)
    ok = w.rec("pnr-access:2006-03", "RestrictedValuesRead",
               {**fields, "authorisation_version": auth.version}, by="oi_ca", at=5)
    assert ok.payload["authorisation_version"] == auth.version
