"""API routes under /api/."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from records_api import api, seed


def _lazy(factory: Callable[[], Callable[..., HttpResponse]]) -> Callable[..., HttpResponse]:
    """A view built on first use: drf-spectacular is heavy to import and only the docs need it.

    Keeps it out of every Lambda cold start that serves data rather than documentation.
    """
    view = functools.cache(factory)

    def lazy_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return view()(request, *args, **kwargs)

    lazy_view.csrf_exempt = True  # type: ignore[attr-defined] # as DRF's APIView.as_view()
    return lazy_view


def _schema_view() -> Callable[..., HttpResponse]:
    from records_api.docs import ApiSchemaView

    return ApiSchemaView.as_view()


def _docs_view() -> Callable[..., HttpResponse]:
    from records_api.docs import ApiDocsView

    return ApiDocsView.as_view(url_name="api-schema")


urlpatterns = [
    path("", api.ApiRoot.as_view(), name="api-root"),
    path("records", api.RecordListApi.as_view(), name="api-records"),
    path("records/<str:record_id>", api.RecordDetailApi.as_view(), name="api-record-detail"),
    path("records/<str:record_id>/raw", api.RecordRawApi.as_view(), name="api-record-raw"),
    path("analytics", api.AnalyticsApi.as_view(), name="api-analytics"),
    path("runs", api.RunListApi.as_view(), name="api-runs"),
    # The seed project's contract, for its own frontend (records_api/seed.py).
    path("seed/records", seed.SeedRecordListApi.as_view(), name="api-seed-records"),
    path(
        "seed/records/<str:record_id>",
        seed.SeedRecordDetailApi.as_view(),
        name="api-seed-record-detail",
    ),
    path("seed/analytics", seed.SeedAnalyticsApi.as_view(), name="api-seed-analytics"),
    path("health", api.HealthApi.as_view(), name="api-health"),
    path("schema/", _lazy(_schema_view), name="api-schema"),
    path("docs/", _lazy(_docs_view), name="api-docs"),
]
