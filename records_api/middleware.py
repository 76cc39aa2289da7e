"""API latency per endpoint (an EMF metric, no AWS call), and private answers."""

from __future__ import annotations

import time
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

from pipeline.core.config import get_config
from pipeline.core.metrics import emit
from records_api.access import is_staff
from records_api.paths import is_api_path

SHARED_API_ANSWERS = frozenset({"api-health", "api-schema", "api-docs"})


class ApiLatencyMiddleware:
    """Time each /api/ request and publish ApiLatency (ms) with its endpoint's name."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        match = getattr(request, "resolver_match", None)
        endpoint = match.url_name if match and match.url_name else "unmatched"
        emit(
            {"ApiLatency": elapsed_ms},
            dimensions={"endpoint": endpoint},
            unit=MetricUnit.Milliseconds,
            config=get_config(),
        )
        return response


# What an answer depends on beyond its URL: the key, and a staff session.
READER_HEADERS = ("X-Api-Key", "Authorization", "Cookie")


class PrivateAnswersMiddleware:
    """No shared cache may keep an answer that depends on who asked.

    An API answer differs by key (a scoped key receives personal fields; on a ``key``
    stage no key is a 401), and a page differs for staff. A CDN or proxy keyed on the
    URL could otherwise hand one reader's answer to another: the API says
    ``Cache-Control: private, no-store`` and ``Vary`` on the headers that name the
    reader, and a page shown to staff says ``private``. Health, the schema and the docs
    are the same for everyone and keep their own headers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if is_api_path(request):
            if not (match and match.url_name in SHARED_API_ANSWERS):
                patch_vary_headers(response, READER_HEADERS)
                patch_cache_control(response, private=True, no_store=True)
        elif is_staff(getattr(request, "_cached_user", None)):
            # Only a user the view already looked up: reading it here would open the
            # admin database for a page that never needed it (and fail outside the
            # error pages when the database is down).
            patch_cache_control(response, private=True)
        return response
