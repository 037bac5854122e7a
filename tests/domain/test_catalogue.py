"""The event catalogue split by stage (issue 13) is the catalogue it was: the same types in the
same order under the same class names, with the same streams, co-signers and fields; every name
the one module had still imports from ``cdlog.domain.events``; each part holds one run of the
catalogue, and the order does not depend on which part a program imports first.

The lists below were recorded from ``cdlog/domain/events.py`` before the split (e5943d9). A
deliberate change to the catalogue (a new type, a new field) changes them in the same commit.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdlog.domain import events as ev

ROOT = Path(__file__).resolve().parents[2]

_RECORDED = """
CaseOpened CaseClosed ConveyanceArrived ExaminationReferred ExaminationConducted
ContrabandDiscovered HoldPlaced HoldReleased SeizureRecorded ReleasedUnderPassThrough
InvestigativeNotificationSent NotificationAcknowledged ProsecutorConsulted USAONotified
CaseAccepted CaseDeclined ResponsibilityAssumed ResponsibilityReleased OperationProposed
ApprovalRequested ApprovalGranted ApprovalDenied DeconflictionRecorded ReceivingOfficeNotified
ForeignConsentRecorded CustodyTransferred SubstitutionPerformed SampleTaken
TrackingDeviceInstalled TrackingDeviceFailed EvidenceStored SurveillanceStarted
PositionObserved SurveillanceHandedOff SurveillanceLost SurveillanceReacquired
SurveillanceEnded DeliveryMade LoadBreached EnforcementActionTaken ArrestMade ItemsRecovered
InventoryReconciled OperationTerminated IncidentOccurred IncidentUpdated IncidentClosed
NotificationMade InterviewConducted SCBPOBriefed ShadowAssigned ShadowReleased
ProsecutionMilestone ForfeitureAction PenaltyAssessed PetitionReceived ForfeitureDeclared
FeedbackProvided ActionItemAssigned ActionItemCompleted ActionItemWaived ActionItemOverdue
FeedbackOverdue InformationShared ThirdPartyDisclosureAuthorized PNRRecordIngested PNRAccessed
PNRLinkedToCase PNRCaseArchived RestrictedValuesRead RestrictedReadRefused
RestrictedValuesErased LateEntryRecorded CorrectionRecorded TrustRootEstablished
OfficerKeyCertified OfficerKeyRevoked OfficerKeyRotated
"""
RECORDED = _RECORDED.split()
"""The catalogue's types in its order; each type's class bears its name."""

NOT_DEFAULT: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "ReleasedUnderPassThrough": (("case",), ("authorised_by",), False),
    "CustodyTransferred": (("case",), ("to",), False),
    "ActionItemAssigned": (("case", "programme"), (), False),
    "ActionItemCompleted": (("case", "programme"), (), False),
    "ActionItemWaived": (("case", "programme"), (), False),
    "ActionItemOverdue": (("case", "programme"), (), True),
    "FeedbackOverdue": (("case",), (), True),
    "ThirdPartyDisclosureAuthorized": (("pnr",), (), False),
    "PNRRecordIngested": (("pnr",), (), False),
    "PNRAccessed": (("pnr-access",), (), False),
    "PNRLinkedToCase": (("pnr",), (), False),
    "PNRCaseArchived": (("pnr",), (), False),
    "RestrictedValuesRead": (("pnr-access",), (), False),
    "RestrictedReadRefused": (("pnr-access",), (), False),
    "RestrictedValuesErased": (("pnr",), (), False),
    "CorrectionRecorded": (("case", "programme"), (), False),
    "TrustRootEstablished": (("trust",), (), False),
    "OfficerKeyCertified": (("trust",), (), False),
    "OfficerKeyRevoked": (("trust",), (), False),
    "OfficerKeyRotated": (("trust",), (), False),
}
"""(streams, co-signed fields, derived only) of the types that differ from a case event that one
signer records."""

FIELDS_SHA256 = "794e3c92b5e18e5af51005ee0936301be258cd6a912c05851362af6907e88841"
"""SHA-256 of every type's JSON schema (by alias, docstrings left out), in catalogue order."""

NAMES = [
    "RefValue", "Payload", "CATALOGUE", "event", "Item", "ItemRef", "FieldTest", "Mode",
    "Destination", "Sham", "LastConfirmed", "ORIGINS", "Origin", "INCIDENT_TYPES",
    "FEEDBACK_CATEGORIES", "as_lists", "payload_model", "STREAM_KINDS", "stream_kind",
    *RECORDED,
]
"""The public names of the one module before the split."""

PARTS = ["base", "lifecycle", "port", "operation", "after", "records"]
"""The package's parts, in the catalogue's order."""


def test_types_order_and_classes_are_as_recorded() -> None:
    """The catalogue lists the recorded types in the recorded order, each under its class; its
    stored topic is ``cdlog:<TYPE>`` (cdlog.log.sealing), so the topics are unchanged too."""
    assert [(t, cls.TYPE, cls.__name__) for t, cls in ev.CATALOGUE.items()] == [
        (t, t, t) for t in RECORDED]


def test_streams_cosigners_and_derived_flags_are_as_recorded() -> None:
    """Streams, co-signed fields and derived-only flags are the recorded ones."""
    got = {t: (tuple(sorted(cls.STREAMS)), cls.COSIGN, cls.DERIVED_ONLY)
           for t, cls in ev.CATALOGUE.items()}
    assert got == {t: NOT_DEFAULT.get(t, (("case",), (), False)) for t in RECORDED}


def _without_docs(schema: Any) -> Any:
    """The schema without its descriptions (a docstring may be reworded; a field may not)."""
    if isinstance(schema, dict):
        return {k: _without_docs(v) for k, v in schema.items()
                if not (k == "description" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_without_docs(v) for v in schema]
    return schema


def test_fields_are_as_recorded() -> None:
    """Every field of every payload (name, alias, type, bounds, default) is as recorded."""
    schemas = {t: _without_docs(cls.model_json_schema(by_alias=True))
               for t, cls in ev.CATALOGUE.items()}
    blob = json.dumps(schemas, sort_keys=True).encode()
    assert hashlib.sha256(blob).hexdigest() == FIELDS_SHA256


@pytest.mark.parametrize("name", NAMES)
def test_every_name_imports_from_the_package(name: str) -> None:
    """``from cdlog.domain.events import X`` works for every name the module had, and gives
    the object of the part that holds it."""
    obj = getattr(ev, name)
    assert name in ev.__all__
    homes = [p for p in PARTS
             if getattr(importlib.import_module(f"cdlog.domain.events.{p}"), name, None) is obj]
    assert homes, name


def test_each_part_holds_one_run_of_the_catalogue() -> None:
    """The parts' types follow one another in the package's order (the catalogue's order is
    the order in which the package imports its parts), and each part has a one-line docstring."""
    modules = [cls.__module__.rpartition(".")[2] for cls in ev.CATALOGUE.values()]
    runs = [m for i, m in enumerate(modules) if i == 0 or modules[i - 1] != m]
    assert runs == [p for p in PARTS if p in modules]
    for part in PARTS:
        doc = importlib.import_module(f"cdlog.domain.events.{part}").__doc__
        assert doc is not None
        assert len(doc.strip().splitlines()) == 1, part


@pytest.mark.parametrize("first", ["records", "after", "base"])
def test_order_does_not_depend_on_the_part_imported_first(first: str) -> None:
    """A program that imports one part before anything else gets the whole catalogue, in
    order."""
    code = (f"import cdlog.domain.events.{first}, json, sys; "
            "print(json.dumps(list(sys.modules['cdlog.domain.events'].CATALOGUE)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    assert json.loads(out) == RECORDED
