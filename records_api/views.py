"""Server-rendered pages: dashboard, records browser, record detail, error pages.

Views are thin: they call pipeline selectors and hand plain data to templates.
An AWS failure renders the page with a friendly banner and a 503, never a traceback.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from pipeline.analytics import analytics_get
from pipeline.config import get_config
from pipeline.health import queue_depths
from pipeline.records import (
    BadRequest,
    NotFound,
    known_types,
    record_detail,
    record_list,
    record_raw_item,
)
from pipeline.sources import SOURCES
from records_api.charts import bar_chart, line_chart

log = logging.getLogger(__name__)

AWS_ERRORS = (ClientError, BotoCoreError)
UNAVAILABLE = (
    "The data store cannot be reached right now. The page will work again once it is back."
)
PAGE_SIZE = 25
TRAIL_SALT = "twl-pipeline.records.trail"
TRAIL_MAX = 10  # "previous" remembers this many pages back, then returns to the first


def _unavailable(
    request: HttpRequest, template: str, exc: Exception, **context: Any
) -> HttpResponse:
    log.error("AWS failure on %s: %s", request.path, exc)
    context |= {"banner": UNAVAILABLE}
    return render(request, template, context, status=HTTPStatus.SERVICE_UNAVAILABLE)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Cards, records by source and type, and the 7-day ingestion timeline."""
    config = get_config()
    try:
        doc = analytics_get(config=config)
        dlq = queue_depths(config, dlq=True)
    except AWS_ERRORS as exc:
        return _unavailable(request, "records_api/dashboard.html", exc, doc=None)
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


def records(request: HttpRequest) -> HttpResponse:
    """The records browser: filters, lookup by id, next/previous pages on the API's cursor."""
    source = request.GET.get("source") or None
    type_ = request.GET.get("type") or None
    cursor = request.GET.get("cursor") or None
    lookup = (request.GET.get("id") or "").strip()
    context: dict[str, Any] = {
        "sources": sorted(SOURCES),
        "types": known_types(),
        "source": source,
        "type": type_,
        "lookup": lookup,
    }
    if lookup:
        return _lookup(request, lookup, context)
    try:
        page = record_list(
            source=source, type_=type_, limit=PAGE_SIZE, cursor=cursor, config=get_config()
        )
    except BadRequest as exc:
        context |= {"error": str(exc), "records": []}
        return render(request, "records_api/records.html", context, status=HTTPStatus.BAD_REQUEST)
    except AWS_ERRORS as exc:
        return _unavailable(request, "records_api/records.html", exc, **context, records=[])
    trail = _trail_load(request.GET.get("trail"))
    context |= {"records": page.records} | _paging(source, type_, cursor, trail, page.next_cursor)
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


def _lookup(request: HttpRequest, record_id: str, context: dict[str, Any]) -> HttpResponse:
    try:
        record_detail(record_id, config=get_config())
    except (BadRequest, NotFound) as exc:
        context |= {
            "error": f"No record with id {record_id!r}." if isinstance(exc, NotFound) else str(exc),
            "records": [],
        }
        return render(request, "records_api/records.html", context, status=HTTPStatus.NOT_FOUND)
    except AWS_ERRORS as exc:
        return _unavailable(request, "records_api/records.html", exc, **context, records=[])
    return redirect("record-detail", record_id=record_id)


def record_page(request: HttpRequest, record_id: str) -> HttpResponse:
    """One record: core information, curated fields, and the raw item as pretty JSON."""
    config = get_config()
    try:
        record = record_detail(record_id, config=config)
        raw = record_raw_item(record_id, config=config, record=record)
    except (BadRequest, NotFound) as exc:
        return render(request, "404.html", {"message": str(exc)}, status=HTTPStatus.NOT_FOUND)
    except AWS_ERRORS as exc:
        return _unavailable(request, "records_api/record_detail.html", exc, record=None)
    context = {
        "record": record,
        "fields": sorted(record.get("data", {}).items()),
        "raw_json": json.dumps(raw["item"], indent=2, ensure_ascii=False, default=str),
        "api_url": reverse("api-record-detail", args=[record_id]),
        "api_raw_url": reverse("api-record-raw", args=[record_id]),
    }
    return render(request, "records_api/record_detail.html", context)


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
