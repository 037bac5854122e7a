"""Head proofs in per-case bundles: the bundle holds the whole of each case it lists.

:func:`export_heads` adds ``heads/<stream id>.json`` (a ``cdlog prove head`` document without
its checkpoint) for every listed case, every trust stream the bundle holds and the trust stream
of every root it names, and returns the manifest's ``heads`` list. :func:`check_heads` makes
:func:`cdlog.verify.bundle.verify_bundle` require, for each such stream, a head proof against the
bundle's checkpoint and exactly versions ``1..head`` of the stream in the bundle, the last one
at the head's leaf with the head's event hash; a stream the map proves absent must have no
event in the bundle. docs/SPEC.md §10 and §12 describe both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from cdlog.canonical import canonical_bytes
from cdlog.errors import InputError, NoteError, ProofError
from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.checkpoint_signing import StoredCheckpoint
from cdlog.log.headproofs import head_proof
from cdlog.log.heads import EXTENSION, MapBuilder, ProvenHead, heads_of, verify_head_doc
from cdlog.log.ledger import LedgerCursor
from cdlog.log.merkle import b64, unb64
from cdlog.log.sealing import stream_id

BUNDLE = "<bundle>"
HEADS_DIR = "heads"
Fail = Callable[[str, int | None, str, str], None]


def head_file(stream: str) -> str:
    """The bundle path of a stream's head proof."""
    return f"{HEADS_DIR}/{stream_id(stream)}.json"


def head_streams(cases: Iterable[str], held: Iterable[str], agencies: Iterable[str]
                 ) -> list[str]:
    """The streams whose heads a per-case bundle proves: the listed cases, every trust stream
    it holds events of, and the trust stream of every agency root it names."""
    trust = {s for s in held if s.startswith("trust:")} | {f"trust:{a}" for a in agencies}
    return sorted(set(cases) | trust)


def export_heads(led: LedgerCursor, cp: StoredCheckpoint, streams: Sequence[str]
                 ) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    """The manifest's ``heads`` list and the head-proof files for ``streams`` at ``cp``."""
    listed: list[dict[str, str]] = []
    files: dict[str, bytes] = {}
    for stream in streams:
        doc = head_proof(led, stream, cp)
        files[head_file(stream)] = canonical_bytes(doc) + b"\n"
        listed.append({"stream": stream, "file": head_file(stream)})
    return listed, files


def check_heads(folder: Path, manifest: Mapping[str, Any], cp: Checkpoint,
                entries: Sequence[Mapping[str, Any]], agencies: Iterable[str] | None,
                fail: Fail) -> None:
    """Check a per-case bundle's head proofs and that it holds each proven stream whole."""
    cases = [str(s) for s in manifest["cases"]]
    held: dict[str, dict[int, Mapping[str, Any]]] = {}
    for entry in entries:
        if entry.get("role") != "dependency":
            held.setdefault(str(entry["stream"]), {})[int(entry["version"])] = entry
    try:
        line = heads_of(cp)
    except NoteError as exc:  # a malformed heads line
        fail(BUNDLE, None, "heads", f"checkpoint.txt: {exc.failures[0].detail}")
        return
    if line is None:
        fail(BUNDLE, None, "heads", f"checkpoint.txt carries no {EXTENSION} line (it was signed "
             "before the log kept stream heads): the bundle cannot show that it holds every "
             "event of its cases; export it again after `cdlog checkpoint` has signed a newer "
             "checkpoint")
        return
    files = {}
    raw_list = manifest.get("heads", [])
    if not isinstance(raw_list, list):
        fail(BUNDLE, None, "heads", "bundle.json: heads is not a list")
        raw_list = []
    for item in raw_list:
        if isinstance(item, Mapping) and isinstance(item.get("stream"), str):
            files[str(item["stream"])] = str(item.get("file"))
    wanted = head_streams(cases, held, agencies or ())
    for path in sorted((folder / HEADS_DIR).glob("*")) if (folder / HEADS_DIR).is_dir() else []:
        if f"{HEADS_DIR}/{path.name}" not in files.values():
            fail(BUNDLE, None, "bundle", f"{HEADS_DIR}/{path.name} is not listed in bundle.json")
    for stream in wanted:
        _check_stream(folder, stream, files.get(stream), cp, held.get(stream, {}),
                      stream in cases, fail)


def check_log_heads(cp: Checkpoint, entries: Sequence[Mapping[str, Any]], fail: Fail) -> None:
    """A whole-log bundle holds every event: its heads line must be the map of them."""
    try:
        line = heads_of(cp)
    except NoteError as exc:
        fail(BUNDLE, None, "heads", f"checkpoint.txt: {exc.failures[0].detail}")
        return
    if line is None:
        return  # signed before the map existed: the tree alone is checked
    builder = MapBuilder()
    for entry in entries:
        try:
            builder.set(stream_id(str(entry["stream"])).bytes, int(entry["version"]),
                        int(entry["leaf_index"]), unb64(str(entry["leaf_hash"])))
        except (ValueError, ProofError):
            return  # a malformed entry is reported by the event checks
    try:
        rebuilt = builder.state()
    except InputError:
        return  # a version or hash out of range: reported by the event checks
    if rebuilt != line:
        fail(BUNDLE, None, "heads", f"checkpoint.txt: its stream-head map ({line[0]} streams, "
             f"root {b64(line[1])}) is not the map of the bundle's events ({rebuilt[0]} "
             f"streams, root {b64(rebuilt[1])})")


def _check_stream(folder: Path, stream: str, name: str | None, cp: Checkpoint,
                  held: Mapping[int, Mapping[str, Any]], listed: bool, fail: Fail) -> None:
    case = str(stream_id(stream))
    if name is None:
        fail(case, None, "heads", f"{stream}: the bundle carries no head proof, so it cannot "
             f"show that it holds every event of {stream} (expected {head_file(stream)})")
        return
    if name != head_file(stream):
        fail(case, None, "heads", f"{stream}: its head proof must be {head_file(stream)}, "
             f"not {name}")
        return
    try:
        doc = orjson.loads((folder / name).read_bytes())
    except OSError as exc:
        fail(case, None, "heads", f"{name}: cannot read: {exc.strerror}")
        return
    except orjson.JSONDecodeError as exc:
        fail(case, None, "heads", f"{name}: not JSON: {exc}")
        return
    try:
        proven = verify_head_doc(doc, stream, checkpoint=cp)
    except ProofError as exc:
        fail(case, None, "heads", f"{name}: {exc.failures[0].detail}")
        return
    check_held(stream, proven, held, listed, name, fail)


def check_held(stream: str, proven: ProvenHead, held: Mapping[int, Mapping[str, Any]],
               listed: bool, name: str, fail: Fail, where: str = "the bundle") -> None:
    """The events ``held`` of a stream (by version: ``leaf_index``, ``leaf_hash``) must be
    exactly versions ``1..head`` of its ``proven`` head, the last at the head's leaf with the
    head's hash; a stream proven absent must have none (and, when ``listed``, is a failure).
    ``name`` says where the proof came from, ``where`` what holds the events. Shared by
    per-case bundles and scoped reports (:mod:`cdlog.reports.scope`)."""
    case = str(stream_id(stream))
    head = proven.head
    if head is None:
        if held:
            fail(case, min(held), "heads", f"{name}: the checkpoint's map proves that the log "
                 f"holds no event of {stream}, but {where} holds {len(held)}")
        elif listed:
            fail(case, None, "heads", f"{name}: the log holds no event of {stream} at size "
                 f"{proven.tree_size}")
        return
    missing = [v for v in range(1, head.version + 1) if v not in held]
    for version in missing[:20]:
        fail(case, version, "heads", f"{stream} v{version} is missing from {where}: the "
             f"checkpoint's head of {stream} is v{head.version} ({name})")
    if len(missing) > 20:
        fail(case, None, "heads", f"{stream}: {len(missing) - 20} more versions up to "
             f"v{head.version} are missing from {where}")
    for version in sorted(v for v in held if v > head.version):
        fail(case, version, "heads", f"{stream} v{version} is past the checkpoint's head "
             f"v{head.version} ({name})")
    last = held.get(head.version)
    if last is not None and (int(last["leaf_index"]) != head.leaf_index
                             or last.get("leaf_hash") != b64(head.event_hash)):
        fail(case, head.version, "heads", f"{stream} v{head.version} in {where} is leaf "
             f"{last['leaf_index']} hash {last.get('leaf_hash')}, but the checkpoint's head is "
             f"leaf {head.leaf_index} hash {b64(head.event_hash)} ({name})")
