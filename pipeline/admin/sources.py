"""Console page: each source, enabled or not, its feeds' health and record counts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from pipeline.admin.console import ConsoleAdmin
from pipeline.core.config import get_config
from pipeline.models import Source
from pipeline.selectors.sources import sources_overview


@admin.register(Source)
class SourceAdmin(ConsoleAdmin):
    """Each source: enabled, its feeds' last success, failure and error, record counts."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        rows = sources_overview(config=get_config())
        return self.render(request, "admin/pipeline/source/list.html", {"sources": rows})
