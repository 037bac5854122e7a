"""``query pnr`` tells what the store did apart from what is due (issue 11): properties over
any record, any erasures and any day, on the view entries the query reads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cdlog.projections.queries import REGIMES, Queries
from cdlog.projections.store import Entry
from cdlog.restricted.classes import EU_PNR
from cdlog.restricted.commitment import commitment

RECORD = "pnr:K-P-1"
RECEIVED = datetime(2010, 1, 1, tzinfo=UTC)
FIELDS = ("contact", "itinerary", "locator", "passenger")


def _entry(kind: str, key: str, at: datetime, data: dict[str, Any], seq: int) -> Entry:
    return Entry(position=seq, seq=0, stream=RECORD, version=seq, hash=f"{seq:064x}",
                 type={"record": "PNRRecordIngested", "erased": "RestrictedValuesErased",
                       "linked": "PNRLinkedToCase", "archived": "PNRCaseArchived"}[kind],
                 kind=kind, key=key, occurred_from=at, occurred_to=at, recorded=at, data=data)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Entry], list[str], date]:
    vaulted = sorted(draw(st.sets(st.sampled_from(FIELDS), max_size=len(FIELDS))))
    commitments = {f: commitment(f, f"value-{f}", bytes(32)) for f in vaulted}
    ingest: dict[str, Any] = {"received_at": RECEIVED.isoformat(), "flight": "XX1",
                              "key_id": "K-P-1", "pnr_locator_commitment": "sha256:typed"}
    if commitments:
        ingest["commitments"] = commitments
    entries = [_entry("record", RECORD, RECEIVED, ingest, 1)]
    left = list(vaulted)
    days = 0
    while left:
        if not draw(st.booleans()):
            break
        chosen = draw(st.lists(st.sampled_from(left), min_size=1, unique=True))
        left = [f for f in left if f not in chosen]
        days += draw(st.integers(min_value=0, max_value=4000))
        entries.append(_entry("erased", RECORD, RECEIVED + timedelta(days=days),
                              {"fields": chosen, "reason": "legal_order",
                               "order_ref": "ORD-1", "record": RECORD}, len(entries) + 1))
    if draw(st.booleans()):  # a case hold, perhaps released
        entries.append(_entry("linked", "MI-1", RECEIVED, {"record": RECORD}, len(entries) + 1))
        if draw(st.booleans()):
            entries.append(_entry("archived", "MI-1", RECEIVED + timedelta(days=30),
                                  {"record": RECORD}, len(entries) + 1))
    day = RECEIVED.date() + timedelta(days=draw(st.integers(min_value=0, max_value=7000)))
    return entries, vaulted, day


@given(history=histories(), regime=st.sampled_from(REGIMES))
def test_state_is_what_the_store_did(history: tuple[list[Entry], list[str], date],
                                     regime: str) -> None:
    entries, vaulted, day = history
    s = Queries._pnr_state(RECORD, entries[0], entries, day, regime)
    erased = {f for e in entries if e.kind == "erased" and e.at.date() <= day
              for f in e.data["fields"]}
    held = [f for f in vaulted if f not in erased]
    assert s.vault == {f: ("erased" if f in erased else "held") for f in vaulted}
    assert s.fields == {f: ("[erased]" if f in erased else EU_PNR.mask) for f in vaulted}
    if not vaulted:
        assert s.state in ("personalised", "not_in_vault")
    elif not erased:
        assert s.state == "personalised"
    else:
        assert s.state == ("erased" if not held else "masked")
    # never claims a masking or deletion the store did not do
    if s.state in ("personalised", "not_in_vault"):
        assert not s.summary.startswith(("depersonalised", "anonymised", "deleted", "erased"))
    if s.due in ("personalised", "deleted_record_file"):
        assert not s.overdue
    if s.overdue:
        assert held
        assert "not done" in s.summary or "still holds" in s.summary
    if s.due in ("anonymised", "deleted") and held:
        assert s.overdue
    assert "value-" not in json.dumps(s.model_dump(mode="json"))
