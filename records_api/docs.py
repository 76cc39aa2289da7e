"""The schema and docs endpoints (drf-spectacular), answering errors and OPTIONS as JSON.

The docs page (Swagger UI from the sidecar) is served under a strict CSP: the split
view serves its start-up script as a file of its own (``?script``), and our template
drops the stock page's inline ``<style>`` for a static stylesheet. Imported lazily
(drf-spectacular is heavy), only when the schema or the docs are asked for.
"""

from __future__ import annotations

from typing import Any

from django.urls import get_script_prefix
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

DOCS_TEMPLATE = "records_api/swagger_ui.html"


class JsonWhenUnnegotiated(APIView):
    """A request refused before content negotiation (e.g. 1,001 query parameters) gets JSON.

    DRF would fall back to the view's first renderer: YAML for the schema, a template
    for the docs, which has none for an error.
    """

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        try:
            return super().perform_content_negotiation(request, force=False)
        except Exception:
            if not force:
                raise
            renderer = JSONRenderer()
            return renderer, renderer.media_type


class ApiSchemaView(JsonWhenUnnegotiated, SpectacularAPIView):
    """The OpenAPI schema (YAML or JSON); open whatever the access policy."""

    open_access = True


class ApiDocsView(JsonWhenUnnegotiated, SpectacularSwaggerSplitView):
    """Swagger UI with no inline script or style; OPTIONS answers JSON like every endpoint."""

    template_name = DOCS_TEMPLATE
    open_access = True

    def get_renderers(self) -> list[BaseRenderer]:
        # The page renderer (TemplateHTMLRenderer) has no template for OPTIONS' metadata.
        if self.request is not None and self.request.method == "OPTIONS":
            return [JSONRenderer()]
        return super().get_renderers()


def servers_at_script_prefix(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The schema's one server is the site's script prefix (``/dev`` behind API Gateway).

    The paths stay as routed (``/api/records``); without a server a client resolves them
    against the host's root, so the docs' "Try it out" would miss the stage. The prefix
    is the request's (set per request from SCRIPT_NAME), or FORCE_SCRIPT_NAME for the
    ``spectacular`` command. A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS).
    """
    head: dict[str, Any] = {key: result[key] for key in ("openapi", "info") if key in result}
    return {**head, "servers": [{"url": get_script_prefix().rstrip("/") or "/"}], **result}
