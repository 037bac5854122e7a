"""The scenario files' ``expected_answers``: each question, the ``cdlog query`` that answers
it, and how to read the answer out of that query's JSON.

A question is a key of ``expected_answers``, either a bare name (``late_entries``) or a call
(``responsibility_at("2006-03-15T12:00-05:00")``). :func:`parse_question` turns it into a
:class:`Question` whose :meth:`~Question.argv` is the command line, :meth:`~Question.api` the
same query through the Python API, and :meth:`~Question.extract` the answer in the form the
scenario writes it (durations in prose, days as ``YYYY-MM-DD``). Both paths give the same
JSON, so the extraction is shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml
from pydantic import BaseModel

from cdlog.canonical import parse_time
from cdlog.errors import InputError
from cdlog.projections.queries import Queries
from cdlog.projections.timefmt import parse_day

_CALL = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\((?P<args>.*)\)\s*$")
_DISCLOSURE = re.compile(r"^pnr_disclosure_to_(?P<agency>[A-Za-z]+)_requires$")


def plain(value: Any) -> Any:
    """YAML values in their JSON text form (days and times as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def dump(model: BaseModel) -> Any:
    """The JSON document of a query answer (what ``cdlog query`` prints)."""
    return model.model_dump(mode="json", by_alias=True)


def _is_case(doc: Mapping[str, Any], case: str) -> bool:
    names = {doc.get("stream"), doc.get("reference"), doc.get("operation_id"),
             doc.get("case_no"), doc.get("case_id")}
    return case in names or f"case:{case}" in names


Argv = Callable[[str, tuple[str, ...]], list[str]]
Api = Callable[[Queries, str, tuple[str, ...]], BaseModel]
Extract = Callable[[Any, str, tuple[str, ...]], Any]
Spec = tuple[Argv, Api, Extract]
"""A question's command line, its API call and its reading of the answer."""


@dataclass(frozen=True)
class Question:
    """One expected-answer question of a scenario."""

    key: str
    name: str
    args: tuple[str, ...]
    argv_of: Argv
    api_of: Api
    extract_of: Extract

    def argv(self, case: str) -> list[str]:
        """The ``cdlog query`` arguments that answer it for ``case``."""
        return self.argv_of(case, self.args)

    def api(self, q: Queries, case: str) -> BaseModel:
        """The same query through the API."""
        return self.api_of(q, case, self.args)

    def extract(self, doc: Any, case: str) -> Any:
        """The answer, in the scenario's form, from the query's JSON."""
        return self.extract_of(doc, case, self.args)


def _duty_answer(d: Mapping[str, Any]) -> dict[str, Any]:
    done = d.get("done_at")
    return {"item": d["key"], "due": d.get("due_day") or d["due"],
            "done": _local_day(done) if done else None, "days_late": d.get("days_late")}


def _local_day(text: str) -> str:
    return text[:10]  # canonical times keep the port's offset, so the text day is local


def _overdue(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    return [_duty_answer(d) for d in doc["overdue"]]


def _pilot(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    for entry in doc["cases"]:
        if _is_case(entry["case"], case):
            return entry["shadow_expected"]
    raise InputError("pilot", f"case {case!r} is not in the pilot report", "a known case")


def _pnr(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    out: dict[str, str] = {}
    for state in doc["states"]:
        out.setdefault(state["regime"], state["summary"])
    return out


def _late(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    return [{"event": e["event"], "lag": e["lag"]} for e in doc["entries"]]


def _custodian(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    return {h["holder"]: h["count"] for h in doc["holders"]}


def _missing(doc: Any, case: str, args: tuple[str, ...]) -> Any:
    return [r["kind"] for r in doc["rows"] if r["required"] and r["status"] != "granted"]


def _asked(argv: Argv, api: Api, *extracts: tuple[str, Extract]) -> dict[str, Spec]:
    """Questions answered by one query (its ``cdlog query`` words and its API call), each
    read out of the answer its own way."""
    return {name: (argv, api, extract) for name, extract in extracts}


def _field(*path: str) -> Extract:
    """The value at ``path`` in the query's JSON."""

    def get(doc: Any, case: str, args: tuple[str, ...]) -> Any:
        for name in path:
            doc = doc[name]
        return doc
    return get


QUESTIONS: dict[str, Spec] = {
    **_asked(lambda c, a: ["responsibility", c, "--at", a[0]],
             lambda q, c, a: q.responsibility_at(c, parse_time(a[0], "at")),
             ("responsibility_at", _field("holder"))),
    **_asked(lambda c, a: ["responsibility", c], lambda q, c, a: q.responsibility(c),
             ("responsibility", _field("summary"))),
    **_asked(lambda c, a: ["custodian", a[0], "--at", a[1], "--case", c],
             lambda q, c, a: q.custodian_at(a[0], parse_time(a[1], "at"), case=c),
             ("custodian_at", _custodian)),
    **_asked(lambda c, a: ["timeliness", c], lambda q, c, a: q.timeliness(c),
             ("identification_to_notification",
              _field("identification_to_notification", "duration")),
             ("notification_to_decision", _field("notification_to_decision", "duration")),
             ("overdue", _overdue), ("overdue_items", _overdue)),
    **_asked(lambda c, a: ["late-entries", c], lambda q, c, a: q.late_entries(c),
             ("late_entries", _late)),
    **_asked(lambda c, a: ["pilot"], lambda q, c, a: q.pilot(),
             ("pilot_shadow_expected", _pilot)),
    **_asked(lambda c, a: ["pnr", c, "--on", a[0]],
             lambda q, c, a: q.pnr_state_on(c, parse_day(a[0])),
             ("pnr_state_on", _pnr)),
    **_asked(lambda c, a: ["approvals", c], lambda q, c, a: q.approvals(c),
             ("approvals_missing", _missing)),
    **_asked(lambda c, a: ["cases"], lambda q, c, a: q.cases(),
             ("decision", lambda d, c, a: next(x["decision"] for x in d["cases"]
                                               if _is_case(x, c)))),
}
"""Each question: the query that answers it and how to read the answer (one entry a query)."""


def parse_question(key: str) -> Question:
    """Parse an ``expected_answers`` key; :class:`InputError` for an unknown question."""
    match = _CALL.match(key)
    name = match["name"] if match else key.strip()
    args: tuple[str, ...] = ()
    if match:
        parsed = yaml.safe_load(f"[{match['args']}]") or []
        args = tuple(str(plain(a)) for a in parsed)
    disclosure = _DISCLOSURE.match(name)
    if disclosure:
        agency = disclosure["agency"]
        return Question(key, name, (agency,),
                        lambda c, a: ["disclosures", c, "--to", a[0]],
                        lambda q, c, a: q.disclosures(c, to=a[0]),
                        lambda d, c, a: d["requirement"])
    spec = QUESTIONS.get(name)
    if spec is None:
        raise InputError("expected_answers", f"unknown question {key!r}",
                         "one of " + ", ".join([*sorted(QUESTIONS),
                                                "pnr_disclosure_to_<AGENCY>_requires"]))
    return Question(key, name, args, *spec)
