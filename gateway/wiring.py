"""The composition root: `build(settings) -> Gateway`, the one place adapters are constructed.

`gateway serve`, `gateway worker`, `gateway submit`, `gateway conformance run` and the benchmarks
all get their case service from here, so each has the same ports and the same job planners by
construction (a worker that expires a hold queues the same letters as the server would).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.adapters.pathways import PathwayEngine
from gateway.adapters.roster import RosterEligibility
from gateway.domain.case import Case, Determination
from gateway.domain.ports import Ports
from gateway.fhir.codes import use_crosswalks
from gateway.mappings import Mappings, load_mappings
from gateway.notify.worker import Dispatcher
from gateway.service.core import Core, JobPlanner
from gateway.service.peer_to_peer import PeerToPeer
from gateway.settings import Settings, get_settings
from gateway.store.outbox import JobSpec
from gateway.store.reads import PlannerReads


def build_ports(settings: Settings, mappings: Mappings | None = None) -> Ports:
    """The review's collaborators: the eligibility roster, the pathways and the plan rules,
    each loaded once from the settings' files."""
    mappings = mappings or load_mappings(settings.mappings_dir)
    return Ports(
        eligibility=RosterEligibility.from_file(settings.roster),
        pathways=PathwayEngine.from_dir(mappings.root),
        tables=mappings.tables,
        plans=mappings.plans,
        reviewers=mappings.reviewers,
    )


def job_planners(settings: Settings, mappings: Mappings) -> list[JobPlanner]:
    """The planners that turn a stored determination into outbound jobs: letters, e-mail
    notices and the payer feed (with its 278), and PAS subscription notifications."""
    from gateway.fhir.notifications import SubscriptionNotifier
    from gateway.notify.jobs import outbound_jobs
    from gateway.x12.writer import write_response

    def letters_notices_and_feed(
        _reads: PlannerReads, case: Case, determination: Determination, previous: str | None
    ) -> Sequence[JobSpec]:
        jobs = outbound_jobs(
            case,
            determination,
            previous_status=previous,
            settings=settings,
            primary_payer_ids=mappings.primary_payer_ids,
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

    return [letters_notices_and_feed, SubscriptionNotifier(settings.fhir_base_url)]


def peer_to_peer_service(core: Core, settings: Settings) -> PeerToPeer:
    """Peer-to-peer scheduling over the case service, with the provider's confirmations."""
    from gateway.notify.peer_to_peer import confirmation_jobs

    return PeerToPeer(core, confirmations=confirmation_jobs(settings))


@dataclass
class Gateway:
    """What a process of the gateway runs on: its settings and its case service."""

    settings: Settings
    core: Core

    def dispatcher(self, **options: Any) -> Dispatcher:
        """The outbox dispatcher over this gateway's store, ticking its review clocks."""
        return Dispatcher(
            self.core.sessions,
            self.settings,
            clock_tick=self.core.expire_holds,
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
) -> Gateway:
    """Wire a gateway from settings (the environment's when none are given)."""
    settings = settings or get_settings()
    # mappings/ read once and checked here: a wrong file stops the start, naming file and field.
    mappings = load_mappings(settings.mappings_dir)
    use_crosswalks(mappings.crosswalks)
    core = Core(
        settings,
        ports=build_ports(settings, mappings),
        job_planners=job_planners(settings, mappings),
        migrate=migrate,
        clock=clock,
    )
    return Gateway(settings, core)
