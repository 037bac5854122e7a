"""What the rules may know beyond one case: keys, PNR authorisations, configuration.

A :class:`LogContext` is fed every event of the log, in log order, through
:meth:`LogContext.observe`. The application feeds it what is committed before each command;
the verifier feeds it while it replays, so both judge a command by the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from cdlog.domain.case import Disclosure
from cdlog.domain.config import Config
from cdlog.domain.values import Officer
from cdlog.keys.registry import KeyRegistry
from cdlog.keys.trust import TrustRoot
from cdlog.log.sealing import SealedEvent

TRUST_TYPES = frozenset({"TrustRootEstablished", "OfficerKeyCertified", "OfficerKeyRevoked",
                         "OfficerKeyRotated"})
CONTEXT_TYPES = TRUST_TYPES | {"ThirdPartyDisclosureAuthorized"}
CONTEXT_TOPICS = tuple(sorted("cdlog:" + t for t in CONTEXT_TYPES))
"""The stored topics of the context events (what every command is checked against)."""


class LogContext:
    """Key registry, PNR disclosure authorisations and configuration, as of a log position."""

    def __init__(self, config: Config, trusted_roots: Iterable[TrustRoot] | None = None) -> None:
        self._config = config
        self.registry = KeyRegistry(trusted_roots)
        self._disclosures: dict[str, list[Disclosure]] = {}
        self.position = 0

    @property
    def config(self) -> Config:
        """The rule configuration."""
        return self._config

    def officer(self, officer_id: str) -> Officer | None:
        """The newest certified identity for an officer id."""
        return self.registry.officer(officer_id)

    def disclosures(self, case_no: str) -> Sequence[Disclosure]:
        """PNR disclosure authorisations for a case number, in log order."""
        return self._disclosures.get(case_no, [])

    def observe(self, event: SealedEvent, position: int) -> None:
        """Take in one committed event at its log position (only some types matter)."""
        self.position = max(self.position, position)
        if event.type in TRUST_TYPES:
            self.registry.apply(event, position)
        elif event.type == "ThirdPartyDisclosureAuthorized":
            p = event.payload
            occurred = event.envelope["occurred"]
            from cdlog.canonical import parse_time  # noqa: PLC0415

            at = parse_time(occurred.get("at") or occurred["to"])
            self._disclosures.setdefault(str(p["case_no"]), []).append(Disclosure(
                case_no=str(p["case_no"]), requesting_agency=str(p["requesting_agency"]),
                authorised_at=at, expires=date.fromisoformat(str(p["expires"])),
                stream=event.stream, version=event.version))
