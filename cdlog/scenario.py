"""Replaying scenario files (the format of docs/SCENARIOS.md) into a log.

Every actor gets a freshly generated demo key, certified by its agency's root; every step is
recorded through the public API, signed by its actor (and co-signers), with the log's clock
set to the step's recording time. A step the rules forbid is refused with an error naming the
step and the rule; ``derived: true`` steps are not recorded but checked against the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain import events as ev
from cdlog.domain.evolve import overdue
from cdlog.domain.values import Officer
from cdlog.errors import InputError, RuleViolationError
from cdlog.keys.signer import Ed25519Signer, Signer

ROOT_VALID_BEFORE = timedelta(days=1)
KEY_LIFETIME = timedelta(days=5 * 365)
CONTROL_KEYS = {"type", "t", "rec", "actor", "stream", "derived", "wraps", "sigs"}
PARTY_ORDER = (("from", "to"), ("requested_by", "authorised_by"))


@dataclass
class Scenario:
    """A parsed scenario file."""

    name: str
    operation_id: str | None
    port: str
    actors: dict[str, Officer]
    refs: dict[str, Any]
    events: list[dict[str, Any]]
    expected: dict[str, Any]
    path: Path | None = None

    @property
    def case_stream(self) -> str:
        """The stream of the scenario's own case."""
        return f"case:{self.operation_id or self.name}"


@dataclass
class ReplayResult:
    """What a replay recorded."""

    scenario: Scenario
    recorded: int = 0
    derived_checked: int = 0
    streams: list[str] = field(default_factory=list)
    signers: dict[str, Signer] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """YAML values to JSON-ready values: floats as decimal strings, times as ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def load_scenario(source: Path | str | Mapping[str, Any]) -> Scenario:
    """Parse and check a scenario file (or an already loaded mapping)."""
    path = None
    if isinstance(source, Path | str):
        path = Path(source)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(str(path), f"cannot read scenario: {exc}", "a YAML file") from exc
    else:
        data = source
    where = str(path) if path else "scenario"
    if not isinstance(data, Mapping):
        raise InputError(where, "is not a mapping", "scenario, actors and events keys")
    for key in ("scenario", "actors", "events"):
        if key not in data:
            raise InputError(f"{where}: {key}", "missing", "the scenario format's keys")
    actors = {}
    for handle, spec in dict(data["actors"]).items():
        if not isinstance(spec, Mapping):
            raise InputError(f"actors.{handle}", "is not a mapping", "{role, agency, ...}")
        ident = spec.get("badge") or spec.get("ref")
        if not ident:
            raise InputError(f"actors.{handle}", "has neither badge nor ref", "an identifier")
        try:
            actors[str(handle)] = Officer(
                id=str(ident), role=str(spec["role"]), agency=str(spec["agency"]),
                office=str(spec["office"]), unit=spec.get("unit"), aor=spec.get("aor"),
                cross_designation=spec.get("cross_designation"))
        except (KeyError, ValueError) as exc:
            raise InputError(f"actors.{handle}", f"incomplete: {exc}",
                             "role, agency, office and badge or ref") from exc
    events = [dict(_plain(e)) for e in data["events"]]
    for i, e in enumerate(events):
        if "type" not in e or "t" not in e:
            raise InputError(f"events[{i}]", "needs type and t", "a type and a time")
    ports = data.get("ports") or {}
    return Scenario(name=str(data["scenario"]), operation_id=data.get("operation_id"),
                    port=str(ports.get("origin", "")), actors=actors,
                    refs=_plain(data.get("refs") or {}), events=events,
                    expected=dict(data.get("expected_answers") or {}), path=path)


def _times(step: Mapping[str, Any], i: int) -> tuple[Any, datetime]:
    t = step["t"]
    if isinstance(t, Mapping):
        at: Any = {"from": t["from"], "to": t["to"]}
        end = parse_time(str(t["to"]), f"events[{i}].t.to")
    else:
        end = parse_time(str(t), f"events[{i}].t")
        at = end
    rec = parse_time(str(step["rec"]), f"events[{i}].rec") if "rec" in step else end
    return at, rec


class Replayer:
    """Replays scenarios into a log, generating and certifying demo keys as needed."""

    def __init__(self, log: CaseLog, root_signer: Callable[[str], Signer] | None = None) -> None:
        self.log = log
        self._roots: dict[str, Signer] = {}
        self._root_source = root_signer

    def _root(self, agency: str, at: datetime) -> Signer:
        if agency in self._roots:
            return self._roots[agency]
        existing = self.log.context.registry.agency_root(agency)
        if existing is not None:
            if self._root_source is None:
                raise InputError("trust", f"agency {agency} already has a root in this log "
                                 "and no key for it was given", "the root's key file")
            root = self._root_source(agency)
        else:
            root = self._root_source(agency) if self._root_source else Ed25519Signer.generate()
            self.log.establish_root(agency, root, at=at)
        self._roots[agency] = root
        return root

    def replay(self, source: Path | str | Mapping[str, Any] | Scenario) -> ReplayResult:
        """Record every step of a scenario; raise on the first refused step."""
        sc = source if isinstance(source, Scenario) else load_scenario(source)
        result = ReplayResult(scenario=sc)
        starts = [_times(s, i)[1] for i, s in enumerate(sc.events)]
        starts += [parse_time(str(s["t"]["from"] if isinstance(s["t"], Mapping) else s["t"]))
                   for s in sc.events]
        t0 = min(starts) - ROOT_VALID_BEFORE
        for handle, officer in sc.actors.items():
            signer = Ed25519Signer.generate()
            root = self._root(officer.agency, t0)
            self.log.certify_officer(root, officer, signer.public_key, not_before=t0,
                                     not_after=t0 + KEY_LIFETIME, at=t0)
            result.signers[handle] = signer
        self._open_case(sc, result)
        for i, step in enumerate(sc.events):
            self._step(sc, result, i, step)
        return result

    def _open_case(self, sc: Scenario, result: ReplayResult) -> None:
        first = next((i for i, s in enumerate(sc.events) if "stream" not in s), None)
        if first is None:
            return
        step = sc.events[first]
        at, rec = _times(step, first)
        signers = self._signers(sc, result, step, first)
        opened = ev.CaseOpened(reference=sc.operation_id or sc.name,
                               operation_id=sc.operation_id, port=sc.port or "unknown",
                               refs=sc.refs)
        try:
            self.log.record(sc.case_stream, opened, signer=signers[0], at=at, recorded=rec)
        except RuleViolationError as exc:
            raise _step_error(first, "CaseOpened", exc) from None
        result.recorded += 1
        result.streams.append(sc.case_stream)

    def _signers(self, sc: Scenario, result: ReplayResult, step: Mapping[str, Any],
                 i: int) -> list[Signer]:
        handles: list[str] = []
        actor = step.get("actor")
        if isinstance(actor, list):
            handles = [str(a) for a in actor]
        elif actor is not None:
            handles = [str(actor)]
        else:
            for first, second in PARTY_ORDER:
                if step.get(first) in sc.actors:
                    handles = [step[first]]
                    if step.get(second) in sc.actors and "sigs" not in step:
                        pass
                    break
        for extra in step.get("sigs") or []:
            if extra not in handles:
                handles.append(str(extra))
        if not handles:
            handles = [self._implicit_actor(sc, step, i)]
        unknown = [h for h in handles if h not in result.signers]
        if unknown:
            raise InputError(f"events[{i}].actor", f"unknown actor handle(s) {unknown}",
                             "handles declared under actors")
        return [result.signers[h] for h in handles]

    @staticmethod
    def _implicit_actor(sc: Scenario, step: Mapping[str, Any], i: int) -> str:
        """An event with no actor: the owner of what it completes, or the case agent."""
        item = step.get("item_id")
        if item is not None:
            for other in sc.events:
                if other.get("type") == "ActionItemAssigned" and other.get("item_id") == item:
                    return str(other["owner"])
        for handle, officer in sc.actors.items():
            if officer.role == "CaseAgent":
                return handle
        for handle, officer in sc.actors.items():
            if officer.agency == "ICE":
                return handle
        raise InputError(f"events[{i}].actor", "missing and no case agent to default to",
                         "an actor handle")

    def _payload_fields(self, sc: Scenario, step: Mapping[str, Any]) -> dict[str, Any]:
        ids = {h: o.id for h, o in sc.actors.items()}

        def swap(value: Any) -> Any:
            if isinstance(value, str):
                return ids.get(value, value)
            if isinstance(value, list):
                return [swap(v) for v in value]
            if isinstance(value, dict):
                return {k: swap(v) for k, v in value.items()}
            return value

        fields = {k: swap(v) for k, v in step.items() if k not in CONTROL_KEYS}
        if "wraps" in step:
            reason = fields.pop("reason", None)
            return {"wraps": step["wraps"], "reason": reason, "event": fields}
        return fields

    def _step(self, sc: Scenario, result: ReplayResult, i: int, step: Mapping[str, Any]) -> None:
        type_ = str(step["type"])
        at, rec = _times(step, i)
        stream = str(step.get("stream") or sc.case_stream)
        if step.get("derived"):
            self._check_derived(sc, i, step, at)
            result.derived_checked += 1
            return
        signers = self._signers(sc, result, step, i)
        try:
            self.log.record(stream, type_, self._payload_fields(sc, step), signer=signers[0],
                            cosigners=signers[1:], at=at, recorded=rec)
        except RuleViolationError as exc:
            raise _step_error(i, type_, exc) from None
        except InputError as exc:
            raise InputError(f"step {i + 1} ({type_}): {exc.field}", exc.problem,
                             exc.expected) from None
        result.recorded += 1
        if stream not in result.streams:
            result.streams.append(stream)

    def _check_derived(self, sc: Scenario, i: int, step: Mapping[str, Any], at: Any) -> None:
        type_ = str(step["type"])
        when = at if isinstance(at, datetime) else parse_time(str(at["to"]))
        state = self.log.state(sc.case_stream)
        found = [o for o in overdue(state, when) if o.event_type == type_
                 and o.key == step.get("item_id", o.key)]
        if not found or found[0].became_overdue_at != when:
            derived = [(o.event_type, o.key, o.became_overdue_at.isoformat())
                       for o in overdue(state, when)]
            raise RuleViolationError(
                "R9", f"step {i + 1} ({type_})",
                f"the rules do not derive it at {when.isoformat()}; derived: {derived}",
                "the rules to derive it at the first instant past due")


def _step_error(i: int, type_: str, exc: RuleViolationError) -> RuleViolationError:
    return RuleViolationError(exc.rule, f"step {i + 1} ({type_})", exc.problem, exc.expected)


def replay(log: CaseLog, sources: Sequence[Path | str]) -> list[ReplayResult]:
    """Replay scenario files in order into ``log``; one :class:`ReplayResult` each."""
    replayer = Replayer(log)
    return [replayer.replay(s) for s in sources]
