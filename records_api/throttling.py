"""Rate limits that hold: keyed on the address API Gateway reports, counted in DynamoDB.

The client key never comes from a header a client can set. Behind API Gateway, Zappa
hands the Lambda event to Django as ``request.META["lambda.event"]``; its
``requestContext.identity.sourceIp`` (REST API; ``requestContext.http.sourceIp`` for an
HTTP API) is the address of the TCP connection API Gateway itself accepted. Zappa's
``REMOTE_ADDR`` is not used there: it is the second-to-last ``X-Forwarded-For`` entry,
right only behind CloudFront (edge-optimised) and client-chosen on a regional endpoint.
Anywhere else (runserver, gunicorn, the local stack) ``REMOTE_ADDR`` is the TCP peer.
IPv6 clients are counted per /64, the block one subscriber is usually given.

Counts live in the ledger table (``pipeline.stores.throttle``), so every Lambda
instance sees the same window. ``SharedAnonRateThrottle`` limits the API (DRF answers
429 JSON with ``Retry-After``); ``ThrottleMiddleware`` applies the same kind of limit
to pages, the admin and ``/api/health`` (with its own, higher rate, so probes keep
working), which DRF's throttles never see. When DynamoDB cannot be reached the request
is let through and the failure logged: a throttle must not take the site down.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import AnonRateThrottle

from pipeline.core.config import get_config
from pipeline.core.errors import AWS_ERRORS
from pipeline.stores.throttle import Hit, throttle_hit
from records_api.paths import API_PREFIX, is_api_path

if TYPE_CHECKING:
    # Not at run time: DRF's APIView imports this module (DEFAULT_THROTTLE_CLASSES).
    from rest_framework.request import Request
    from rest_framework.views import APIView

log = logging.getLogger(__name__)

LAMBDA_EVENT_KEY: Final = "lambda.event"  # where Zappa's handler puts the event
IPV6_CLIENT_PREFIX: Final = 64
UNKNOWN_CLIENT: Final = "unknown"
HEALTH_PATH: Final = f"{API_PREFIX}health"
# Counter scopes (the middle part of the counters' partition key).
API_SCOPE: Final = "api"
PAGE_SCOPE: Final = "page"
HEALTH_SCOPE: Final = "health"
THROTTLED_TEMPLATE: Final = "429.html"


def client_address(request: HttpRequest) -> str:
    """The client's address as API Gateway reports it, else the TCP peer; never a header."""
    event = request.META.get(LAMBDA_EVENT_KEY)
    if isinstance(event, dict):
        context = event.get("requestContext") or {}
        reported = (context.get("identity") or {}).get("sourceIp") or (
            context.get("http") or {}
        ).get("sourceIp")
        if reported:
            return _client_network(str(reported))
    return _client_network(str(request.META.get("REMOTE_ADDR") or ""))


def _client_network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip() or UNKNOWN_CLIENT
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def count_request(
    request: HttpRequest,
    *,
    scope: str,
    limit: int,
    period: int,
    now: float,
    client: str | None = None,
) -> Hit | None:
    """Count one request of its client in ``scope``; None when the store is unreachable.

    ``client`` names who is counted (an API key's prefix); by default the address.
    """
    client = client or client_address(request)
    try:
        return throttle_hit(
            scope=scope, client=client, limit=limit, period=period, now=now, config=get_config()
        )
    except AWS_ERRORS as exc:
        # Fail open: an unreachable counter store must not take the site down.
        log.warning("throttle store unavailable, request let through (%s): %s", scope, exc)
        return None


class SharedAnonRateThrottle(AnonRateThrottle):
    """The API's throttle: DRF's anonymous rate (``TWL_API_ANON_RATE``), shared counters."""

    scope = "anon"  # its DEFAULT_THROTTLE_RATES entry
    counter_scope = API_SCOPE
    # Set by SimpleRateThrottle.__init__ from the rate (None when there is no limit).
    num_requests: int | None
    duration: int | None

    def __init__(self) -> None:
        super().__init__()
        self.hit: Hit | None = None

    def get_rate(self) -> str | None:
        """The configured rate; empty or absent means no limit."""
        return self.THROTTLE_RATES.get(self.scope) or None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if getattr(request, "auth", None) is not None:
            return True  # a keyed request is counted per key (records_api.access)
        return self.allow(request)

    def allow(self, request: HttpRequest, *, client: str | None = None) -> bool:
        """Count ``request``; False once its client has used up the window."""
        if self.num_requests is None or self.duration is None:
            return True
        self.hit = count_request(
            request,
            scope=self.counter_scope,
            limit=self.num_requests,
            period=self.duration,
            now=self.timer(),
            client=client,
        )
        return self.hit is None or self.hit.allowed

    def wait(self) -> float | None:
        """Seconds until the client's window ends (DRF turns it into ``Retry-After``)."""
        return float(self.hit.retry_after) if self.hit and not self.hit.allowed else None


class PathRateThrottle(SharedAnonRateThrottle):
    """The same throttle outside DRF: scope and rate given by the caller, not DRF's settings."""

    def __init__(self, *, counter_scope: str, rate: str | None) -> None:
        self.counter_scope = counter_scope
        self._configured_rate = rate or None
        super().__init__()

    def get_rate(self) -> str | None:
        return self._configured_rate


def _scope_and_rate(path: str) -> tuple[str, str | None] | None:
    """The middleware's scope and rate for ``path``; None for the API (DRF throttles it)."""
    if path.rstrip("/") == HEALTH_PATH:
        return HEALTH_SCOPE, settings.TWL_HEALTH_RATE
    if path.startswith(API_PREFIX):
        return None
    return PAGE_SCOPE, settings.TWL_PAGE_RATE


class ThrottleMiddleware:
    """Limit pages, the admin and /api/health per client, with the API's shared counters."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # path_info: below the script prefix (/dev, /prod) that API Gateway puts in front.
        scoped = _scope_and_rate(request.path_info)
        if scoped is None or not scoped[1]:
            return self.get_response(request)
        throttle = PathRateThrottle(counter_scope=scoped[0], rate=scoped[1])
        if throttle.allow(request) or throttle.hit is None:
            return self.get_response(request)
        return _throttled(request, throttle.hit)


def _throttled(request: HttpRequest, hit: Hit) -> HttpResponse:
    """429: JSON for /api/health, the site's page elsewhere; both say when to come back."""
    detail = f"Too many requests; try again in {hit.retry_after} seconds."
    response: HttpResponse
    if is_api_path(request):
        body: dict[str, Any] = {"error": "throttled", "detail": detail}
        response = JsonResponse(body, status=HTTPStatus.TOO_MANY_REQUESTS)
    else:
        context = {"retry_after": hit.retry_after}
        response = render(request, THROTTLED_TEMPLATE, context, status=HTTPStatus.TOO_MANY_REQUESTS)
    response["Retry-After"] = str(hit.retry_after)
    return response
