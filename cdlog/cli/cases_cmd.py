"""``cdlog replay`` and ``cdlog demo`` (``cases`` and ``show``: :mod:`cdlog.cli.browse_cmd`)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from cdlog.application import CaseLog
from cdlog.cli.demo_keys import passphrase, root_source
from cdlog.cli.log_cmd import demo_checkpoint_and_bundle
from cdlog.cli.main import Env, cli, pass_env
from cdlog.domain.case import Fact
from cdlog.keys.trust import TrustFile, save_trust
from cdlog.log.facts import fact_of
from cdlog.projections.responsibility import responsibility_intervals
from cdlog.scenario import Replayer, ReplayResult, Scenario, load_scenario
from cdlog.store.urls import StoreConfig
from cdlog.verify.runner import verify_store

DEMO_SCENARIOS = ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml")


def _write_trust(log: CaseLog) -> Path:
    path = log.store.home / "trust.json"
    save_trust(path, TrustFile(format="cdlog/trust/v1",
                               roots=tuple(log.context.registry.roots())))
    return path


PROGRESS_STEPS = 500
"""Scenario steps from which a replay shows a progress bar (on a terminal)."""


@contextmanager
def _progress(total: int, label: str = "preparing steps") -> Iterator[Callable[[], None] | None]:
    """A per-step progress bar on stderr for a long replay, when stderr is a terminal."""
    if total < PROGRESS_STEPS or not sys.stderr.isatty():
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _absent(store: StoreConfig) -> bool:
    """Whether ``store`` holds no log yet: an SQLite file that does not exist (or is empty),
    a PostgreSQL schema without cdlog's tables. Nothing is created by asking."""
    if store.path is not None:
        return not store.path.exists() or store.path.stat().st_size == 0
    from cdlog.log.pgledger import probe  # noqa: PLC0415 - PostgreSQL stores need psycopg

    return not probe(store, create=True)


@contextmanager
def _dry_run_log(env: Env) -> Iterator[CaseLog]:
    """The log a dry run prepares against, opened read-only; a store that does not exist
    yet is an empty log, stood in for by a throwaway SQLite store (nothing is created)."""
    if _absent(env.store):
        with tempfile.TemporaryDirectory(prefix="cdlog-dry-run-") as folder, \
                CaseLog(f"sqlite:///{Path(folder) / 'empty.db'}", config=env.config) as log:
            yield log
        return
    with env.open(readonly=True) as log:
        yield log


def _check(env: Env, scenarios: list[Scenario], secret: bytes) -> list[ReplayResult]:
    """Prepare ``scenarios`` against the store as it is, exactly as a replay would, and save
    nothing (no events, key files or store)."""
    with _dry_run_log(env) as log:
        keys = root_source(env.store.home, secret, write=False)
        with _progress(sum(len(sc.events) for sc in scenarios), "checking steps") as step:
            return Replayer(log, keys).replay_all(scenarios, dry_run=True, step=step)


def _dry_run(env: Env, files: list[Path]) -> list[ReplayResult]:
    """Check ``files`` exactly as :func:`_replay` would record them; write nothing."""
    scenarios = [load_scenario(path) for path in files]
    results = _check(env, scenarios, passphrase(demo_ok=True))
    for result in results:
        click.echo(f"would replay {result.scenario.name}: {result.recorded} events, "
                   f"{result.keys} key events, {result.derived_checked} derived checked, "
                   "streams " + ", ".join(result.streams))
    checked = f"{len(results)} scenario{'s' if len(results) != 1 else ''}"
    click.echo(f"dry run: every step passed; nothing was written ({checked} checked against "
               "the store as it is)")
    return results


def _replay(env: Env, files: list[Path]) -> tuple[CaseLog, list[ReplayResult]]:
    """Replay ``files`` as one transaction: all saved, or nothing. Every file is parsed and
    the passphrase read before the store is opened; a store that does not exist yet is
    created only once the files have passed a dry run, so a refused replay leaves none."""
    scenarios = [load_scenario(path) for path in files]
    secret = passphrase(demo_ok=True)
    steps = sum(len(sc.events) for sc in scenarios)
    if _absent(env.store):
        _check(env, scenarios, secret)
    log = env.open()
    try:
        replayer = Replayer(log, root_source(log.store.home, secret))
        with _progress(steps) as step:
            results = replayer.replay_all(scenarios, step=step)
        _write_trust(log)
    except BaseException:
        log.close()
        raise
    for result in results:
        click.echo(f"replayed {result.scenario.name}: {result.recorded} events recorded, "
                   f"{result.derived_checked} derived checked, streams "
                   + ", ".join(result.streams))
    return log, results


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True,
              help="Check every scenario against the rules, the keys and the store as it is, "
                   "and say what would be recorded; write nothing (no events, key files or "
                   "trust file; a missing store is not created).")
@pass_env
def replay(env: Env, files: tuple[Path, ...], dry_run: bool) -> None:
    """Record every step of scenario FILES, each signed by a fresh demo key of its actor.

    All or nothing: the files are replayed in order as one transaction; a refused step, a bad
    file or Ctrl-C saves nothing of any of them (and leaves no new root key file).
    """
    if dry_run:
        _dry_run(env, list(files))
        return
    log, _ = _replay(env, list(files))
    log.close()


@cli.command()
@click.option("--fresh", is_flag=True, help="Delete the store first (the SQLite file, or "
              "cdlog's tables in the PostgreSQL schema).")
@pass_env
def demo(env: Env, fresh: bool) -> None:
    """Replay both example scenarios (shipped with cdlog), verify the store and summarise
    each case."""
    store = env.store
    if fresh and store.path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(store.path) + suffix).unlink(missing_ok=True)
    elif fresh and store.kind == "postgresql":
        from cdlog.log.pgledger import drop_tables  # noqa: PLC0415 - needs psycopg

        drop_tables(store)
    data = resources.files("cdlog") / "demo_data"
    with resources.as_file(data) as folder:
        log, results = _replay(env, [Path(folder) / name for name in DEMO_SCENARIOS])
    with log:
        report = verify_store(log)
        click.echo(f"verify: {'OK' if report.ok else 'FAILED'} ({report.events} events, "
                   f"{report.cases} streams)")
        for result in results:
            _summary(log, result.scenario.case_stream, result.scenario.name)
        bundle_ok = demo_checkpoint_and_bundle(log, results[0].scenario.case_stream)
        from cdlog.cli.report_cmd import write_demo_reports  # noqa: PLC0415

        write_demo_reports(log, [r.scenario.case_stream for r in results])
    if not report.ok or not bundle_ok:
        sys.exit(1)


def _facts(log: CaseLog, stream: str) -> list[Fact]:
    return [fact_of(s) for s in log.events(stream)]


def _summary(log: CaseLog, stream: str, name: str) -> None:
    facts = _facts(log, stream)
    click.echo(f"\n{stream}  ({name}, {len(facts)} events)")
    for iv in responsibility_intervals(facts):
        end = iv.end.isoformat(timespec="minutes") if iv.end else "open"
        click.echo(f"  responsible: {iv.holder or 'NOBODY (gap)':8} "
                   f"{iv.start.isoformat(timespec='minutes')} -> {end}  "
                   f"[v{iv.started_version} by {iv.started_by}; {iv.note}]")

