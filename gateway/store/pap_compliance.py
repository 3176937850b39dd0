"""PAP compliance follow-up: a supplier registers a member's PAP therapy, sends nights of usage,
and the program's outreach (gateway.domain.pap) goes to the supplier and the ordering physician
through the outbox, in the same transaction as the nights that caused it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gateway.domain.criteria import CriteriaProgram
from gateway.domain.pap import Compliance, PapRule, evaluate, outreach_due
from gateway.service.core import Core
from gateway.store import outbox
from gateway.store import pap as store
from gateway.store.db import writing
from gateway.store.models import PapTherapyRow

log = logging.getLogger("gateway.store.pap_compliance")


class PapError(ValueError):
    """A PAP request the program cannot take (no PAP rule, not a PAP device)."""


class TherapyNotFound(LookupError):
    pass


@dataclass(frozen=True)
class OutreachJob:
    kind: str
    idempotency_key: str
    payload: dict[str, Any]


@dataclass
class PapStatus:
    therapy_id: str
    device_code: str
    start_date: date
    compliance: Compliance
    outreach_sent: list[int]
    outreach_now: int | None = None

    def view(self) -> dict[str, Any]:
        c = self.compliance
        return {
            "therapy_id": self.therapy_id,
            "device_code": self.device_code,
            "start_date": self.start_date.isoformat(),
            "therapy_day": c.therapy_day,
            "compliant": c.compliant,
            "compliant_on": c.met_on.isoformat() if c.met_on else None,
            "best_window_start": c.best_window_start.isoformat() if c.best_window_start else None,
            "best_window_nights": c.best_window_nights,
            "nights_reported": c.nights_reported,
            "outreach_sent": self.outreach_sent,
            "outreach_now": self.outreach_now,
        }


class PapCompliance:
    """The PAP devices of `program` (items needing no precertification) and its rule."""

    def __init__(self, core: Core, program: CriteriaProgram):
        if program.pap_compliance is None:
            raise PapError(f"program {program.id} has no pap_compliance rule")
        self.core = core
        self.program = program
        self.rule: PapRule = program.pap_compliance

    def devices(self) -> dict[str, str]:
        return {
            code: item.description
            for code, item in self.program.items.items()
            if not item.precertification and item.service == "dme"
        }

    def register(
        self,
        *,
        member_id: str,
        device_code: str,
        start_date: date,
        supplier: dict[str, Any],
        physician: dict[str, Any],
        submitter_id: str | None,
        case_id: str | None = None,
    ) -> PapStatus:
        code = device_code.strip().upper()
        if code not in self.devices():
            known = ", ".join(sorted(self.devices()))
            raise PapError(f"{device_code} is not a PAP device of the program (have: {known})")
        now = self.core.clock()
        therapy_id = f"PAP{now:%y}{self.core.next_number('pap'):08d}"
        with writing(self.core.sessions) as session:
            store.add_therapy(
                session,
                {
                    "id": therapy_id,
                    "submitter_id": submitter_id,
                    "case_id": case_id,
                    "member_key": member_id.strip().upper(),
                    "device_code": code,
                    "start_date": start_date,
                    "supplier": supplier,
                    "physician": physician,
                    "outreach_sent": [],
                    "created_at": now,
                    "updated_at": now,
                },
            )
        log.info("pap therapy registered", extra={"case_id": case_id, "therapy_id": therapy_id})
        return self.status(therapy_id)

    def owner(self, therapy_id: str) -> str | None:
        with self.core.sessions() as session:
            row = store.therapy(session, therapy_id)
            if row is None:
                raise TherapyNotFound(therapy_id)
            return row.submitter_id

    def status(self, therapy_id: str) -> PapStatus:
        with self.core.sessions() as session:
            row = store.therapy(session, therapy_id)
            if row is None:
                raise TherapyNotFound(therapy_id)
            nights = store.nights_of(session, therapy_id)
            return self._status(row, nights, self._today())

    def record_usage(self, therapy_id: str, nights: dict[date, float]) -> PapStatus:
        """Store nights of usage, judge compliance, and queue the outreach now due."""
        with writing(self.core.sessions) as session:
            row = store.therapy(session, therapy_id, lock=True)
            if row is None:
                raise TherapyNotFound(therapy_id)
            store.put_nights(session, therapy_id, nights)
            return self._follow_up(session, row)

    def tick(self, now: datetime | None = None) -> list[str]:
        """The clock: days pass without data too; therapies reaching an outreach day get it."""
        today = (now or self.core.clock()).date()
        started_after = today - timedelta(days=self.rule.within_days)
        with self.core.sessions() as session:
            ids = store.open_therapies(session, started_after)
        reached = []
        for therapy_id in ids:
            with writing(self.core.sessions) as session:
                row = store.therapy(session, therapy_id, lock=True)
                if row is not None and self._follow_up(session, row).outreach_now:
                    reached.append(therapy_id)
        return reached

    def _today(self) -> date:
        return self.core.clock().date()

    def _status(self, row: PapTherapyRow, nights: dict[date, float], today: date) -> PapStatus:
        compliance = evaluate(row.start_date, nights, today, self.rule)
        return PapStatus(
            row.id, row.device_code, row.start_date, compliance, list(row.outreach_sent)
        )

    def _follow_up(self, session: Any, row: PapTherapyRow) -> PapStatus:
        now = self.core.clock()
        status = self._status(row, store.nights_of(session, row.id), now.date())
        if status.compliance.compliant and row.compliant_on is None:
            row.compliant_on = status.compliance.met_on
            log.info("pap compliance met", extra={"therapy_id": row.id})
        day = outreach_due(status.compliance, set(row.outreach_sent), self.rule)
        if day is not None:
            outbox.enqueue(session, row.case_id, self._outreach(row, status, day), now=now)
            row.outreach_sent = [*row.outreach_sent, day]
            status.outreach_sent = list(row.outreach_sent)
            status.outreach_now = day
            log.info("pap outreach queued", extra={"therapy_id": row.id, "day": day})
        store.touch(row, now)
        return status

    def _outreach(self, row: PapTherapyRow, status: PapStatus, day: int) -> list[OutreachJob]:
        jobs = []
        for role, party in (("supplier", row.supplier), ("physician", row.physician)):
            if not (party.get("fax") or party.get("email")):
                continue
            payload = {
                "therapy_id": row.id,
                "day": day,
                "device_code": row.device_code,
                "device": self.devices().get(row.device_code, row.device_code),
                "start_date": row.start_date.isoformat(),
                "member_id": row.member_key,
                "best_window_nights": status.compliance.best_window_nights,
                "nights_needed": self.rule.nights_needed,
                "nights_reported": status.compliance.nights_reported,
                "rule": self.rule.model_dump(),
                "contact_phone": self.program.contact.get("phone"),
                "recipient": {"role": role, **party},
            }
            key = f"pap:{row.id}:day{day}:{role}"
            jobs.append(OutreachJob("pap_outreach", key, payload))
        return jobs


def pap_compliance(core: Core) -> PapCompliance | None:
    """The PAP follow-up of the first configured program that has a compliance rule."""
    for program in core.ports.programs.values():
        if program.pap_compliance is not None:
            return PapCompliance(core, program)
    return None
