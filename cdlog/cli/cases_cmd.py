"""``cdlog replay`` and ``cdlog demo`` (``cases`` and ``show``: :mod:`cdlog.cli.browse_cmd`)."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import click

from cdlog.application import CaseLog
from cdlog.cli.demo_keys import passphrase, root_source
from cdlog.cli.log_cmd import demo_checkpoint_and_bundle
from cdlog.cli.main import Env, cli, pass_env
from cdlog.domain.case import Fact
from cdlog.facts import fact_of
from cdlog.keys.trust import TrustFile, save_trust
from cdlog.projections.responsibility import responsibility_intervals
from cdlog.scenario import Replayer, ReplayResult
from cdlog.verify import verify_store

DEMO_SCENARIOS = ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml")


def _write_trust(log: CaseLog) -> Path:
    path = log.store.home / "trust.json"
    save_trust(path, TrustFile(format="cdlog/trust/v1",
                               roots=tuple(log.context.registry.roots())))
    return path


def _replay(env: Env, files: list[Path]) -> tuple[CaseLog, list[ReplayResult]]:
    log = env.open()
    replayer = Replayer(log, root_source(log.store.home, passphrase(demo_ok=True)))
    results = []
    for path in files:
        result = replayer.replay(path)
        results.append(result)
        click.echo(f"replayed {result.scenario.name}: {result.recorded} events recorded, "
                   f"{result.derived_checked} derived checked, streams "
                   + ", ".join(result.streams))
    _write_trust(log)
    return log, results


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_env
def replay(env: Env, files: tuple[Path, ...]) -> None:
    """Record every step of scenario FILES, each signed by a fresh demo key of its actor."""
    log, _ = _replay(env, list(files))
    log.close()


@cli.command()
@click.option("--fresh", is_flag=True, help="Delete the store first (the SQLite file, or "
              "cdlog's tables in the PostgreSQL schema).")
@pass_env
def demo(env: Env, fresh: bool) -> None:
    """Replay both shared scenarios, verify the store and summarise each case."""
    store = env.store
    if fresh and store.path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(store.path) + suffix).unlink(missing_ok=True)
    elif fresh and store.kind == "postgresql":
        from cdlog.pgledger import drop_tables  # noqa: PLC0415 - needs psycopg

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

