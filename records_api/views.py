"""Server-rendered pages: dashboard, records browser, record detail, error pages.

Views are thin: they call pipeline selectors and hand plain data to templates. What
they raise is turned into a page by ``records_api.pages.page`` (one error path).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from pipeline.core.config import get_config
from pipeline.core.errors import NotFound
from pipeline.core.previews import fields_preview, json_preview
from pipeline.selectors.access import personal_fields, raw_allowed, record_shown, records_shown
from pipeline.selectors.analytics import analytics_get
from pipeline.selectors.records import record_detail, record_list, record_raw_item
from pipeline.sources import SOURCES, known_types
from pipeline.stores.messages import queue_depths
from records_api import limits
from records_api.access import is_staff, reads_personal
from records_api.charts import bar_chart, line_chart
from records_api.errors import suspicious_request
from records_api.pages import LookupMiss, page
from records_api.paths import is_api_path

log = logging.getLogger(__name__)

PAGE_SIZE = 25
TRAIL_SALT = "twl-pipeline.records.trail"
TRAIL_MAX = 10  # "previous" remembers this many pages back, then returns to the first


@page("records_api/dashboard.html")
def dashboard(request: HttpRequest) -> HttpResponse:
    """Cards, records by source and type, and the 7-day ingestion timeline."""
    config = get_config()
    doc = analytics_get(config=config)
    dlq = queue_depths(config, dlq=True)
    return render(request, "records_api/dashboard.html", _dashboard_context(doc, dlq))


def _dashboard_context(doc: dict[str, Any], dlq: dict[str, int]) -> dict[str, Any]:
    by_source = bar_chart(
        "Records by source", [(r["source"], r["count"]) for r in doc["by_source"]]
    )
    by_type = bar_chart(
        "Records by source and type",
        [(f"{r['source']} / {r['type']}", r["count"]) for r in doc["by_type"]],
    )
    days = [d["date"] for d in doc["timeline"]]
    timeline = line_chart(
        "Records ingested per day, last 7 days",
        days,
        [
            ("inserted", "series-inserted", [d["inserted"] for d in doc["timeline"]]),
            ("updated", "series-updated", [d["updated"] for d in doc["timeline"]]),
        ],
    )
    return {
        "doc": doc,
        "dlq": dlq,
        "by_source": by_source,
        "by_type": by_type,
        "timeline": timeline,
    }


def api_open_to(request: HttpRequest) -> bool:
    """Whether the API answers this visitor, so a page may link to it.

    On a ``key`` stage an anonymous visitor would get a 401 from every API link (a
    page reads no keys); staff are signed in, which the API accepts.
    """
    return settings.TWL_API_ACCESS == "public" or is_staff(getattr(request, "user", None))


def _trail_load(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        trail = signing.loads(raw, salt=TRAIL_SALT)
    except signing.BadSignature:
        return []
    return [c for c in trail if isinstance(c, str)] if isinstance(trail, list) else []


def _query(**params: Any) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


def _records_context(request: HttpRequest) -> dict[str, Any]:
    """The filters and choices every state of the records page shows."""
    return {
        "sources": list(SOURCES),
        "types": known_types(),
        "source": request.GET.get("source") or None,
        "type": request.GET.get("type") or None,
        "lookup": (request.GET.get("id") or "").strip(),
        "records": [],
    }


@page("records_api/records.html", context=_records_context)
def records(request: HttpRequest) -> HttpResponse:
    """The records browser: filters, lookup by id, next/previous pages on the API's cursor."""
    context = _records_context(request)
    source, type_, lookup = context["source"], context["type"], context["lookup"]
    if lookup:
        return _lookup(lookup)
    cursor = request.GET.get("cursor") or None
    page_ = record_list(
        source=source, type_=type_, limit=PAGE_SIZE, cursor=cursor, config=get_config()
    )
    trail = _trail_load(request.GET.get("trail"))
    shown = records_shown(page_.records, personal=reads_personal(request))
    context |= {"records": shown} | _paging(source, type_, cursor, trail, page_.next_cursor)
    # The whole filtered set as CSV (records_api/exports.py), whatever page this is.
    if api_open_to(request):
        context["export_url"] = reverse("api-records") + _query(
            format="csv", source=source, type=type_
        )
    return render(request, "records_api/records.html", context)


def _paging(
    source: str | None,
    type_: str | None,
    cursor: str | None,
    trail: list[str],
    next_cursor: str | None,
) -> dict[str, str | None]:
    """Links for next and previous; previous pops the trail of cursors that led here."""
    forward = [*trail, cursor or ""][-TRAIL_MAX:]
    next_url = None
    if next_cursor:
        next_url = _query(
            source=source,
            type=type_,
            cursor=next_cursor,
            trail=signing.dumps(forward, salt=TRAIL_SALT, compress=True),
        )
    previous_url = None
    if cursor:
        back = trail[-1] if trail else ""
        rest = trail[:-1]
        previous_url = (
            _query(
                source=source,
                type=type_,
                cursor=back,
                trail=signing.dumps(rest, salt=TRAIL_SALT, compress=True) if rest else "",
            )
            or "?"
        )
    return {"next_url": next_url, "previous_url": previous_url}


def _lookup(record_id: str) -> HttpResponse:
    try:
        record_detail(record_id, config=get_config())
    except NotFound:
        raise LookupMiss(f"No record with id {record_id!r}.") from None
    return redirect("record-detail", record_id=record_id)


@page("records_api/record_detail.html", context=lambda request: {"record": None})
def record_page(request: HttpRequest, record_id: str) -> HttpResponse:
    """One record: core information, curated fields, and the raw item as pretty JSON.

    Personal fields, and a raw item that holds them, only for staff (``reads_personal``);
    everyone else is told which fields are withheld. Both are bounded
    (``records_api.limits``): the page stays small whatever the item, and links to the
    plain JSON for the whole of it.
    """
    config = get_config()
    personal = reads_personal(request)
    stored = record_detail(record_id, config=config)
    record = record_shown(stored, personal=personal)
    raw = None
    if raw_allowed(stored, personal=personal):
        item = record_raw_item(record_id, config=config, record=stored)["item"]
        raw = json_preview(item, limit=limits.RAW_PREVIEW_BYTES, indent=2)
    api_raw_url = reverse("api-record-raw", args=[record_id]) if api_open_to(request) else None
    context = {
        "record": record,
        "fields": fields_preview(
            record.get("data") or {},
            per_field=limits.FIELD_PREVIEW_BYTES,
            total=limits.FIELDS_PREVIEW_BYTES,
        ),
        "raw": raw,
        "withheld": sorted(personal_fields(stored["source"], stored["type"]))
        if not personal
        else [],
        "api_url": reverse("api-record-detail", args=[record_id]) if api_raw_url else None,
        "api_raw_url": api_raw_url,
        "raw_json_url": f"{api_raw_url}?{urlencode({'format': 'json'})}" if api_raw_url else None,
    }
    return render(request, "records_api/record_detail.html", context)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 (413 for a body too large) for requests Django refuses before any view runs."""
    if isinstance(exception, SuspiciousOperation):
        body, code = suspicious_request(exception)
    else:
        detail = "the request is malformed"
        body, code = {"error": "bad_request", "detail": detail}, HTTPStatus.BAD_REQUEST
    if is_api_path(request):
        return JsonResponse(body, status=code)
    return render(request, "400.html", {"message": body["detail"]}, status=code)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON under /api/, the site's page elsewhere."""
    if is_api_path(request):
        # The path as the client asked for it, stage prefix included.
        body = {"error": "not_found", "detail": f"no such endpoint: {request.path}"}
        return JsonResponse(body, status=HTTPStatus.NOT_FOUND)
    return render(request, "404.html", status=HTTPStatus.NOT_FOUND)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON under /api/, the site's page elsewhere; never a traceback."""
    if is_api_path(request):
        body = {"error": "server_error", "detail": "unexpected error; it has been logged"}
        return JsonResponse(body, status=HTTPStatus.INTERNAL_SERVER_ERROR)
    return render(request, "500.html", status=HTTPStatus.INTERNAL_SERVER_ERROR)
