"""HTTP fetching for sources: timeouts, retries with backoff, Retry-After, status checks."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import PRODUCT
from pipeline.sources.base import Request

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_policy(config: PipelineConfig) -> Retry:
    """Retry 429/5xx and connection errors with exponential backoff (every source's rule).

    Retry-After is honoured but capped (``http_retry_after_max``) so a 5-minute job
    fails fast instead of sleeping through its own schedule.
    """
    return Retry(
        total=config.http_retries,
        connect=config.http_retries,
        read=config.http_retries,
        status=config.http_retries,
        backoff_factor=0.5,
        backoff_max=8,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        retry_after_max=config.http_retry_after_max,
        # Give back the last response instead of raising, so the status check below
        # reports it with its body.
        raise_on_status=False,
    )


def build_session(config: PipelineConfig) -> requests.Session:
    """A session that retries by ``retry_policy`` and names the product in User-Agent."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry_policy(config))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"{PRODUCT}/{config.version} (+data pipeline; requests)"
    session.headers["Accept"] = "application/json"
    return session


def fetch(session: requests.Session, request: Request, config: PipelineConfig) -> bytes:
    """GET ``request`` and return the body; a non-2xx final answer raises HTTPError."""
    response = session.get(
        request.url,
        params=dict(request.params),
        timeout=(config.http_connect_timeout, config.http_read_timeout),
    )
    response.raise_for_status()
    return response.content
