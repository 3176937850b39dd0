"""Fax gateways behind one port (base.FaxGateway); `make_fax_gateway` picks one from settings."""

from __future__ import annotations

from gateway.notify.fax.base import FaxError, FaxGateway, FaxJobNotFound, FaxState
from gateway.settings import Settings

__all__ = ["FaxError", "FaxGateway", "FaxJobNotFound", "FaxState", "make_fax_gateway"]


def make_fax_gateway(settings: Settings) -> FaxGateway:
    """settings.fax_gateway: spool (embedded default), hylafax or http."""
    choice = settings.fax_gateway.strip().lower()
    if choice == "spool":
        from gateway.notify.fax.spool import SpoolFaxGateway

        return SpoolFaxGateway(settings.fax_spool)
    if choice == "hylafax":
        from gateway.notify.fax.hylafax import HylaFaxGateway

        return HylaFaxGateway(
            settings.hylafax_host,
            settings.hylafax_port,
            settings.hylafax_user,
            timeout=settings.fax_timeout_seconds,
        )
    if choice == "http":
        if not settings.fax_api_url:
            raise ValueError("GATEWAY_FAX_GATEWAY=http needs GATEWAY_FAX_API_URL")
        from gateway.notify.fax.http import HttpFaxGateway

        return HttpFaxGateway(settings.fax_api_url, timeout=settings.fax_timeout_seconds)
    raise ValueError(f"unknown fax gateway {settings.fax_gateway!r} (spool, hylafax or http)")
