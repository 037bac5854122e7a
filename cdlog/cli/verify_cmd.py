"""``cdlog verify``: replay the store and check everything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdlog.cli import evidence
from cdlog.cli.main import Env, cli, pass_env
from cdlog.keys.trust import TrustRoot, load_trust
from cdlog.verify.bundle import verify_bundle
from cdlog.verify.replay import Report
from cdlog.verify.runner import verify_log


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--trust", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Trust file with the agency roots to accept (default: the roots the log "
                   "itself establishes).")
@click.option("--bundle", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Verify this audit bundle folder offline instead of the store.")
@click.option("--log-key", "log_vkey", metavar="VKEY",
              help="The log's checkpoint verifier key (default: the trust file's, else the "
                   "log's key file / the bundle's own).")
@click.option("--witness-key", "witness_keys", multiple=True, metavar="VKEY",
              help="A witness that must have cosigned the bundle's checkpoint (or, for the "
                   "store, a stored checkpoint); repeatable.")
@click.option("--checkpoint", "saved", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A signed checkpoint saved earlier: the store (or the --bundle's "
                   "checkpoint) must extend it (repeatable).")
@click.option("--self-consistent-only", is_flag=True,
              help="With --bundle and no log key of your own: check only that the bundle is "
                   "consistent with the keys it carries (proves nothing about its origin).")
@pass_env
def verify(env: Env, as_json: bool, trust: Path | None, bundle: Path | None,
           log_vkey: str | None, witness_keys: tuple[str, ...], saved: tuple[Path, ...],
           self_consistent_only: bool) -> None:
    """Replay the store (or a --bundle) and prove nothing was altered, removed or forged.

    Also rebuilds the Merkle tree and checks it against the stored checkpoints. Exit 0 when
    everything holds, 1 when something does not (each failure listed with case, version and
    check), 2 on usage or configuration errors (a malformed --log-key, --trust or
    --checkpoint file, a missing store).
    """
    trust_file = load_trust(trust) if trust else None
    roots = list(trust_file.roots) if trust_file else None
    if log_vkey is not None:
        evidence.log_key("--log-key", log_vkey)
    elif trust_file and trust_file.log_vkey:
        evidence.log_key(f"--trust {trust} (its log_vkey)", trust_file.log_vkey)
        log_vkey = trust_file.log_vkey
    witnesses = [evidence.witness_key("--witness-key", v) for v in witness_keys]
    known = [evidence.read_checkpoint("--checkpoint", p)[0] for p in saved]
    if self_consistent_only and bundle is None:
        raise click.UsageError("--self-consistent-only needs --bundle")
    if bundle is not None:
        report: Report = verify_bundle(bundle, trust_file, log_vkey, witnesses=witnesses,
                                       config=env.config,
                                       self_consistent_only=self_consistent_only,
                                       saved=[(str(p), t) for p, t in zip(saved, known,
                                                                          strict=True)])
        if self_consistent_only and "from the bundle" in getattr(report, "key_source", ""):
            click.echo("warning: --self-consistent-only: keys taken from the bundle itself; "
                       "this shows the bundle agrees with itself, NOT that it comes from the "
                       "log (give --log-key or a --trust file with the log key)", err=True)
        _output(report, as_json)
    with env.open(readonly=True) as log:
        total = log.max_position()
        report = _run(log, roots, total, show=sys.stderr.isatty() and not as_json,
                      log_vkey=log_vkey, known=known)
        if witnesses:  # each named witness must have cosigned a stored checkpoint
            from cdlog.errors import VerificationError  # noqa: PLC0415
            from cdlog.log.checkpoint_signing import list_checkpoints  # noqa: PLC0415
            from cdlog.log.note import NoteVerifier  # noqa: PLC0415
            from cdlog.verify.pinning import uncosigned_witnesses  # noqa: PLC0415
            from cdlog.verify.runner import stored_log_verifier  # noqa: PLC0415

            verifier = (NoteVerifier.from_vkey(log_vkey) if log_vkey
                        else stored_log_verifier(log))
            try:
                notes = [cp.text for cp in list_checkpoints(log)]
            except VerificationError:  # a damaged checkpoint row: the audit reports it
                notes = []
            report.failures.extend(uncosigned_witnesses(notes, verifier, witnesses))
    _output(report, as_json)


def _output(report: Report, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print(report)
    sys.exit(0 if report.ok else 1)


def _run(log: object, roots: list[TrustRoot] | None, total: int, *, show: bool,
         log_vkey: str | None = None, known: list[str] | None = None) -> Report:
    if not show:
        return verify_log(log, trusted_roots=roots, log_vkey=log_vkey, known=known or [])
    # redrawn as progress is reported, not by rich's refresh thread: with no other thread,
    # verification forks its worker processes and its tree audit (cdlog.verify.beside)
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                  auto_refresh=False) as bar:
        task = bar.add_task("verify", total=total or None)
        return verify_log(log, trusted_roots=roots, log_vkey=log_vkey, known=known or [],
                          progress=lambda n: bar.update(task, completed=n, refresh=True))


def where(report: Report, case: str, names: dict[str, str]) -> str:
    """A failure's place for a person: the stream name, else the id or place."""
    stream, _ = report.place(case, names)
    return case if stream is None else stream


def _print(report: Report) -> None:
    if report.ok:
        click.echo(f"OK: {report.events} events in {report.cases} cases verified "
                   "(signatures, chains, versions, keys, rules)")
        for line in _merkle_lines(report):
            click.echo(line)
        return
    click.echo(f"FAILED: {len(report.failures)} failure(s) in {report.events} events", err=True)
    names = report.names()
    for f in report.failures:
        version = "" if f.version is None else f" v{f.version}"
        click.echo(f"  {where(report, f.case, names)}{version}: {f.check}: {f.detail}",
                   err=True)


def _merkle_lines(report: Report) -> list[str]:
    """What the OK summary says about the Merkle tree or the bundle."""
    from cdlog.verify.bundle import BundleReport  # noqa: PLC0415
    from cdlog.verify.runner import LogReport  # noqa: PLC0415

    if isinstance(report, LogReport):
        latest = ("no checkpoint signed yet" if report.latest_checkpoint is None
                  else f"consistent with {report.checkpoints} checkpoint(s), latest size "
                       f"{report.latest_checkpoint}")
        return [f"Merkle tree: {report.tree_size} leaves, root {report.tree_root}, {latest}"]
    if isinstance(report, BundleReport):
        lines = [f"bundle: {report.scope} bundle of {report.origin} at checkpoint size "
                 f"{report.tree_size}, root {report.root}; every event proven in it"]
        if report.cosigners:
            lines.append("cosigned by " + ", ".join(f"{n} (t={t})" for n, t in report.cosigners))
        if report.disclosed:
            lines.append("disclosed values that open their signed commitments: "
                         + ", ".join(report.disclosed))
        if "from the bundle" in report.key_source:
            lines.append(f"note: {report.key_source}: what comes from the bundle is only "
                         "self-consistent; pass --trust (and --log-key) to tie it to known keys")
        return lines
    return []

