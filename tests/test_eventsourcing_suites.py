"""eventsourcing's own recorder test cases, run against cdlog's custom recorder.

cdlog replaces one piece of eventsourcing's persistence: the application recorder, which also
appends every stored event to the Merkle log in the same transaction. The library's shipped
test cases for application recorders must still pass against it (the slow timing cases are
left out: timings belong in bench/). The stock tracking and process recorders are unchanged
and are covered by eventsourcing's own release tests.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import eventsourcing.tests.persistence as es_tests
import pytest
from eventsourcing.sqlite import SQLiteDatastore

from cdlog.ledger import CdlogSQLiteApplicationRecorder


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
