"""API latency per endpoint, as an EMF metric (no AWS call on the request path)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit
from django.http import HttpRequest, HttpResponse

from pipeline.core.config import get_config
from pipeline.core.metrics import emit
from records_api.paths import is_api_path


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
