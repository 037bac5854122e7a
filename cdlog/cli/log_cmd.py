"""The Merkle-log commands: ``log-key``, ``checkpoint``, ``accept-cosignature``, ``prove``,
``witness``, ``witness-key`` and ``export``.

Key files are encrypted; their passphrase comes from ``CDLOG_PASSPHRASE`` or a prompt.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdlog.application import CaseLog
from cdlog.cli import evidence
from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.errors import ConfigurationError, NotFoundError
from cdlog.log.checkpoint_format import MAX_SIZE
from cdlog.log.checkpoint_signing import (
    accept_cosigned,
    create_log_key,
    latest_checkpoint,
    load_log_signer,
    log_key_path,
    log_verifier,
    sign_checkpoint,
)
from cdlog.log.headproofs import prove_head
from cdlog.log.proofs import prove_consistency, prove_inclusion
from cdlog.verify.bundle import export_bundle, verify_bundle
from cdlog.verify.witness import Witness, create_witness_key, load_witness_key

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


@cli.command("log-key")
@pass_env
def log_key(env: Env) -> None:
    """Print the log's checkpoint verifier key (C2SP vkey), creating the key the first time."""
    with env.open(create=False) as log:
        if not log_key_path(log).exists():
            create_log_key(log, passphrase(demo_ok=False))
            click.echo(f"created the log key {log_key_path(log)}", err=True)
        click.echo(log_verifier(log).vkey)


@cli.command()
@pass_env
def checkpoint(env: Env) -> None:
    """Sign a checkpoint of the log when it has grown, store it and print it.

    The whole tree is first rebuilt from the events and compared with the stored tree and the
    last signed checkpoint; nothing is signed if they disagree (exit 1).
    """
    with env.open(create=False) as log:
        signer = load_log_signer(log, passphrase(demo_ok=False), create=True)
        before = latest_checkpoint(log)
        cp = sign_checkpoint(log, signer)
        if before is not None and before.size == cp.size:
            click.echo(f"the log has not grown since the checkpoint of size {cp.size}",
                       err=True)
        else:
            click.echo(f"signed a checkpoint of size {cp.size}", err=True)
        click.echo(cp.text, nl=False)


@cli.command("accept-cosignature")
@click.argument("file", type=_FILE)
@click.option("--witness-key", "witness_keys", multiple=True, required=True, metavar="VKEY",
              help="Verifier key of a witness whose cosignatures to accept (repeatable).")
@pass_env
def accept_cosignature(env: Env, file: Path, witness_keys: tuple[str, ...]) -> None:
    """Store the witness cosignatures of a cosigned checkpoint FILE the log signed."""
    witnesses = [evidence.witness_key("--witness-key", v) for v in witness_keys]
    text = evidence.read_text("FILE", file)
    with env.open(create=False) as log:
        cp = accept_cosigned(log, text, witnesses)
    click.echo(f"stored cosignatures of the checkpoint of size {cp.size}: "
               + ", ".join(c.name for c in cp.cosignatures), err=True)
    click.echo(cp.text, nl=False)


@cli.group()
def prove() -> None:
    """Print inclusion, consistency and stream-head proofs (JSON) from the stored tree."""


@prove.command("inclusion")
@click.argument("case")
@click.argument("version", type=click.IntRange(1, MAX_SIZE))
@click.option("--size", type=click.IntRange(1, MAX_SIZE), default=None,
              help="Prove against the signed checkpoint of this size (default: the latest).")
@click.option("--event-out", "event_out", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also save the event's sealed bytes to this new file, for "
              "`cdlog check-proof --event`.")
@pass_env
def prove_inclusion_cmd(env: Env, case: str, version: int, size: int | None,
                        event_out: Path | None) -> None:
    """Prove that event VERSION of CASE is in a signed checkpoint.

    CASE is a stream name, reference, OI case number or id. Check the printed proof offline
    with `cdlog check-proof`.
    """
    if event_out is not None and event_out.exists():
        raise ConfigurationError(f"--event-out {event_out}: exists (never overwritten)")
    with env.open(readonly=True) as log:
        stream = log.case_stream(case)
        doc = prove_inclusion(log, stream, version, size)
        sealed = log.events(stream)[version - 1].sealed if event_out is not None else b""
    if event_out is not None:
        write_new(event_out, sealed, "--event-out")
    click.echo(json.dumps(doc, indent=2))


@prove.command("consistency")
@click.argument("old", type=click.IntRange(0, MAX_SIZE))
@click.argument("new", type=click.IntRange(0, MAX_SIZE))
@pass_env
def prove_consistency_cmd(env: Env, old: int, new: int) -> None:
    """Prove that the tree of size NEW extends the tree of size OLD."""
    with env.open(readonly=True) as log:
        doc = prove_consistency(log, old, new)
    click.echo(json.dumps(doc, indent=2))


@prove.command("head")
@click.argument("case")
@click.option("--size", type=click.IntRange(0, MAX_SIZE), default=None,
              help="Prove against the signed checkpoint of this size (default: the latest).")
@pass_env
def prove_head_cmd(env: Env, case: str, size: int | None) -> None:
    """Prove the head (newest version) of CASE at a signed checkpoint, or its absence.

    CASE is a stream name (`case:…`, `trust:…`), reference, OI case number or id. A stream the
    log does not hold gets a proof of absence (the map entry whose link spans it). Check the
    printed proof offline with `cdlog check-proof`.
    """
    with env.open(readonly=True) as log:
        try:
            stream = log.case_stream(case)
        except NotFoundError:
            stream = case if ":" in case else f"case:{case}"
        doc = prove_head(log, stream, size)
    if doc["head"] is None:
        click.echo(f"the log holds no event of {stream} at size {doc['tree_size']}: printing "
                   "the proof of its absence", err=True)
    click.echo(json.dumps(doc, indent=2))


def write_new(path: Path, data: bytes, option: str) -> None:
    """Create ``path`` with ``data``, never overwriting; a half-written file is removed."""
    try:
        with path.open("xb") as f:
            try:
                f.write(data)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
    except FileExistsError:
        raise ConfigurationError(f"{option} {path}: exists (never overwritten)") from None
    except OSError as exc:
        raise ConfigurationError(f"{option} {path}: cannot write: {exc.strerror}") from None


@cli.command("witness-key")
@click.option("--name", required=True, help="The witness's key name (e.g. oig.example/witness).")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Key file to create (never overwritten).")
def witness_key(name: str, out: Path) -> None:
    """Create an encrypted witness key file and print its cosignature verifier key."""
    cosigner = create_witness_key(out, name, passphrase(demo_ok=False))
    click.echo(cosigner.vkey)


@cli.command()
@click.argument("checkpoint_file", metavar="CHECKPOINT", type=_FILE)
@click.option("--state", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The witness state file (created on first use).")
@click.option("--log-key", "log_vkey", required=True, metavar="VKEY",
              help="The log's checkpoint verifier key.")
@click.option("--key", "key_file", required=True, type=_FILE,
              help="The witness key file (see `cdlog witness-key`).")
@click.option("--proof", type=_FILE, default=None,
              help="Consistency proof from the last accepted size (`cdlog prove consistency`).")
@click.option("--head", "head_files", multiple=True, type=_FILE,
              help="Head proof of a stream to watch (`cdlog prove head CASE --size N`, "
                   "repeatable); a watched stream needs one with every later checkpoint, and "
                   "its head only moves forward.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the cosigned checkpoint here instead of printing it.")
def witness(checkpoint_file: Path, state: Path, log_vkey: str, key_file: Path,
            proof: Path | None, head_files: tuple[Path, ...], out: Path | None) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint this witness accepted.

    Refuses (exit 1) a checkpoint that rolls back or forks from what the witness saw.
    """
    verifier = evidence.log_key("--log-key", log_vkey)
    doc = None
    if proof is not None:
        doc = evidence.read_json("--proof", proof, "`cdlog prove consistency`")
    heads = [evidence.read_json("--head", f, "`cdlog prove head`") for f in head_files]
    text = evidence.read_checkpoint("CHECKPOINT", checkpoint_file)[0]
    w = Witness(state, load_witness_key(key_file, passphrase(demo_ok=False)))
    cosigned = w.add_checkpoint(text, verifier, doc, heads)
    accepted = w.last(verifier.name)
    size = accepted.size if accepted is not None else 0
    click.echo(f"witness {w.cosigner.name}: cosigned {verifier.name} at size {size}", err=True)
    if out is not None:
        out.write_text(cosigned, encoding="utf-8")
    else:
        click.echo(cosigned, nl=False)


@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to create (must be new or empty).")
@click.option("--case", "cases", multiple=True, metavar="ID",
              help="A case to export (repeatable); none exports the whole log.")
@click.option("--consistency-from", "sizes", multiple=True, type=click.IntRange(min=1),
              metavar="N", help="Also carry a consistency proof from the checkpoint of size N "
              "(one the auditor saved earlier) to the bundle's (repeatable).")
@pass_env
def export(env: Env, out: Path, cases: tuple[str, ...], sizes: tuple[int, ...]) -> None:
    """Write a self-contained audit bundle of the latest signed checkpoint.

    The bundle is written into a hidden folder beside OUT and renamed to OUT when complete,
    so an interrupted or failed export leaves nothing behind.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigurationError(f"--out {out}: exists and is not an empty folder (expected "
                                 "a new or empty folder)")
    with env.open(readonly=True) as log, _building(out) as partial:
        manifest = _export(log, partial, list(cases), sizes)
    what = ", ".join(manifest["cases"]) if manifest["cases"] else "the whole log"
    click.echo(f"exported {len(manifest['events'])} events ({what}) at checkpoint size "
               f"{manifest['tree_size']} to {out}")


@contextmanager
def _building(out: Path) -> Iterator[Path]:
    """A new hidden folder beside ``out``, renamed to ``out`` when the block succeeds and
    removed (with any parent folders created for it) when it does not."""
    created = next((p for p in reversed([out.parent, *out.parent.parents])
                    if not p.exists()), None)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise ConfigurationError(f"--out {out}: cannot create: {exc.strerror}") from None
    try:
        yield partial
        if out.exists():
            out.rmdir()  # empty, checked before
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _export(log: CaseLog, folder: Path, cases: list[str],
            sizes: Sequence[int] = ()) -> dict[str, Any]:
    if not sys.stderr.isatty():
        return export_bundle(log, folder, cases, consistency_from=sizes)
    with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("export", total=None)
        return export_bundle(log, folder, cases, consistency_from=sizes,
                             progress=lambda n, total: bar.update(task, completed=n,
                                                                  total=total))


def demo_checkpoint_and_bundle(log: CaseLog, stream: str) -> bool:
    """End ``cdlog demo``: sign a checkpoint and export and verify a bundle of ``stream``.

    Returns whether the bundle verified. Uses the demo passphrase unless CDLOG_PASSPHRASE is
    set, like the demo's root keys.
    """
    signer = load_log_signer(log, passphrase(demo_ok=True), create=True)
    cp = sign_checkpoint(log, signer)
    click.echo(f"\ncheckpoint (size {cp.size}), log key {signer.verifier().vkey}:")
    click.echo(cp.text, nl=False)
    out = Path(log.store.home) / "bundles" / stream.replace(":", "-")
    if out.exists():
        shutil.rmtree(out)
    manifest = export_bundle(log, out, [stream])
    report = verify_bundle(out, log_vkey=signer.verifier().vkey)
    click.echo(f"bundle of {stream}: {len(manifest['events'])} events with inclusion proofs in "
               f"{out}: {'OK' if report.ok else 'FAILED'}")
    for failure in report.failures:
        click.echo(f"  {failure}", err=True)
    click.echo(f"check it offline: cdlog verify --bundle {out} --log-key "
               f"{signer.verifier().vkey}")
    return report.ok
