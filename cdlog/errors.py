"""The one error hierarchy of cdlog.

Every error cdlog raises on purpose derives from :class:`CdlogError`::

    CdlogError
    ├── ConfigurationError (ValueError)      bad settings, store URL, trust file; CLI exit 2
    ├── InputError (ValueError)              a value given to a command is wrong: names the
    │   │                                    field, what was wrong and what was expected
    │   └── RuleViolationError               a domain rule (R1-R9, lifecycle) refuses a command
    ├── NotFoundError (LookupError)          no such case, item, key or checkpoint
    ├── ConcurrencyError                     another writer appended first; nothing was written
    ├── KeyStoreError                        a key file cannot be read, decrypted or written
    ├── StoreError                           a store is missing, corrupt, read-only, locked or
    │                                        unreachable; names the file or host, never a password
    └── VerificationError                    evidence does not hold; names case, version, check
        ├── ProofError                       a Merkle inclusion or consistency proof is wrong
        ├── NoteError                        a signed note or checkpoint is malformed or unsigned
        └── WitnessError                     a checkpoint forks from or rolls back a witnessed one

Verification never returns a bool: it returns ``None`` or raises a :class:`VerificationError`
whose :attr:`~VerificationError.failures` list locates every problem found.
"""

from __future__ import annotations

from dataclasses import dataclass


class CdlogError(Exception):
    """Root of every error cdlog raises on purpose."""

    def diagnostics(self) -> str:
        """Return a human-readable explanation for a terminal."""
        return str(self)


class ConfigurationError(CdlogError, ValueError):
    """A setting, store URL, trust file or command-line usage is wrong."""


class InputError(CdlogError, ValueError):
    """A value given to a command is wrong.

    ``field`` names the offending field (dotted path), ``problem`` what was wrong and
    ``expected`` what would have been accepted.
    """

    def __init__(self, field: str, problem: str, expected: str = "") -> None:
        self.field = field
        self.problem = problem
        self.expected = expected
        text = f"{field}: {problem}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class RuleViolationError(InputError):
    """A domain rule refuses the command; ``rule`` is its id (``R2``, ``lifecycle``...)."""

    def __init__(self, rule: str, event_type: str, problem: str, expected: str = "") -> None:
        self.rule = rule
        self.event_type = event_type
        super().__init__(f"{event_type} [{rule}]", problem, expected)


class AccessRefusedError(RuleViolationError):
    """A read of restricted values was refused (not entitled, erased); the refusal itself was
    recorded as a ``RestrictedReadRefused`` event (cdlog.restricted)."""


class NotFoundError(CdlogError, LookupError):
    """A case, item, key, checkpoint or file that was named does not exist."""


class ConcurrencyError(CdlogError):
    """Another writer appended to the same case first; nothing of this command was written."""


class ContextChangedError(ConcurrencyError):
    """Another writer recorded a key or authorisation event (trust stream, PNR disclosure)
    after a command was prepared and before it committed; nothing of it was written.

    :class:`cdlog.application.CaseLog` prepares the command again against the new keys and
    retries; this error reaches a caller only when that keeps happening.
    """

    def __init__(self, position: int, topic: str) -> None:
        super().__init__(f"a {topic.removeprefix('cdlog:')} event was recorded at position "
                         f"{position} by another writer while this command was prepared; "
                         "nothing of this command was saved")
        self.position = position
        self.topic = topic


class KeyStoreError(CdlogError):
    """A key file cannot be read, decrypted or written (wrong passphrase, corrupt file)."""


class StoreError(CdlogError):
    """A store is missing, corrupt, read-only, locked or unreachable.

    The message names the file (absolute path) or the server (host and port) and the cause;
    it never carries a password.
    """


@dataclass(frozen=True)
class Failure:
    """One located verification failure.

    ``case`` is the stream (case) id or a log-level place such as ``"<log>"``; ``version`` the
    event's version in its case (``None`` where the failure is not about one event); ``check``
    the name of the check that failed (``signature``, ``chain``, ``version``, ``key``, ``rule``,
    ``decode``, ``merkle``, ``checkpoint``...); ``detail`` a sentence for a person.
    """

    case: str
    version: int | None
    check: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        """Return the JSON form used by ``cdlog verify --json``."""
        return {"case": self.case, "version": self.version, "check": self.check,
                "detail": self.detail}

    def __str__(self) -> str:
        where = self.case if self.version is None else f"{self.case} v{self.version}"
        return f"{where}: {self.check}: {self.detail}"


class VerificationError(CdlogError):
    """Evidence does not hold. :attr:`failures` lists every located failure."""

    def __init__(self, failures: list[Failure] | Failure) -> None:
        self.failures = [failures] if isinstance(failures, Failure) else list(failures)
        if not self.failures:
            msg = "VerificationError needs at least one failure"
            raise ValueError(msg)
        first = self.failures[0]
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        super().__init__(f"{first}{more}")

    @classmethod
    def at(cls, case: str, version: int | None, check: str, detail: str) -> VerificationError:
        """Build an error for a single failure."""
        return cls(Failure(case, version, check, detail))

    def diagnostics(self) -> str:
        """Return one line per failure."""
        return "\n".join(str(f) for f in self.failures)


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""

    def __init__(self, detail: str, case: str = "<log>", version: int | None = None) -> None:
        super().__init__(Failure(case, version, "proof", detail))


class NoteError(VerificationError):
    """A signed note or checkpoint is malformed, or carries no valid known signature."""

    def __init__(self, detail: str) -> None:
        super().__init__(Failure("<log>", None, "checkpoint", detail))


class WitnessError(VerificationError):
    """A checkpoint forks from, or rolls back, a checkpoint the witness accepted before."""

    def __init__(self, detail: str) -> None:
        super().__init__(Failure("<log>", None, "witness", detail))
