"""The PostgreSQL recorder's own insert and read paths held to eventsourcing's: the events
sent as four binary arrays store what the composite-type array in text stores, and
``select_events`` on the kept connection returns what eventsourcing's returns."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cdlog_testkit import pg_schema
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.log.pgledger import CdlogPostgresApplicationRecorder


@pytest.fixture(scope="module")
def recorder(pg_server: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[CdlogPostgresApplicationRecorder]:
    with pg_schema(pg_server, tmp_path_factory.mktemp("pgrec")) as url:
        log = CaseLog(url)
        try:
            rec = log.app.recorder
            assert isinstance(rec, CdlogPostgresApplicationRecorder)
            yield rec
        finally:
            log.close()


events = st.lists(st.tuples(
    st.integers(min_value=0, max_value=2**62),
    st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40),
    st.binary(max_size=300)), min_size=1, max_size=12)


def _stored(rows: list[tuple[int, str, bytes]]) -> list[StoredEvent]:
    # each event its own originator, so versions need not be distinct
    return [StoredEvent(originator_id=uuid.uuid4(), originator_version=v, topic=t, state=s)
            for v, t, s in rows]


def _inserted(rec: CdlogPostgresApplicationRecorder, stored: list[StoredEvent],
              composite: bool) -> list[tuple[Any, ...]]:
    """Insert ``stored`` in a rolled-back transaction; the rows as the table holds them
    (without the originator id, which differs) and the ids returned in order."""
    with rec.datastore.transaction(commit=False) as curs:
        if composite:
            PostgresApplicationRecorder._insert_stored_events(rec, curs, stored)
        else:
            rec._insert_stored_events(curs, stored)
        ids = rec._fetch_ids_after_insert_events(curs, stored)
        assert ids is not None
        assert len(ids) == len(stored)
        rows = []
        for nid, event in zip(ids, stored, strict=True):
            curs.execute(f"SELECT originator_id, originator_version, topic, state FROM "
                         f"{rec.qualified_events_table} WHERE notification_id = %s", [nid])
            row = curs.fetchone()
            assert row is not None
            assert row["originator_id"] == event.originator_id
            rows.append((row["originator_version"], row["topic"], bytes(row["state"])))
        assert ids == sorted(ids)
        return rows


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=events)
def test_array_insert_stores_what_the_composite_insert_stores(
        recorder: CdlogPostgresApplicationRecorder, rows: list[tuple[int, str, bytes]]) -> None:
    mine = _inserted(recorder, _stored(rows), composite=False)
    theirs = _inserted(recorder, _stored(rows), composite=True)
    assert mine == theirs == [(v, t, s) for v, t, s in rows]


def test_array_insert_refuses_a_taken_version_as_integrity_error(
        recorder: CdlogPostgresApplicationRecorder) -> None:
    first = _stored([(1, "t", b"a")])
    recorder.insert_events(first)
    again = [StoredEvent(originator_id=first[0].originator_id, originator_version=1,
                         topic="t", state=b"b")]
    with pytest.raises(IntegrityError):
        recorder.insert_events(again)
    assert [e.state for e in recorder.select_events(first[0].originator_id)] == [b"a"]


@pytest.mark.parametrize("gt", [None, 0, 3])
@pytest.mark.parametrize("lte", [None, 2, 6])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("limit", [None, 1, 4])
def test_select_events_returns_what_eventsourcing_returns(
        recorder: CdlogPostgresApplicationRecorder, gt: int | None, lte: int | None,
        desc: bool, limit: int | None) -> None:
    oid = uuid.uuid5(uuid.NAMESPACE_URL, "cdlog-test-select-events")
    if not PostgresApplicationRecorder.select_events(recorder, oid):
        recorder.insert_events([StoredEvent(originator_id=oid, originator_version=v,
                                            topic=f"t{v}", state=bytes([v]) * v)
                                for v in range(1, 8)])
    mine = recorder.select_events(oid, gt=gt, lte=lte, desc=desc, limit=limit)
    theirs = PostgresApplicationRecorder.select_events(recorder, oid, gt=gt, lte=lte,
                                                       desc=desc, limit=limit)
    assert mine == theirs
    assert recorder.select_events(uuid.uuid4(), gt=gt) == []
