"""API routes under /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from records_api import api

urlpatterns = [
    path("", api.ApiRoot.as_view(), name="api-root"),
    path("records", api.RecordListApi.as_view(), name="api-records"),
    path("records/<str:record_id>", api.RecordDetailApi.as_view(), name="api-record-detail"),
    path("records/<str:record_id>/raw", api.RecordRawApi.as_view(), name="api-record-raw"),
    path("analytics", api.AnalyticsApi.as_view(), name="api-analytics"),
    path("runs", api.RunListApi.as_view(), name="api-runs"),
    path("health", api.HealthApi.as_view(), name="api-health"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
