"""The composition root: `build(settings) -> Gateway`, the one place adapters are constructed.

`gateway serve`, `gateway worker`, `gateway submit`, `gateway conformance run` and the benchmarks
all get their case service from here, so each has the same ports and the same job planners by
construction (a worker that expires a hold queues the same letters as the server would).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

from gateway.adapters.pathways import PathwayEngine
from gateway.adapters.roster import RosterEligibility
from gateway.domain.case import Case, Determination
from gateway.domain.ports import Ports
from gateway.fhir.codes import use_crosswalks
from gateway.mappings import Mappings, load_mappings
from gateway.service.core import CaseService, JobPlanner
from gateway.service.store import JobSpec, PlannerReads
from gateway.settings import Settings, get_settings
from gateway.store.repository import SqlCaseStore

if TYPE_CHECKING:
    # Imported where they are made: the dispatcher brings the deliverers (PDF letters, HTTP,
    # SMTP) and only a process that delivers needs it, peer-to-peer scheduling only the API;
    # `gateway submit --no-dispatch` needs neither (issue 19 item 2).
    from gateway.notify.worker import Dispatcher
    from gateway.store.peer_to_peer import PeerToPeer


def build_ports(settings: Settings, mappings: Mappings | None = None) -> Ports:
    """The review's collaborators: the eligibility roster, the pathways and the plan rules,
    each loaded once from the settings' files."""
    mappings = mappings or load_mappings(settings.mappings_dir)
    return Ports(
        eligibility=_roster(settings.roster),
        pathways=_pathways(mappings),
        tables=mappings.tables,
        plans=mappings.plans,
        programs=mappings.programs,
        reviewers=mappings.reviewers,
    )


# Both adapters are read-only once built, so a process that wires several gateways (the
# tests build one per test) shares them: the pathway engine per loaded mappings (load_mappings
# returns the same object for unchanged files), the roster per file content.
_ADAPTERS: OrderedDict[tuple[Any, ...], tuple[object, Any]] = OrderedDict()
_ADAPTERS_GUARD = Lock()
_ADAPTERS_KEEP = 16


def _shared(key: tuple[Any, ...], make: Callable[[], Any], source: object = None) -> Any:
    """The adapter made for `key` before, or a new one; `source` is kept beside it (an id in
    the key stays that object's while the entry lives)."""
    with _ADAPTERS_GUARD:
        if key in _ADAPTERS:
            _ADAPTERS.move_to_end(key)
            return _ADAPTERS[key][1]
    made = make()
    with _ADAPTERS_GUARD:
        _ADAPTERS[key] = (source, made)
        while len(_ADAPTERS) > _ADAPTERS_KEEP:
            _ADAPTERS.popitem(last=False)
    return made


def _roster(path: Path) -> RosterEligibility:
    path = Path(path)
    try:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=20).digest()
    except OSError:  # from_file names the problem
        return RosterEligibility.from_file(path)
    made: RosterEligibility = _shared(
        ("roster", path.resolve(), digest), lambda: RosterEligibility.from_file(path)
    )
    return made


def _pathways(mappings: Mappings) -> PathwayEngine:
    made: PathwayEngine = _shared(
        ("pathways", id(mappings)), lambda: PathwayEngine.from_dir(mappings.root), mappings
    )
    return made


def job_planners(settings: Settings, mappings: Mappings) -> list[JobPlanner]:
    """The planners that turn a stored determination into outbound jobs: letters, e-mail
    notices and the payer feed (with its 278), PAS subscription notifications, and the X12
    follow-up (an unsolicited 278 for the partner that sent a request decided later)."""
    from gateway.fhir.notifications import SubscriptionNotifier
    from gateway.notify.jobs import outbound_jobs
    from gateway.x12.followup import X12FollowUp
    from gateway.x12.writer import write_response

    def letters_notices_and_feed(
        reads: PlannerReads, case: Case, determination: Determination, previous: str | None
    ) -> Sequence[JobSpec]:
        # The submitting partner's preference for e-mail notices, from the registry.
        partner = reads.submitting_partner(case.submission.submitter_id)
        jobs = outbound_jobs(
            case,
            determination,
            previous_status=previous,
            settings=settings,
            primary_payer_ids=mappings.primary_payer_ids,
            email_notices=partner.email_notices if partner is not None else True,
        )
        for job in jobs:
            if job.kind == "payer_feed":
                # The payer's claims system takes the 278 response beside the JSON line.
                job.payload["x12_278"] = "\n".join(
                    write_response(
                        case,
                        determination,
                        number=1,
                        now=determination.decided_at,
                        trace_id=case.id or "",
                        x12_id=settings.x12_id,
                        map_dir=mappings.x12_dir,
                    )
                )
        return jobs

    return [
        letters_notices_and_feed,
        SubscriptionNotifier(settings.fhir_base_url),
        X12FollowUp(settings.x12_id, mappings.x12_dir),
    ]


# How often the worker's clock reads the work list for overdue items.
ESCALATION_INTERVAL = timedelta(minutes=1)


def due_sources(core: CaseService) -> list[Any]:
    """Due-item sources beyond the case-state and peer-to-peer ones (gateway.store.work_list):
    the payer's appeal clocks and the site-of-care follow-up notices."""
    from gateway.store.appeals import appeal_due_source

    return [appeal_due_source(core)]


def work_list(core: CaseService) -> Any:
    """The work list over this case service: every open obligation as a due item."""
    from gateway.store.work_list import WorkList

    return WorkList(core, due_sources(core))


def clock_tick(core: CaseService) -> Callable[[datetime | None], Any]:
    """What the worker's clock runs each interval: the hold clock, PAP outreach days, the
    approvals' clock (site-of-care follow-up notices, expiry; gateway.store.appeals), then the
    escalation of overdue due items (reviews, alternatives unanswered, calls without outcome)."""
    from gateway.store.appeals import authorization_clock
    from gateway.store.pap_compliance import pap_compliance

    pap = pap_compliance(core)
    approvals = authorization_clock(core)
    due = work_list(core)
    last: list[datetime] = []  # when the work list was last read for escalations

    def tick(now: datetime | None = None) -> list[str]:
        expired = core.expire_holds(now)
        if pap is not None:
            pap.tick(now)
        approvals(now)
        # The dispatcher ticks every second; the work list is read once a minute at most.
        at = now or core.clock()
        if not last or not timedelta(0) <= at - last[0] < ESCALATION_INTERVAL:
            last[:] = [at]
            due.escalate(at)
        return expired

    return tick


def peer_to_peer_service(core: CaseService, settings: Settings) -> PeerToPeer:
    """Peer-to-peer scheduling over the case service, with the provider's confirmations."""
    from gateway.notify.peer_to_peer import confirmation_jobs
    from gateway.store.peer_to_peer import PeerToPeer

    return PeerToPeer(core, confirmations=confirmation_jobs(settings))


@dataclass
class Gateway:
    """What a process of the gateway runs on: its settings and its case service."""

    settings: Settings
    core: CaseService

    def dispatcher(self, **options: Any) -> Dispatcher:
        """The outbox dispatcher over this gateway's store, ticking its review clocks."""
        from gateway.notify.worker import Dispatcher

        return Dispatcher(
            self.core.sessions,
            self.settings,
            clock_tick=clock_tick(self.core),
            clock=self.core.clock,
            **options,
        )

    def close(self) -> None:
        self.core.engine.dispose()


def build(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    clock: Callable[[], datetime] | None = None,
    store: SqlCaseStore | None = None,
) -> Gateway:
    """Wire a gateway from settings (the environment's when none are given). `store`: the
    case store to run on instead of one opened from settings.database_url (the conformance
    runner keeps one engine for all its cases: SQLAlchemy compiles a statement once an engine,
    and a new engine for each case compiled every statement again, a fifth of a run)."""
    settings = settings or get_settings()
    # mappings/ read once and checked here: a wrong file stops the start, naming file and field.
    mappings = load_mappings(settings.mappings_dir)
    use_crosswalks(mappings.crosswalks)
    core = CaseService(
        settings,
        store=store or SqlCaseStore.from_url(settings.database_url, migrate=migrate),
        ports=build_ports(settings, mappings),
        job_planners=job_planners(settings, mappings),
        clock=clock,
    )
    return Gateway(settings, core)
