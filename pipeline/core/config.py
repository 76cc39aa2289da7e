"""The pipeline's configuration as one typed value.

Everything below the entry points takes ``config: PipelineConfig`` as an argument and
never reads Django settings. Entry points (Lambda handlers, views, admin pages,
management commands, the local stack) call ``get_config()``, which reads the settings,
which come from the environment: an explicit value beats a setting, a setting beats
the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.core.names import ResourceNames


@dataclass(frozen=True)
class SourceBounds:
    """What one declared source may fetch in one run, and what the admin's Test may fetch.

    A source over a run bound stops there, keeps what it fetched and says why in the
    run ledger (docs/SOURCES.md). ``page_max_bytes`` also caps one raw object.
    """

    max_pages: int = 100
    max_records: int = 10_000
    max_bytes: int = 20_000_000
    max_seconds: float = 60.0
    page_max_bytes: int = 5_000_000
    test_seconds: float = 10.0
    test_max_bytes: int = 1_000_000


@dataclass(frozen=True)
class PipelineConfig:
    """Names, endpoints and limits the pipeline runs with (hashable: clients are cached by it)."""

    stage: str
    raw_bucket: str
    queue_name: str
    dlq_name: str
    curated_table: str
    ledger_table: str
    aws_region: str
    aws_endpoint_url: str | None
    worker_timeout_seconds: int
    max_receive_count: int
    enabled_sources: tuple[str, ...] | None
    http_connect_timeout: float
    http_read_timeout: float
    http_retries: int
    http_retry_after_max: int
    # Per source: the base URL to fetch from instead of the source's own default.
    source_base_urls: tuple[tuple[str, str], ...] = ()
    randomuser_results: int = 25
    metrics_enabled: bool = True
    stale_after_seconds: int = 900
    # The admin's jobs (Ingest now, Replay, DLQ redrive/delete) go to the worker
    # function, asynchronously, instead of running inline (pipeline/services/jobs.py).
    jobs_on_worker: bool = False
    # Declared sources (pipeline/sources/declared): per-run bounds, and whether their
    # requests may reach loopback addresses (the local stack's sandbox; never deployed).
    source_bounds: SourceBounds = field(default_factory=SourceBounds)
    sources_allow_loopback: bool = False
    version: str = field(default="0.0.0")
    # Signs the records cursor. Kept out of repr so a logged config shows no secret.
    signing_key: str = field(default="", repr=False)

    @property
    def visibility_timeout_seconds(self) -> int:
        """Queue visibility timeout: AWS recommends 6x the consumer's timeout."""
        return 6 * self.worker_timeout_seconds

    @property
    def names(self) -> ResourceNames:
        """The data resources' names as one value (IAM and provisioning take it)."""
        return ResourceNames(
            stage=self.stage,
            raw_bucket=self.raw_bucket,
            queue=self.queue_name,
            dlq=self.dlq_name,
            curated_table=self.curated_table,
            ledger_table=self.ledger_table,
        )

    def base_url(self, source: str, default: str = "") -> str:
        """The configured base URL of ``source`` (no trailing slash), else ``default``."""
        return dict(self.source_base_urls).get(source, default).rstrip("/")


def get_config() -> PipelineConfig:
    """Build the configuration from the current Django settings (entry points only)."""
    from django.conf import settings as s

    enabled = s.TWL_ENABLED_SOURCES
    return PipelineConfig(
        stage=s.TWL_STAGE,
        raw_bucket=s.TWL_RAW_BUCKET,
        queue_name=s.TWL_QUEUE_NAME,
        dlq_name=s.TWL_DLQ_NAME,
        curated_table=s.TWL_CURATED_TABLE,
        ledger_table=s.TWL_LEDGER_TABLE,
        aws_region=s.AWS_REGION,
        aws_endpoint_url=s.AWS_ENDPOINT_URL,
        worker_timeout_seconds=s.TWL_WORKER_TIMEOUT_SECONDS,
        max_receive_count=s.TWL_MAX_RECEIVE_COUNT,
        enabled_sources=tuple(enabled) if enabled is not None else None,
        http_connect_timeout=s.TWL_HTTP_CONNECT_TIMEOUT,
        http_read_timeout=s.TWL_HTTP_READ_TIMEOUT,
        http_retries=s.TWL_HTTP_RETRIES,
        http_retry_after_max=s.TWL_HTTP_RETRY_AFTER_MAX,
        source_base_urls=tuple(sorted(s.TWL_SOURCE_BASE_URLS.items())),
        randomuser_results=s.TWL_RANDOMUSER_RESULTS,
        metrics_enabled=s.TWL_METRICS_ENABLED,
        stale_after_seconds=s.TWL_STALE_AFTER_SECONDS,
        jobs_on_worker=s.TWL_JOBS_ON_WORKER,
        source_bounds=replace(SourceBounds(), **dict[str, Any](s.TWL_SOURCE_BOUNDS)),
        sources_allow_loopback=s.TWL_SOURCES_ALLOW_LOOPBACK,
        version=s.VERSION,
        signing_key=s.SECRET_KEY,
    )
