"""EU PNR (R8): the retention state of a case's records per regime, and its disclosures."""

from __future__ import annotations

from datetime import date, datetime

from cdlog.domain.config import provenance
from cdlog.errors import InputError
from cdlog.projections import models as m
from cdlog.projections.questions.cases import CaseQueries
from cdlog.projections.questions.common import cite, cites
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import add_months, when_text
from cdlog.restricted.classes import EU_PNR, commitments_in

REGIMES = ("EU-US-2012", "CBP-Undertakings-2004")
RETENTION_SOURCE = ("EU PNR retention: the EU-US 2012 agreement (art. 8) and the 2004 CBP "
                    "Undertakings, as the regimes' texts give them; the store's erasures "
                    "as its RestrictedValuesErased events record them")


class PnrQueries(CaseQueries):
    """EU PNR retention states and disclosures (R8)."""

    def _pnr_cases(self, stream: str, recorded_by: datetime | None) -> list[str]:
        return [str(e.data["case_no"]) for e in self._sel(
            "pnr", stream=stream, kinds=["case_no"], recorded_by=recorded_by)]

    def pnr_state_on(self, case: str, day: date, *, regime: str | None = None,
                     recorded_by: datetime | None = None) -> m.PnrStates:
        """The retention state of the case's EU PNR records on ``day``, per regime."""
        if regime is not None and regime not in REGIMES:
            raise InputError("regime", f"unknown regime {regime!r}", " or ".join(REGIMES))
        ref = self.case(case, recorded_by=recorded_by)
        case_nos = self._pnr_cases(ref.stream, recorded_by)
        entries = self._sel("pnr", recorded_by=recorded_by)
        records = list(dict.fromkeys(
            str(e.data["record"]) for e in entries
            if e.kind in ("linked", "authorised") and e.key in case_nos))
        states = []
        for record in records:
            ingest = next((e for e in entries if e.kind == "record" and e.stream == record),
                          None)
            if ingest is None:
                continue
            for name in ([regime] if regime else list(REGIMES)):
                states.append(self._pnr_state(record, ingest, entries, day, name))
        findings = [m.Finding(rule="R8", text=f"{s.record} ({s.regime}): {s.summary}",
                              cites=s.cites, source=RETENTION_SOURCE)
                    for s in states if s.overdue]
        return m.PnrStates(case=ref, day=day.isoformat(), states=states, findings=findings)

    @staticmethod
    def _pnr_state(record: str, ingest: Entry, entries: list[Entry], day: date,
                   regime: str) -> m.PnrState:
        """What the regime makes due on ``day`` and what the store did: the vault's values
        held or erased, as the record's ``RestrictedValuesErased`` events say."""
        due, since, text, hold, accessed, why = PnrQueries._pnr_due(
            record, ingest, entries, day, regime)
        vaulted = commitments_in("PNRRecordIngested", ingest.data)
        erasures = [e for e in entries if e.kind == "erased" and e.key == record
                    and e.at.date() <= day]
        erased = {str(f): e for e in erasures for f in e.data.get("fields") or []}
        vault = {f: ("erased" if f in erased else "held") for f in sorted(vaulted)}
        held = [f for f, v in vault.items() if v == "held"]
        gone = [f for f, v in vault.items() if v == "erased"]
        shown = {f: (EU_PNR.mask if v == "held" else "[erased]") for f, v in vault.items()}
        full = due in ("anonymised", "deleted")  # every value must go
        done_on = max((erased[f].at.date() for f in gone), default=None)
        if not vaulted:
            state = "personalised" if due in ("personalised", "deleted_record_file") \
                else "not_in_vault"
            if state == "not_in_vault":
                text = (f"due: {text}; not in cdlog's vault: the log holds only a commitment "
                        "to the record, so whether the values were masked or deleted where "
                        "they are kept is not recorded here")
        elif not gone:
            state = "personalised"
            if due not in ("personalised", "deleted_record_file"):
                text = (f"due: {text}; not done: the vault still holds "
                        f"{', '.join(held)} (nothing was masked or erased; "
                        "`cdlog restricted erase` does it)")
        else:
            state = "erased" if not held else "masked"
            how = ", ".join(dict.fromkeys(
                f"{e.data.get('reason')}" + (f" {e.data['order_ref']}" if e.data.get("order_ref")
                                             else "") for e in erasures))
            did = (f"erased on {done_on.isoformat() if done_on else day.isoformat()} "
                   f"({', '.join(gone)}; {how})")
            if held:
                did += f"; the vault still holds {', '.join(held)}"
            text = f"{did}; due: {text}"
            if full and held:
                text += "; not done"
        overdue = bool(held) and due not in ("personalised", "deleted_record_file") and (
            full or not gone)
        return m.PnrState(record=record, regime=regime, day=day.isoformat(), state=state,
                          summary=text, due=due, due_since=since, overdue=overdue,
                          vault=vault, fields=shown, received_at=ingest.time("received_at"),
                          case_hold=hold, accessed=accessed,
                          cites=cites([*why, *erasures]))

    @staticmethod
    def _pnr_due(record: str, ingest: Entry, entries: list[Entry], day: date, regime: str
                 ) -> tuple[str, str | None, str, list[str], bool, list[Entry]]:
        """What ``regime`` makes due for ``record`` on ``day``: the state, since when, a
        sentence, the case holds, whether it was accessed, and the entries it rests on."""
        received = ingest.time("received_at")
        start = received.date()
        mine = [e for e in entries if str(e.data.get("record")) == record]
        cases = {e.key for e in mine if e.kind in ("linked", "authorised")}
        links = [e for e in mine if e.kind == "linked" and e.at.date() <= day]
        archived = {e.key: e for e in mine if e.kind == "archived" and e.at.date() <= day}
        hold = [e.key for e in links if e.key not in archived]
        accesses = [e for e in entries if e.at.date() <= day and (
            (e.kind == "accessed" and e.key in cases) or (e.kind == "read" and e.key == record))]
        accessed = bool(accesses)
        why = [ingest, *links, *archived.values(), *accesses]
        since: date | None = None
        if regime == "EU-US-2012":
            masked = add_months(start, 6)
            dormant = add_months(start, 60)
            anonymised = add_months(start, 180)
            if hold:
                state = "personalised"
                text = (f"personalised (case hold: {', '.join(hold)}); without the hold it "
                        f"depersonalises at received_at + 6 months ({masked.isoformat()})")
            elif day < masked:
                state = "personalised"
                text = f"personalised until received_at + 6 months ({masked.isoformat()})"
            elif day < dormant:
                since = max([masked, *(e.at.date() for e in archived.values())])
                state = "depersonalised"
                text = (f"depersonalised and masked from {since.isoformat()} (art. 8(1)-(2); "
                        f"active database to {dormant.isoformat()})")
            elif day < anonymised:
                state, since = "dormant", dormant
                text = (f"dormant from {dormant.isoformat()} (art. 8(3); anonymised at "
                        f"{anonymised.isoformat()})")
            else:
                state, since = "anonymised", anonymised
                text = f"anonymised from {anonymised.isoformat()} (art. 8(4))"
        else:
            kept = add_months(start, 42)
            deleted_file = add_months(kept, 96)
            if day < kept:
                state = "personalised"
                text = f"personalised (3.5-year retention to {kept.isoformat()}" + (
                    "; accessed, so kept in deleted-record file 8 more years)" if accessed
                    else ")")
            elif accessed and day < deleted_file:
                state, since = "deleted_record_file", kept
                text = (f"in the deleted-record file from {kept.isoformat()} (accessed; kept "
                        f"to {deleted_file.isoformat()})")
            else:
                since = deleted_file if accessed else kept
                state = "deleted"
                text = f"deleted from {since.isoformat()}"
        return (state, since.isoformat() if since else None, text, hold, accessed, why)

    def third_parties(self) -> dict[str, list[str]]:
        """Agencies that are third parties for EU PNR under each regime (R8: every agency
        but CBP, the primary receiver, ICE included)."""
        return {r: [a for a in self.config.agencies if a != "CBP"] for r in REGIMES}

    def disclosure_requirement(self, agency: str) -> str:
        """What R8 requires before EU PNR-derived information goes to ``agency``."""
        under = [r for r, parties in self.third_parties().items() if agency in parties]
        if not under:
            return f"none: {agency} is the primary receiver under every regime"
        scope = "both regimes" if len(under) == len(REGIMES) else ", ".join(under)
        return f"ThirdPartyDisclosureAuthorized before InformationShared ({scope}; R8)"

    def disclosures(self, case: str, *, to: str | None = None,
                    recorded_by: datetime | None = None) -> m.DisclosureCheck:
        """R8: every information sharing of a case and whether an authorisation preceded
        each PNR-derived disclosure to a third party; ``requirement`` states what R8 asks
        before disclosure to ``to`` (default: the first third party the case shared with,
        else ICE)."""
        ref = self.case(case, recorded_by=recorded_by)
        case_nos = self._pnr_cases(ref.stream, recorded_by)
        shared = self._sel("pnr", stream=ref.stream, kinds=["shared"], recorded_by=recorded_by)
        auths = [e for e in self._sel("pnr", kinds=["authorised"], recorded_by=recorded_by)
                 if e.key in case_nos]
        parties = {a for v in self.third_parties().values() for a in v}
        zone = self.config.zone(ref.port)
        out = []
        findings = []
        agencies = []
        for e in shared:
            to = str(e.data["to_agency"])
            pnr = bool(e.data.get("pnr_derived"))
            auth = None
            needed = pnr and to in parties
            if needed:
                agencies.append(to)
                day = e.occurred_from.astimezone(zone).date()
                auth = next((a for a in auths if a.data.get("requesting_agency") == to
                             and a.at <= e.occurred_from
                             and day <= date.fromisoformat(str(a.data["expires"]))), None)
                if auth is None:
                    findings.append(m.Finding(
                        rule="R8", text=f"EU PNR-derived information to {to} at "
                        f"{when_text(e.at)} without a prior ThirdPartyDisclosureAuthorized",
                        cites=[cite(e)], source=provenance("agencies")))
            out.append(m.Disclosure(
                at=e.at, from_agency=str(e.data["from_agency"]), to_agency=to,
                basis=str(e.data["basis"]), pnr_derived=pnr,
                authorised=(auth is not None) if needed else None,
                authorisation=cite(auth) if auth else None, cites=cites([e, auth])))
        agency = to or (agencies[0] if agencies else "ICE")
        return m.DisclosureCheck(case=ref, requirement=self.disclosure_requirement(agency),
                                 third_parties=self.third_parties(), disclosures=out,
                                 findings=findings, settings=[provenance("agencies")])
