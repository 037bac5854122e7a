"""Offline audit bundles: a folder that proves events against a signed checkpoint.

Layout (docs/SPEC.md §10 describes every field)::

    bundle.json                   manifest (RFC 8785 JSON + newline)
    checkpoint.txt                the signed checkpoint note, with witness cosignatures
    trust.json                    trust roots and the log's vkey (cdlog/trust/v1)
    events/<leaf index>.sealed    the stored sealed bytes of each included event
    proofs/<leaf index>.json      per-case bundles: the inclusion proof of that event

A *log* bundle (no cases named) holds every event of the checkpoint's tree; the verifier
rebuilds the root. A *per-case* bundle holds, for each named case, that case's events, every
trust-stream event (to judge keys at each position), and the events the case's rules depend on
(a ThirdPartyDisclosureAuthorized naming the case's OI case number), each with an inclusion
proof. It reveals nothing about other cases beyond the hashes in its proofs.

:func:`verify_bundle` needs only the folder, and optionally a trust file and the log's vkey
(without them it can show that the bundle is self-consistent, not that its keys are the real
ones). It reuses :class:`cdlog.verify.replay.Verifier`, fed in leaf order with position = leaf
index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cdlog.canonical import canonical_bytes
from cdlog.domain.config import DEFAULT_CONFIG, Config
from cdlog.errors import (
    ConfigurationError,
    Failure,
    InputError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from cdlog.keys.trust import TRUST_FORMAT, TrustFile, load_trust
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.checkpoint_signing import latest_checkpoint, log_verifier
from cdlog.log.context import TRUST_TYPES
from cdlog.log.facts import fact_of
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.ledger_rows import EventRow, LeafRow
from cdlog.log.merkle import b64, unb64
from cdlog.log.note import CosignatureVerifier, NoteVerifier
from cdlog.log.proofs import inclusion_doc, prove_consistency, verify_inclusion_doc
from cdlog.log.sealing import leaf_hash, parse, stream_id
from cdlog.log.tree_audit import Frontier
from cdlog.verify.bundleheads import check_heads, check_log_heads, export_heads, head_streams
from cdlog.verify.pinning import (
    check_saved_checkpoints,
    consistency_docs,
    consistency_file,
    missing_cosignatures,
)
from cdlog.verify.replay import Report, Verifier

BUNDLE_FORMAT = "cdlog/bundle/v1"
MANIFEST = "bundle.json"
CHECKPOINT = "checkpoint.txt"
TRUST = "trust.json"
DEPENDENCY_TYPES = frozenset({"ThirdPartyDisclosureAuthorized"})
BUNDLE = "<bundle>"
PROGRESS_EVERY = 500


def event_file(index: int) -> str:
    """The bundle path of the event at a leaf index."""
    return f"events/{index:012d}.sealed"


def proof_file(index: int) -> str:
    """The bundle path of the inclusion proof of the event at a leaf index."""
    return f"proofs/{index:012d}.json"


def _json_bytes(value: Any) -> bytes:
    return canonical_bytes(value) + b"\n"


# ---------------------------------------------------------------------------- export
@dataclass
class _Pick:
    leaf: LeafRow
    role: str


def _case_picks(log: Any, led: LedgerCursor, streams: Sequence[str],
                size: int) -> dict[int, _Pick]:
    picks: dict[int, _Pick] = {}
    case_nos: set[str] = set()
    for stream in streams:
        leaves = led.leaves_of_case(stream_id(stream), size)
        if not leaves:
            raise NotFoundError(f"{stream} has no event in the checkpoint of size {size}")
        for leaf in leaves:
            picks[leaf.leaf_index] = _Pick(leaf, "case")
        case_no = log.state(stream).case_no
        if case_no:
            case_nos.add(case_no)
    for type_ in sorted(TRUST_TYPES | DEPENDENCY_TYPES):
        for nid in led.notifications_of_topic("cdlog:" + type_):
            found = led.leaf_of_notification(nid)
            if found is None or found.leaf_index >= size or found.leaf_index in picks:
                continue
            leaf = found
            if type_ in DEPENDENCY_TYPES:
                row = led.event(nid)
                if row is None or str(parse(row.state).payload.get("case_no")) not in case_nos:
                    continue
                picks[leaf.leaf_index] = _Pick(leaf, "dependency")
            else:
                picks[leaf.leaf_index] = _Pick(leaf, "trust")
    return picks


def export_bundle(log: Any, out_dir: str | os.PathLike[str],
                  cases: Sequence[str] = (), *,
                  progress: Callable[[int, int], None] | None = None,
                  consistency_from: Sequence[int] = ()) -> dict[str, Any]:
    """Write an audit bundle of the latest checkpoint to ``out_dir``; return its manifest.

    ``cases`` (stream names, references, case numbers or ids) makes a per-case bundle; none
    makes a whole-log bundle. ``out_dir`` must not exist or be empty. ``progress`` is called
    with the number of events read so far and the number to read, every page.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("out", f"{out} exists and is not an empty folder",
                         "a new or empty folder")
    cp = latest_checkpoint(log)
    if cp is None:
        raise NotFoundError("the log has no signed checkpoint yet; run `cdlog checkpoint`")
    streams = list(dict.fromkeys(log.case_stream(c) for c in cases))
    trust = TrustFile(format=TRUST_FORMAT, roots=tuple(log.context.registry.roots()),
                      log_vkey=log_verifier(log).vkey)
    pins = consistency_docs(lambda old, new: prove_consistency(log, old, new),
                            consistency_from, cp.size)
    entries: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    with read_ledger(log) as led:
        if led.root(cp.size) != cp.root:
            raise VerificationError.at(BUNDLE, None, "checkpoint",
                                       f"the stored tree no longer reproduces the checkpoint "
                                       f"of size {cp.size}; run `cdlog verify`")
        if streams:
            picks = _case_picks(log, led, streams, cp.size)
        else:
            picks = {leaf.leaf_index: _Pick(leaf, "log") for leaf in _all_leaves(led, cp.size)}
        for done, index in enumerate(sorted(picks)):
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done, len(picks))
            pick = picks[index]
            row = led.event(pick.leaf.notification_id)
            stored = led.read_hashes([(0, index)])[0]
            if row is None or leaf_hash(row.state) != stored:
                raise VerificationError.at(_stream_name(row, pick.leaf.case),
                                           pick.leaf.originator_version,
                                           "merkle", f"leaf {index}: the stored event is "
                                           "missing or rewritten; run `cdlog verify`")
            sealed = parse(row.state, pick.leaf.case, pick.leaf.originator_version)
            entry: dict[str, Any] = {"leaf_index": index, "stream": sealed.stream,
                                     "version": sealed.version, "type": sealed.type,
                                     "role": pick.role, "file": event_file(index),
                                     "leaf_hash": b64(stored)}
            files[event_file(index)] = row.state
            if streams:
                doc = inclusion_doc(led, index, cp)
                del doc["checkpoint"]
                files[proof_file(index)] = _json_bytes(doc)
                entry["proof"] = proof_file(index)
            entries.append(entry)
        if streams:  # the head of each case and trust stream: the bundle holds them whole
            heads, head_files = export_heads(led, cp, head_streams(
                streams, {str(e["stream"]) for e in entries if e["role"] == "trust"},
                [r.agency for r in trust.roots]))
            files.update(head_files)
    if progress is not None:
        progress(len(picks), len(picks))
    manifest = {"format": BUNDLE_FORMAT, "origin": cp.checkpoint.origin,
                "scope": "cases" if streams else "log", "cases": streams,
                "tree_size": cp.size, "root": b64(cp.root), "checkpoint": CHECKPOINT,
                "trust": TRUST, "events": entries}
    if streams:
        manifest["heads"] = heads
    if pins:  # consistency proofs from the sizes the auditor holds checkpoints of
        manifest["consistency"] = [{"size1": n, "file": consistency_file(n)} for n in pins]
        files.update({consistency_file(n): _json_bytes(doc) for n, doc in pins.items()})
    files[CHECKPOINT] = cp.text.encode("utf-8")
    files[TRUST] = _json_bytes(trust.model_dump(mode="json"))
    files[MANIFEST] = _json_bytes(manifest)
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return manifest


def _stream_name(row: EventRow | None, case: str) -> str:
    """The stream name a (possibly rewritten) stored event names, else its case id."""
    try:
        return parse(row.state).stream if row is not None else case
    except VerificationError:
        return case


def _all_leaves(led: LedgerCursor, size: int) -> list[LeafRow]:
    out: list[LeafRow] = []
    while len(out) < size:
        page = led.leaves(len(out))
        if not page:
            break
        out.extend(leaf for leaf in page if leaf.leaf_index < size)
        if page[-1].leaf_index >= size - 1:
            break
    if [leaf.leaf_index for leaf in out] != list(range(size)):
        raise VerificationError.at(BUNDLE, None, "merkle", "merkle_leaves is not gap-free "
                                   "up to the checkpoint; run `cdlog verify`")
    return out


# ---------------------------------------------------------------------------- verify
@dataclass
class BundleReport(Report):
    """The outcome of :func:`verify_bundle`."""

    scope: str = ""
    origin: str = ""
    tree_size: int = 0
    root: str = ""
    streams: list[str] = field(default_factory=list)
    cosigners: list[tuple[str, int]] = field(default_factory=list)
    unverified_cosignatures: int = 0
    key_source: str = ""
    disclosed: list[str] = field(default_factory=list)
    """Restricted fields whose disclosed value and salt open the signed commitment."""

    def as_json(self) -> dict[str, Any]:
        """The ``cdlog verify --bundle --json`` document."""
        doc = super().as_json()
        doc.update({"scope": self.scope, "origin": self.origin, "tree_size": self.tree_size,
                    "root": self.root, "streams": self.streams,
                    "cosigners": [{"name": n, "timestamp": t} for n, t in self.cosigners],
                    "key_source": self.key_source, "disclosed": self.disclosed})
        return doc


class BundleVerifier(Verifier):
    """A :class:`Verifier` that also takes dependency events from streams not in the bundle.

    A dependency event (a ThirdPartyDisclosureAuthorized of another stream) is checked for
    log, placement, payload, signatures and keys at its position, then made known to the
    rules; its own stream's chain and rules are not the bundle's subject.
    """

    def feed_dependency(self, position: int, sealed_bytes: bytes) -> None:
        """Check one dependency event at its log position and observe it."""
        self.report.events += 1
        try:
            sealed = parse(sealed_bytes, BUNDLE)
            if sealed.type not in DEPENDENCY_TYPES:
                self._fail(sealed.case, sealed.version, "bundle",
                           f"{sealed.type} cannot be a dependency event")
                return
            if sealed.envelope["log"] != self.log_id:
                self._fail(sealed.case, sealed.version, "placement",
                           f"event of log {sealed.envelope['log']!r} in log {self.log_id!r}")
            if str(stream_id(sealed.stream)) != sealed.case:
                self._fail(sealed.case, sealed.version, "placement",
                           f"case id is not the id of stream {sealed.stream!r}")
            self._check_signatures(sealed, position)
            fact_of(sealed)
        except VerificationError as exc:
            self.report.failures.extend(exc.failures)
            return
        self.context.observe(sealed, position)


def _read(folder: Path, name: str, report: BundleReport, case: str = BUNDLE,
          version: int | None = None) -> bytes | None:
    path = folder / name
    if ".." in Path(name).parts or Path(name).is_absolute():
        report.failures.append(Failure(case, version, "bundle", f"{name}: path leaves the "
                                       "bundle folder"))
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        report.failures.append(Failure(case, version, "bundle", f"{name}: cannot read: "
                                       f"{exc.strerror}"))
        return None


def _load_json(folder: Path, name: str, report: BundleReport, case: str = BUNDLE,
               version: int | None = None) -> Any:
    raw = _read(folder, name, report, case, version)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        report.failures.append(Failure(case, version, "bundle", f"{name}: not JSON: {exc}"))
        return None


def _keys(folder: Path, report: BundleReport, trust: TrustFile | None,
          log_vkey: str | None) -> tuple[NoteVerifier | None, list[Any] | None]:
    own: TrustFile | None = None
    data = _load_json(folder, TRUST, report)
    if data is not None:
        try:
            own = TrustFile.model_validate(data)
        except ValueError as exc:
            report.failures.append(Failure(BUNDLE, None, "bundle", f"{TRUST}: {exc}"))
    roots = list(trust.roots) if trust is not None else (list(own.roots) if own else None)
    vkey = log_vkey or (trust.log_vkey if trust is not None else None)
    if vkey and trust is not None:
        report.key_source = "given"
    else:
        report.key_source = (f"log key {'given' if vkey else 'from the bundle'}, trust roots "
                             f"{'given' if trust is not None else 'from the bundle'}")
    vkey = vkey or (own.log_vkey if own is not None else None)
    if not vkey:
        report.failures.append(Failure(BUNDLE, None, "checkpoint", "no log verifier key: the "
                                       "bundle names none; pass the log's vkey"))
        return None, roots
    try:
        return NoteVerifier.from_vkey(vkey), roots
    except VerificationError as exc:
        report.failures.extend(exc.failures)
        return None, roots


def _checkpoint(folder: Path, report: BundleReport, verifier: NoteVerifier,
                witnesses: Sequence[CosignatureVerifier]) -> Checkpoint | None:
    raw = _read(folder, CHECKPOINT, report)
    if raw is None:
        return None
    try:
        cp, cosigned = open_checkpoint(raw, verifier, verifier.name, witnesses)
    except VerificationError as exc:
        report.failures.append(Failure(BUNDLE, None, "checkpoint",
                                       f"{CHECKPOINT}: {exc.failures[0].detail}"))
        return None
    report.cosigners = cosigned
    report.origin, report.tree_size, report.root = cp.origin, cp.size, b64(cp.root)
    report.failures.extend(missing_cosignatures(raw, verifier, witnesses, CHECKPOINT))
    return cp


def verify_bundle(folder: str | os.PathLike[str],
                  trust: TrustFile | str | os.PathLike[str] | None = None,
                  log_vkey: str | None = None, *,
                  witnesses: Iterable[CosignatureVerifier] = (),
                  config: Config | None = None,
                  self_consistent_only: bool = False,
                  saved: Sequence[tuple[str, str]] = ()) -> BundleReport:
    """Verify an audit bundle offline; return a report locating every failure.

    ``trust`` (a trust file, or its path) supplies the roots to accept and possibly the log's
    vkey;
    ``log_vkey`` overrides it; without either the bundle's own ``trust.json`` is used and the
    report's :attr:`BundleReport.key_source` says so. ``witnesses`` are cosigners whose
    cosignatures are verified and listed; each must have cosigned the checkpoint.

    A log key taken from the bundle itself proves nothing about where the bundle comes from
    (anyone can re-sign a changed bundle with a key of their own), so it is a failure unless
    ``self_consistent_only`` asks for exactly that weaker check.

    ``saved`` are checkpoints the auditor saved earlier, as (name, signed note text): each
    must be signed by the log key and consistent with the bundle's checkpoint (proven by a
    consistency proof the bundle carries, or by its events in a whole-log bundle).
    """
    root_dir = Path(folder)
    report = BundleReport()
    if trust is not None and not isinstance(trust, TrustFile):
        trust = load_trust(trust)
    if not root_dir.is_dir():
        raise ConfigurationError(f"bundle folder {root_dir} does not exist")
    manifest = _load_json(root_dir, MANIFEST, report)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        if manifest is not None:
            report.failures.append(Failure(BUNDLE, None, "bundle", f"{MANIFEST}: not a "
                                           f"{BUNDLE_FORMAT} manifest"))
        return report
    verifier, roots = _keys(root_dir, report, trust, log_vkey)
    if verifier is None:
        return report
    if not (log_vkey or (trust is not None and trust.log_vkey)) and not self_consistent_only:
        report.failures.append(Failure(BUNDLE, None, "checkpoint", "no log key given (--log-key, "
                                       "or a --trust file with log_vkey): the bundle's own key "
                                       "shows only that it is self-consistent, not that it "
                                       "comes from the log; pass --self-consistent-only to "
                                       "check just that"))
    cp = _checkpoint(root_dir, report, verifier, list(witnesses))
    if cp is None:
        return report
    try:
        _check_events(root_dir, manifest, cp, roots, config or DEFAULT_CONFIG, report)
        if saved:
            report.failures.extend(check_saved_checkpoints(
                saved, verifier, cp, _consistency_proofs(root_dir, manifest, report),
                lambda n: _prefix_root(root_dir, manifest, n)))
    except (KeyError, TypeError, ValueError) as exc:
        report.failures.append(Failure(BUNDLE, None, "bundle", f"{MANIFEST}: malformed: "
                                       f"{exc!r}"))
    return report


def _check_events(folder: Path, manifest: dict[str, Any], cp: Checkpoint, roots: list[Any] | None,
                  config: Config, report: BundleReport) -> None:
    def fail(case: str, version: int | None, check: str, detail: str) -> None:
        report.failures.append(Failure(case, version, check, detail))

    scope = manifest["scope"]
    report.scope = scope
    if scope not in ("log", "cases"):
        fail(BUNDLE, None, "bundle", f"{MANIFEST}: unknown scope {scope!r}")
        return
    if (manifest["origin"], manifest["tree_size"], manifest["root"]) != (
            cp.origin, cp.size, b64(cp.root)):
        fail(BUNDLE, None, "bundle", f"{MANIFEST}: origin, tree_size or root differ from "
             f"{CHECKPOINT}")
    streams = [str(s) for s in manifest["cases"]]
    report.streams = streams
    entries = sorted(manifest["events"], key=lambda e: int(e["leaf_index"]))
    indices = [int(e["leaf_index"]) for e in entries]
    if len(set(indices)) != len(indices):
        fail(BUNDLE, None, "bundle", f"{MANIFEST}: a leaf index is listed twice")
    if scope == "log" and indices != list(range(cp.size)):
        fail(BUNDLE, None, "merkle", f"{MANIFEST}: a log bundle must hold leaves 0.."
             f"{cp.size - 1}, it holds {len(indices)} events")
    listed = {str(e["file"]) for e in entries} | {str(e.get("proof")) for e in entries}
    for sub in ("events", "proofs"):
        for path in sorted((folder / sub).glob("*")) if (folder / sub).is_dir() else []:
            if f"{sub}/{path.name}" not in listed:
                fail(BUNDLE, None, "bundle", f"{sub}/{path.name} is not listed in {MANIFEST}")
    checker = BundleVerifier(config, roots, log_id=cp.origin)
    tree = Frontier()
    seen_streams: set[str] = set()
    for entry in entries:
        index, role = int(entry["leaf_index"]), str(entry["role"])
        case = str(stream_id(str(entry["stream"])))
        version = int(entry["version"])
        name = str(entry["file"])
        if index >= cp.size:
            fail(case, version, "merkle", f"{name}: leaf {index} is not in the checkpoint's "
                 f"tree of size {cp.size}")
            continue
        sealed_bytes = _read(folder, name, report, case, version)
        if sealed_bytes is None:
            continue
        leaf = leaf_hash(sealed_bytes)
        _check_entry(entry, sealed_bytes, role, streams, fail)
        if scope == "log":
            tree.append(leaf)
        else:
            proof = _load_json(folder, str(entry.get("proof")), report, case, version)
            if proof is not None:
                try:
                    if not isinstance(proof, dict) or proof.get("leaf_index") != index:
                        raise ProofError(f"the proof is not for leaf {index}")
                    verify_inclusion_doc(proof, leaf, checkpoint=cp)
                except ProofError as exc:
                    fail(case, version, "merkle", f"{name} (leaf {index}) is not proven in "
                         f"the checkpoint by {entry.get('proof')}: {exc.failures[0].detail}")
        if role == "dependency":
            checker.feed_dependency(index, sealed_bytes)
        else:
            checker.feed(index, sealed_bytes)
            seen_streams.add(str(entry["stream"]))
    if scope == "log" and tree.size == cp.size and tree.root() != cp.root:
        fail(BUNDLE, None, "merkle", f"the root of the bundle's {tree.size} events "
             f"{b64(tree.root())} is not the checkpoint's root {b64(cp.root)}")
    for stream in streams:
        if stream not in seen_streams:
            fail(str(stream_id(stream)), None, "bundle", f"case {stream} has no event in the "
                 "bundle")
    if scope == "cases":
        check_heads(folder, manifest, cp, entries,
                    None if roots is None else [str(r.agency) for r in roots], fail)
    elif indices == list(range(cp.size)):
        check_log_heads(cp, entries, fail)
    result = checker.finish()
    report.events, report.cases = result.events, result.cases
    report.heads = result.heads
    report.case_nos = result.case_nos
    report.failures.extend(result.failures)
    from cdlog.restricted.disclosure import check_bundle_disclosures  # noqa: PLC0415

    found, report.disclosed = check_bundle_disclosures(folder, entries)  # disclosures/
    report.failures.extend(found)


def _consistency_proofs(folder: Path, manifest: dict[str, Any], report: BundleReport
                        ) -> dict[int, dict[str, Any] | None]:
    """The consistency proofs the bundle carries, by the size they start from."""
    out: dict[int, dict[str, Any] | None] = {}
    for item in manifest.get("consistency", []):
        doc = _load_json(folder, str(item["file"]), report)
        out[int(item["size1"])] = doc if isinstance(doc, dict) else None
    return out


def _prefix_root(folder: Path, manifest: dict[str, Any], size: int) -> bytes | None:
    """The root of the first ``size`` leaves of a whole-log bundle (None for a per-case one,
    or when an event file is unreadable: its failure is reported by the event checks)."""
    if manifest["scope"] != "log":
        return None
    tree = Frontier()
    for entry in sorted(manifest["events"], key=lambda e: int(e["leaf_index"]))[:size]:
        name = Path(str(entry["file"]))
        if ".." in name.parts or name.is_absolute():
            return None
        try:
            tree.append(leaf_hash((folder / name).read_bytes()))
        except OSError:
            return None
    return tree.root() if tree.size == size else None


def _check_entry(entry: dict[str, Any], sealed_bytes: bytes, role: str, streams: list[str],
                 fail: Any) -> None:
    """The manifest's description of an event must match the sealed bytes and the scope."""
    case, version = str(stream_id(str(entry["stream"]))), int(entry["version"])
    try:
        sealed = parse(sealed_bytes, case, version)
    except VerificationError:
        return  # the verifier reports the decode failure
    name = str(entry["file"])
    if (sealed.stream, sealed.version, sealed.type) != (entry["stream"], entry["version"],
                                                        entry["type"]):
        fail(case, version, "bundle", f"{name}: holds {sealed.stream} v{sealed.version} "
             f"{sealed.type}, the manifest says {entry['stream']} v{entry['version']} "
             f"{entry['type']}")
    try:
        listed = unb64(str(entry.get("leaf_hash", "")))
    except ProofError:
        listed = b""
    if listed != leaf_hash(sealed_bytes):
        fail(case, version, "merkle", f"{name}: does not hash to the manifest's leaf_hash")
    kind = sealed.stream.partition(":")[0]
    allowed = {"case": sealed.stream in streams, "trust": kind == "trust",
               "dependency": sealed.type in DEPENDENCY_TYPES, "log": True}
    if not allowed.get(role, False):
        fail(case, version, "bundle", f"{name}: {sealed.stream} {sealed.type} cannot have "
             f"role {role!r} in this bundle")

