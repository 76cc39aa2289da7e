"""The read-only DRF API: one class per operation, each validate → call → serialize → respond."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from pipeline.core.config import get_config
from pipeline.core.previews import json_size
from pipeline.selectors.access import records_shown, require_raw_allowed
from pipeline.selectors.analytics import analytics_get
from pipeline.selectors.health import health_get
from pipeline.selectors.records import (
    RECORD_ID_PATTERN,
    record_detail,
    record_list,
    record_raw_item,
)
from pipeline.stores.ledger import run_list
from records_api import exports
from records_api import serializers as s
from records_api.access import reads_personal
from records_api.limits import RAW_ITEM_MAX_BYTES

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="invalid parameter"),
    401: OpenApiResponse(
        s.ErrorSerializer,
        description="a key that is unknown, revoked or expired; or, with the stage's access "
        "policy `key`, no key",
    ),
    503: OpenApiResponse(s.ErrorSerializer, description="data store unavailable"),
}
FORBIDDEN = {
    403: OpenApiResponse(
        s.ErrorSerializer,
        description="the raw item holds personal data: it needs the personal-data scope or staff",
    )
}
NOT_FOUND = {404: OpenApiResponse(s.ErrorSerializer, description="no such record")}
TOO_LARGE = {
    status.HTTP_422_UNPROCESSABLE_ENTITY: OpenApiResponse(
        s.ErrorSerializer, description=f"the raw item is over {RAW_ITEM_MAX_BYTES // 2**20} MB"
    )
}
RECORD_ID = OpenApiParameter(
    "record_id",
    str,
    OpenApiParameter.PATH,
    description="record id, e.g. jsonplaceholder-post-1",
    pattern=RECORD_ID_PATTERN,
)


def _as_read(records: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """Records as this reader may see them, each saying which shape it is."""
    personal = reads_personal(request)
    shape = s.INCLUDED if personal else s.WITHHELD
    return [r | {"personal_data": shape} for r in records_shown(records, personal=personal)]


def _params(serializer_class: type, request: Request) -> dict[str, Any]:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


class ApiRoot(APIView):
    """Links to every endpoint."""

    open_access = True

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        names = ["records", "analytics", "runs", "health", "schema", "docs"]
        links = {n: reverse(f"api-{n}", request=request) for n in names}
        seed = {
            f"seed_{n}": reverse(f"api-seed-{n}", request=request) for n in ("records", "analytics")
        }
        return Response(links | seed)


class RecordListApi(APIView):
    """Curated records, newest first; filter by source and type; cursor paging.

    ``?format=csv`` / ``?format=ndjson``: the whole filtered set, streamed (records_api/exports.py).
    """

    renderer_classes = [*APIView.renderer_classes, *exports.RENDERERS]

    @extend_schema(
        operation_id="records_list",
        parameters=[s.RecordListParams, exports.FORMAT_PARAMETER],
        responses=exports.schema_responses(s.RecordPageSerializer, ERRORS),
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        params = _params(s.RecordListParams, request)
        exports.format_check(request)
        if exports.is_export(request):
            return exports.export_response(request, params, serialize=self._results)
        page = record_list(
            source=params.get("source") or None,
            type_=params.get("type") or None,
            limit=params["limit"],
            cursor=params.get("cursor") or None,
            config=get_config(),
        )
        url = request.build_absolute_uri()
        next_url = (
            replace_query_param(url, "cursor", page.next_cursor) if page.next_cursor else None
        )
        results = self._results(page.records)
        return Response({"next": next_url, "previous": None, "results": results})

    def _results(self, records: list[dict[str, Any]]) -> Any:
        """Records as the page shows them to this reader; an export's lines are the same."""
        shown = _as_read(records, self.request)
        return s.RecordSerializer(shown, many=True, context={"request": self.request}).data


class RecordDetailApi(APIView):
    """One whole curated record."""

    @extend_schema(
        operation_id="records_retrieve",
        parameters=[RECORD_ID],
        responses={200: s.RECORD_SHAPES, **NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, record_id: str) -> Response:
        record = record_detail(record_id, config=get_config())
        shown = _as_read([record], request)[0]
        return Response(s.RecordSerializer(shown, context={"request": request}).data)


class RawItemTooLarge(APIException):
    """The raw item is larger than this endpoint answers (HTTP 422).

    Not 413: that status is about the request's content, and this request has none.
    422 says the request is understood and well-formed but cannot be carried out for
    this record; the detail says why and where the record's curated form is.
    """

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "item_too_large"


class RecordRawApi(APIView):
    """The record's item as its source sent it, read from the raw object in S3."""

    @extend_schema(
        operation_id="records_raw_retrieve",
        parameters=[RECORD_ID],
        responses={200: s.RawItemSerializer, **FORBIDDEN, **NOT_FOUND, **TOO_LARGE, **ERRORS},
    )
    def get(self, request: Request, record_id: str) -> Response:
        config = get_config()
        record = record_detail(record_id, config=config)
        require_raw_allowed(record, personal=reads_personal(request))
        raw = record_raw_item(record_id, config=config, record=record)
        if json_size(raw["item"], encoder=JSONRenderer.encoder_class) > RAW_ITEM_MAX_BYTES:
            raise RawItemTooLarge(
                f"the raw item of {record_id} is over {RAW_ITEM_MAX_BYTES // 2**20} MB as JSON, "
                f"more than this endpoint answers; its curated record is at "
                f"{reverse('api-record-detail', args=[record_id])}"
            )
        return Response(s.RawItemSerializer(raw).data)


class AnalyticsApi(APIView):
    """Summary, counts by source, type and date, and a 7-day timeline, from exact counters."""

    @extend_schema(
        operation_id="analytics_retrieve",
        responses={200: s.AnalyticsSerializer, 401: ERRORS[401], 503: ERRORS[503]},
    )
    def get(self, request: Request) -> Response:
        return Response(s.AnalyticsSerializer(analytics_get(config=get_config())).data)


class RunListApi(APIView):
    """Recent ingestion runs, newest first, with each feed's outcome."""

    @extend_schema(
        operation_id="runs_list",
        parameters=[s.RunListParams],
        responses={200: s.RunListSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = _params(s.RunListParams, request)
        runs = run_list(limit=params["limit"], config=get_config())
        data = [run.__dict__ | {"status": run.status} for run in runs]
        return Response({"results": s.RunSerializer(data, many=True).data})


class HealthApi(APIView):
    """200 when AWS answers and every source ingested recently; 503 otherwise."""

    throttle_classes: list = []  # probes must never be throttled
    authentication_classes: list = []  # nor turned away for a key they should not send
    open_access = True

    @extend_schema(
        operation_id="health_retrieve", responses={200: s.HealthSerializer, 503: s.HealthSerializer}
    )
    def get(self, request: Request) -> Response:
        healthy, report = health_get(config=get_config())
        code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(s.HealthSerializer(report).data, status=code)
