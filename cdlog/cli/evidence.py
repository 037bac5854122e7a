"""Reading what a user hands the evidence commands (``verify``, ``prove``, ``check-proof``,
``witness``): verifier keys, signed checkpoints and proof documents given as options.

A malformed key or file is a usage error (:class:`~cdlog.errors.ConfigurationError`, exit 2)
naming the option, the file and what was expected; only a well-formed piece of evidence that
does not hold is a verification failure (exit 1). Every reader here runs before a store is
opened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdlog.errors import ConfigurationError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.note import CosignatureVerifier, NoteVerifier, split_note

VKEY_HELP = "a C2SP verifier key name+keyid+base64, as `cdlog log-key` prints"


def _detail(exc: VerificationError) -> str:
    return exc.failures[0].detail


def log_key(option: str, vkey: str) -> NoteVerifier:
    """Parse the log's checkpoint verifier key given as ``option``."""
    try:
        return NoteVerifier.from_vkey(vkey.strip())
    except VerificationError as exc:
        raise ConfigurationError(f"{option} {vkey[:80]!r} is not a log verifier key: "
                                 f"{_detail(exc)} (expected {VKEY_HELP})") from None


def witness_key(option: str, vkey: str) -> CosignatureVerifier:
    """Parse a witness's cosignature verifier key given as ``option``."""
    try:
        return CosignatureVerifier.from_vkey(vkey.strip())
    except VerificationError as exc:
        raise ConfigurationError(f"{option} {vkey[:80]!r} is not a witness cosignature key: "
                                 f"{_detail(exc)} (expected the key `cdlog witness-key` "
                                 "prints)") from None


def read_text(option: str, path: Path) -> str:
    """The UTF-8 text of the file given as ``option``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{option} {path}: is a folder, expected a file") from None
    except OSError as exc:
        raise ConfigurationError(f"{option} {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{option} {path}: is not UTF-8 text") from None


def read_checkpoint(option: str, path: Path) -> tuple[str, Checkpoint]:
    """A signed checkpoint file (``cdlog checkpoint`` output): its text and parsed body.

    Only the form is checked here (a signed note whose text is a checkpoint); signatures are
    the verifier's business.
    """
    text = read_text(option, path)
    try:
        body, _ = split_note(text)
        return text, Checkpoint.parse(body)
    except VerificationError as exc:
        raise ConfigurationError(f"{option} {path}: not a signed checkpoint: {_detail(exc)} "
                                 "(expected the output of `cdlog checkpoint`)") from None


def read_json(option: str, path: Path, what: str) -> Any:
    """The JSON document in the file given as ``option`` (``what`` names the command that
    writes it)."""
    text = read_text(option, path)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigurationError(f"{option} {path}: not JSON: {exc} (expected the output of "
                                 f"{what})") from None
