"""The admin's models: API keys (a real table), and placeholders for the admin index.

``ApiKey`` is the one model with a table: clients' API keys, hashed. The rest are
placeholders.

The pipeline keeps its data in DynamoDB and SQS, not in the Django database. These
unmanaged models have no table and are never queried; they exist so the admin lists
a page per concept, permissions ("view", "change") can be granted per concept, and
``LogEntry`` rows for operator actions have a content type to point at. Instances are
only ever built in memory (``Record(id=..., name=...)``) to label a log entry.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from pipeline.core.constants import API_KEY_SCOPES

RATE_PATTERN = re.compile(r"[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)")


class _Placeholder(models.Model):
    """An in-memory label for something stored outside the database."""

    id = models.CharField(primary_key=True, max_length=256)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True
        managed = False
        default_permissions = ("view", "change")

    def __str__(self) -> str:
        return self.name or self.id


class Record(_Placeholder):
    """A curated record (DynamoDB curated table)."""

    class Meta(_Placeholder.Meta):
        abstract = False
        verbose_name = "record"
        verbose_name_plural = "records"


class IngestionRun(_Placeholder):
    """An ingestion run (ledger table); "change" allows Ingest now and Replay."""

    class Meta(_Placeholder.Meta):
        abstract = False
        verbose_name = "ingestion run"
        verbose_name_plural = "ingestion runs"


class DeadLetterMessage(_Placeholder):
    """A message in the dead-letter queue; "change" allows redrive and delete."""

    class Meta(_Placeholder.Meta):
        abstract = False
        verbose_name = "dead-letter message"
        verbose_name_plural = "dead-letter queue"


class Source(_Placeholder):
    """A source the pipeline ingests, with its feeds' state."""

    class Meta(_Placeholder.Meta):
        abstract = False
        verbose_name = "source"
        verbose_name_plural = "sources"


class Job(_Placeholder):
    """An admin job (ledger table, ``JOB#``): Ingest now, Replay, a DLQ redrive or delete."""

    class Meta(_Placeholder.Meta):
        abstract = False
        verbose_name = "job"
        verbose_name_plural = "jobs"


def _validate_scopes(value: str) -> None:
    unknown = sorted(set(scope_list(value)) - set(API_KEY_SCOPES))
    if unknown:
        known = ", ".join(API_KEY_SCOPES)
        raise ValidationError(f"unknown scope(s) {', '.join(unknown)}; known: {known}")


def _validate_rate(value: str) -> None:
    if value and not RATE_PATTERN.fullmatch(value.strip()):
        raise ValidationError("a rate is <requests>/<second|minute|hour|day>, e.g. 100/minute")


def scope_list(value: str) -> list[str]:
    """Scopes as stored (comma-separated), as a list without blanks or repeats."""
    return list(dict.fromkeys(s.strip() for s in value.split(",") if s.strip()))


class ApiKey(AbstractAPIKey):
    """A client's API key (djangorestframework-api-key): only its SHA-512 hash is stored.

    ``scopes`` grants more than the public shape of the data (``personal-data``);
    ``rate`` overrides the stage's per-key rate (``TWL_API_KEY_RATE``). When a key was
    last used is kept in DynamoDB, not here: a write to this database on every request
    would be an S3 upload per request (``pipeline.stores.throttle.key_used_stamp``).
    """

    scopes = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[_validate_scopes],
        help_text=f"Comma-separated ({', '.join(API_KEY_SCOPES)}); empty: public fields only.",
    )
    rate = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[_validate_rate],
        help_text="Requests per period for this key, e.g. 100/minute; empty: the stage's default.",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(scope_list(self.scopes))
