"""Placeholder models: entries for the admin index and content types for its log.

The pipeline keeps its data in DynamoDB and SQS, not in the Django database. These
unmanaged models have no table and are never queried; they exist so the admin lists
a page per concept, permissions ("view", "change") can be granted per concept, and
``LogEntry`` rows for operator actions have a content type to point at. Instances are
only ever built in memory (``Record(id=..., name=...)``) to label a log entry.
"""

from __future__ import annotations

from django.db import models


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
