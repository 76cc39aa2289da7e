"""One X-Ray subsegment per web request, named after the URL it resolves to."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import resolve

from pipeline.core import tracing


class TracingMiddleware:
    """``web.<url name>`` around each request, annotated ``method`` and ``status``.

    With TWL_TRACING off Django drops it at start-up (MiddlewareNotUsed): no cost per
    request, and the X-Ray SDK is never imported.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.TWL_TRACING:
            raise MiddlewareNotUsed("TWL_TRACING is off")
        tracing.configure(enabled=True)
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = tracing.WEB_PREFIX + _url_name(request)
        with tracing.subsegment(name, method=request.method) as segment:
            response = self.get_response(request)
            tracing.annotate(segment, status=response.status_code)
        return response


def _url_name(request: HttpRequest) -> str:
    """The requested URL's name (``api-records``, ``admin:index``), before any middleware.

    Resolved here rather than read from ``request.resolver_match`` afterwards, so a
    request a middleware answers (throttled, redirected to HTTPS) keeps its URL's name.
    A name is one of a bounded set, never the path itself.
    """
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Http404:
        return tracing.WEB_UNMATCHED
    return match.view_name
