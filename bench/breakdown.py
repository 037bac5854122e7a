"""Where the time of one event goes: append (by default at 100 events per save), and
verification.

Stages are timed by wrapping cdlog's functions in one process (a few percent of overhead); the
rest of each total is the glue between them. These numbers explain the ratios, they are not
benchmarks themselves.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.workload import World, fill
from cdlog import application
from cdlog.app import writing
from cdlog.application import CaseLog
from cdlog.domain import case as case_module
from cdlog.domain import evolve as evolve_module
from cdlog.keys import registry, signer
from cdlog.log import facts, sealing, signers
from cdlog.log.ledger import LedgerCursor
from cdlog.projections import projector
from cdlog.projections import store as store_module
from cdlog.projections.projector import Projections
from cdlog.verify import replay as verify_module

Timings = dict[str, float]


@contextmanager
def _timed(targets: list[tuple[Any, str, str]], spent: Timings) -> Iterator[None]:
    """Wrap ``(owner, attribute, stage)`` so each call adds its duration to ``spent[stage]``;
    calls inside a call of the same stage are not counted twice."""
    saved = []
    depth: dict[str, int] = {}
    for owner, attr, stage in targets:
        original = getattr(owner, attr)
        spent.setdefault(stage, 0.0)

        def wrapper(*args: Any, _f: Callable[..., Any] = original, _s: str = stage,
                    **kwargs: Any) -> Any:
            if depth.get(_s):
                return _f(*args, **kwargs)
            depth[_s] = 1
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_s] += time.perf_counter() - start
                depth[_s] = 0

        raw = inspect.getattr_static(owner, attr)
        saved.append((owner, attr, raw))
        wrapped: Any = functools.wraps(original)(wrapper)
        setattr(owner, attr, staticmethod(wrapped) if isinstance(raw, staticmethod) else wrapped)
    try:
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def _per_event(spent: Timings, total: float, events: int) -> dict[str, float]:
    out = {stage: seconds / events * 1e6 for stage, seconds in spent.items()}
    out["glue (the rest)"] = (total - sum(spent.values())) / events * 1e6
    out["total"] = total / events * 1e6
    return {k: round(v, 1) for k, v in out.items()}


def append(folder: Path, events: int = 20_000, per_save: int = 100) -> dict[str, float]:
    """Microseconds per event, by stage, appending ``per_save`` events per save (SQLite)."""
    log = CaseLog(f"sqlite:///{folder / f'breakdown-append-{per_save}.db'}")
    world = World.create()
    world.establish(log)
    spent: Timings = {}
    targets = [
        (application.CaseLog, "_payload", "payload validation (pydantic)"),
        (writing, "_occurred", "payload validation (pydantic)"),
        (application.CaseLog, "_identify", "key check"),
        (writing, "check", "domain rules"),
        (writing, "evolve", "domain rules"),
        (application, "evolve", "domain rules"),
        (application.CaseLog, "_state", "state lookups (SQL)"),
        (application.CaseLog, "_sync", "state lookups (SQL)"),
        (writing, "payload_json", "envelope"),
        (writing, "officer_json", "envelope"),
        (writing, "owned_envelope", "envelope"),
        (sealing, "canonical_bytes", "canonical JSON"),
        (sealing, "signatures_bytes", "canonical JSON"),
        (signer.Ed25519Signer, "sign", "Ed25519 sign (libsodium)"),
        (sealing, "leaf_hash", "SHA-256"),
        (LedgerCursor, "append_events", "Merkle log rows (in the transaction)"),
        (application.CaseLog, "_commit", "eventsourcing save + commit"),
    ]
    with _timed(targets, spent):
        start = time.perf_counter()
        fill(log, world, events, per_save)
        total = time.perf_counter() - start
    log.close()
    spent["eventsourcing save + commit"] -= spent["Merkle log rows (in the transaction)"]
    return _per_event(spent, total, events)


def verify(store: str, rows_wanted: int = 20_000) -> dict[str, float]:
    """Microseconds per event, by stage, of the serial replay (one process)."""
    log = CaseLog(store)
    rows = []
    for row in verify_module.iter_notifications(log.app.recorder):
        rows.append(row)
        if len(rows) == rows_wanted:
            break
    spent: Timings = {}
    targets = [
        (verify_module, "parse_checked", "decode and canonical form check"),
        (verify_module, "fact_of", "payload validation (pydantic)"),
        (verify_module, "signature_is_valid", "Ed25519 verify (libsodium)"),
        (registry.KeyRegistry, "check_signer", "key check"),
        (verify_module, "officer_of", "key check"),
        (signers.SignerCache, "get", "key check"),  # the one-step path's key check
        (signers.KnownSigner, "in_force", "key check"),
        (signers.KnownSigner, "signs_as", "key check"),
        (verify_module, "check", "domain rules"),
        (verify_module, "evolve", "domain rules"),
    ]
    for attr, same in (("check", case_module.check), ("evolve", evolve_module.evolve),
                       ("officer_of", facts.officer_of)):
        assert getattr(verify_module, attr) is same  # the names wrapped are the ones used
    verifier = verify_module.Verifier(log.config)
    with _timed(targets, spent):
        start = time.perf_counter()
        for row in rows:
            verifier.feed(row.id, row.state, row)
        total = time.perf_counter() - start
    log.close()
    return _per_event(spent, total, len(rows))


def projections(store: str, folder: Path) -> dict[str, float]:
    """Microseconds per event, by stage, of a projection catch-up from empty views, in one
    process (a split catch-up's forked share would not be timed)."""
    log = CaseLog(store)
    spent: Timings = {}
    targets = [
        (projector, "read_page", "read the notification log"),
        (projector, "parse", "decode (parse, payload validation)"),
        (projector, "fact_of", "decode (parse, payload validation)"),
        (store_module.SQLiteViewStore, "write", "view handlers and inserts"),
    ]
    views = Projections(log, folder=folder, catch_up=False)
    with _timed(targets, spent):
        start = time.perf_counter()
        events = views.catch_up(processes=1)
        total = time.perf_counter() - start
    views.close()
    log.close()
    return _per_event(spent, total, events)


def all_stages(folder: Path, store: str) -> dict[str, dict[str, float]]:
    """The three breakdowns bench/run.py records: append at 100/save (into a new store in
    ``folder``), the serial replay of ``store``, and the catch-up of views of the append store.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return {"append_100_per_save_us": append(folder),
            "verify_replay_us": verify(store),
            "projection_catch_up_us": projections(  # the 20k-event store append wrote
                f"sqlite:///{folder / 'breakdown-append-100.db'}", folder / "breakdown-views")}


def pure_python(folder: Path, store: str) -> dict[str, Any]:
    """:func:`all_stages` of the pure-Python build (``CDLOG_PURE=1``, a separate process), for
    the before and after of the native hot loops in the same run."""
    env = dict(os.environ, CDLOG_PURE="1")
    done = subprocess.run([sys.executable, "-m", "bench.breakdown", str(folder), store],
                          env=env, capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


if __name__ == "__main__":  # python -m bench.breakdown FOLDER STORE: all_stages as JSON
    import cdlog

    print(json.dumps({"native": cdlog.native_status(),
                      **all_stages(Path(sys.argv[1]), sys.argv[2])}))
