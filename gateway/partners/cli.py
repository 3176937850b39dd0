"""`gateway partner add|list|disable|enable` and `gateway token PARTNER` (operator commands)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.settings import get_settings

if TYPE_CHECKING:  # the store is imported by the commands that open it, not by `gateway --help`
    from sqlalchemy.orm import Session, sessionmaker

partner_app = typer.Typer(
    help="The trading-partner registry: who may connect, as which X12 sender ids, for which "
    "organizations, with which credentials and roles.",
    no_args_is_help=True,
)


def _sessions() -> sessionmaker[Session]:
    """The store of GATEWAY_DATABASE_URL, migrated, with the demo partners when it has none
    (as `gateway serve` does at start-up)."""
    from gateway.partners.registry import seed_partners
    from gateway.partners.settings import AuthSettings
    from gateway.store.db import make_engine, session_factory, upgrade

    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    seed_partners(sessions, AuthSettings().seed_file)
    return sessions


def _audit(
    sessions: sessionmaker[Session], event: str, action: str, partner_id: str, outcome_desc: str
) -> None:
    from gateway import audit
    from gateway.partners.principal import LOCAL_OPERATOR

    audit.record(
        sessions,
        event=event,
        action=action,
        principal=LOCAL_OPERATOR,
        source_address="cli",
        outcome_desc=outcome_desc,
        detail={"partner": partner_id},
    )


@partner_app.command("add")
def add(
    partner_id: Annotated[str, typer.Argument(help="Partner id (the OAuth client id too).")],
    kind: Annotated[str, typer.Option(help="clearinghouse, ehr, payer, reviewer or operator.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    sender_id: Annotated[
        list[str] | None, typer.Option(help="X12 sender id it may use (ISA06/GS02); repeat.")
    ] = None,
    npi: Annotated[list[str] | None, typer.Option(help="NPI it acts for; repeat.")] = None,
    tin: Annotated[list[str] | None, typer.Option(help="TIN it acts for; repeat.")] = None,
    org_identifier: Annotated[
        str | None, typer.Option(help="FHIR organization identifier, system|value.")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option(help="reviewer, operator, submitter (default by kind).")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="SMART system scope, e.g. system/Claim.write.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option(help="JWKS file of its public keys (SMART backend services).")
    ] = None,
    generate_secret: Annotated[
        bool, typer.Option(help="Make a shared secret and print it once (stored hashed).")
    ] = False,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read the shared secret from standard input.")
    ] = False,
    rate_limit: Annotated[
        float | None, typer.Option(help="Requests per second (default: GATEWAY_RATE_LIMIT_*).")
    ] = None,
    callback_url: Annotated[
        str | None,
        typer.Option(help="Where its X12 follow-ups (unsolicited 278s) are POSTed (https)."),
    ] = None,
    email_notices: Annotated[
        bool,
        typer.Option(
            help="Send e-mail notices of status changes to the addresses its requests carry."
        ),
    ] = True,
    replace: Annotated[bool, typer.Option(help="Update the partner if it exists.")] = False,
) -> None:
    """Register a trading partner (or update one with --replace)."""
    from pydantic import ValidationError

    from gateway import audit
    from gateway.partners.credentials import generate_secret as new_secret
    from gateway.partners.registry import PartnerError, PartnerSpec, add_partner

    secret = new_secret() if generate_secret else None
    if secret_stdin:
        secret = sys.stdin.readline().strip()
    try:
        spec = PartnerSpec(
            id=partner_id,
            name=name,
            kind=kind,
            sender_ids=sender_id or [],
            npis=npi or [],
            tins=tin or [],
            org_identifier=org_identifier,
            roles=role or None,
            scopes=scope or None,
            secret=secret,
            jwks=json.loads(jwks.read_text()) if jwks else None,
            rate_limit_per_second=rate_limit,
            callback_url=callback_url,
            email_notices=email_notices,
        )
    except (ValidationError, ValueError) as exc:
        typer.echo(f"invalid partner: {exc}", err=True)
        raise typer.Exit(2) from exc
    _check_callback(spec.callback_url)
    sessions = _sessions()
    try:
        with sessions.begin() as session:
            add_partner(session, spec, replace=replace)
    except PartnerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    _audit(sessions, "partner.create", audit.CREATE, partner_id, "partner registered (cli)")
    typer.echo(f"partner {partner_id} registered")
    if generate_secret:
        typer.echo(f"shared secret (shown once): {secret}")


@partner_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered partners (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from gateway.partners.registry import list_partners, partner_view

    with _sessions()() as session:
        views = [partner_view(row) for row in list_partners(session)]
    if as_json:
        typer.echo(json.dumps(views, indent=2))
        return
    table = Table("id", "kind", "enabled", "roles", "sender ids", "NPIs", "credentials")
    for view in views:
        credentials = ", ".join(
            c
            for c, present in (("secret", view["has_secret"]), ("jwks", view["jwks_key_ids"]))
            if present
        )
        table.add_row(
            view["id"],
            view["kind"],
            "yes" if view["enabled"] else "no",
            " ".join(view["roles"]),
            " ".join(view["sender_ids"]),
            " ".join(view["npis"]),
            credentials or "-",
        )
    Console().print(table)


def _check_callback(url: str | None) -> None:
    """Exit 2 naming why a callback URL is refused (gateway/egress.py rules)."""
    from gateway.partners.registry import callback_problem

    problem = callback_problem(url, get_settings().subscription_allowed_hosts)
    if problem:
        typer.echo(f"invalid callback URL: {problem}", err=True)
        raise typer.Exit(2)


@partner_app.command("callback")
def callback(
    partner_id: Annotated[str, typer.Argument(help="Partner id.")],
    url: Annotated[str | None, typer.Argument(help="https URL; omit with --clear.")] = None,
    clear: Annotated[bool, typer.Option(help="Remove the callback URL.")] = False,
) -> None:
    """Set where a partner's X12 follow-ups (unsolicited 278 responses) are POSTed; they are
    left in its mailbox (GET /x12/mailbox) either way."""
    from gateway import audit
    from gateway.partners.registry import PartnerError, normalize_callback, set_callback

    if (url is not None) == clear:  # one of the two, not both
        typer.echo("give a URL, or --clear", err=True)
        raise typer.Exit(2)
    try:
        wanted = None if clear else normalize_callback(url)
    except ValueError as exc:
        typer.echo(f"invalid callback URL: {exc}", err=True)
        raise typer.Exit(2) from exc
    _check_callback(wanted)
    sessions = _sessions()
    try:
        with sessions.begin() as session:
            set_callback(session, partner_id, wanted)
    except PartnerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    _audit(sessions, "partner.callback", audit.UPDATE, partner_id, "callback URL set (cli)")
    typer.echo(f"partner {partner_id} callback {'cleared' if clear else 'set'}")


def _set_enabled(partner_id: str, enabled: bool) -> None:
    from gateway import audit
    from gateway.partners.registry import PartnerError, set_enabled

    sessions = _sessions()
    try:
        with sessions.begin() as session:
            set_enabled(session, partner_id, enabled)
    except PartnerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    what = "enabled" if enabled else "disabled"
    _audit(sessions, f"partner.{what[:-1]}", audit.UPDATE, partner_id, f"partner {what} (cli)")
    typer.echo(f"partner {partner_id} {what}")


@partner_app.command("disable")
def disable(partner_id: Annotated[str, typer.Argument(help="Partner id.")]) -> None:
    """Disable a partner: its logins and live tokens are refused from the next request on."""
    _set_enabled(partner_id, False)


@partner_app.command("enable")
def enable(partner_id: Annotated[str, typer.Argument(help="Partner id.")]) -> None:
    """Enable a disabled partner again."""
    _set_enabled(partner_id, True)


def token(
    partner_id: Annotated[str, typer.Argument(help="A registered, enabled partner.")],
    scope: Annotated[
        str | None, typer.Option(help="Space-separated scopes (default: all it is allowed).")
    ] = None,
    lifetime: Annotated[
        int | None, typer.Option(min=30, max=3600, help="Seconds (default 300).")
    ] = None,
) -> None:
    """Mint a short-lived access token for a registered partner (operator command). Use it as
    `Authorization: Bearer TOKEN`."""
    from gateway import audit
    from gateway.partners.settings import AuthSettings
    from gateway.partners.tokens import TokenError, token_for_partner

    sessions = _sessions()
    try:
        access_token = token_for_partner(
            sessions, AuthSettings(), partner_id, scope=scope, lifetime=lifetime
        )
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    _audit(sessions, "login", audit.EXECUTE, partner_id, "access token issued (cli)")
    typer.echo(access_token)
