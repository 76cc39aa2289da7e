"""The pipeline's configuration as one typed value, read from Django settings.

Functions take ``config: PipelineConfig | None``: an explicit value beats the
settings, which in turn come from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class PipelineConfig:
    """Names, endpoints and limits the pipeline runs with."""

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
    jsonplaceholder_base_url: str
    randomuser_base_url: str
    randomuser_results: int
    enabled_sources: tuple[str, ...]
    http_connect_timeout: float
    http_read_timeout: float
    http_retries: int
    http_retry_after_max: int
    s3_require_tls: bool = True
    version: str = field(default="0.0.0")

    @property
    def visibility_timeout_seconds(self) -> int:
        """Queue visibility timeout: AWS recommends 6x the consumer's timeout."""
        return 6 * self.worker_timeout_seconds


def get_config() -> PipelineConfig:
    """Build the configuration from the current Django settings."""
    s = settings
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
        jsonplaceholder_base_url=s.TWL_JSONPLACEHOLDER_BASE_URL.rstrip("/"),
        randomuser_base_url=s.TWL_RANDOMUSER_BASE_URL.rstrip("/"),
        randomuser_results=s.TWL_RANDOMUSER_RESULTS,
        enabled_sources=tuple(s.TWL_ENABLED_SOURCES),
        http_connect_timeout=s.TWL_HTTP_CONNECT_TIMEOUT,
        http_read_timeout=s.TWL_HTTP_READ_TIMEOUT,
        http_retries=s.TWL_HTTP_RETRIES,
        http_retry_after_max=s.TWL_HTTP_RETRY_AFTER_MAX,
        s3_require_tls=s.TWL_S3_REQUIRE_TLS,
        version=s.VERSION,
    )
