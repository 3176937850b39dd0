"""Delivering one outbox job by its kind: fax, provider_mail, member_mail, email, payer_feed,
subscription, x12_followup. Called by the worker's dispatcher with the job and the stored case.

Every transport gets the job's idempotency key, so a job delivered again after a crash (the
outbox delivers at least once) is recognised by the fax gateway, the maildir, the mail batch and
the payer feed. A failure raises: `PermanentDeliveryError` when retrying cannot help (the job is
parked dead at once), any other exception to be retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gateway.domain.case import Case, Determination
from gateway.notify.email import MailTransport, make_mail_transport, status_notice
from gateway.notify.fax import FaxGateway, make_fax_gateway
from gateway.notify.jobs import member_recipient, provider_recipient
from gateway.notify.member_mail import MemberMailBatch
from gateway.notify.payer_feed import PayerFeed
from gateway.notify.x12_mailbox import X12Mailbox
from gateway.settings import Settings

if TYPE_CHECKING:
    # The letters (reportlab, jinja2) are imported by the first delivery that prints one, not
    # when a worker or server starts (issue 19 item 2); httpx and the egress guard by the first
    # POST to a partner's URL.
    import httpx

    from gateway.notify.letters import LetterBook

KINDS = (
    "fax",
    "provider_mail",
    "member_mail",
    "email",
    "payer_feed",
    "subscription",
    "x12_followup",
)
X12_MEDIA_TYPE = "application/edi-x12"


class PermanentDeliveryError(Exception):
    """Retrying cannot help (no address, unknown kind, case gone): park the job as dead now."""


class OutboxJob(Protocol):
    """What a delivery reads of an outbox row (OutboxJobRow or the worker's ClaimedJob)."""

    id: int
    case_id: str | None
    kind: str
    idempotency_key: str
    payload: dict[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Deliverer:
    """`deliver(job, case_json) -> result`: the dispatch the worker calls for each job."""

    def __init__(
        self,
        settings: Settings,
        *,
        fax: FaxGateway | None = None,
        mail: MailTransport | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = _utcnow,
        subscription_timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self._fax = fax
        self._mail = mail
        self._http = http
        self.clock = clock
        self.subscription_timeout = (
            settings.subscription_timeout_seconds
            if subscription_timeout is None
            else subscription_timeout
        )
        self.member_mail = MemberMailBatch(settings.member_mail_dir)
        self._book: LetterBook | None = None
        self.payer_feed = PayerFeed(settings.payer_feed_dir)
        self.x12_mailbox = X12Mailbox(settings.x12_mailbox_dir)

    # Transports are made on first use: a fax misconfiguration must not stop e-mail.
    @property
    def fax(self) -> FaxGateway:
        if self._fax is None:
            self._fax = make_fax_gateway(self.settings)
        return self._fax

    @property
    def mail(self) -> MailTransport:
        if self._mail is None:
            self._mail = make_mail_transport(self.settings)
        return self._mail

    @property
    def book(self) -> LetterBook:
        """What letters print from mappings/ (plans' numbers, drug names), read on first use."""
        if self._book is None:
            from gateway.notify.letters import LetterBook

            self._book = LetterBook.load(self.settings.mappings_dir)
        return self._book

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            from gateway import egress_http

            # Partner-chosen URLs: public addresses only, checked on every connection; no
            # redirects, no proxy from the environment (gateway/egress.py).
            self._http = egress_http.guarded_client(
                self.settings.subscription_allowed_hosts, self.subscription_timeout
            )
        return self._http

    def __call__(self, job: OutboxJob, case_json: dict[str, Any] | None) -> dict[str, Any]:
        handlers: dict[str, Callable[[OutboxJob, dict[str, Any] | None], dict[str, Any]]] = {
            "fax": self.deliver_fax,
            "provider_mail": self.deliver_mail,
            "member_mail": self.deliver_mail,
            "email": self.deliver_email,
            "payer_feed": self.deliver_payer_feed,
            "subscription": self.deliver_subscription,
            "x12_followup": self.deliver_x12_followup,
            "pap_outreach": self.deliver_pap_outreach,
        }
        handler = handlers.get(job.kind)
        if handler is None:
            raise PermanentDeliveryError(f"unknown job kind {job.kind!r}")
        return handler(job, case_json)

    def _letter(
        self, job: OutboxJob, case_json: dict[str, Any] | None, *, fax: bool = False
    ) -> tuple[Case, dict[str, Any], bytes]:
        if case_json is None:
            raise PermanentDeliveryError(f"case {job.case_id} is not in the store")
        case = Case.model_validate(case_json)
        determination = Determination.model_validate(job.payload["determination"])
        recipient = dict(job.payload["recipient"])
        if not recipient.get("address"):
            recipient["address"] = _current_address(case, recipient.get("role"))
        if fax and not recipient.get("fax"):
            raise PermanentDeliveryError("fax job without a valid fax number")
        from gateway.notify.letters import render_fax, render_letter

        # A fax job is a cover sheet and the letter (issue 15 item 4).
        render = render_fax if fax else render_letter
        pdf = render(job.payload["letter"], case, determination, recipient, book=self.book)
        return case, recipient, pdf

    def deliver_fax(self, job: OutboxJob, case_json: dict[str, Any] | None) -> dict[str, Any]:
        from gateway.notify.letters import count_pages

        _, recipient, pdf = self._letter(job, case_json, fax=True)
        number = recipient.get("fax")
        if not number:
            raise PermanentDeliveryError("fax job without a valid fax number")
        fax_id = self.fax.submit(job.idempotency_key, number, pdf)
        return {"gateway": self.fax.name, "fax_id": fax_id, "pages": count_pages(pdf)}

    def deliver_mail(self, job: OutboxJob, case_json: dict[str, Any] | None) -> dict[str, Any]:
        """A printed letter: the member's, or a provider's whose fax number is unknown."""
        from gateway.notify.letters import count_pages

        _, recipient, pdf = self._letter(job, case_json)
        if not _mailable(recipient.get("address")):
            raise PermanentDeliveryError(f"no mailing address for the {recipient.get('role')}")
        result = self.member_mail.add(
            job_key=job.idempotency_key,
            job_id=job.id,
            case_id=job.case_id,
            pdf=pdf,
            pages=count_pages(pdf),
            day=self.clock().astimezone(UTC).date(),
            recipient_role=str(recipient.get("role")),
            letter=job.payload["letter"],
        )
        if job.kind == "provider_mail":
            result["fax_problem"] = recipient.get("fax_problem")
        return result

    def deliver_pap_outreach(
        self, job: OutboxJob, case_json: dict[str, Any] | None
    ) -> dict[str, Any]:
        """PAP compliance outreach: faxed when the party has a fax number, else e-mailed."""
        from gateway.notify.letters import count_pages
        from gateway.notify.pap_outreach import outreach_email, outreach_pdf

        recipient = job.payload["recipient"]
        if recipient.get("fax"):
            pdf = outreach_pdf(job.payload)
            fax_id = self.fax.submit(job.idempotency_key, recipient["fax"], pdf)
            return {"gateway": self.fax.name, "fax_id": fax_id, "pages": count_pages(pdf)}
        if recipient.get("email"):
            message = outreach_email(
                job.payload, job_key=job.idempotency_key, mail_from=self.settings.mail_from
            )
            return self.mail.send(job.idempotency_key, message)
        raise PermanentDeliveryError(f"no fax number or e-mail for the {recipient.get('role')}")

    def deliver_email(self, job: OutboxJob, case_json: dict[str, Any] | None) -> dict[str, Any]:
        # The program's name and number from the plan file: where the office calls.
        plan = self.book.plan_for_payer(case_json.get("payer_id") if case_json else None)
        letters = plan.letters if plan else None
        message = status_notice(
            job.payload,
            job_key=job.idempotency_key,
            mail_from=self.settings.mail_from,
            program=letters.program if letters else None,
            phone=letters.provider_services.phone if letters else None,
        )
        return self.mail.send(job.idempotency_key, message)

    def deliver_payer_feed(
        self, job: OutboxJob, case_json: dict[str, Any] | None
    ) -> dict[str, Any]:
        payload = job.payload
        return self.payer_feed.append(
            job_key=job.idempotency_key,
            payer_id=payload.get("payer_id") or "unknown",
            record=payload["record"],
            day=self.clock().astimezone(UTC).date(),
            x12_278=payload.get("x12_278"),
        )

    def deliver_subscription(
        self, job: OutboxJob, case_json: dict[str, Any] | None
    ) -> dict[str, Any]:
        """POST payload["body"] to payload["endpoint"] (PAS subscription notification)."""
        endpoint = job.payload.get("endpoint")
        if not endpoint:
            raise PermanentDeliveryError("subscription job without an endpoint")
        import httpx

        from gateway import egress

        # Checked again at delivery (issue 18 item 5): the allow-list may have changed, and a
        # name may resolve elsewhere now; the guarded client checks each connection as well.
        problem = egress.endpoint_problem(str(endpoint), self.settings.subscription_allowed_hosts)
        if problem:
            raise PermanentDeliveryError(f"subscription endpoint refused: {problem}")
        headers = {**channel_headers(job.payload), "Idempotency-Key": job.idempotency_key}
        headers["Content-Type"] = "application/fhir+json"
        try:
            response = self.http.post(
                endpoint,
                json=job.payload.get("body"),
                headers=headers,
                timeout=self.subscription_timeout,
                follow_redirects=False,
            )
        except egress.ForbiddenDestination as exc:
            raise PermanentDeliveryError(f"subscription endpoint refused: {exc}") from exc
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise ConnectionError(f"subscription endpoint unreachable: {reason}") from exc
        if response.status_code == 410:
            raise PermanentDeliveryError("subscription endpoint is gone (410)")
        if response.is_redirect:
            # A redirect could point anywhere, the gateway's own network included: not followed.
            raise PermanentDeliveryError(
                f"subscription endpoint answered {response.status_code} with a redirect; "
                "notifications are not redirected"
            )
        if response.status_code >= 300:
            raise ConnectionError(f"subscription endpoint answered {response.status_code}")
        return {"status_code": response.status_code}

    def deliver_x12_followup(
        self, job: OutboxJob, case_json: dict[str, Any] | None
    ) -> dict[str, Any]:
        """An unsolicited 278 response (gateway.x12.followup): into the submitting partner's
        mailbox, once, then POSTed to its callback URL when it registered one. A retry after a
        failed callback finds the mailbox item in place and only calls again."""
        payload = job.payload
        partner_id, item_id = payload.get("partner_id"), payload.get("item_id")
        interchange = payload.get("interchange")
        if not partner_id or not item_id or not interchange:
            raise PermanentDeliveryError("x12_followup job without partner, item or interchange")
        try:
            result = self.x12_mailbox.deliver(str(partner_id), str(item_id), str(interchange))
        except ValueError as exc:
            raise PermanentDeliveryError(f"x12_followup mailbox refused: {exc}") from exc
        url = payload.get("callback_url")
        if url:
            headers = {
                "Content-Type": X12_MEDIA_TYPE,
                "Idempotency-Key": job.idempotency_key,
                "X-Mailbox-Item": str(item_id),
            }
            result["callback_status"] = self._post_partner(
                "callback", str(url), headers, content=str(interchange).encode()
            )
        return result

    def _post_partner(self, what: str, url: str, headers: dict[str, str], *, content: bytes) -> int:
        """POST to a URL a partner chose, under the egress rules (issue 18 item 5): checked
        here (the allow-list or DNS may have changed since it was set) and on each connection
        by the guarded client; no redirects. Raises PermanentDeliveryError when retrying cannot
        help, ConnectionError to be retried with the outbox backoff."""
        import httpx

        from gateway import egress

        problem = egress.endpoint_problem(url, self.settings.subscription_allowed_hosts)
        if problem:
            raise PermanentDeliveryError(f"{what} refused: {problem}")
        try:
            response = self.http.post(
                url,
                content=content,
                headers=headers,
                timeout=self.subscription_timeout,
                follow_redirects=False,
            )
        except egress.ForbiddenDestination as exc:
            raise PermanentDeliveryError(f"{what} refused: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{what} unreachable: {type(exc).__name__}") from exc
        if response.is_redirect:
            raise PermanentDeliveryError(
                f"{what} answered {response.status_code} with a redirect; not followed"
            )
        if response.status_code >= 300:
            raise ConnectionError(f"{what} answered {response.status_code}")
        return response.status_code


def _mailable(address: dict[str, Any] | None) -> bool:
    return bool(
        address and address.get("lines") and (address.get("postal_code") or address.get("city"))
    )


def _current_address(case: Case, role: str | None) -> dict[str, Any] | None:
    """The stored case's address for `role`, when the job's snapshot had none."""
    if role == "member":
        return member_recipient(case)["address"]
    provider = {
        "requester": case.requester or case.ordering,
        "ordering": case.ordering or case.requester,
        "facility": case.facility or case.rendering,
        "rendering": case.rendering,
    }.get(role or "")
    return provider_recipient(role or "", provider)["address"] if provider else None


def channel_headers(payload: dict[str, Any]) -> dict[str, str]:
    """Headers a subscriber asked for that the gateway forwards: FHIR Subscription.channel.header
    is a list of "Name: value" strings (a dict is read as such pairs). Host, Authorization,
    Cookie and the like are never forwarded (egress.header_problem)."""
    from gateway import egress

    given = payload.get("headers") or {}
    if isinstance(given, dict):
        given = [f"{name}: {value}" for name, value in given.items()]
    return egress.allowed_headers(given)
