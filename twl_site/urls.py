"""URL configuration: dashboard pages, API and the Django admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("records_api.urls_pages")),
    path("api/", include("records_api.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "records_api.views.bad_request"
handler404 = "records_api.views.page_not_found"
handler500 = "records_api.views.server_error"
