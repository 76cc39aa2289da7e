"""The SSRF guard for declared sources: every request, every hop of it, reaches public addresses.

A declared source's URL is data an operator typed, so the function must never be the
one fetching its own metadata (169.254.169.254), the VPC's neighbours or localhost on
their behalf. The invariant: no byte is sent to an address the policy refuses. Three
checks make it hold:

- ``check_url`` before each hop: the scheme (https only when deployed), no userinfo,
  and EVERY address the host resolves to must be allowed;
- the connection itself re-checks the peer it actually connected to
  (``_GuardedConnection``), so a DNS answer that changes between the check and the
  connect (rebinding) is caught where it matters;
- redirects are followed by hand (at most ``MAX_REDIRECTS``), each hop checked again;
  a hop that leaves the origin loses the caller's headers (auth included).

Bodies are streamed and cut at ``max_bytes``; the whole fetch answers to a deadline.
Retries follow ``pipeline.services.http.retry_policy``, the one home of that rule.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import SourceError
from pipeline.services.http import build_session, retry_policy
from pipeline.sources.declared.paginators import PageRequest, origin

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
_PUBLIC_ONLY = "declared sources may only reach public addresses"
# RFC 6598 shared address space: not private, not global either.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052 NAT64: where a NAT64 gateway exists, 64:ff9b::a00:1 reaches 10.0.0.1.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))


class AddressRefused(SourceError):
    """A declared source's request would reach an address the policy refuses."""


class PageTooLarge(SourceError):
    """A page's body is larger than the bound allows."""


class DeadlineExceeded(SourceError):
    """The fetch ran past its time bound."""


@dataclass(frozen=True)
class AddressPolicy:
    """Where declared sources may connect: loopback only on the local stack, https when deployed."""

    allow_loopback: bool
    require_https: bool


@dataclass(frozen=True)
class FetchedPage:
    """One fetched page: the final URL (after redirects), status, lower-case headers, body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


def policy_for(config: PipelineConfig) -> AddressPolicy:
    """The stage's policy: the local stack reaches its sandbox; deployed stages: https, public."""
    loopback = config.sources_allow_loopback
    return AddressPolicy(allow_loopback=loopback, require_https=not loopback)


def address_refusal(address: IPAddress, policy: AddressPolicy) -> str | None:
    """Why ``address`` is refused (its class, e.g. "a private address"), or None when allowed."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = address_refusal(embedded, policy)
        return f"{reason} (as {embedded} inside IPv6)" if reason else None
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    return _address_class(address)


def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse ``url`` unless its scheme is allowed and every address its host resolves to is."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise AddressRefused(f"refused: {_shown(url)} is not an http(s) URL with a host")
    if policy.require_https and parts.scheme != "https":
        raise AddressRefused(f"refused: {_shown(url)} is not https; deployed stages require https")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused(f"refused: {_shown(url)} carries credentials in the URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AddressRefused(f"refused: {_shown(url)} has an invalid port") from None
    for address in _resolve(host, port):
        _refuse_unless_allowed(address, host, policy)


def guarded_session(
    config: PipelineConfig, policy: AddressPolicy | None = None
) -> requests.Session:
    """A session whose connections re-check their peer (``policy``, default the stage's).

    Retries follow the sources' one rule. ``trust_env`` is off: no proxy, .netrc or CA
    bundle from the environment may change where a request goes or what it carries.
    """
    session = build_session(config)
    session.trust_env = False
    adapter = _GuardedAdapter(policy or policy_for(config), max_retries=retry_policy(config))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def guarded_get(
    session: requests.Session,
    request: PageRequest,
    *,
    headers: Mapping[str, str],
    policy: AddressPolicy,
    timeout: tuple[float, float],
    max_bytes: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> FetchedPage:
    """GET ``request``, following redirects by hand, each hop checked; the body capped.

    ``deadline`` is a ``clock()`` value. Non-2xx answers raise ``requests.HTTPError``;
    an address refused raises AddressRefused, a body over ``max_bytes`` PageTooLarge.
    """
    url, params, sent = request.url, request.params_dict(), dict(headers)
    start = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, policy)
        response = session.get(
            url,
            params=params,
            headers=sent,
            allow_redirects=False,
            stream=True,
            timeout=_remaining(timeout, deadline, clock),
        )
        with response:
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                _check_status(response)
                body = _read_capped(response, max_bytes=max_bytes, deadline=deadline, clock=clock)
                return FetchedPage(response.url, response.status_code, _lower(response), body)
            url, params = urljoin(response.url, location), {}
            if start is None or origin(url) != start:
                sent = {}  # a hop elsewhere never carries the definition's headers or auth
    raise SourceError(f"more than {MAX_REDIRECTS} redirects from {_shown(request.url)}")


def _address_class(address: IPAddress) -> str | None:
    """The class that makes a (non-loopback) address unreachable, or None when it is public."""
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "an unspecified address"),
        (address in _METADATA, "the instance metadata address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 6 and address.is_site_local, "a site-local address"),
        (address.version == 4 and address in _CGNAT, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a non-public address"),
    )
    return next((name for hit, name in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv6 one (mapped, 6to4, NAT64): its class is what counts."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refuse_unless_allowed(address: IPAddress, host: str, policy: AddressPolicy) -> None:
    reason = address_refusal(address, policy)
    if reason is not None:
        named = "" if _literal(host) == address else f" ({host})"
        raise AddressRefused(f"refused: {address}{named} is {reason}; {_PUBLIC_ONLY}")


def _literal(host: str) -> IPAddress | None:
    try:
        return _parse_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceError(f"cannot resolve {host!r}: {exc}") from None
    addresses = [_parse_address(str(info[4][0])) for info in infos]
    if not addresses:
        raise SourceError(f"cannot resolve {host!r}: no address")
    return addresses


def _parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 scope ("%eth0")


def _remaining(
    timeout: tuple[float, float], deadline: float, clock: Callable[[], float]
) -> tuple[float, float]:
    left = deadline - clock()
    if left <= 0:
        raise DeadlineExceeded("the time bound was reached before the request")
    return min(timeout[0], left), min(timeout[1], left)


def _read_capped(
    response: requests.Response, *, max_bytes: int, deadline: float, clock: Callable[[], float]
) -> bytes:
    """The body in chunks: PageTooLarge past ``max_bytes``, DeadlineExceeded past ``deadline``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PageTooLarge(
            f"the page declares {int(declared):,} bytes, over the {max_bytes:,} bytes allowed"
        )
    body = bytearray()
    for chunk in response.iter_content(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise PageTooLarge(f"the page is over the {max_bytes:,} bytes allowed")
        if clock() > deadline:
            raise DeadlineExceeded("the time bound was reached while reading the page")
    return bytes(body)


def _check_status(response: requests.Response) -> None:
    """HTTPError for anything but 2xx (raise_for_status lets a 3xx without Location pass)."""
    response.raise_for_status()
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(
            f"{response.status_code} answer without a usable redirect for url: {response.url}",
            response=response,
        )


def _lower(response: requests.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "…"


class _GuardedConnection(HTTPConnection):
    """An HTTP connection that refuses a peer the policy refuses, before sending anything."""

    policy: AddressPolicy = AddressPolicy(allow_loopback=False, require_https=True)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        peer = _parse_address(str(sock.getpeername()[0]))
        reason = address_refusal(peer, self.policy)
        if reason is not None:
            sock.close()
            raise AddressRefused(
                f"refused: {peer} ({self.host}) is {reason} (the address connected to, "
                f"not the one resolved before); {_PUBLIC_ONLY}"
            )
        return sock


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    """The same peer check under TLS (``_new_conn`` runs before the handshake)."""


@functools.cache
def _pool_classes(policy: AddressPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose connections check their peer against ``policy``."""
    plain = type("GuardedConnection", (_GuardedConnection,), {"policy": policy})
    tls = type("GuardedHTTPSConnection", (_GuardedHTTPSConnection,), {"policy": policy})
    return {
        "http": type("GuardedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
    }


class _GuardedAdapter(HTTPAdapter):
    """An adapter whose pools use the guarded connections (no proxies: trust_env is off)."""

    __attrs__ = [*HTTPAdapter.__attrs__, "policy"]

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise AddressRefused("refused: declared sources never go through a proxy")
