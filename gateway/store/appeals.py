"""The post-decision clocks the worker acts on (issue 12 items 4-6): appeals due from the payer,
approvals that expire, and site-of-care follow-up notices, read from the stored cases.

`appeal_due_items(core, before)` lists every such obligation due before a moment (the work list
`GET /cases?due_before=` is built on it); `authorization_clock(core)` is what the worker's clock
runs each interval (gateway.wiring.clock_tick): an approval past its last day is marked expired
through the case service (the payer feed hears of it), and a one-time site-of-care approval gets
its follow-up notice in the payer feed `follow_up_days_before_expiry` days before its last day.
The rules are gateway.domain.appeals'; this module finds the cases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from gateway.domain import due
from gateway.domain.appeals import IN_FORCE, expires_after, follow_up_on, site_of_care_ends
from gateway.domain.case import Case, CaseStatus, Determination, StoredCase
from gateway.domain.local_dates import local_date
from gateway.domain.policy import PlanPolicy
from gateway.notify.jobs import site_of_care_follow_up_job
from gateway.service.core import CaseService
from gateway.store.db import writing
from gateway.store.models import CaseEventRow, CaseRow, OutboxJobRow

log = logging.getLogger("gateway.store.appeals")

APPEAL_DUE = "appeal_due"
EXPIRY = "expiry"
SITE_OF_CARE_FOLLOW_UP = "site_of_care_follow_up"
FOLLOW_UP_CODE = "SITE_OF_CARE_FOLLOW_UP"


@dataclass(frozen=True)
class DueItem:
    """One open obligation after a determination: which case, what, and when it is due."""

    case_id: str
    kind: str  # appeal_due, expiry, site_of_care_follow_up
    due_at: datetime

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_at"] = self.due_at.isoformat()
        return data


def _start_of(day: date, zone: str) -> datetime:
    """Midnight at the start of `day` in the plan's zone (when a date-bound obligation falls)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def _plan(core: CaseService, determination: Determination) -> PlanPolicy | None:
    return core.ports.plans.get(determination.plan_id or "")


def _longest_follow_up(core: CaseService) -> int:
    return max(
        (plan.site_of_care.follow_up_days_before_expiry for plan in core.ports.plans.values()),
        default=0,
    )


def _candidates(session: Session, before: datetime, follow_up_days: int) -> list[CaseRow]:
    """Rows that may hold an obligation due before `before`: appeals whose clock runs out,
    approvals in force whose period ends soon enough (ISO dates compare as strings)."""
    determination = CaseRow.determination_json
    period_end = determination["period_end"].as_string()
    horizon = (before.date() + timedelta(days=follow_up_days + 1)).isoformat()
    query = select(CaseRow).where(
        or_(
            and_(
                CaseRow.status == CaseStatus.PENDED.value,
                CaseRow.due_by <= before,
                determination["filed_appeal"].as_string().is_not(None),
            ),
            and_(
                CaseRow.status.in_([status.value for status in IN_FORCE]),
                period_end.is_not(None),
                period_end <= horizon,
                determination["expired_at"].as_string().is_(None),
            ),
            # Site-of-care approvals: their one-time lines end long before the regimen's span.
            and_(
                CaseRow.status == CaseStatus.MODIFIED.value,
                determination["site_of_care_redirect"].as_string().is_not(None),
                determination["expired_at"].as_string().is_(None),
            ),
        )
    )
    return list(session.execute(query.order_by(CaseRow.id)).scalars())


def _follow_up_key(case_id: str, determination: Determination) -> str:
    return f"{case_id}:payer_feed:site_of_care_follow_up:{site_of_care_ends(determination)}"


def _sent(session: Session, key: str) -> bool:
    found = session.execute(
        select(OutboxJobRow.id).where(OutboxJobRow.idempotency_key == key)
    ).first()
    return found is not None


def appeal_due_items(core: CaseService, before: datetime) -> list[DueItem]:
    """Every appeal decision due from the payer, approval expiring and site-of-care follow-up
    notice not yet sent, due before `before`; earliest first."""
    items: list[DueItem] = []
    with core.sessions() as session:
        for row in _candidates(session, before, _longest_follow_up(core)):
            if row.determination_json is None:
                continue
            determination = Determination.model_validate(row.determination_json)
            filed = determination.filed_appeal
            if filed is not None and filed.outcome is None:
                if filed.due_at <= before:
                    items.append(DueItem(row.id, APPEAL_DUE, filed.due_at))
                continue
            plan = _plan(core, determination)
            last = expires_after(determination)
            if plan is None or last is None:
                continue
            expires_at = _start_of(last + timedelta(days=1), plan.time_zone)
            if expires_at <= before:
                items.append(DueItem(row.id, EXPIRY, expires_at))
            notice = follow_up_on(determination, plan)
            ends = site_of_care_ends(determination)
            if notice is not None and ends is not None:
                notice_at = _start_of(notice, plan.time_zone)
                ended_at = _start_of(ends + timedelta(days=1), plan.time_zone)
                if notice_at <= before < ended_at and not _sent(
                    session, _follow_up_key(row.id, determination)
                ):
                    items.append(DueItem(row.id, SITE_OF_CARE_FOLLOW_UP, notice_at))
    return sorted(items, key=lambda item: (item.due_at, item.case_id, item.kind))


def _case_row(core: CaseService, session: Session, case_id: str) -> CaseRow | None:
    query = select(CaseRow).where(CaseRow.id == case_id)
    if core.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def send_follow_up(core: CaseService, case_id: str, now: datetime) -> bool:
    """The payer feed's follow-up notice of a site-of-care approval, with its event on the case,
    in one transaction; False when it was sent before or is no longer due."""
    primary = {plan.payer_id for plan in core.ports.plans.values() if plan.primary}
    with writing(core.sessions) as session:
        row = _case_row(core, session, case_id)
        if row is None or row.determination_json is None:
            return False
        determination = Determination.model_validate(row.determination_json)
        plan = _plan(core, determination)
        notice = follow_up_on(determination, plan) if plan else None
        last = site_of_care_ends(determination)
        if plan is None or notice is None or last is None:
            return False
        today = local_date(now, plan.time_zone)
        if today < notice or today > last:
            return False
        key = _follow_up_key(case_id, determination)
        if _sent(session, key):
            return False
        case = Case.model_validate(row.case_json)
        core.enqueue(
            session,
            site_of_care_follow_up_job(case, determination, notice, last, primary),
            case_id,
            now,
        )
        session.execute(
            insert(CaseEventRow).values(
                case_id=case_id,
                at=now,
                actor="gateway:clock",
                from_status=row.status,
                to_status=row.status,
                reason=(
                    "Site-of-care follow-up notice sent to the payer: the one-time approval "
                    f"ends {last.isoformat()}."
                ),
                detail={"reason_code": FOLLOW_UP_CODE, "expires_after": last.isoformat()},
            )
        )
    log.info("site-of-care follow-up notice queued", extra={"case_id": case_id})
    return True


def authorization_clock(core: CaseService) -> Callable[[datetime | None], dict[str, list[str]]]:
    """What the worker's clock runs for approvals: follow-up notices, then expiries."""

    def tick(now: datetime | None = None) -> dict[str, list[str]]:
        at = now or core.clock()
        items = appeal_due_items(core, at)
        notices = [
            item.case_id
            for item in items
            if item.kind == SITE_OF_CARE_FOLLOW_UP and send_follow_up(core, item.case_id, at)
        ]
        expired = core.appeals.expire([item.case_id for item in items if item.kind == EXPIRY], at)
        return {"follow_ups": notices, "expired": expired}

    return tick


def appeal_due_source(core: CaseService) -> due.DueSource:
    """The work list's source of the payer's appeal clocks and the site-of-care follow-up
    notices (gateway.domain.due). An approval's end is the work list's own case-state item
    (`approval_expiry`), so this source leaves its `expiry` items out."""

    def source(cases: Sequence[StoredCase], before: datetime | None) -> list[due.DueItem]:
        seen = {stored.case.id: stored for stored in cases if stored.case.id}
        horizon = before or datetime.max.replace(tzinfo=UTC)
        items = []
        for item in appeal_due_items(core, horizon):
            stored = seen.get(item.case_id)
            if stored is None or item.kind == EXPIRY or item.due_at >= horizon:
                continue
            determination = stored.determination
            plan = core.ports.plans.get(determination.plan_id or "") if determination else None
            items.append(
                due.DueItem(
                    case_id=item.case_id,
                    kind=item.kind,
                    due_at=item.due_at,
                    time_zone=due.case_zone(stored, plan),
                    status=stored.status.value,
                    program=stored.case.program.value,
                    priority=due.priority_of(stored),
                    detail=(
                        "the payer's appeal decision due"
                        if item.kind == APPEAL_DUE
                        else "the payer's follow-up notice before the site-of-care approval ends"
                    ),
                )
            )
        return items

    return source
