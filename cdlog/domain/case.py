"""The case aggregate's state: what the rules know of one stream, and what they ask outside it.

:func:`check` (in :mod:`cdlog.domain.rules`, one module per stage of a case, re-exported here)
raises :class:`~cdlog.errors.RuleViolationError` when an event may not happen in the current
state; :func:`~cdlog.domain.evolve.evolve` folds an allowed event into the state. The
application calls both before it records a command, and the verifier calls both again while it
replays the log, so a rule broken by a forged or reordered row is found on replay too. No I/O
happens here: whatever the rules need from outside the case (other officers' certificates, PNR
authorisations, configuration) comes through a :class:`Context`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from cdlog.domain import events as ev
from cdlog.domain.config import Config
from cdlog.domain.rules import check, required_approvals
from cdlog.domain.values import Occurred, Officer

__all__ = ["CaseState", "Context", "Disclosure", "Duty", "Fact", "Holding", "check",
           "required_approvals"]


@dataclass(frozen=True)
class Fact:
    """One recorded event as the domain sees it (no hashes, no signatures)."""

    type: str
    payload: ev.Payload
    occurred: Occurred
    recorded: datetime
    actor: Officer
    cosigners: tuple[Officer, ...] = ()
    version: int = 1
    stream: str = ""
    late: bool = False

    @property
    def signer_ids(self) -> set[str]:
        """Ids of everyone who signed: the actor and the cosigners."""
        return {self.actor.id} | {c.id for c in self.cosigners}


@dataclass(frozen=True)
class Disclosure:
    """A third-party disclosure authorisation for EU PNR (R8), as seen from the case."""

    case_no: str
    requesting_agency: str
    authorised_at: datetime
    expires: date
    stream: str
    version: int


class Context(Protocol):
    """What the rules may ask of the world outside the case."""

    @property
    def config(self) -> Config:
        """The rule configuration."""
        ...

    def officer(self, officer_id: str) -> Officer | None:
        """The certified identity of an officer id, or None when it names no officer."""
        ...

    def disclosures(self, case_no: str) -> Sequence[Disclosure]:
        """PNR disclosure authorisations recorded so far for an OI case number."""
        ...


@dataclass
class Holding:
    """What is known of one item: first description and who holds how many."""

    category: str | None
    initial_count: int | None
    holders: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Units held by anyone."""
        return sum(self.holders.values())


@dataclass
class Duty:
    """An obligation the rules opened: what, who owes it, when due, when done."""

    kind: str               # "briefing" (R6), "action_item" (R9), "feedback" (R7)
    key: str
    owner: str
    opened_at: datetime
    due: datetime
    due_day: date | None = None
    done_at: datetime | None = None
    waived: bool = False
    what: str = ""
    assigned_by: str = ""
    to: str = ""            # feedback (R7): the agency it is owed to


@dataclass
class CaseState:
    """Everything the rules need to know about one stream so far."""

    stream: str = ""
    kind: str = ""
    version: int = 0
    reference: str = ""
    port: str | None = None
    origin: str = "ofo_interdiction"
    origin_agency: str = "CBP"
    origin_office: str | None = "OFO"
    ports: list[str] = field(default_factory=list)
    port_acted: bool = False
    closed: bool = False
    discovered: bool = False
    holdings: dict[str, Holding] = field(default_factory=dict)
    hold_active: bool = False
    notified_at: datetime | None = None
    notified_to: str | None = None
    identified_at: datetime | None = None
    decision: str | None = None
    decided_at: datetime | None = None
    case_no: str | None = None
    responsibility_assumed: bool = False
    operation: ev.OperationProposed | None = None
    approvals: dict[str, datetime] = field(default_factory=dict)
    approval_expiry: dict[str, datetime] = field(default_factory=dict)
    origin_district: str | None = None
    released: bool = False
    terminated: bool = False
    surveillance: str = "none"
    delivered: bool = False
    incidents: dict[str, bool] = field(default_factory=dict)
    shadows: set[str] = field(default_factory=set)
    duties: list[Duty] = field(default_factory=list)
    pnr_ingested: bool = False
    last_recorded: datetime | None = None

    def duty(self, kind: str, key: str) -> Duty | None:
        """Return an open or closed duty by kind and key."""
        return next((d for d in self.duties if d.kind == kind and d.key == key), None)

    @property
    def oi_leads(self) -> bool:
        """True when OI leads the case: it accepted it from OFO (R4), or the case did not
        begin as an OFO interdiction (OI's own, a foreign request, a partner referral), in
        which case it is OI's from its opening."""
        return self.decision == "accepted" or self.origin != "ofo_interdiction"

    @property
    def running(self) -> bool:
        """True while a proposed operation has not been terminated."""
        return self.operation is not None and not self.terminated
