"""URL configuration: dashboard, API and the Django admin."""

from django.contrib import admin
from django.urls import include, path

from records_api import views

urlpatterns = [
    path("", views.home, name="home"),
    path("api/", include("records_api.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "records_api.views.page_not_found"
handler500 = "records_api.views.server_error"
