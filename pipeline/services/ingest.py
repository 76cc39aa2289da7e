"""Ingestion: fetch each feed, keep the body in S3, send one SQS message per raw object.

One function serves the Zappa schedule, ``manage.py ingest`` and the admin. Feeds are
isolated: one failing never stops the others. A body whose hash equals the feed's last
stored one is neither stored nor enqueued (outcome ``unchanged``). The feed's state
moves on only after both the S3 write and the SQS send succeeded, so a failed send is
retried by the next run instead of being skipped as unchanged.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import requests
from botocore.exceptions import ClientError

from pipeline.core import tracing
from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS, PipelineError, SourceError
from pipeline.core.logs import log_context
from pipeline.core.metrics import emit
from pipeline.core.payloads import content_hash, json_loads_exact
from pipeline.services.http import build_session, fetch
from pipeline.services.http_guard import AddressRefused, guarded_session
from pipeline.services.ingest_declared import declared_sources, ingest_declared_feed, sources_due
from pipeline.services.raw_layer import raw_announce, raw_put
from pipeline.sources import Feed, enabled_sources, feeds, get_source
from pipeline.sources.declared import DeclaredSource
from pipeline.stores import ledger, raw_store
from pipeline.stores.ledger import FeedOutcome, FeedState, RunRecord

log = logging.getLogger(__name__)

# The triggers of the 5-minute schedule (Zappa's event; the local stack's scheduler). They
# run a declared source only when its schedule_minutes have passed; others run every one.
SCHEDULE_TRIGGERS = frozenset({"schedule", "local-schedule"})


def new_run_id(now: datetime) -> str:
    """Time-sortable and unique: ``20261128T091500Z-1a2b3c4d``."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def ingest(
    *,
    sources: list[str] | None = None,
    trigger: str = "manual",
    config: PipelineConfig,
    session: requests.Session | None = None,
) -> RunRecord:
    """Run every feed of ``sources`` (default: the enabled ones) and record the run."""
    cfg = config
    started = utc_now()
    chosen = feeds(sources if sources is not None else _sources_to_run(cfg, trigger, started))
    run = RunRecord(run_id=new_run_id(started), trigger=trigger, started_at=iso(started))
    http = session or build_session(cfg)
    for feed in chosen:
        run.feeds.append(_ingest_feed(feed, run.run_id, cfg, http))
    run.finished_at = iso(utc_now())
    ledger.run_put(run, config=cfg)
    with log_context(run_id=run.run_id):
        log.info("run %s: %s", run.status, [(f.source, f.type, f.outcome) for f in run.feeds])
    return run


def _sources_to_run(config: PipelineConfig, trigger: str, now: datetime) -> list[str]:
    """The enabled sources; on the schedule, declared ones only when their interval has passed."""
    enabled = enabled_sources(config)
    if trigger not in SCHEDULE_TRIGGERS:
        return enabled
    declared = {s.name for s in declared_sources()}
    due = set(sources_due(config, now=now))
    return [name for name in enabled if name not in declared or name in due]


def _ingest_feed(
    feed: Feed, run_id: str, config: PipelineConfig, session: requests.Session
) -> FeedOutcome:
    outcome = FeedOutcome(source=feed.source, type=feed.type, outcome="failed")
    with (
        log_context(run_id=run_id, source=feed.source, type=feed.type),
        tracing.subsegment(tracing.INGEST_FEED, source=feed.source, type=feed.type) as span,
    ):
        try:
            state = ledger.feed_state_get(source=feed.source, type_=feed.type, config=config)
            _fetch_store_send(feed, run_id, config, session, state, outcome)
        except Exception as exc:
            outcome.outcome = "failed"
            outcome.error, outcome.reason = _describe(exc, outcome)
            log.warning("feed failed: %s", outcome.error)
            _record_failure(feed, config, outcome.error, outcome.reason)
        _emit_metrics(outcome, config)
        # The failure is handled here, so no exception marks the subsegment: say it.
        tracing.annotate(span, outcome=outcome.outcome, reason=outcome.reason)
    return outcome


def _fetch_store_send(
    feed: Feed,
    run_id: str,
    config: PipelineConfig,
    session: requests.Session,
    state: FeedState,
    outcome: FeedOutcome,
) -> None:
    source = get_source(feed.source)
    if isinstance(source, DeclaredSource):
        # Its own session: every connection it opens is checked against the address rules.
        ingest_declared_feed(
            feed,
            source,
            run_id=run_id,
            config=config,
            session=guarded_session(config),
            state=state,
            outcome=outcome,
        )
        return
    captured = utc_now()
    body = fetch(session, source.request(feed.type, config), config)
    outcome.bytes, outcome.hash = len(body), content_hash(body)
    items = _items(feed, body, captured, outcome.hash, config)
    outcome.item_count = len(items)
    outcome.schema_drift = schema_drift(source.expected_fields(feed.type), items)
    if outcome.schema_drift:
        log.warning("schema drift: %s", outcome.schema_drift)
    if outcome.hash == state.last_hash:
        outcome.outcome = "unchanged"
        _record_success(state, captured, config, changed=False)
        return
    key, captured_at = _stored_key(feed, body, captured, run_id, state, outcome, config)
    outcome.s3_key = key
    outcome.message_id = raw_announce(
        feed,
        key=key,
        captured_at=captured_at,
        digest=outcome.hash,
        record_count=len(items),
        run_id=run_id,
        config=config,
    )
    outcome.outcome = "stored"
    state.last_hash, state.last_key, state.last_captured_at = outcome.hash, key, captured_at
    state.pending_hash = state.pending_key = state.pending_captured_at = None
    _record_success(state, captured, config, changed=True)


def _stored_key(
    feed: Feed,
    body: bytes,
    captured: datetime,
    run_id: str,
    state: FeedState,
    outcome: FeedOutcome,
    config: PipelineConfig,
) -> tuple[str, str]:
    """Write the body to S3 unless a previous run stored it but could not enqueue it.

    The feed state names such an object as pending *before* the send, so a failed
    send or a crash never orphans it: the next run with the same body re-sends it.
    """
    if state.pending_hash == outcome.hash and state.pending_key and state.pending_captured_at:
        log.info("re-sending the message of a stored but unsent raw object %s", state.pending_key)
        return state.pending_key, state.pending_captured_at
    key = raw_put(
        feed, body, captured=captured, digest=outcome.hash or "", run_id=run_id, config=config
    )
    state.pending_hash, state.pending_key, state.pending_captured_at = (
        outcome.hash,
        key,
        iso(captured),
    )
    ledger.feed_state_put(state, config=config)
    return key, iso(captured)


def schema_drift(expected: frozenset[str], items: list) -> str | None:
    """New or missing top-level fields against the source's documented item shape."""
    objects = [i for i in items if isinstance(i, dict)]
    if not expected or not objects:
        return None
    seen = set().union(*(i.keys() for i in objects))
    new = sorted(seen - expected)
    missing = {f: sum(1 for i in objects if f not in i) for f in sorted(expected)}
    missing = {f: n for f, n in missing.items() if n}
    parts = [f"new fields: {', '.join(new)}"] if new else []
    parts += [f"missing {f} in {n} of {len(objects)} items" for f, n in missing.items()]
    return "; ".join(parts) or None


def _emit_metrics(outcome: FeedOutcome, config: PipelineConfig) -> None:
    stored = outcome.outcome == "stored"
    emit(
        {
            "RecordsFetched": outcome.item_count,
            "RawObjectsStored": 1 if stored else 0,
            "MessagesSent": 1 if outcome.message_id else 0,
            "FeedFailures": 1 if outcome.outcome == "failed" else 0,
            # Stored or unchanged: the feed is fresh (the feed-stale alarm counts these).
            "FeedIngested": 0 if outcome.outcome == "failed" else 1,
        },
        dimensions={"source": outcome.source, "type": outcome.type},
        config=config,
    )


def _items(
    feed: Feed, body: bytes, captured: datetime, digest: str, config: PipelineConfig
) -> list:
    """Parse and shape-check the body; an unusable one is quarantined with its reason."""
    try:
        return get_source(feed.source).items(feed.type, json_loads_exact(body))
    except (ValueError, SourceError) as exc:
        reason = f"unusable payload: {exc}"
        key = raw_store.quarantine_key(
            source=feed.source, type_=feed.type, captured_at=captured, digest=digest
        )
        metadata = {"reason": reason[:1000].encode("ascii", "replace").decode()}
        raw_store.raw_object_put(key=key, body=body, metadata=metadata, config=config)
        raise SourceError(f"{reason} (kept at {key})") from None


def _record_success(
    state: FeedState, captured: datetime, config: PipelineConfig, *, changed: bool
) -> None:
    if changed:
        ledger.feed_state_put(state, config=config)
    ledger.feed_success_record(
        source=state.source, type_=state.type, at=iso(captured), config=config
    )


def _record_failure(feed: Feed, config: PipelineConfig, error: str, reason: str) -> None:
    try:
        ledger.feed_failure_record(
            source=feed.source,
            type_=feed.type,
            at=iso(utc_now()),
            error=error,
            reason=reason,
            config=config,
        )
    except Exception:
        log.exception("could not record the failure of %s/%s", feed.source, feed.type)


# What public pages say of a failed AWS call, by the operation that failed; AWS's own
# message (which can name the bucket, the role ARN, the operation) stays for staff.
_AWS_PARTS = {
    "PutObject": "the raw bucket",
    "GetObject": "the raw bucket",
    "HeadObject": "the raw bucket",
    "SendMessage": "the ingestion queue",
    "GetQueueUrl": "the ingestion queue",
    "GetItem": "the ledger",
    "PutItem": "the ledger",
    "UpdateItem": "the ledger",
    "BatchGetItem": "the ledger",
}
_DATA_STORE = "the data store"
UNEXPECTED_REASON = "ingest failed unexpectedly"


def _describe(exc: Exception, outcome: FeedOutcome) -> tuple[str, str]:
    """The full error (logs, ledger, admin) and a short, safe reason (public pages, APIs)."""
    text = str(exc) if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
    reason = failure_reason(exc)
    if outcome.s3_key and not outcome.message_id:
        text += f" (stored at {outcome.s3_key} but not enqueued; the next run re-sends it)"
        reason += "; the next run sends it again"
    return text[:1000], reason


def failure_reason(exc: Exception) -> str:
    """Classified where the exception is known: what failed, in words safe for anyone."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"the source answered HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "the source did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "the source could not be reached"
    if isinstance(exc, requests.RequestException):
        return "the request to the source failed"
    if isinstance(exc, AddressRefused):
        return "the source's address is not allowed on this stage"
    if isinstance(exc, SourceError):
        return "the source sent an unusable payload"
    if isinstance(exc, ClientError):
        return f"{_AWS_PARTS.get(exc.operation_name, _DATA_STORE)} is unavailable"
    if isinstance(exc, AWS_ERRORS):
        return "AWS could not be reached"
    return UNEXPECTED_REASON
