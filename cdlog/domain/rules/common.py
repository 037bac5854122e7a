"""What the rules of every stage share: refusals, actor and party checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog.domain.values import Officer
from cdlog.errors import RuleViolationError

if TYPE_CHECKING:
    from cdlog.domain.case import Context, Fact


def _refuse(rule: str, fact: Fact, problem: str, expected: str = "") -> RuleViolationError:
    return RuleViolationError(rule, fact.type, problem, expected)


def _is(officer: Officer | None, agency: str, office: str | None = None) -> bool:
    return officer is not None and officer.agency == agency and (
        office is None or officer.office == office)


def _require_actor(fact: Fact, rule: str, agency: str, office: str | None,
                   what: str) -> None:
    if not _is(fact.actor, agency, office):
        who = f"{agency}/{office}" if office else agency
        raise _refuse(rule, fact, f"recorded by {fact.actor.label}; only {who} may {what}",
                      f"an actor of {who}")


def _require_party(ctx: Context, fact: Fact, field_name: str, party: str, rule: str,
                   agency: str, office: str | None = None, role: str | None = None) -> Officer:
    officer = ctx.officer(party)
    who = f"{agency}/{office}" if office else agency
    if officer is None or not _is(officer, agency, office) or (
            role is not None and officer.role != role):
        found = officer.label if officer else "no certified officer"
        want = f"a certified {who} officer" + (f" with role {role}" if role else "")
        raise _refuse(rule, fact, f"{field_name} {party!r} is {found}", want)
    return officer
