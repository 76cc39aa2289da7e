"""CSV and NDJSON exports of ``/api/records``: the whole filtered set, streamed, capped.

``?format=csv`` or ``?format=ndjson`` (DRF's URL_FORMAT_OVERRIDE; ``Accept: text/csv``
or ``application/x-ndjson`` too) on the records list answers every record the
``source``/``type`` filters select, newest first, in pages of 100 read as the body is
consumed, up to ``TWL_EXPORT_MAX_RECORDS``. Decisions:

- One row or line is one record exactly as the JSON page shows it to this reader
  (the same serializer, after ``records_shown``): without the personal-data scope or a
  staff sign-in, personal fields have no values and a title that is a name is neutral.
  The CSV header also leaves out a column that only personal values could fill. An
  NDJSON line is the whole JSON record (its ``url`` without ``?format=``); a CSV row
  has the core columns and ``data.<field>`` (not ``url``, ``raw_index``, ``personal_data``).
- The cap keeps an answer under Lambda's limit: Zappa buffers the whole body and a
  synchronous response is at most 6 MB. The largest record (a RandomUser person, read
  with the personal scope; ``tests/api/test_exports.py`` measures it) is 790 bytes as
  CSV and 1,445 as NDJSON; in Lambda's JSON reply 830 and about 1,500 (both sent as
  text: NDJSON is in zappa_settings' ``additional_text_mimetypes``; base64 would make
  it 1,927). 2,000 records is under 3.9 MB in every form, leaving room for longer
  values and headers.
- Before the first byte: ``X-Export-Total`` (the filtered set's size from the exact
  counters, no scan), ``X-Export-Limit`` (the cap), ``X-Export-Truncated``
  (``true`` when the set is larger than the cap) and ``Content-Disposition``
  (``records-<source>-<type>-<UTC date>.csv``, ``all`` without filters).
- ``limit`` and ``cursor`` are ignored (a malformed ``limit`` is still the JSON page's
  400): an export is always the set from its newest record, so the headers describe
  exactly what is sent, and a browsable-API page's format link works from any page.
- Errors stay JSON: a bad filter, a missing key, a throttled request, an unreachable
  store are the API's usual ``{"error", "detail"}`` with their status, never a CSV.
  A store failure after streaming began cannot change the status: it is logged and
  ends the body unfinished (no silent truncation; in Lambda it becomes a 5xx).
- CSV: the header is fixed before the first row (``pipeline.selectors.exports``), then
  djangorestframework-csv's ``tablize`` writes one row per record without holding the
  set. Against formula injection (OWASP), a text cell that starts with ``=``, ``+``,
  ``-``, ``@``, tab or CR gets a leading ``'``, except a plain decimal number
  (``-37.5``), which a spreadsheet reads as a number, never as a formula. No BOM
  (RFC 4180; the charset is in Content-Type).
- NDJSON: one compact JSON object per line (``\\n``); the characters other line readers
  split on (U+0085, U+2028, U+2029) are written escaped, so a line is always a record.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.utils import encoders
from rest_framework.utils.urls import remove_query_param
from rest_framework_csv.renderers import CSVStreamingRenderer  # type: ignore[import-untyped]

from pipeline.core.clock import utc_now
from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.errors import AWS_ERRORS, BadRequest
from pipeline.selectors.exports import export_columns, export_total, record_export_pages
from records_api.access import reads_personal
from records_api.serializers import ErrorSerializer

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE: Final = "application/json"
URL_FORMAT: Final = api_settings.URL_FORMAT_OVERRIDE or "format"
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# json.dumps escapes every control character below U+0020 but not these, which
# str.splitlines and other readers take for line ends.
LINE_BREAKS: Final = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})

Rows = Iterable[Mapping[str, Any]]
Serialize = Callable[[list[dict[str, Any]]], Rows]


def escape_cell(value: Any) -> Any:
    """A cell value no spreadsheet runs as a formula (OWASP CSV injection)."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def ndjson_line(row: Mapping[str, Any]) -> bytes:
    """One record as one compact line of JSON, DRF's encoder (as the JSON page)."""
    text = json.dumps(row, cls=encoders.JSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return (text.translate(LINE_BREAKS) + "\n").encode()


def _json_answer(data: Any, renderer_context: Mapping[str, Any] | None) -> bytes:
    """DRF's own answers on the view (errors, OPTIONS) stay JSON, whatever format was asked."""
    response = (renderer_context or {}).get("response")
    if response is not None:
        response["Content-Type"] = JSON_MEDIA_TYPE
    return JSONRenderer().render(data, JSON_MEDIA_TYPE, dict(renderer_context or {}))


class _AnswersErrorsAsJson:
    """What DRF renders through an export renderer (errors, OPTIONS) is JSON."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return _json_answer(data, renderer_context)


class CSVExportRenderer(_AnswersErrorsAsJson, CSVStreamingRenderer):
    """``text/csv``: a fixed header, then one row per record, formula-safe cells."""

    charset = "utf-8"

    def stream(self, rows: Rows, header: list[str]) -> Iterator[bytes]:
        """The CSV as it is written, row by row (djangorestframework-csv's streaming).

        A generator, since ``tablize`` holds any other iterable whole; ``header`` given, so
        it never looks ahead for the columns.
        """
        return CSVStreamingRenderer.render(self, (r for r in rows), None, {"header": header})

    def flatten_data(self, data: Rows) -> Iterator[dict[str, Any]]:
        for flat in super().flatten_data(data):
            yield {column: escape_cell(value) for column, value in flat.items()}


class NDJSONRenderer(_AnswersErrorsAsJson, BaseRenderer):
    """``application/x-ndjson``: one record per line, compact JSON."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def stream(self, rows: Rows) -> Iterator[bytes]:
        return (ndjson_line(row) for row in rows)


RENDERERS: Final = (CSVExportRenderer, NDJSONRenderer)
EXPORT_FORMATS: Final = frozenset(r.format for r in RENDERERS)
FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    enum=["json", *sorted(EXPORT_FORMATS)],
    description=(
        "`csv` or `ndjson`: the whole filtered set as a download, newest first, up to the "
        "stage's cap (headers X-Export-Total, X-Export-Limit, X-Export-Truncated); "
        "`limit` and `cursor` do not apply"
    ),
)
UNKNOWN_FORMAT = OpenApiResponse(ErrorSerializer, description="no such format")


def format_check(request: Request) -> None:
    """An empty ``?format=`` is a 400: DRF would read it as no format, the schema refuses it."""
    if request.query_params.get(URL_FORMAT) == "":
        raise BadRequest("format must be one of json, csv, ndjson", field=URL_FORMAT)


def schema_responses(page: Any, errors: Mapping[int, Any]) -> dict[Any, Any]:
    """The list's responses for the schema: the page, both exports; errors always JSON."""
    exports = {(200, r.media_type): OpenApiTypes.STR for r in RENDERERS}
    failures = {**errors, status.HTTP_404_NOT_FOUND: UNKNOWN_FORMAT}
    return {(200, JSON_MEDIA_TYPE): page, **exports} | {
        (code, JSON_MEDIA_TYPE): answer for code, answer in failures.items()
    }


def is_export(request: Request) -> bool:
    return getattr(request.accepted_renderer, "format", None) in EXPORT_FORMATS


def filename(source: str | None, type_: str | None, extension: str) -> str:
    label = "-".join(part for part in (source, type_) if part) or "all"
    return f"records-{label}-{utc_now().date().isoformat()}.{extension}"


def export_response(
    request: Request,
    params: Mapping[str, Any],
    *,
    serialize: Serialize,
) -> StreamingHttpResponse:
    """The export the request's format asks for; ``serialize`` renders records as the page
    does for this reader (personal fields withheld unless it may see them).

    Everything that can fail on bad input or an unreachable store runs here, before the
    response exists, so it is still a JSON error.
    """
    source, type_ = params.get("source") or None, params.get("type") or None
    personal, config = reads_personal(request), get_config()
    cap: int = settings.TWL_EXPORT_MAX_RECORDS
    total = export_total(source, type_, config=config)
    renderer = request.accepted_renderer
    rows = _rows(source, type_, cap, config, serialize)
    if isinstance(renderer, CSVExportRenderer):
        columns = export_columns(source, type_, personal=personal, config=config)
        body = renderer.stream(rows, columns)
    else:
        body = NDJSONRenderer().stream(rows)
    response = StreamingHttpResponse(body, content_type=f"{renderer.media_type}; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{filename(source, type_, renderer.format)}"'
    )
    response["X-Export-Total"] = str(total)
    response["X-Export-Limit"] = str(cap)
    response["X-Export-Truncated"] = "true" if total > cap else "false"
    return response


def _json_link(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """DRF's links keep the request's ``?format=``; a record's link is to its JSON."""
    if isinstance(row.get("url"), str):
        return {**row, "url": remove_query_param(row["url"], URL_FORMAT)}
    return row


def _rows(
    source: str | None,
    type_: str | None,
    cap: int,
    config: PipelineConfig,
    serialize: Serialize,
) -> Iterator[Mapping[str, Any]]:
    """Each record as the JSON page shows it to this reader: ``serialize`` is the page's,
    which applies the personal-data rule (``records_shown``) once, for both."""
    pages = record_export_pages(source=source, type_=type_, limit=cap, config=config)
    try:
        for page in pages:
            for row in serialize(page):
                yield _json_link(row)
    except AWS_ERRORS as exc:
        log.error("export of records (%s/%s) stopped: %s", source, type_, exc, exc_info=exc)
        raise
