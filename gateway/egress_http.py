"""The connection side of the egress rules (gateway/egress.py): an httpx client whose every
connection resolves the host, checks each address and dials the checked one. A module of its
own so that the rules are read without importing httpx (issue 19 item 2)."""

from __future__ import annotations

import socket
from collections.abc import Collection, Iterable
from typing import Any

import httpcore
import httpx

from gateway.egress import allowed, is_allowed, public_addresses


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend that connects only to public addresses (or allow-listed hosts):
    the host is resolved here, each address checked, and the checked address dialled, so the
    check and the connection see the same DNS answer."""

    def __init__(self, allowed_hosts: Collection[str]) -> None:
        self.allowed_hosts = allowed(allowed_hosts)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if is_allowed(host, port, self.allowed_hosts):
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = public_addresses(host, port)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"{host} does not resolve") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over `GuardedBackend` (TLS still verifies the URL's host name)."""

    def __init__(self, allowed_hosts: Collection[str]) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to name the network backend; the pool is rebuilt
        # with the same defaults and the guarded backend (tests/notify/test_egress.py holds it).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allowed_hosts),
        )


def guarded_client(allowed_hosts: Collection[str], timeout: float) -> httpx.Client:
    """An httpx client for partner-chosen URLs: guarded connections, no redirects followed, no
    proxy or netrc from the environment."""
    return httpx.Client(
        transport=GuardedTransport(allowed_hosts),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
