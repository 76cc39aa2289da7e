"""Save the admin's own data before a response leaves; its failures are a page, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from pipeline.stores.s3sqlite import push_changes
from pipeline.stores.s3sqlite.store import AdminDataConflict, AdminDataError
from records_api.paths import is_api_path

log = logging.getLogger(__name__)

TEMPLATE: Final = "admin_data.html"
CONFLICT_TITLE: Final = "Not saved: the admin's data changed"
CONFLICT_DETAIL: Final = (
    "The admin's data changed in another request while this one ran, so this change "
    "was not saved. Go back; do not resubmit (reloading this page would send it again): "
    "a job this request started may already be queued or running, see Admin → Pipeline "
    "→ Jobs."
)
UNAVAILABLE_TITLE: Final = "The admin's data is unavailable"
UNAVAILABLE_DETAIL: Final = (
    "The admin's data could not be read or saved just now, so this request did not "
    "complete. The error has been logged; try again shortly."
)


class AdminDataMiddleware:
    """Upload the request's changes to the admin's database at the end of the view.

    Innermost in ``MIDDLEWARE``: the upload happens after the view (and its template)
    and before any response is sent, so a lost race answers 409 and an S3 failure 503,
    each as a page (JSON under /api/) that says so. A request that never touched the
    database, or only read it, uploads nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        try:
            push_changes()
        except AdminDataError as exc:
            return admin_data_failure(request, exc)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """The view could not read the database (or lost a race while saving inside it)."""
        if isinstance(exception, AdminDataError):
            return admin_data_failure(request, exception)
        return None


def admin_data_failure(request: HttpRequest, exc: AdminDataError) -> HttpResponse:
    """409 for a lost race, 503 for an S3 failure; the reason is logged, never shown."""
    conflict = isinstance(exc, AdminDataConflict)
    if conflict:
        log.warning("admin data conflict on %s: %s", request.path, exc)
    else:
        log.error("admin data unavailable on %s: %s", request.path, exc, exc_info=exc)
    # The view's "saved" messages would be untrue: drop them with the change.
    for _ in get_messages(request):
        pass
    status = HTTPStatus.CONFLICT if conflict else HTTPStatus.SERVICE_UNAVAILABLE
    title = CONFLICT_TITLE if conflict else UNAVAILABLE_TITLE
    detail = CONFLICT_DETAIL if conflict else UNAVAILABLE_DETAIL
    if is_api_path(request):
        code = "conflict" if conflict else "service_unavailable"
        return JsonResponse({"error": code, "detail": detail}, status=status)
    return render(request, TEMPLATE, {"title": title, "detail": detail}, status=status)
