"""Replaying scenario files (the format of docs/SCENARIOS.md) into a log.

Every actor gets a freshly generated demo key, certified by its agency's root; every step is
recorded through the public API, signed by its actor (and co-signers), with the log's clock
set to the step's recording time. A step the rules forbid is refused with an error naming the
step and the rule; ``derived: true`` steps are not recorded but checked against the rules.

A replay writes all or nothing: a scenario (or every scenario of :meth:`Replayer.replay_all`)
is prepared in one batch of the log, its roots, certificates and steps, and saved in one
transaction only when every step passed; a refused step, a bad file or Ctrl-C leaves the store
as it was. A dry run prepares the same batch and saves nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml
from pydantic import ValidationError

from cdlog.app.writing import _Batch
from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain import events as ev
from cdlog.domain.evolve import overdue
from cdlog.domain.values import Officer
from cdlog.errors import InputError, RuleViolationError
from cdlog.keys.certificate import issue_certificate
from cdlog.keys.signer import Ed25519Signer, Signer
from cdlog.log.facts import validation_to_input_error

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
    origin: dict[str, Any] | None = None
    """The top-level ``origin:`` block: the fields of :class:`cdlog.domain.events.Origin` (a
    handle in ``via`` stands for that actor's id) and ``opened_by``, the handle of the actor
    who opens the case (default: the actor of the first step). None: an OFO interdiction."""

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
    keys: int = 0
    """Key events recorded for it (agency roots and officer certificates)."""


@runtime_checkable
class StagedRoots(Protocol):
    """A root source whose new key files wait for the log: :meth:`keep` once the roots are
    saved, :meth:`discard` when they are not (see ``cdlog.cli.demo_keys.RootKeys``)."""

    def __call__(self, agency: str) -> Signer:
        """The root signer of ``agency`` (a new one when it has no key file yet)."""

    def keep(self) -> None:
        """Put the key files of the new roots in place."""

    def discard(self) -> None:
        """Remove the key files of the new roots."""


class _DryRun(Exception):
    """Ends a dry run's batch without saving it."""


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
    for key, kind in (("actors", Mapping), ("events", list), ("ports", Mapping),
                      ("expected_answers", Mapping), ("origin", Mapping)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise InputError(f"{where}: {key}", f"is a {type(data[key]).__name__}",
                             "a list of steps" if kind is list else "a mapping")
    actors = {}
    for handle, spec in dict(data["actors"] or {}).items():
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
    events = []
    for i, e in enumerate(data["events"] or []):
        if not isinstance(e, Mapping):
            raise InputError(f"events[{i}]", f"is a {type(e).__name__}",
                             "a mapping with type, t and the event's fields")
        step = _plain(e)
        if "type" not in step or "t" not in step:
            raise InputError(f"events[{i}]", "needs type and t", "a type and a time")
        t = step["t"]
        if isinstance(t, Mapping) and not {"from", "to"} <= set(t):
            raise InputError(f"events[{i}].t", "is a window without from and to",
                             "a time, or {from: time, to: time}")
        events.append(step)
    if not events:
        raise InputError(f"{where}: events", "is empty", "at least one step")
    ports = data.get("ports") or {}
    operation_id = data.get("operation_id")
    return Scenario(name=str(data["scenario"]),
                    operation_id=None if operation_id is None else str(operation_id),
                    port=str(ports.get("origin", "")), actors=actors,
                    refs=_plain(data.get("refs") or {}), events=events,
                    expected=dict(data.get("expected_answers") or {}), path=path,
                    origin=None if data.get("origin") is None else dict(_plain(data["origin"])))


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

    def _root(self, b: _Batch, result: ReplayResult, agency: str, at: datetime) -> Signer:
        if agency in self._roots:
            return self._roots[agency]
        existing = self.log.context.registry.agency_root(agency)
        if existing is not None:
            if self._root_source is None:
                raise InputError("trust", f"agency {agency} already has a root in this log "
                                 "and no key for it was given", "the root's key file")
            root = self._root_source(agency)
            if root.key_id != existing.key_id:
                raise InputError("trust", f"the root of agency {agency} in this log is key "
                                 f"{existing.key_id}, but the root key given for it is "
                                 f"{root.key_id} (its key file missing, or from another store?)",
                                 "the key file of that root")
        else:
            root = self._root_source(agency) if self._root_source else Ed25519Signer.generate()
            payload = ev.TrustRootEstablished(
                agency=agency, key_id=root.key_id,
                public_key=base64.b64encode(root.public_key).decode())
            b.record(f"trust:{agency}", payload, signer=root, at=at, recorded=at)
            result.keys += 1
        self._roots[agency] = root
        return root

    def replay(self, source: Path | str | Mapping[str, Any] | Scenario, *,
               step: Callable[[], None] | None = None) -> ReplayResult:
        """Record every step of a scenario, all or nothing; raise on the first refused step.

        Inside an open batch of the log the scenario joins it (saved with it, or not at all).
        ``step`` is called after each step is prepared (for a progress bar).
        """
        sc = source if isinstance(source, Scenario) else load_scenario(source)
        result = ReplayResult(scenario=sc)
        starts = [_times(s, i)[1] for i, s in enumerate(sc.events)]
        starts += [parse_time(str(s["t"]["from"]), f"events[{i}].t.from")
                   for i, s in enumerate(sc.events) if isinstance(s["t"], Mapping)]
        starts += [_times(s, i)[0] for i, s in enumerate(sc.events)
                   if not isinstance(s["t"], Mapping)]
        t0 = min(starts) - ROOT_VALID_BEFORE
        with self.log.batch() as b:
            self._watch(b)
            self._check_new_case(sc)
            for handle, officer in sc.actors.items():
                signer = Ed25519Signer.generate()
                root = self._root(b, result, officer.agency, t0)
                cert = issue_certificate(root, public_key=signer.public_key, subject=officer,
                                         not_before=t0, not_after=t0 + KEY_LIFETIME,
                                         serial=b.next_position)
                b.record(f"trust:{officer.agency}",
                         ev.OfficerKeyCertified(certificate=cert.model_dump(mode="json")),
                         signer=root, at=t0, recorded=t0)
                result.keys += 1
                result.signers[handle] = signer
            self._open_case(sc, result)
            for i, s in enumerate(sc.events):
                self._step(sc, result, i, s)
                if step is not None:
                    step()
        return result

    def replay_all(self, sources: Sequence[Path | str | Mapping[str, Any] | Scenario], *,
                   dry_run: bool = False,
                   step: Callable[[], None] | None = None) -> list[ReplayResult]:
        """Replay scenarios in order as one batch: every one is saved, or none.

        With ``dry_run`` every scenario is prepared and checked exactly as it would be saved
        (against the rules, the keys and the log's current state, each seeing the ones before
        it) and nothing is saved; the results say what would have been recorded.
        """
        if dry_run and self.log.in_batch:
            raise InputError("dry_run", "asked for inside an open batch of the log, which it "
                             "cannot leave unchanged", "a dry run outside any batch")
        scenarios = [s if isinstance(s, Scenario) else load_scenario(s) for s in sources]
        results: list[ReplayResult] = []
        try:
            with self.log.batch() as b:
                self._watch(b)
                results.extend(self.replay(sc, step=step) for sc in scenarios)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return results

    def _watch(self, b: _Batch) -> None:
        """Tie the roots this replayer makes to the batch: kept when it is saved, forgotten
        (and their staged key files removed) when it is not."""
        known = dict(self._roots)

        def forget() -> None:
            self._roots = known

        b.on_abort(forget)
        if isinstance(self._root_source, StagedRoots):
            b.on_commit(self._root_source.keep)
            b.on_abort(self._root_source.discard)

    def _check_new_case(self, sc: Scenario) -> None:
        """Refuse, before anything is prepared, a scenario whose case the log holds already
        (replayed before: its steps would be refused, after new certificates)."""
        first = next((i for i, s in enumerate(sc.events) if "stream" not in s), None)
        held = self.log.state(sc.case_stream).version if first is not None else 0
        if held:
            raise RuleViolationError(
                "lifecycle", f"step {first + 1 if first is not None else 1} (CaseOpened)",
                f"{sc.case_stream} already holds {held} events in this log (was scenario "
                f"{sc.name} replayed before?)", "a scenario whose case is not in the log yet")

    def _open_case(self, sc: Scenario, result: ReplayResult) -> None:
        first = next((i for i, s in enumerate(sc.events) if "stream" not in s), None)
        if first is None:
            return
        step = sc.events[first]
        at, rec = _times(step, first)
        spec = dict(sc.origin or {})
        opener = spec.pop("opened_by", None)
        if opener is not None and str(opener) not in result.signers:
            raise InputError("origin.opened_by", f"unknown actor handle {opener!r}",
                             "a handle declared under actors")
        signer = (result.signers[str(opener)] if opener is not None
                  else self._signers(sc, result, step, first)[0])
        ids = {h: o.id for h, o in sc.actors.items()}
        try:
            origin = (None if sc.origin is None else ev.Origin.model_validate(
                {k: ids.get(v, v) if isinstance(v, str) else v for k, v in spec.items()}))
            opened = ev.CaseOpened(reference=sc.operation_id or sc.name,
                                   operation_id=sc.operation_id, port=sc.port or "unknown",
                                   refs=sc.refs, origin=origin)
        except ValidationError as exc:
            raise validation_to_input_error(exc, "scenario (CaseOpened)") from None
        try:
            self.log.record(sc.case_stream, opened, signer=signer, at=at, recorded=rec)
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
                if (other.get("type") == "ActionItemAssigned" and other.get("item_id") == item
                        and other.get("owner") is not None):
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
            wrapped = ev.CATALOGUE.get(str(step["wraps"]))
            if wrapped is not None:  # an unknown wrapped type is refused by validation
                fields = ev.as_lists(wrapped, fields)
            return {"wraps": step["wraps"], "reason": reason, "event": fields}
        model = ev.CATALOGUE.get(str(step["type"]))
        # a single value given for a list-valued field is a list of one; anything else that
        # does not fit is refused when the payload is validated (naming step and field)
        return ev.as_lists(model, fields) if model is not None else fields

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
    """Replay scenario files in order into ``log``, all or nothing; one
    :class:`ReplayResult` each."""
    return Replayer(log).replay_all(sources)
