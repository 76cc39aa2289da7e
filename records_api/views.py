"""Views: a placeholder home page until the dashboard lands."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """Placeholder page that says the pipeline runs and where to look."""
    return render(request, "records_api/home.html")
