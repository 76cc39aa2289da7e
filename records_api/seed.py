"""The seed project's API under ``/api/seed/``: its Next.js frontend works unchanged here.

Point the seed's ``NEXT_PUBLIC_API_URL`` at ``<site>/api/seed``. The shapes and every
decision about them are in ``pipeline.selectors.seed``; these views read the query,
call it and answer. Access, keys and rates are the API's own (DRF's defaults), and a
reader without the ``personal-data`` scope gets records without personal fields.

The records are answered as the selector built them, not through a serializer: a flat
record has every curated field of its source at top level, which a serializer would
drop. The serializers here document the shapes for the OpenAPI schema.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pipeline.core.config import get_config
from pipeline.selectors.records import MAX_ID_LENGTH, RECORD_ID_PATTERN
from pipeline.selectors.seed import (
    DEFAULT_LIMIT,
    LAST_KEY_MAX_CHARS,
    MAX_LIMIT,
    seed_analytics_get,
    seed_limit,
    seed_not_found,
    seed_record_detail,
    seed_record_list,
)
from records_api.access import reads_personal
from records_api.api import ERRORS
from records_api.serializers import ErrorSerializer

TAG = "seed"
# Lenient as the seed's: any text is accepted, so the schema types them as plain strings.
LIST_PARAMETERS = [
    OpenApiParameter(
        "source",
        str,
        description=(
            "a source's name (/api/analytics lists them in by_source); empty means all, "
            "any other is an empty page"
        ),
    ),
    OpenApiParameter(
        "limit",
        str,
        description=(
            f"records per page, read as JavaScript's parseInt: not a positive number is "
            f"{DEFAULT_LIMIT}, above {MAX_LIMIT} is {MAX_LIMIT}"
        ),
    ),
    OpenApiParameter(
        "lastKey",
        {"type": "string", "maxLength": LAST_KEY_MAX_CHARS},
        description="opaque base64, from the previous page's `lastKey`",
    ),
]
RECORD_ID = OpenApiParameter(
    "record_id", str, OpenApiParameter.PATH, description="record id", pattern=RECORD_ID_PATTERN
)
# The API's own: a missing or bad key (401), the data store unreachable (503).
DENIED, UNAVAILABLE = ERRORS[401], ERRORS[503]


class SeedRecordSerializer(serializers.Serializer):
    """A flat record; every curated field of its source is a key of its own too."""

    id = serializers.CharField(max_length=MAX_ID_LENGTH)
    source = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    title = serializers.CharField()
    captured_at = serializers.CharField(help_text="as JavaScript's toISOString writes it")
    processed_at = serializers.CharField()
    fingerprint = serializers.CharField()
    raw_s3_key = serializers.CharField()
    body = serializers.CharField(required=False, help_text="posts and comments")
    userId = serializers.CharField(required=False, allow_null=True, help_text="posts")
    postId = serializers.CharField(required=False, allow_null=True, help_text="comments")
    name = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="a person's or user's name (personal-data scope); a comment's subject",
    )
    email = serializers.CharField(required=False, allow_null=True, help_text="personal-data scope")
    country = serializers.CharField(required=False, allow_null=True, help_text="people")
    gender = serializers.CharField(required=False, allow_null=True, help_text="people")


class SeedRecordPageSerializer(serializers.Serializer):
    records = SeedRecordSerializer(many=True)
    count = serializers.IntegerField()
    lastKey = serializers.CharField(allow_null=True, help_text="null on the last page")


class SeedNotFoundSerializer(serializers.Serializer):
    error = serializers.CharField()
    id = serializers.CharField(max_length=MAX_ID_LENGTH)
    detail = serializers.CharField()


class SeedSummarySerializer(serializers.Serializer):
    total_records = serializers.IntegerField()
    total_sources = serializers.IntegerField(help_text="sources that hold records")
    oldest_record = serializers.CharField(allow_null=True)
    newest_record = serializers.CharField(allow_null=True)


class SeedDayCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class SeedAnalyticsSerializer(serializers.Serializer):
    summary = SeedSummarySerializer()
    by_source = serializers.DictField(child=serializers.IntegerField())
    by_date = serializers.DictField(
        child=serializers.IntegerField(), help_text="the last 7 days, oldest first"
    )
    timeline = SeedDayCountSerializer(many=True, help_text="the last 7 days, oldest first")


class SeedRecordListApi(APIView):
    """The seed's ``GET /records``: a page of flat records, newest first, and its lastKey."""

    @extend_schema(
        operation_id="seed_records_list",
        tags=[TAG],
        parameters=LIST_PARAMETERS,
        responses={
            200: SeedRecordPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="lastKey is not one we gave"),
            401: DENIED,
            503: UNAVAILABLE,
        },
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        page = seed_record_list(
            source=params.get("source"),
            limit=seed_limit(params.get("limit")),
            last_key=params.get("lastKey"),
            personal=reads_personal(request),
            config=get_config(),
        )
        return Response(page)


class SeedRecordDetailApi(APIView):
    """The seed's ``GET /records/{id}``: one flat record, or its 404 body."""

    @extend_schema(
        operation_id="seed_records_retrieve",
        tags=[TAG],
        parameters=[RECORD_ID],
        responses={
            200: SeedRecordSerializer,
            401: DENIED,
            404: SeedNotFoundSerializer,
            503: UNAVAILABLE,
        },
    )
    def get(self, request: Request, record_id: str) -> Response:
        record = seed_record_detail(
            record_id, personal=reads_personal(request), config=get_config()
        )
        if record is None:
            return Response(seed_not_found(record_id), status=status.HTTP_404_NOT_FOUND)
        return Response(record)


class SeedAnalyticsApi(APIView):
    """The seed's ``GET /analytics``, from the counters ``/api/analytics`` reads."""

    @extend_schema(
        operation_id="seed_analytics_retrieve",
        tags=[TAG],
        responses={200: SeedAnalyticsSerializer, 401: DENIED, 503: UNAVAILABLE},
    )
    def get(self, request: Request) -> Response:
        return Response(SeedAnalyticsSerializer(seed_analytics_get(config=get_config())).data)
