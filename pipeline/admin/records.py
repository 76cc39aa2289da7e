"""Console page: browse curated records newest first, filter, look one up, open its page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse

from pipeline.admin.console import ConsoleAdmin
from pipeline.core.config import get_config
from pipeline.core.errors import BadRequest, NotFound
from pipeline.core.previews import json_preview
from pipeline.models import Record
from pipeline.selectors import records
from pipeline.sources import SOURCES, known_types

RECORDS_PER_PAGE = 25
# The record page shows at most this much of the curated data (pretty JSON, ASCII, so at
# most 6x once HTML-escaped) and of each field: a curated item can be 400 KB, nested 32
# deep, which pretty-prints to many MB. The API has the whole record.
DATA_PREVIEW_CHARS = 128 * 1024
FIELD_PREVIEW_CHARS = 4 * 1024
# Field order on the record page; anything else follows alphabetically.
RECORD_FIELDS = (
    "id",
    "title",
    "source",
    "type",
    "version",
    "captured_at",
    "first_seen_at",
    "processed_at",
    "fingerprint",
    "run_id",
    "raw_s3_key",
    "raw_index",
)


@admin.register(Record)
class RecordAdmin(ConsoleAdmin):
    """Browse curated records newest first, filter, look one up, open its page."""

    def extra_urls(self) -> list[URLPattern]:
        # Named "change" so admin log entries link to the record's page.
        detail = self.guarded(self.detail_view)
        return [path("<str:record_id>/change/", detail, name=self.url_name("change"))]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        lookup = request.GET.get("id", "").strip()
        if lookup:
            try:
                return redirect(self.url("change", records.validate_record_id(lookup)))
            except BadRequest as exc:
                messages.error(request, str(exc))
        source, type_ = request.GET.get("source") or None, request.GET.get("type") or None
        page = _record_page(request, source, type_, request.GET.get("cursor") or None)
        next_query = {"source": source, "type": type_, "cursor": page.next_cursor}
        return self.render(
            request,
            "admin/pipeline/record/list.html",
            {
                "records": page.records,
                "next_url": "?" + urlencode({k: v for k, v in next_query.items() if v})
                if page.next_cursor
                else None,
                "sources": sorted(SOURCES),
                "types": known_types(),
                "source": source or "",
                "type": type_ or "",
                "lookup": lookup,
            },
        )

    def detail_view(self, request: HttpRequest, record_id: str) -> HttpResponse:
        self.require_view(request)
        try:
            record = records.record_detail(record_id, config=get_config())
        except (NotFound, BadRequest) as exc:
            messages.error(request, str(exc))
            return redirect(self.url("changelist"))
        return self.render(
            request,
            "admin/pipeline/record/detail.html",
            {
                "title": f"Record {record_id}",
                "breadcrumb_tail": record_id,
                "record": record,
                "fields": _record_fields(record),
                **_data_preview(record.get("data")),
                "public_url": public_record_url(record_id),
            },
        )


def _record_page(
    request: HttpRequest, source: str | None, type_: str | None, cursor: str | None
) -> records.Page:
    try:
        return records.record_list(
            source=source,
            type_=type_,
            limit=RECORDS_PER_PAGE,
            cursor=cursor,
            config=get_config(),
        )
    except BadRequest as exc:
        messages.error(request, str(exc))
        return records.Page([], None)


def _record_fields(record: dict[str, Any]) -> list[tuple[str, Any]]:
    rest = sorted(k for k in record if k not in RECORD_FIELDS and k not in {"data", "source_type"})
    return [(k, _short(record[k])) for k in (*RECORD_FIELDS, *rest) if k in record]


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= FIELD_PREVIEW_CHARS else text[:FIELD_PREVIEW_CHARS] + "…"


def _data_preview(data: Any) -> dict[str, Any]:
    """Pretty JSON of the curated data, cut at ``DATA_PREVIEW_CHARS`` (nothing past it is built)."""
    preview = json_preview(data, limit=DATA_PREVIEW_CHARS, sort_keys=True)
    return {
        "data_json": preview.text,
        "data_truncated": preview.truncated,
        "data_limit_kb": preview.limit_kb,
    }


def public_record_url(record_id: str) -> str:
    """The record's public page."""
    return reverse("record-detail", args=[record_id])
