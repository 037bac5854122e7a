"""The replay's one-step path for clean events (``Verifier._replay_clean``) gives exactly the
report of the full checks: the same failures in the same order, counts, heads and case numbers.

The store of tests/test_tamper.py (the example scenarios, a case of its own, keys revoked,
expired and not yet valid) is fed to two verifiers, one with the one-step path and one without,
after random damage to its rows (a flipped byte, a version, topic, case id or position changed,
a row dropped, repeated or swapped) and with events appended that are signed correctly but fail
a later check (a revoked, expired or future key, a party that is not the key's subject, a wrong
``late`` flag, a rule, another log), serially and through the worker processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import Notification
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdlog.canonical import format_time
from cdlog.domain.events import ConveyanceArrived
from cdlog.domain.values import Officer
from cdlog.keys.signer import Signer
from cdlog.log.facts import officer_json, payload_json
from cdlog.log.sealing import SealedEvent, build_envelope, seal
from cdlog.verify.replay import Report, Verifier
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import opened_copy
    from test_tamper import EXTRA, OWN_CASE, REVOKED_AT, Base, _build_base, forge
else:  # pytest registers tests/ modules under the tests package
    from tests.conftest import opened_copy
    from tests.test_tamper import (
        EXTRA,
        OWN_CASE,
        REVOKED_AT,
        Base,
        _build_base,
        forge,
    )


@dataclass
class Store:
    base: Base
    rows: list[Notification]
    forged: dict[str, SealedEvent]

    def __repr__(self) -> str:
        return f"Store({len(self.rows)} rows, forged {sorted(self.forged)})"


def _forge(base: Base, type_: str, fields: dict[str, Any], *, signer: Signer, officer: Officer,
           at: datetime, late: bool = False, log_id: str | None = None) -> SealedEvent:
    """The next event of the own case, signed by ``signer`` as ``officer`` would sign it."""
    return forge(base.world.log, OWN_CASE, type_, fields, signer=signer, officer=officer, at=at,
                 log_id=log_id, late=late)


def _renamed(base: Base, stream: str, case: str, version: int, prev: str | None, *,
             signer: Signer, officer: Officer, at: datetime, recorded: str = "") -> SealedEvent:
    """An event of case id ``case`` whose envelope names ``stream`` (whose id is another, or
    the case's own), recorded at ``recorded`` (else ``at``), otherwise correct and correctly
    signed."""
    log = base.world.log
    envelope = dict(build_envelope(
        log=log.log_id, stream=stream, version=version, type_="ConveyanceArrived",
        occurred={"at": format_time(at)}, recorded=recorded or format_time(at),
        actor=officer_json(officer, signer.key_id), cosigners=[],
        payload=payload_json(ConveyanceArrived(conveyance="truck")), prev=prev, late=False))
    envelope["case"] = case
    return seal(envelope, [signer])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    base = _build_base(tmp_path_factory.mktemp("clean-path"))
    world = base.world
    with opened_copy(base.path) as (log, _):
        world.log = log
        cbpo, arrived = world.signers["cbpo"], {"conveyance": "truck"}
        forged = {
            "valid": _forge(base, "ConveyanceArrived", arrived, signer=cbpo,
                            officer=world.officers["cbpo"], at=world.t(30)),
            "revoked": _forge(base, "ConveyanceArrived", arrived, signer=base.extra["revoked"],
                              officer=EXTRA["revoked"][0], at=world.t(REVOKED_AT + 5)),
            "expired": _forge(base, "ConveyanceArrived", arrived, signer=base.extra["expired"],
                              officer=EXTRA["expired"][0], at=world.t(90)),
            "future": _forge(base, "ConveyanceArrived", arrived, signer=base.extra["future"],
                             officer=EXTRA["future"][0], at=world.t(30)),
            "subject": _forge(base, "ConveyanceArrived", arrived, signer=cbpo,
                              officer=EXTRA["revoked"][0], at=world.t(30)),
            "late": _forge(base, "ConveyanceArrived", arrived, signer=cbpo,
                           officer=world.officers["cbpo"], at=world.t(30), late=True),
            "rule": _forge(base, "HoldReleased", {"reason": "no hold"}, signer=cbpo,
                           officer=world.officers["cbpo"], at=world.t(30)),
            "log": _forge(base, "ConveyanceArrived", arrived, signer=cbpo,
                          officer=world.officers["cbpo"], at=world.t(30), log_id="other/log"),
        }
        # the own case's next event naming another stream; and a case whose stream is not its
        # id from its first event on, its second event clean in every other way
        own = log.events(OWN_CASE)[-1]
        signed: dict[str, Any] = {"signer": cbpo, "officer": world.officers["cbpo"],
                                  "at": world.t(30)}
        forged["stream"] = _renamed(base, "case:OP-RENAMED", own.case, own.version + 1,
                                    own.hash_hex, **signed)
        naive = format_time(world.t(30))[:-6]  # a recording time without its UTC offset
        forged["naive"] = _renamed(base, OWN_CASE, own.case, own.version + 1, own.hash_hex,
                                   recorded=naive, **signed)
        stray = str(uuid.uuid4())
        first = _renamed(base, "case:OP-STRAY", stray, 1, None, **signed)
        forged["stray"] = first
        forged["stray-2"] = _renamed(base, "case:OP-STRAY", stray, 2, first.hash_hex, **signed)
        rows = [Notification(id=r.rowid, originator_id=uuid.UUID(r.originator_id),
                             originator_version=r.version, topic=r.topic, state=r.state)
                for r in base.rows]
        yield Store(base, rows, forged)


def as_row(sealed: SealedEvent, position: int) -> Notification:
    return Notification(id=position, originator_id=uuid.UUID(sealed.case),
                        originator_version=sealed.version, topic=sealed.topic,
                        state=sealed.sealed)


def replay(rows: list[Notification], clean_path: bool) -> tuple[Report, str | None]:
    verifier = Verifier.__new__(Verifier)
    Verifier.__init__(verifier, _CONFIG[0])
    verifier.clean_path = clean_path
    for row in rows:
        verifier.feed(row.id, row.state, row)
    return verifier.finish(), verifier.log_id


_CONFIG: list[Any] = []


def same(rows: list[Notification]) -> Report:
    """Both replays of ``rows``; asserts they agree in everything, returns one report."""
    fast, fast_log = replay(rows, True)
    full, full_log = replay(rows, False)
    assert fast.failures == full.failures
    assert (fast.events, fast.cases, fast.heads, fast.case_nos, fast_log) == (
        full.events, full.cases, full.heads, full.case_nos, full_log)
    return fast


def test_every_forged_event_fails_its_check_alike(store: Store) -> None:
    _CONFIG[:] = [store.base.world.log.config]
    assert same(store.rows).ok
    last = store.rows[-1].id
    expected = {"valid": set(), "revoked": {"key"}, "expired": {"key"}, "future": {"key"},
                "subject": {"key"}, "late": {"late"}, "rule": {"rule"}, "log": {"placement"},
                "stream": {"placement"}, "stray": {"placement", "rule"}, "naive": {"decode"}}
    for name, sealed in store.forged.items():
        if name == "stray-2":
            continue
        report = same([*store.rows, as_row(sealed, last + 1)])
        assert {f.check for f in report.failures} == expected[name], (name, report.failures)
    # the stray case's second event names the stream its state was started with: its id is
    # still derived and found wrong (the state's name was never found to be the case's id)
    report = same([*store.rows, as_row(store.forged["stray"], last + 1),
                   as_row(store.forged["stray-2"], last + 2)])
    assert (2, "placement") in [(f.version, f.check) for f in report.failures]


@st.composite
def damaged(draw: st.DrawFn, store: Store) -> list[Notification]:
    rows = list(store.rows)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(rows) - 1))
        r = rows[i]
        what = draw(st.sampled_from(["flip", "version", "topic", "case", "drop", "repeat",
                                     "swap", "position"]))
        if what == "flip":
            state = bytearray(r.state)
            at = draw(st.integers(0, len(state) - 1))
            state[at] ^= 1 << draw(st.integers(0, 7))
            rows[i] = replace(r, state=bytes(state))
        elif what == "version":
            version: Any = draw(st.integers(-1, 12) | st.just("1"))
            rows[i] = replace(r, originator_version=version)
        elif what == "topic":
            rows[i] = replace(r, topic=draw(st.sampled_from(rows)).topic)
        elif what == "case":
            rows[i] = replace(r, originator_id=draw(st.sampled_from(rows)).originator_id)
        elif what == "drop":
            del rows[i]
        elif what == "repeat":
            rows.insert(draw(st.integers(i, len(rows))), r)
        elif what == "swap" and i + 1 < len(rows):
            rows[i], rows[i + 1] = rows[i + 1], rows[i]
        elif what == "position":
            rows[i] = replace(r, id=draw(st.integers(-2, 0)))
    last = max(r.id for r in store.rows)
    names = draw(st.lists(st.sampled_from(sorted(store.forged)), max_size=3))
    rows += [as_row(store.forged[n], last + 1 + k) for k, n in enumerate(names)]
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_rows_are_reported_alike(store: Store, data: st.DataObject) -> None:
    _CONFIG[:] = [store.base.world.log.config]
    same(data.draw(damaged(store)))


def test_worker_processes_report_alike(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """verify_store over two worker processes, with and without the one-step path."""
    with opened_copy(store.base.path) as (log, conn):
        last = max(r.id for r in store.rows)
        for k, name in enumerate(sorted(store.forged)):
            sealed = store.forged[name]
            conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                         "topic, state) VALUES (?, ?, ?, ?, ?)",
                         (last + 1 + k, uuid.UUID(sealed.case).hex, sealed.version + k,
                          sealed.topic, sealed.sealed))
        conn.execute("UPDATE stored_events SET originator_version = 99 WHERE rowid = ?",
                     (store.rows[len(store.rows) // 2].id,))
        conn.commit()
        fast = verify_store(log, workers=2)
        monkeypatch.setattr(Verifier, "clean_path", False)
        full = verify_store(log, workers=2)
        serial = verify_store(log, workers=1)
    assert not fast.ok
    assert fast.failures == full.failures == serial.failures
    assert (fast.events, fast.cases, fast.heads, fast.case_nos) == (
        full.events, full.cases, full.heads, full.case_nos)
