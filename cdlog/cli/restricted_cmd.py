"""``cdlog restricted``: restricted data (EU PNR) kept in the vault, read, disclosed, erased.

* ``kek-new AGENCY`` — the agency's key-encryption key file (``<store folder>/keys/kek-AGENCY
  .key``), which wraps the data keys of the values its classes own;
* ``status RECORD`` — which fields the vault holds or erased (no value, nothing recorded);
* ``show RECORD`` — the values, to an entitled reader; the read is an event, recorded in the
  transaction that serves it, and a refused read records the refusal (exit 2);
* ``disclose RECORD --field F --out DIR`` — an audit bundle of the record with a disclosure
  package (values and salts) that ``cdlog verify --bundle`` checks against the signed
  commitments;
* ``erase RECORD`` — destroy the values and their data keys; the log keeps the commitments and
  every proof still verifies.

RECORD is a record's stream (``pnr:K-PNR-0001``), its key (``K-PNR-0001``), or a case whose
OI case number a single record is linked or authorised for (the case number then defaults
``--case-no``). Every key file and passphrase is read before anything is written. Reads and
erasures happen now, on the log's clock: there is no ``--at``, so nobody dates a read back
into an authorisation that has expired, nor an erasure forward past the retention.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from cdlog.application import CaseLog
from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.errors import InputError, NotFoundError
from cdlog.keys.keyfile import read_key_file
from cdlog.keys.signer import Signer
from cdlog.log.checkpoint_signing import latest_checkpoint
from cdlog.log.ledger import read_ledger
from cdlog.log.sealing import SealedEvent, stream_id
from cdlog.restricted.access import holding_event
from cdlog.restricted.classes import CLASSES, RestrictedClass, class_of_event, commitments_of
from cdlog.restricted.disclosure import build_disclosure, disclosure_file, write_disclosure
from cdlog.restricted.kek import KeyRing, read_kek_info
from cdlog.verify.bundle import export_bundle

_KeyFile = click.Path(path_type=Path)
RECORD_LINKS = frozenset({"PNRLinkedToCase", "ThirdPartyDisclosureAuthorized"})


def find_record(log: CaseLog, name: str) -> tuple[str, str | None]:
    """The record stream RECORD names, and the OI case number a case name implies."""
    if ":" in name and log.events(name):
        return name, None
    kinds = sorted({k for cls in CLASSES.values() for k in cls.record_streams})
    for kind in kinds:
        if log.events(f"{kind}:{name}"):
            return f"{kind}:{name}", None
    try:
        case = log.case_stream(name)
    except NotFoundError:
        raise NotFoundError(f"no record or case {name!r} (a record is pnr:<key> or <key>)"
                            ) from None
    case_no = log.state(case).case_no
    if not case_no:
        raise NotFoundError(f"case {name} has no OI case number, so no record is linked to it")
    found = []
    for s in (s for kind in kinds for s in log.streams(kind)):
        events = log.events(s)
        if any(commitments_of(e) for e in events) and any(
                e.type in RECORD_LINKS and e.payload.get("case_no") == case_no for e in events):
            found.append(s)
    if not found:
        raise NotFoundError(f"no record with restricted values is linked or authorised for "
                            f"case {case_no}")
    if len(found) > 1:
        raise InputError("RECORD", f"case {case_no} has {len(found)} records "
                         f"({', '.join(found)})", "one of them")
    return found[0], case_no


def _holding(log: CaseLog, record: str, version: int | None) -> tuple[SealedEvent,
                                                                       RestrictedClass]:
    event = holding_event(log, record, version)
    cls = class_of_event(event.type)
    if cls is None:  # pragma: no cover - holding_event found commitments
        raise NotFoundError(f"{record} holds no restricted field")
    return event, cls


def _reader(key: Path) -> tuple[Signer, bytes]:
    secret = passphrase(demo_ok=False)
    return read_key_file(key, secret), secret


def _emit(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@cli.group()
def restricted() -> None:
    """Restricted data (EU PNR): values in the vault, every read an event, erasure.

    The log holds salted commitments; the values are in the store's vault, encrypted under
    data keys wrapped by the owner agency's key-encryption key (`kek-new`).
    """


@restricted.command("kek-new")
@click.argument("agency")
@pass_env
def kek_new(env: Env, agency: str) -> None:
    """Create AGENCY's key-encryption key file beside the store (encrypted with the
    passphrase). Restricted values that AGENCY owns can be vaulted once it exists."""
    ring = KeyRing(env.store.home)
    path = ring.path(agency)
    if path.exists():
        raise InputError("AGENCY", f"{path} exists already", "an agency without a KEK file")
    secret = passphrase(demo_ok=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ring.create(agency, secret)
    click.echo(f"{wrapper.key_id} {path}")


@restricted.command()
@click.argument("record")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def status(env: Env, record: str, as_json: bool) -> None:
    """Which restricted fields of RECORD the vault holds or erased (no value is shown and
    nothing is recorded)."""
    with env.open(readonly=True) as log:
        stream, _ = find_record(log, record)
        rows = log.restricted_status(stream)
    entries = [{"version": r.version, "field": r.field, "class": r.class_name,
                "state": "erased" if r.erased else "held", "erased_by": r.erased_by,
                "commitment": r.commitment, "kek": r.kek_id} for r in rows]
    if as_json:
        _emit({"record": stream, "fields": entries})
        return
    if not entries:
        click.echo(f"{stream}: the vault holds no value of it")
    for e in entries:
        by = f" (by version {e['erased_by']})" if e["erased_by"] else ""
        click.echo(f"{stream} v{e['version']} {e['field']}: {e['state']}{by}")


_read_options = [
    click.option("--key", "key", type=_KeyFile, required=True,
                 help="The reader's officer key file (its certificate says its agency)."),
    click.option("--purpose", required=True, help="Why the values are read (recorded)."),
    click.option("--case-no", "case_no", default=None,
                 help="The OI case number read for (a third party's authorisation names it)."),
    click.option("--version", "version", type=int, default=None,
                 help="The record's event holding the values (default: the newest one)."),
]


def _read_opts(func: Any) -> Any:
    for option in reversed(_read_options):
        func = option(func)
    return func


def _unlock(log: CaseLog, cls: RestrictedClass, secret: bytes) -> None:
    """Unlock the owner's KEK (needed to serve any value); a missing file is refused before
    anything is recorded."""
    path = log.vault_keys.path(cls.owner)
    read_kek_info(path)  # a missing or damaged file: KeyStoreError naming it
    log.vault_keys.unlock(cls.owner, secret)


@restricted.command()
@click.argument("record")
@_read_opts
@click.option("--field", "fields", multiple=True, help="A field to read (repeat; default: "
              "every value held).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_env
def show(env: Env, record: str, key: Path, purpose: str, case_no: str | None,
         version: int | None, fields: tuple[str, ...], as_json: bool) -> None:
    """Show RECORD's restricted values to the reader of --key, if entitled.

    The read is recorded (RestrictedValuesRead) in the transaction that serves it; a reader
    who is not entitled (a third party without an unexpired authorisation for the case) gets
    nothing, the refusal is recorded (RestrictedReadRefused) and the command exits 2.
    """
    signer, secret = _reader(key)
    with env.open(create=False) as log:
        stream, implied = find_record(log, record)
        _event, cls = _holding(log, stream, version)
        _unlock(log, cls, secret)
        read = log.read_restricted(stream, reader=signer, purpose=purpose,
                                   case_no=case_no or implied, fields=list(fields) or None,
                                   version=version)
    doc = {"record": read.record, "version": read.version, "class": read.class_name,
           "values": read.values,
           "read": {"stream": read.event.stream, "version": read.event.version}}
    if as_json:
        _emit(doc)
        return
    for name, value in read.values.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"{name}\t{text}")
    click.echo(f"read recorded: {read.event.stream} v{read.event.version}", err=True)


@restricted.command()
@click.argument("record")
@_read_opts
@click.option("--field", "fields", multiple=True, required=True,
              help="A field to disclose (repeat).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="A new folder: the audit bundle with the disclosure package.")
@pass_env
def disclose(env: Env, record: str, key: Path, purpose: str, case_no: str | None,
             version: int | None, fields: tuple[str, ...], out: Path) -> None:
    """Disclose RECORD's values of each --field (with their salts) as a package anyone can
    check against the signed commitments: an audit bundle of the record (as of the latest
    checkpoint) with disclosures/<leaf>.json, for `cdlog verify --bundle OUT`.

    The read is recorded like `show`'s; a refused one writes no folder and exits 2.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("out", f"{out} exists and is not an empty folder",
                         "a new or empty folder")
    signer, secret = _reader(key)
    with env.open(create=False) as log:
        stream, implied = find_record(log, record)
        event, cls = _holding(log, stream, version)
        leaf = _proven_leaf(log, event)
        _unlock(log, cls, secret)
        read = log.read_restricted(stream, reader=signer, purpose=purpose,
                                   case_no=case_no or implied, fields=list(fields),
                                   version=event.version)
        doc = build_disclosure(event, read.values, read.salts, read.event)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".cdlog-disclose-", dir=out.parent))
        try:
            export_bundle(log, staging / "bundle", [stream])
            write_disclosure(staging / "bundle" / disclosure_file(leaf), doc)
            if out.exists():
                out.rmdir()
            (staging / "bundle").rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    click.echo(f"disclosed {', '.join(sorted(read.values))} of {stream} v{event.version} "
               f"in {out} (read recorded: {read.event.stream} v{read.event.version})")


def _proven_leaf(log: CaseLog, event: SealedEvent) -> int:
    """The leaf index of ``event``, which the latest signed checkpoint must cover (so the
    package can be proven); refused before any read is recorded otherwise."""
    cp = latest_checkpoint(log)
    if cp is None:
        raise NotFoundError("the log has no signed checkpoint yet; run `cdlog checkpoint`")
    with read_ledger(log) as led:
        leaves = led.leaves_of_case(stream_id(event.stream), cp.size)
    found = [leaf.leaf_index for leaf in leaves if leaf.originator_version == event.version]
    if not found:
        raise NotFoundError(f"{event.stream} v{event.version} is not in the latest signed "
                            f"checkpoint (size {cp.size}); run `cdlog checkpoint` first")
    return found[0]


@restricted.command()
@click.argument("record")
@click.option("--key", "key", type=_KeyFile, required=True,
              help="An officer key file of the owner agency (CBP for EU PNR).")
@click.option("--reason", type=click.Choice(["retention_ended", "legal_order"]),
              required=True, help="Why: the retention ended, or a legal order (--order-ref).")
@click.option("--order-ref", "order_ref", default=None, help="The legal order's reference.")
@click.option("--field", "fields", multiple=True,
              help="A field to erase (repeat; default: every value still held).")
@click.option("--version", "version", type=int, default=None,
              help="The record's event holding the values (default: the newest one).")
@pass_env
def erase(env: Env, record: str, key: Path, reason: str, order_ref: str | None,
          fields: tuple[str, ...], version: int | None) -> None:
    """Erase RECORD's vaulted values and their data keys, and record RestrictedValuesErased
    in the same transaction. The commitments stay in the log: `cdlog verify`, the Merkle
    tree, checkpoints and bundles still verify; nobody can read the values through cdlog
    again."""
    signer, _ = _reader(key)
    with env.open(create=False) as log:
        stream, _implied = find_record(log, record)
        sealed = log.erase_restricted(stream, signer=signer, reason=reason,
                                      order_ref=order_ref, fields=list(fields) or None,
                                      version=version)
    erased = ", ".join(sealed.payload.get("fields") or [])
    click.echo(f"erased {erased} of {stream} v{sealed.payload['record_version']} "
               f"(recorded: {stream} v{sealed.version})")

