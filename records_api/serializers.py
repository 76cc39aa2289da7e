"""Input and output shapes of the API (they also drive the OpenAPI schema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers
from rest_framework.reverse import reverse

from pipeline.core.constants import PERSONAL_DATA_SCOPE
from pipeline.selectors.access import personal_fields
from pipeline.selectors.records import MAX_ID_LENGTH
from pipeline.sources import SOURCES, builtin_names, builtin_types, known_types
from pipeline.sources import feeds as source_feeds

MAX_LIMIT = 100
INCLUDED = "included"
WITHHELD = "withheld"

# A declared field named like a Field or Serializer attribute (``source``, ``data``,
# ``fields``) carries ``# type: ignore[assignment]``: DRF's metaclass pops declared fields
# off the class, so at run time they shadow nothing, which the stubs cannot see.


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter where ``limit=`` (present but empty) is an error, not absent."""

    def get_value(self, dictionary: Mapping[str, Any]) -> Any:
        if self.field_name is not None and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class RecordListParams(serializers.Serializer):
    # Empty means "all", as an HTML form's "any" option submits it.
    # At import only the built-in sources, which cost no read (a Lambda cold start imports
    # this); each instance validates against the registry as it is now, declared ones too.
    source = serializers.ChoiceField(
        choices=sorted(builtin_names()), required=False, allow_blank=True
    )  # type: ignore[assignment]
    type = serializers.ChoiceField(choices=builtin_types(), required=False, allow_blank=True)
    limit = QueryIntegerField(min_value=1, max_value=MAX_LIMIT, default=20)
    cursor = serializers.CharField(
        required=False, allow_blank=True, max_length=8192, help_text="opaque; from `next`"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(serializers.ChoiceField, self.fields["source"]).choices = list(SOURCES)
        cast(serializers.ChoiceField, self.fields["type"]).choices = known_types()


class RunListParams(serializers.Serializer):
    limit = QueryIntegerField(min_value=1, max_value=MAX_LIMIT, default=20)


class RecordSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=MAX_ID_LENGTH)
    url = serializers.SerializerMethodField()
    source = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    title = serializers.CharField()
    captured_at = serializers.CharField()
    first_seen_at = serializers.CharField()
    processed_at = serializers.CharField()
    version = serializers.IntegerField()
    fingerprint = serializers.CharField()
    raw_s3_key = serializers.CharField()
    raw_index = serializers.IntegerField()
    run_id = serializers.CharField()
    data = serializers.DictField()  # type: ignore[assignment]
    personal_data = serializers.ChoiceField(
        choices=[INCLUDED, WITHHELD],
        help_text=(
            f"`{INCLUDED}`: the whole record (a key with the {PERSONAL_DATA_SCOPE} scope, or "
            f"staff); `{WITHHELD}`: the fields its source declares personal are left out of "
            "`data`, and a title that is a name is replaced by a neutral one"
        ),
    )

    def get_url(self, record: dict) -> str:
        request = self.context.get("request")
        return reverse("api-record-detail", args=[record["id"]], request=request)


def _withheld_fields() -> str:
    """The built-in feeds' personal fields (read at import, so no declared source's: those
    would cost a read at every cold start), and where a declared source says its own."""
    found = {f: personal_fields(f.source, f.type) for f in source_feeds(sorted(builtin_names()))}
    listed = "; ".join(
        f"{f.source}/{f.type}: {', '.join(sorted(v))}" for f, v in found.items() if v
    )
    return f"{listed}; a declared source's are its definition's `fields.personal`"


class PersonalRecordSerializer(RecordSerializer):
    """The whole record, for a reader with the personal-data scope (schema only)."""

    personal_data = serializers.ChoiceField(choices=[INCLUDED])


class PublicRecordSerializer(RecordSerializer):
    """The record without personal fields, for every other reader (schema only)."""

    personal_data = serializers.ChoiceField(choices=[WITHHELD])
    data = serializers.DictField(
        help_text=f"the curated fields without the personal ones: {_withheld_fields()}"
    )
    title = serializers.CharField(
        help_text="a title that is a name is neutral instead, e.g. `randomuser person 1a2b3c4d`"
    )


# Either shape, told apart by ``personal_data`` (the schema's oneOf).
RECORD_SHAPES = PolymorphicProxySerializer(
    component_name="RecordShown",
    serializers=[PersonalRecordSerializer, PublicRecordSerializer],
    resource_type_field_name=None,
)


class RecordPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = serializers.ListField(child=RECORD_SHAPES)


class RawItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    raw_s3_key = serializers.CharField()
    raw_index = serializers.IntegerField()
    item = serializers.JSONField(help_text="the source's item as sent; secrets masked")


class LastIngestSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=["fresh", "late", "failing", "never"])
    last_success_at = serializers.CharField(allow_null=True)
    seconds_since = serializers.IntegerField(allow_null=True)
    last_failure_at = serializers.CharField(allow_null=True)
    last_error = serializers.CharField(
        allow_null=True, help_text="why the last ingest failed, in short; details are for staff"
    )


class SummarySerializer(serializers.Serializer):
    total_records = serializers.IntegerField()
    sources = serializers.IntegerField()
    types = serializers.IntegerField()
    oldest_captured_at = serializers.CharField(allow_null=True)
    newest_captured_at = serializers.CharField(allow_null=True)
    inserts = serializers.IntegerField()
    updates = serializers.IntegerField()
    last_ingest = LastIngestSerializer(many=True)


class SourceCountSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()


class TypeCountSerializer(SourceCountSerializer):
    type = serializers.CharField()


class DateCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    records = serializers.IntegerField()


class TimelineDaySerializer(DateCountSerializer):
    inserted = serializers.IntegerField()
    updated = serializers.IntegerField()


class AnalyticsSerializer(serializers.Serializer):
    summary = SummarySerializer()
    by_source = SourceCountSerializer(many=True)
    by_type = TypeCountSerializer(many=True)
    by_date = DateCountSerializer(many=True)
    timeline = TimelineDaySerializer(many=True)


class FeedOutcomeSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["stored", "unchanged", "failed"])
    item_count = serializers.IntegerField()
    bytes = serializers.IntegerField()
    hash = serializers.CharField(allow_null=True)
    s3_key = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True)
    # The safe reason, never the stored error text (AWS's words stay in the admin).
    error = serializers.CharField(
        source="public_reason",
        allow_null=True,
        help_text="why the feed failed, in short; details are for staff",
    )
    schema_drift = serializers.CharField(allow_null=True, required=False)
    pages = serializers.IntegerField(
        required=False, help_text="pages fetched (declared sources; 0 for a built-in feed)"
    )
    definition_version = serializers.IntegerField(
        allow_null=True, required=False, help_text="the declared source's definition version"
    )
    stopped = serializers.CharField(
        source="public_stopped",
        allow_null=True,
        required=False,
        help_text="why the fetch stopped early (a per-run bound; details are for staff)",
    )


class RunSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    trigger = serializers.CharField()
    status = serializers.ChoiceField(choices=["succeeded", "partial", "failed"])
    started_at = serializers.CharField()
    finished_at = serializers.CharField(allow_null=True)
    feeds = FeedOutcomeSerializer(many=True)


class RunListSerializer(serializers.Serializer):
    results = RunSerializer(many=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unavailable"])
    aws = serializers.DictField()
    queue = serializers.DictField(required=False)
    dlq = serializers.DictField(required=False)
    stale_after_seconds = serializers.IntegerField(required=False)
    sources = LastIngestSerializer(many=True, required=False)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.CharField()
    field = serializers.CharField(required=False)
    fields = serializers.DictField(required=False)  # type: ignore[assignment]
