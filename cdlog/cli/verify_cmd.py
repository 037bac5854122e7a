"""``cdlog verify``: replay the store and check everything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdlog.cli.main import Env, cli, pass_env
from cdlog.keys.trust import load_trust
from cdlog.sealing import stream_id
from cdlog.verify import Report, verify_store


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--trust", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Trust file with the agency roots to accept (default: the roots the log "
                   "itself establishes).")
@pass_env
def verify(env: Env, as_json: bool, trust: Path | None) -> None:
    """Replay the store and prove nothing was altered, removed, reordered or forged.

    Exit 0 when everything holds, 1 when something does not (each failure listed with case,
    version and check), 2 on usage or configuration errors.
    """
    roots = list(load_trust(trust).roots) if trust else None
    with env.open() as log:
        total = log.max_position()
        report = _run(log, roots, total, show=sys.stderr.isatty() and not as_json)
        names = {str(stream_id(s)): s for s in report.heads}
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print(report, names)
    sys.exit(0 if report.ok else 1)


def _run(log: object, roots: list[object] | None, total: int, *, show: bool) -> Report:
    if not show:
        return verify_store(log, trusted_roots=roots)  # type: ignore[arg-type]
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verify", total=total or None)
        return verify_store(log, trusted_roots=roots,  # type: ignore[arg-type]
                            progress=lambda n: bar.update(task, completed=n))


def _print(report: Report, names: dict[str, str]) -> None:
    if report.ok:
        click.echo(f"OK: {report.events} events in {report.cases} cases verified "
                   "(signatures, chains, versions, keys, rules)")
        return
    click.echo(f"FAILED: {len(report.failures)} failure(s) in {report.events} events", err=True)
    for f in report.failures:
        where = names.get(f.case, f.case)
        version = "" if f.version is None else f" v{f.version}"
        click.echo(f"  {where}{version}: {f.check}: {f.detail}", err=True)
