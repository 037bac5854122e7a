"""eventsourcing's own recorder test cases, run against cdlog's custom recorder.

cdlog replaces one piece of eventsourcing's persistence: the application recorder, which also
appends every stored event to the Merkle log in the same transaction. The library's shipped
test cases for application recorders must still pass against it (the slow timing cases are
left out: timings belong in bench/). The stock tracking and process recorders are unchanged
and are covered by eventsourcing's own release tests. Both recorders run them: SQLite's in a
fresh file, PostgreSQL's in a fresh schema of the test server (where notification ids may
skip values, so the shipped cases are told not to expect contiguous ids).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import eventsourcing.tests.persistence as es_tests
import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from cdlog.log.ledger import CdlogSQLiteApplicationRecorder
from cdlog.log.pgledger import CdlogPostgresApplicationRecorder
from cdlog.store.urls import resolve_store

if TYPE_CHECKING:
    from conftest import RawStore
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import RawStore
from cdlog_testkit import pg_schema  # on sys.path (tests/procs), put there by conftest


class _Base:
    """Creates a cdlog recorder in a fresh SQLite file for each test."""

    tmp: Path

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.tmp = tmp_path

    def create_recorder(self) -> CdlogSQLiteApplicationRecorder:
        datastore = SQLiteDatastore(db_name=str(self.tmp / "es.db"), pool_size=100)
        recorder = CdlogSQLiteApplicationRecorder(datastore)
        recorder.create_table()
        return recorder


class TestShippedApplicationRecorderCases(_Base, es_tests.ApplicationRecorderTestCase[Any]):
    """eventsourcing.tests.persistence.ApplicationRecorderTestCase on cdlog's recorder."""

    def test_performance(self) -> None:
        """Timings are measured in bench/, not asserted in tests."""

    def test_concurrent_throughput(self) -> None:
        """Timings are measured in bench/, not asserted in tests."""

    def test_every_stored_event_got_a_leaf(self) -> None:
        """After the shipped cases' kind of inserts, each event has exactly one Merkle leaf."""
        self.test_insert_select()
        rows = sqlite3.connect(self.tmp / "es.db").execute(
            "SELECT COUNT(*) FROM stored_events").fetchone()[0]
        leaves = sqlite3.connect(self.tmp / "es.db").execute(
            "SELECT COUNT(*) FROM merkle_leaves").fetchone()[0]
        assert rows > 0
        assert leaves == rows


class TestShippedNonInterleavingCase(_Base, es_tests.NonInterleavingNotificationIDsBaseCase):
    """Two concurrent batches never interleave their notification ids (and so their leaves)."""


class _PgBase:
    """Creates a cdlog recorder in a fresh PostgreSQL schema for each test."""

    url: str
    datastores: list[PostgresDatastore]

    @pytest.fixture(autouse=True)
    def _schema(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
        self.datastores = []
        with pg_schema(request.getfixturevalue("pg_server"), tmp_path) as url:
            self.url = url
            yield
            for datastore in self.datastores:
                datastore.close()

    def create_recorder(self) -> CdlogPostgresApplicationRecorder:
        config = resolve_store(self.url)
        datastore = PostgresDatastore(config.dbname, config.host, config.port, config.user,
                                      config.password, schema=config.schema, pool_size=4,
                                      max_overflow=16, lock_timeout=30)
        self.datastores.append(datastore)
        recorder = CdlogPostgresApplicationRecorder(datastore, events_table_name="cdlog_events")
        recorder.create_table()
        return recorder


class TestShippedApplicationRecorderCasesPostgres(
        _PgBase, es_tests.ApplicationRecorderTestCase[Any]):
    """The shipped application-recorder cases on cdlog's PostgreSQL recorder."""

    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def test_performance(self) -> None:
        """Timings are measured in bench/, not asserted in tests."""

    def test_concurrent_throughput(self) -> None:
        """Timings are measured in bench/, not asserted in tests."""

    def test_insert_subscribe(self) -> None:
        """Subscribers are notified of inserts (LISTEN/NOTIFY, sent in the insert transaction)."""
        self.optional_test_insert_subscribe()

    def test_every_stored_event_got_a_leaf(self) -> None:
        """After the shipped cases' kind of inserts, each event has exactly one Merkle leaf."""
        self.test_insert_select()
        raw = RawStore(self.url)
        [(rows,)] = raw.rows("SELECT COUNT(*) FROM {events}")
        [(leaves,)] = raw.rows("SELECT COUNT(*) FROM {leaves}")
        assert rows > 0
        assert leaves == rows


class TestShippedNonInterleavingCasePostgres(
        _PgBase, es_tests.NonInterleavingNotificationIDsBaseCase):
    """Two concurrent batches never interleave their notification ids (and so their leaves)."""
