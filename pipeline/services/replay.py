"""Replay: re-enqueue one message per raw object, oldest first, to rebuild the curated layer.

The raw layer keeps every body ingestion stored, so replaying all of it onto an emptied
curated table reproduces the same ids, fingerprints and versions: processing is
idempotent, and sending oldest first lets each update land on the version before it.
A dry run only lists what would be sent; it reads no object and sends nothing. Keys are
read with the raw layer's own parser (``raw_store.raw_key_parse``); an object whose
metadata contradicts its key is skipped with the reason, as processing would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import RAW_META_RUN_ID, RAW_PREFIX
from pipeline.core.errors import InvalidMessage, PipelineError, SourceError
from pipeline.core.payloads import content_hash, json_loads_exact
from pipeline.services.process import source_of
from pipeline.sources import Feed, feeds
from pipeline.stores import messages, raw_store

# A range up to this many days lists one date partition per day; a longer or open
# range lists the feed's whole prefix and filters on the date= partition instead.
MAX_PARTITION_LISTS = 31

Progress = Callable[[int, int], None]


@dataclass
class ReplayResult:
    """The raw keys chosen (oldest first), how many messages went out, and what was skipped."""

    keys: list[str]
    sent: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def replay(
    *,
    source: str | None,
    type_: str | None = None,
    since: date | None,
    until: date | None,
    dry_run: bool = False,
    config: PipelineConfig,
    progress: Progress | None = None,
) -> ReplayResult:
    """Send one message per raw object of the chosen feeds captured in [since, until]."""
    cfg = config
    chosen = replay_feeds(source=source, type_=type_)
    _check_range(since, until)
    raw = sorted(
        (k for f in chosen for k in _feed_keys(f, since, until, cfg)),
        key=lambda k: (k.stamp, k.key),
    )
    result = ReplayResult(keys=[k.key for k in raw])
    if dry_run:
        return result
    run_id = f"replay-{utc_now().strftime('%Y%m%dT%H%M%SZ')}"
    for done, key in enumerate(raw, start=1):
        _replay_one(key, run_id, cfg, result)
        if progress is not None:
            progress(done, len(raw))
    return result


def replay_feeds(*, source: str | None, type_: str | None) -> list[Feed]:
    """The feeds a source/type filter selects; unknown names are a PipelineError."""
    chosen = feeds([source] if source is not None else None)
    if type_ is None:
        return chosen
    picked = [f for f in chosen if f.type == type_]
    if not picked:
        where = f"source {source!r}" if source else "any source"
        known = sorted({f.type for f in chosen})
        raise PipelineError(f"{where} has no type {type_!r} (known: {', '.join(known)})")
    return picked


def _check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise PipelineError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")


def _feed_keys(
    feed: Feed, since: date | None, until: date | None, config: PipelineConfig
) -> Iterator[raw_store.RawKey]:
    base = f"{RAW_PREFIX}/source={feed.source}/type={feed.type}/"
    if since is not None and until is not None and (until - since).days < MAX_PARTITION_LISTS:
        prefixes = [f"{base}date={day.isoformat()}/" for day in _days(since, until)]
    else:
        prefixes = [base]
    for prefix in prefixes:
        for key in raw_store.raw_keys_list(prefix=prefix, config=config):
            parsed = raw_store.raw_key_parse(key)
            if parsed is None:
                continue  # not in the raw layout: nothing ingestion wrote
            if until is not None and parsed.day > until:
                break  # keys sort by date within a feed: nothing later qualifies
            if since is None or parsed.day >= since:
                yield parsed


def _days(since: date, until: date) -> Iterator[date]:
    for offset in range((until - since).days + 1):
        yield since + timedelta(days=offset)


def _replay_one(
    raw: raw_store.RawKey, run_id: str, config: PipelineConfig, result: ReplayResult
) -> None:
    body, metadata = raw_store.raw_object_read(key=raw.key, config=config)
    try:
        # The same rule processing holds the message to: the metadata agrees with the key.
        raw_store.raw_metadata_check(
            metadata, source=raw.source, type_=raw.type, captured_at=raw.captured_at
        )
        items = source_of(raw.source, metadata).items(raw.type, json_loads_exact(body))
    except InvalidMessage as exc:
        result.skipped.append((raw.key, f"not as ingest wrote it: {exc}"))
        return
    except (ValueError, RecursionError, SourceError) as exc:
        result.skipped.append((raw.key, f"unusable payload: {type(exc).__name__}: {exc}"[:300]))
        return
    message = messages.message_build(
        source=raw.source,
        type_=raw.type,
        bucket=config.raw_bucket,
        key=raw.key,
        # The key's stamp is the capture time; ingest's captured-at metadata equals it.
        captured_at=iso(raw.captured_at),
        digest=content_hash(body),
        record_count=len(items),
        run_id=metadata.get(RAW_META_RUN_ID) or run_id,
    )
    messages.message_send(message, config=config)
    result.sent += 1
