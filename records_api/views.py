"""Views: a placeholder home page until the dashboard lands."""

from __future__ import annotations

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """Placeholder page that says the pipeline runs and where to look."""
    return render(request, "records_api/home.html")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON under /api/, the site's page elsewhere."""
    if _wants_json(request):
        body = {"error": "not_found", "detail": f"no such endpoint: {request.path}"}
        return JsonResponse(body, status=HTTPStatus.NOT_FOUND)
    return render(request, "404.html", status=HTTPStatus.NOT_FOUND)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON under /api/, the site's page elsewhere; never a traceback."""
    if _wants_json(request):
        body = {"error": "server_error", "detail": "unexpected error; it has been logged"}
        return JsonResponse(body, status=HTTPStatus.INTERNAL_SERVER_ERROR)
    return render(request, "500.html", status=HTTPStatus.INTERNAL_SERVER_ERROR)
