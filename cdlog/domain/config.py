"""Rule configuration: which approvals each kind of operation needs, who may give them,
every deadline, the pilot ports and the ports' time zones.

Nothing here is a constant of the code: a deployment loads its own file
(``cdlog --config FILE`` or ``CDLOG_CONFIG``), and :data:`DEFAULT_CONFIG` only fills gaps.
The memo gives no hours or days; the defaults are placeholders for a deployment to set.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator

from cdlog.domain.values import Frozen
from cdlog.errors import ConfigurationError


class Port(Frozen):
    """A port of entry: name and IANA time zone (for due dates given as days)."""

    name: str
    tz: str

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown time zone {value!r}"
            raise ValueError(msg) from exc
        return value


class Deadlines(Frozen):
    """Deadlines of the memo's duties, as durations."""

    notification_after_identification: timedelta = timedelta(hours=1)       # R3
    decision_after_notification: timedelta = timedelta(hours=24)           # R4
    briefing_after_interview: timedelta = timedelta(days=2)                # R6
    feedback_after_result: timedelta = timedelta(days=30)                  # R7 default plan
    late_entry_after: timedelta = timedelta(hours=12)                      # when "late" applies
    feedback_plan: dict[str, timedelta] = Field(default_factory=dict)     # per office override


class Config(Frozen):
    """Everything the rules need to know that is policy rather than code.

    Which parts come from the memo and which are placeholders a deployment sets is listed in
    docs/RULES.md; in short, the memo names the CBPO (Enforcement) as OI's notifier (R3), the
    DHS components as not third parties to each other (R8) and the five pilot locations (R5);
    it gives no approval matrix, deadline, role name or agency list, so those are placeholders.
    """

    agencies: tuple[str, ...] = ("CBP", "ICE", "DOJ", "DEA")
    # R8: components under the DHS umbrella, not third parties to each other (memo: "any
    # entity under the umbrella of DHS"); the names are placeholders a deployment may extend.
    dhs_components: tuple[str, ...] = ("DHS", "CBP", "ICE", "USCG", "TSA", "USCIS", "USSS",
                                       "FEMA")
    # R3: the roles that are CBP Officers (Enforcement), who notify OI (memo: "CBPO (Es) will
    # also notify OI"); role names are a placeholder of this deployment's key certificates.
    notifier_roles: tuple[str, ...] = ("CBPO-Enforcement", "CBPO-E", "CBPO(E)")
    # Who may open a case of each origin (agency, office or "*", roles or "*"); the memo says
    # OFO acts within the ports and OI is the investigative arm; role names are placeholders.
    openers: dict[str, tuple[str, str, tuple[str, ...]]] = Field(default_factory=lambda: {
        "ofo_interdiction": ("CBP", "OFO", ("*",)),
        "oi_investigation": ("ICE", "OI", ("*",)),
        "foreign_request": ("ICE", "*", ("Attache", "AssistantAttache", "AttacheAgent")),
        "partner_referral": ("ICE", "OI", ("*",)),
    })
    # Approvals an origin adds to the operation's required approvals (placeholder: a foreign
    # request needs the foreign authority's consent whatever the direction).
    origin_approvals: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict[str, tuple[str, ...]](foreign_request=("foreign",)))
    required_approvals: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {
        "controlled_delivery": ("GS", "SAC", "USAO-origin"),
        "pass_through": ("GS", "SAC", "USAO-origin", "port-release"),
        "cold_convoy": ("GS", "SAC", "USAO-origin"),
    })
    substitution_approval: str = "substitution"
    destination_approval: str = "USAO-destination"
    sensitive_approval: str = "HQ"
    foreign_approval: str = "foreign"
    approval_roles: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {
        "GS": ("GroupSupervisor",),
        "SAC": ("SAC", "ASAC"),
        "ASAC": ("ASAC", "SAC"),
        "USAO-origin": ("AUSA",),
        "USAO-destination": ("AUSA",),
        "HQ": ("HQ", "HQDesk", "ProgramManager"),
        "foreign": ("ForeignLiaison", "SAC"),
        "substitution": ("GroupSupervisor", "SAC", "ASAC"),
        "port-release": ("PortDirector",),
    })
    # R5: the memo's five pilot locations, each with the port codes it covers (the codes are
    # configuration: the memo names places, not codes; Miami (MIA) covers the Miami seaport
    # and Miami International Airport, both under the DFO Miami).
    pilot_locations: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {
        "Miami (MIA), Florida": ("5201", "5206"),
        "San Ysidro, California": ("2504",),
        "Blaine, Washington": ("3004",),
        "New York (JFK), New York": ("4701",),
        "Brownsville, Texas": ("2301",),
    })
    # R5: the evaluation "will run for ninety days upon approval of the operational criteria"
    # (the DFO Miami's, due 2006-01-13); the approval day is not in the memo, so no window
    # applies until a deployment sets pilot_start.
    pilot_start: date | None = None
    pilot_days: int = Field(default=90, ge=1)
    title21_categories: tuple[str, ...] = ("drug",)
    ports: dict[str, Port] = Field(default_factory=lambda: {
        "5201": Port(name="Miami seaport", tz="America/New_York"),
        "5206": Port(name="Miami airport", tz="America/New_York"),
        "2504": Port(name="San Ysidro", tz="America/Los_Angeles"),
        "3004": Port(name="Blaine", tz="America/Los_Angeles"),
        "4701": Port(name="New York JFK", tz="America/New_York"),
        "2301": Port(name="Brownsville", tz="America/Chicago"),
    })
    default_tz: str = "UTC"
    deadlines: Deadlines = Field(default_factory=Deadlines)

    @property
    def pilot_ports(self) -> tuple[str, ...]:
        """Every port code of the pilot locations (R5), in the order configured."""
        return tuple(dict.fromkeys(code for codes in self.pilot_locations.values()
                                   for code in codes))

    def pilot_location(self, port: str | None) -> str | None:
        """The pilot location (R5) a port code belongs to, or ``None``."""
        return next((name for name, codes in self.pilot_locations.items()
                     if port in codes), None)

    def zone(self, port: str | None) -> ZoneInfo:
        """Return the time zone of a port (``default_tz`` for an unknown port)."""
        entry = self.ports.get(port or "")
        return ZoneInfo(entry.tz if entry else self.default_tz)

    def feedback_due_after(self, office: str | None) -> timedelta:
        """R7 feedback deadline for an office's local feedback plan."""
        return self.deadlines.feedback_plan.get(office or "",
                                                self.deadlines.feedback_after_result)


DEFAULT_CONFIG = Config()

RULES = "cdlog-rules/1"
"""The rule set this release applies, when it records and when it verifies (the ``rule``
check). A release that changes what a rule allows gives the set a new name and keeps the old
one, so a log recorded under it still verifies; docs/RULES.md lists the sets."""

MEMO = "the memo"
PLACEHOLDER = "configuration (a placeholder: the memo gives none)"
PROVENANCE: dict[str, tuple[str, str]] = {
    # field of Config (or of Deadlines, as deadlines.<name>): (source, what it is)
    "agencies": (PLACEHOLDER, "the agencies a case's events may name"),
    "dhs_components": (MEMO, "R8: entities under the umbrella of DHS (names: configuration)"),
    "notifier_roles": (MEMO, "R3: the CBPO (Enforcement) notifies OI (role names: "
                             "configuration)"),
    "openers": (MEMO, "R1: who opens a case of each origin (role names: configuration)"),
    "origin_approvals": (PLACEHOLDER, "approvals an origin adds before release"),
    "required_approvals": (PLACEHOLDER, "approvals each operation type needs before release"),
    "substitution_approval": (PLACEHOLDER, "the approval a substitution needs"),
    "destination_approval": (PLACEHOLDER, "the approval of a second district's USAO"),
    "sensitive_approval": (PLACEHOLDER, "the approval a sensitive operation needs"),
    "foreign_approval": (PLACEHOLDER, "the approval an international operation needs"),
    "approval_roles": (PLACEHOLDER, "which roles may give each approval"),
    "pilot_locations": (MEMO, "R5: the five pilot locations (their port codes: "
                              "configuration)"),
    "pilot_start": (PLACEHOLDER, "R5: the day the pilot's criteria were approved"),
    "pilot_days": (MEMO, "R5: the evaluation runs for ninety days"),
    "title21_categories": (PLACEHOLDER, "R5: item categories that make a Title 21 case"),
    "ports": (PLACEHOLDER, "port names and time zones"),
    "default_tz": (PLACEHOLDER, "the time zone of an unknown port"),
    "deadlines": (PLACEHOLDER, "every duty's deadline (below)"),
    "deadlines.notification_after_identification": (PLACEHOLDER, "R3: notification lag"),
    "deadlines.decision_after_notification": (PLACEHOLDER, "R4: decision lag"),
    "deadlines.briefing_after_interview": (PLACEHOLDER, "R6: SCBPO briefing due"),
    "deadlines.feedback_after_result": (PLACEHOLDER, "R7: feedback due (the memo leaves it "
                                                     "to each local feedback action plan)"),
    "deadlines.feedback_plan": (PLACEHOLDER, "R7: feedback due per office"),
    "deadlines.late_entry_after": (PLACEHOLDER, "when an entry counts as late"),
}
"""Where each setting comes from, for queries and reports to say so: ``MEMO`` when the memo
fixes the rule (names may still be configured), ``PLACEHOLDER`` when it is policy the memo
does not give, applied as a gate only because a deployment configured it (or left the
default)."""


def provenance(name: str) -> str:
    """One line saying where a setting (``pilot_ports``, ``deadlines.feedback_after_result``)
    comes from, e.g. ``"required_approvals: configuration (a placeholder: ...)"``."""
    source, what = PROVENANCE.get(name, (PLACEHOLDER, "a setting"))
    return f"{name}: {source}; {what}"


def load_config(path: Path | None) -> Config:
    """Load a YAML or JSON config file over the defaults; ``None`` gives the defaults."""
    if path is None:
        return DEFAULT_CONFIG
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"config {path}: cannot read: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"config {path}: {where}: {first['msg']}") from exc
