"""Routes of the server-rendered pages."""

from django.urls import path

from records_api import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("records/", views.records, name="records"),
    path("records/<str:record_id>/", views.record_page, name="record-detail"),
]
