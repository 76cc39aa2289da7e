"""Ingesting a declared source: every page a run fetches into the raw layer, one message each.

``pipeline.services.ingest`` hands a declared source's feed here; everything after the fetch
is the built-in sources' own step (``raw_layer``), so processing, the DLQ, replay and the run
ledger treat both kinds alike. What differs:

- A feed is fetched page by page (``source_fetch.fetch_pages``, bounded per run). Each page
  is its own raw object; a page whose hash was among the feed's pages last run is skipped
  (the feed is ``unchanged`` when every page was).
- A page seen before is skipped only while the curation rules are the same
  (``DeclaredSource.curation_digest``): after an edit that changes what a record keeps,
  the next run stores every page again and the records take the new rules.
- The feed's state keeps those page hashes and the incremental cursor; both move on only
  after every new page was stored and announced. A run that fails part-way keeps the hashes
  of the pages it did announce (they are not sent twice) and leaves the cursor, so the next
  run asks again from the same place.
- Each object's metadata names the definition version that fetched it; processing and
  replay curate with that version.
- The schedule runs a declared source when its ``schedule_minutes`` have passed since its
  last attempt (success or failure), on the 5-minute tick (``sources_due``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import requests

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.payloads import content_hash
from pipeline.services.raw_layer import raw_announce, raw_put
from pipeline.services.source_fetch import fetch_pages
from pipeline.sources import SOURCES, Feed
from pipeline.sources.declared import DeclaredSource
from pipeline.stores import ledger
from pipeline.stores.ledger import FeedOutcome, FeedState

log = logging.getLogger(__name__)

# The schedule ticks every 5 minutes and a tick starts a little late or early: a source is
# due this much before its interval is complete, so a 5-minute source runs on every tick.
SCHEDULE_SLACK = timedelta(seconds=60)


def declared_sources() -> list[DeclaredSource]:
    """Every declared source the registry knows now (enabled or paused)."""
    return [s for s in SOURCES.values() if isinstance(s, DeclaredSource)]


def sources_due(config: PipelineConfig, *, now: datetime) -> list[str]:
    """The enabled declared sources whose ``schedule_minutes`` have passed since their last try.

    One GetItem (the feed-health item) for all of them.
    """
    enabled = [s for s in declared_sources() if s.enabled]
    if not enabled:
        return []
    wanted = [(s.name, t) for s in enabled for t in s.types]
    health = ledger.feed_health_get(wanted, config=config)
    last: dict[str, str] = {}
    for h in health:
        for at in (h.last_success_at, h.last_failure_at):
            if at and at > last.get(h.source, ""):
                last[h.source] = at
    due = []
    for source in enabled:
        tried = last.get(source.name)
        interval = timedelta(minutes=source.schedule_minutes) - SCHEDULE_SLACK
        if tried is None or datetime.fromisoformat(tried) <= now - interval:
            due.append(source.name)
    return due


def ingest_declared_feed(
    feed: Feed,
    source: DeclaredSource,
    *,
    run_id: str,
    config: PipelineConfig,
    session: requests.Session,
    state: FeedState,
    outcome: FeedOutcome,
) -> None:
    """Fetch the feed's pages, store and announce each new one, then move the feed's state on."""
    outcome.definition_version = source.version
    outcome.stored_items = 0
    curation = source.curation_digest(feed.type)
    # New curation rules: every record must be fetched again to take them, so an
    # incremental source starts over from its initial value.
    same_rules = state.curation == curation
    fetched = fetch_pages(
        source,
        feed.type,
        config=config,
        session=session,
        cursor_value=state.cursor_value if same_rules else None,
        mode="run",
    )
    outcome.pages = len(fetched.pages)
    outcome.stopped = fetched.stopped
    outcome.item_count = sum(page.item_count for page in fetched.pages)
    outcome.bytes = sum(len(page.body) for page in fetched.pages)
    if fetched.stopped:
        log.warning("%s/%s: %s", feed.source, feed.type, fetched.stopped)
    seen_before = set(state.page_hashes) if same_rules else set()
    hashes: list[str] = []
    announced: list[str] = []
    try:
        for page in fetched.pages:
            digest = content_hash(page.body)
            outcome.hash = digest
            if digest in seen_before or digest in hashes:
                hashes.append(digest)
                continue
            captured = utc_now()
            key = raw_put(
                feed,
                page.body,
                captured=captured,
                digest=digest,
                run_id=run_id,
                config=config,
                version=source.version,
            )
            outcome.s3_key, outcome.message_id = key, None
            outcome.message_id = raw_announce(
                feed,
                key=key,
                captured_at=iso(captured),
                digest=digest,
                record_count=page.item_count,
                run_id=run_id,
                config=config,
            )
            hashes.append(digest)
            announced.append(digest)
            outcome.pages_stored += 1
            outcome.stored_items = (outcome.stored_items or 0) + page.item_count
            state.last_hash, state.last_key, state.last_captured_at = digest, key, iso(captured)
    except Exception:
        if announced:
            # What was announced must not be sent again; the cursor stays where it was.
            kept = state.page_hashes if state.curation == curation else []
            state.page_hashes = list(dict.fromkeys([*kept, *announced]))
            state.curation = curation
            ledger.feed_state_put(state, config=config)
        raise
    outcome.outcome = "stored" if announced else "unchanged"
    state.page_hashes, state.curation = hashes, curation
    state.cursor_value = fetched.cursor_value
    ledger.feed_state_put(state, config=config)
    ledger.feed_success_record(
        source=feed.source, type_=feed.type, at=iso(utc_now()), config=config
    )
