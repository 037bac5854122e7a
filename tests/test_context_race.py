"""Keys or authorisations changed by another writer between preparing a command and saving it.

A command is checked against the keys (certificates, rotations, revocations) and PNR
disclosure authorisations as of the position it was prepared at. Another writer may record
such an event before the command commits; the command's insert transaction sees it (under the
store's write lock) and refuses, and :class:`~cdlog.application.CaseLog` prepares the command
again against the new keys: a key revoked meanwhile refuses the command with an InputError, an
unrelated change lets it through. Without this, the log would hold an event signed by a key
revoked before it, and ``cdlog verify`` would fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.application import CONTEXT_RETRIES, CaseLog
from cdlog.domain.values import Officer
from cdlog.errors import ConcurrencyError, ContextChangedError, InputError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.context import CONTEXT_TOPICS
from cdlog.logging import capture_logs
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import World



@pytest.fixture
def other(world: World, store_url: str) -> Iterator[CaseLog]:
    """A second writer on the same store (another process, as far as the log can tell)."""
    log = CaseLog(store_url)
    yield log
    log.close()


def certify_someone(world: World, log: CaseLog, n: int) -> None:
    """Certify a new CBP officer key through ``log`` (a context event unrelated to cbpo)."""
    start = world.t(-60 * 24)
    log.certify_officer(world.roots["CBP"],
                        Officer(id=f"CBP-90{n:02d}", role="CBPO", agency="CBP", office="OFO"),
                        Ed25519Signer.generate().public_key, not_before=start,
                        not_after=start + timedelta(days=3650), at=world.t(1))


def test_key_revoked_while_preparing_refuses_the_command(world: World, other: CaseLog) -> None:
    """The signer's key is revoked by another writer after the batch was prepared: the batch
    is prepared again, refused with the revocation named, and nothing of it is saved."""
    case = world.open_case()
    second = world.open_case("OP-T-2", at=1)
    cbpo = world.signers["cbpo"]

    def prepare_while_revoked() -> None:
        with world.log.batch() as b:
            b.record(second, "ConveyanceArrived", {"conveyance": "FLT 1"},
                     signer=world.signers["scbpo"], at=world.t(4), recorded=world.t(4))
            b.record(case, "ExaminationReferred", {"reason": "targeting"}, signer=cbpo,
                     at=world.t(5), recorded=world.t(5))
            other.revoke_key(world.roots["CBP"], "CBP", cbpo.key_id, "lost", at=world.t(4))

    with pytest.raises(InputError) as caught:
        prepare_while_revoked()
    assert caught.value.field == "ExaminationReferred.signer"
    assert "revoked" in caught.value.problem
    assert [e.type for e in world.log.events(case)] == ["CaseOpened"]
    assert [e.type for e in world.log.events(second)] == ["CaseOpened"]
    report = verify_log(world.log)
    assert report.ok, report.failures


def test_unrelated_key_change_lets_the_command_through(world: World, other: CaseLog) -> None:
    """Another officer certified meanwhile: the batch is prepared again and saved, after it."""
    case = world.open_case()
    with capture_logs() as logs, world.log.batch() as b:
        b.record(case, "ExaminationReferred", {"reason": "targeting"},
                 signer=world.signers["cbpo"], at=world.t(5), recorded=world.t(5))
        certify_someone(world, other, 1)
    assert [e["attempt"] for e in logs if e["event"].startswith("keys changed")] == [1]
    stored = world.log.events(case)
    assert [e.type for e in stored] == ["CaseOpened", "ExaminationReferred"]
    assert b.events[-1].sealed == stored[-1].sealed
    report = verify_log(world.log)
    assert report.ok, report.failures


def racing(log: CaseLog, before_save: Callable[[int], None]) -> list[int]:
    """Make ``log`` call ``before_save(attempt)`` right before each attempt to save a command
    (after it was prepared); return the list of attempts, filled as they happen."""
    attempts: list[int] = []
    save = log._save

    def hooked(pending: Any) -> None:
        attempts.append(len(attempts) + 1)
        before_save(attempts[-1])
        save(pending)

    log._save = hooked  # type: ignore[method-assign]
    return attempts


def test_record_returns_the_event_it_saved(world: World, other: CaseLog,
                                           store_url: str) -> None:
    """``CaseLog.record`` returns the event as saved when it had to be prepared again: the
    same bytes, since the second preparation keeps the recorded time of the first (the log
    clock is read once, though it moves on)."""
    case = world.open_case()
    readings: list[int] = []

    def clock() -> datetime:
        readings.append(len(readings))
        return world.t(6 + len(readings))

    with CaseLog(store_url, clock=clock) as log:
        attempts = racing(log, lambda n: certify_someone(world, other, 2) if n == 1 else None)
        sealed = log.record(case, "ExaminationReferred", {"reason": "targeting"},
                            signer=world.signers["cbpo"], at=world.t(5))
        assert attempts == [1, 2]
        assert readings == [0]
        assert log.events(case)[-1].sealed == sealed.sealed
        assert verify_log(log).ok


def test_keys_changing_all_the_time_give_a_concurrency_error(world: World,
                                                             other: CaseLog) -> None:
    """When every attempt meets a new key event, the caller gets ContextChangedError (a
    ConcurrencyError) after a few attempts, and nothing is saved."""
    case = world.open_case()
    attempts = racing(world.log, lambda n: certify_someone(world, other, 10 + n))
    with pytest.raises(ContextChangedError, match="OfficerKeyCertified event") as caught:
        world.log.record(case, "ExaminationReferred", {"reason": "targeting"},
                         signer=world.signers["cbpo"], at=world.t(5), recorded=world.t(5))
    assert isinstance(caught.value, ConcurrencyError)
    assert "nothing of this command was saved" in str(caught.value)
    assert attempts == list(range(1, CONTEXT_RETRIES + 1))
    assert [e.type for e in world.log.events(case)] == ["CaseOpened"]
    assert verify_log(world.log).ok


def test_case_written_meanwhile_is_still_a_stale_writer(world: World, other: CaseLog) -> None:
    """Keys changed and another writer also appended to the command's case: the command is
    refused as stale (ConcurrencyError), not moved onto the other writer's event."""
    case = world.open_case()

    def both(attempt: int) -> None:
        other.record(case, "ConveyanceArrived", {"conveyance": "theirs"},
                     signer=world.signers["scbpo"], at=world.t(4), recorded=world.t(4))
        certify_someone(world, other, 20 + attempt)

    racing(world.log, both)
    with pytest.raises(ConcurrencyError, match=f"{case} version 2 was written by another"):
        world.log.record(case, "ExaminationReferred", {"reason": "targeting"},
                         signer=world.signers["cbpo"], at=world.t(5), recorded=world.t(5))
    assert [e.type for e in world.log.events(case)] == ["CaseOpened", "ConveyanceArrived"]
    assert verify_log(world.log).ok


def test_own_key_events_do_not_count_as_changes(world: World) -> None:
    """A command's own context events (a revocation, then a certification) are not another
    writer's: it saves at the first attempt."""
    with capture_logs() as logs:
        world.log.revoke_key(world.roots["DEA"], "DEA", world.signers["dea"].key_id, "rotated",
                             at=world.t(1))
        certify_someone(world, world.log, 3)
    assert not [e for e in logs if e["event"].startswith("keys changed")]
    assert "cdlog:OfficerKeyRevoked" in CONTEXT_TOPICS
    assert verify_log(world.log).ok
