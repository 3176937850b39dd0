"""Where the gateway may send HTTP on a partner's say-so (issue 18 item 5: no server-side
request forgery).

A Subscription endpoint is a URL a partner chose. Unchecked, it makes the dispatcher post to
whatever the gateway's own network reaches: loopback services, the cloud metadata address, hosts
on a private network. The rules:

- https only; http (and any address) only for a host on the explicit development allow-list
  (settings.subscription_allowed_hosts, empty by default);
- no credentials in the URL;
- the host must resolve to public addresses only: loopback, private (RFC 1918, ULA), link-local,
  unspecified, shared (RFC 6598), multicast, reserved and documentation ranges are refused, and so
  are IPv6 forms that carry such an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64);
- the rule is applied when the subscription is created and again on every connection
  (`GuardedBackend`, gateway/egress_http.py, resolves the host, checks each address and
  connects to the checked address), so a DNS answer that changes after creation cannot
  bypass it;
- redirects are never followed, and no proxy from the environment is used;
- only headers a subscriber may set are forwarded (never Host, Authorization, Cookie ...).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection, Iterable
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 well-known prefix (RFC 6052): a NAT64 gateway forwards to the embedded IPv4 address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Headers a subscriber may never set: they would impersonate the gateway or the partner to the
# receiving host (Host, Authorization, Cookie), steer a proxy, or break HTTP framing.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "authorization",
        "proxy-authorization",
        "cookie",
        "cookie2",
        "set-cookie",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-type",
        "content-encoding",
        "expect",
        "forwarded",
        "via",
        "origin",
        "referer",
        "idempotency-key",  # the gateway sets it from the job
    }
)
_FORBIDDEN_PREFIXES = ("x-forwarded-", "proxy-", "sec-")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")  # no CR, LF or other controls


class ForbiddenDestination(ValueError):
    """The URL or an address it resolves to is not one the gateway may send to."""


def normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def address_problem(address: IPAddress) -> str | None:
    """Why the gateway may not connect to `address`, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (address.teredo[1] if address.teredo else None)
        embedded = embedded or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = address_problem(embedded)
            return f"{problem} (inside an IPv6 address)" if problem else None
    for problem, test in (
        ("a loopback address", address.is_loopback),
        ("the unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a private address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("a reserved address", address.is_reserved),
    ):
        if test:
            return problem
    if not address.is_global:  # shared address space (100.64/10) and the like
        return "a non-public address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (socket.gaierror when it does not resolve)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


def public_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`, all public (ForbiddenDestination when any is not; socket.gaierror
    when the name does not resolve). Every address must pass: a name that answers with one public
    and one private address would let the connection pick the private one."""
    name = normalize_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        raise ForbiddenDestination(f"{host} is a loopback name")
    addresses = resolve(name, port)
    if not addresses:
        raise ForbiddenDestination(f"{host} resolves to no address")
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise ForbiddenDestination(f"{host} resolves to {problem}")
    return addresses


def endpoint_problem(
    url: str, allowed_hosts: Collection[str], *, resolve_names: bool = True
) -> str | None:
    """Why a partner's endpoint URL is refused, or None. A name that does not resolve now is
    accepted (it cannot be shown to be forbidden); every connection checks it again."""
    # httpx (with its command-line module, rich and pygments: a sixth of a second) is imported
    # by the first check, not by every process that imports the rules (issue 19 item 2).
    import httpx

    try:
        parsed = httpx.URL(url)
        # The host as it is looked up and dialled (IDNA-encoded), not its Unicode form.
        raw_host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, TypeError, ValueError):  # UnicodeError and IDNAError among them
        return "the endpoint is not a valid URL"
    if parsed.scheme not in ("http", "https") or not raw_host:
        return "the endpoint must be an https URL with a host"
    if parsed.userinfo:
        return "the endpoint must not carry credentials in the URL"
    if not 0 < port < 65536:
        return "the endpoint's port is out of range"
    host = normalize_host(raw_host)
    if _literal(host) is None and not _HOSTNAME.match(host):
        return "the endpoint's host is not a valid host name"
    if is_allowed(host, port, allowed(allowed_hosts)):
        return None  # the development allow-list: http and any address, by explicit choice
    if parsed.scheme != "https":
        return "the endpoint must be https (http only for an allow-listed development host)"
    if not resolve_names and _literal(host) is None:
        return None
    try:
        public_addresses(host, port)
    except ForbiddenDestination as exc:
        return f"the endpoint is not a public address: {exc}"
    except (socket.gaierror, UnicodeError):
        return None
    return None


AllowEntry = tuple[str, int | None]


def _entry(text: str) -> AllowEntry:
    """`host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 address has no port."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
        return normalize_host(host), int(port) if port.isdigit() else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.isdigit():
            return normalize_host(host), int(port)
    return normalize_host(text), None


def allowed(hosts: Iterable[str]) -> frozenset[AllowEntry]:
    """The development allow-list, parsed: (host, port or None for any port)."""
    return frozenset(_entry(h) for h in hosts if h and h.strip())


def is_allowed(host: str, port: int, entries: frozenset[AllowEntry]) -> bool:
    name = normalize_host(host)
    return (name, None) in entries or (name, port) in entries


def header_problem(line: Any) -> str | None:
    """Why a Subscription.channel.header entry ("Name: value") is not forwarded, or None."""
    name, sep, value = str(line).partition(":")
    name = name.strip()
    if not sep or not _TOKEN.match(name):
        return "is not a 'Name: value' header"
    lowered = name.lower()
    if lowered in FORBIDDEN_HEADERS or lowered.startswith(_FORBIDDEN_PREFIXES):
        return f"{name} is set by the gateway, never by a subscriber"
    if not value.strip() or not _VALUE.match(value):
        return f"{name} has an empty value or control characters"
    return None


def allowed_headers(lines: Iterable[Any]) -> dict[str, str]:
    """The subscriber's headers that may be forwarded (the others are dropped)."""
    headers: dict[str, str] = {}
    for line in lines:
        if header_problem(line) is None:
            name, _, value = str(line).partition(":")
            headers[name.strip()] = value.strip()
    return headers
