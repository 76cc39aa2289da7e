"""Replay re-enqueues raw objects oldest first, and rebuilds the curated layer exactly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.core.clock import iso
from pipeline.core.errors import PipelineError
from pipeline.core.payloads import content_hash
from pipeline.handlers import process_sqs_event
from pipeline.local.poller import drain
from pipeline.selectors.analytics import analytics_get
from pipeline.services.ingest import ingest
from pipeline.services.replay import replay
from pipeline.sources import all_feeds
from pipeline.stores import aws, messages, raw_store
from tests import factories

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def store(config, source: str, type_: str, payload, when: datetime, *, metadata=True) -> str:
    """Keep a body in the raw layer as ingestion does; return its key."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    digest = content_hash(body)
    key = raw_store.raw_key(source=source, type_=type_, captured_at=when, digest=digest)
    meta = {"captured-at": iso(when), "run-id": f"run-{when:%d%H}"} if metadata else {}
    raw_store.raw_object_put(key=key, body=body, metadata=meta, config=config)
    return key


@pytest.fixture
def raw_layer(stack) -> dict[str, str]:
    """Raw objects over several days, written out of time order."""
    return {
        "post-09": store(stack, "jsonplaceholder", "post", factories.posts(2), at(9)),
        "post-01": store(stack, "jsonplaceholder", "post", factories.posts(1), at(1)),
        "people-03": store(stack, "randomuser", "user", factories.people(2), at(3, 15)),
        "comment-03": store(stack, "jsonplaceholder", "comment", factories.comments(3), at(3, 9)),
        "post-05": store(stack, "jsonplaceholder", "post", factories.posts(4), at(5)),
        "user-04": store(stack, "jsonplaceholder", "user", factories.users(1), at(4)),
    }


# The raw_layer fixture's objects, oldest first.
EVERY = ["post-01", "comment-03", "people-03", "user-04", "post-05", "post-09"]


def queued(config) -> list[dict]:
    """Every message on the main queue (consumed: tests read it once)."""
    sqs, url, found = aws.sqs(config), messages.queue_url(config), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        found += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return found


def send_order(monkeypatch) -> list[str]:
    """The s3Keys of the messages replay sends, in the order it sends them."""
    order: list[str] = []
    original = messages.message_send

    def recording(message, *, config):
        order.append(message.s3Key)
        return original(message, config=config)

    monkeypatch.setattr(messages, "message_send", recording)
    return order


def test_replay_sends_one_message_per_raw_object_in_the_range_oldest_first(
    stack, raw_layer, monkeypatch
):
    order = send_order(monkeypatch)

    result = replay(source=None, since=date(2026, 11, 2), until=date(2026, 11, 5), config=stack)

    expected = [raw_layer[k] for k in ("comment-03", "people-03", "user-04", "post-05")]
    assert result.keys == expected
    assert order == expected
    assert result.sent == 4 and result.skipped == []
    assert sorted(m["s3Key"] for m in queued(stack)) == sorted(expected)


def test_each_replayed_message_carries_hash_capture_time_count_and_run_id(stack, raw_layer):
    replay(source="randomuser", since=None, until=None, config=stack)

    [message] = queued(stack)
    body = raw_store.raw_object_get(key=raw_layer["people-03"], config=stack)
    assert messages.message_parse(json.dumps(message)).s3Key == raw_layer["people-03"]
    assert message["hash"] == content_hash(body)
    assert message["capturedAt"] == iso(at(3, 15))
    assert message["recordCount"] == 2
    assert message["runId"] == "run-0315"
    assert (message["source"], message["type"], message["s3Bucket"]) == (
        "randomuser",
        "user",
        stack.raw_bucket,
    )


@pytest.mark.parametrize(
    ("since", "until", "names"),
    [
        (date(2026, 11, 4), None, ["user-04", "post-05", "post-09"]),
        (None, date(2026, 11, 3), ["post-01", "comment-03", "people-03"]),
        (date(2026, 1, 1), date(2026, 11, 8), [*EVERY[:-1]]),
        (None, None, EVERY),
    ],
    ids=["since only", "until only", "a long range", "everything"],
)
def test_open_and_long_ranges_filter_on_the_date_partition(stack, raw_layer, since, until, names):
    result = replay(source=None, since=since, until=until, dry_run=True, config=stack)

    assert result.keys == [raw_layer[n] for n in names]


def test_a_type_filter_selects_that_type_in_every_source(stack, raw_layer):
    result = replay(source=None, type_="user", since=None, until=None, dry_run=True, config=stack)

    assert result.keys == [raw_layer["people-03"], raw_layer["user-04"]]


def test_a_dry_run_lists_the_keys_and_sends_nothing(stack, raw_layer):
    result = replay(source="jsonplaceholder", since=None, until=None, dry_run=True, config=stack)

    assert len(result.keys) == 5 and result.sent == 0
    assert queued(stack) == []


def test_without_metadata_the_key_stamp_and_a_replay_run_id_are_used(stack):
    key = store(stack, "jsonplaceholder", "post", factories.posts(1), at(7, 8), metadata=False)

    replay(source=None, since=None, until=None, config=stack)

    [message] = queued(stack)
    assert message["s3Key"] == key
    assert message["capturedAt"] == iso(at(7, 8))
    assert message["runId"].startswith("replay-")


def test_an_unparseable_object_is_skipped_and_reported(stack):
    bad = store(stack, "jsonplaceholder", "post", b"{not json", at(2))
    error = store(stack, "randomuser", "user", {"error": "Uh oh"}, at(3))
    good = store(stack, "jsonplaceholder", "post", factories.posts(1), at(4))

    result = replay(source=None, since=None, until=None, config=stack)

    assert result.keys == [bad, error, good]
    assert result.sent == 1
    assert [key for key, _ in result.skipped] == [bad, error]
    assert all(reason.startswith("unusable payload") for _, reason in result.skipped)
    assert [m["s3Key"] for m in queued(stack)] == [good]


def test_progress_is_reported_after_each_object(stack, raw_layer):
    calls: list[tuple[int, int]] = []

    replay(
        source="jsonplaceholder",
        since=None,
        until=None,
        config=stack,
        progress=lambda *a: calls.append(a),
    )

    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def curated_state(config) -> dict[str, tuple]:
    """Test-only census of the curated table: what replay must reproduce."""
    state = {}
    for page in aws.dynamodb(config).get_paginator("scan").paginate(TableName=config.curated_table):
        for item in page["Items"]:
            state[item["id"]["S"]] = (
                item["fingerprint"]["S"],
                item["version"]["N"],
                item["captured_at"]["S"],
                item["first_seen_at"]["S"],
                item["run_id"]["S"],
                item["raw_s3_key"]["S"],
            )
    return state


def empty_curated(config) -> None:
    table = config.curated_table
    for record_id in curated_state(config):
        aws.dynamodb(config).delete_item(TableName=table, Key={"id": {"S": record_id}})


def _two_runs_the_second_editing_the_posts(stack, sources) -> None:
    """Ingest and process twice; the second run's posts have new titles (version 2)."""
    ingest(config=stack)
    drain(process_sqs_event, config=stack)
    base = stack.base_url("jsonplaceholder")
    sources.replace("GET", f"{base}/posts", json=factories.posts(3, title="edited"))
    ingest(config=stack)
    drain(process_sqs_event, config=stack)


def test_replaying_everything_onto_an_emptied_table_reproduces_it(stack, sources):
    _two_runs_the_second_editing_the_posts(stack, sources)
    before = curated_state(stack)
    analytics_before = analytics_get(config=stack)
    assert {v[1] for v in before.values()} == {"1", "2"}  # the edited posts are version 2

    empty_curated(stack)
    call_command("recount", "--reset", stdout=StringIO())
    result = replay(source=None, since=None, until=None, config=stack)
    totals = drain(process_sqs_event, config=stack)

    assert result.sent == 6 and totals.failed == 0
    assert curated_state(stack) == before
    after = analytics_get(config=stack)
    for part in ("by_source", "by_type", "by_date", "timeline"):
        assert after[part] == analytics_before[part], part
    # Everything but the seconds since the last ingest, which moves with the clock.
    drop = {"last_ingest"}
    summary = {k: v for k, v in after["summary"].items() if k not in drop}
    assert summary == {k: v for k, v in analytics_before["summary"].items() if k not in drop}


def _message_for(config, key: str, **changes) -> str:
    """A message for the raw object at ``key`` as ingest sent it, with ``changes``."""
    body, metadata = raw_store.raw_object_read(key=key, config=config)
    message = messages.message_build(
        source="jsonplaceholder",
        type_="post",
        bucket=config.raw_bucket,
        key=key,
        captured_at=metadata["captured-at"],
        digest=content_hash(body),
        record_count=3,
        run_id="forged",
    )
    return json.dumps(json.loads(message.to_json()) | changes)


def test_forged_messages_change_nothing_and_a_replay_converges_on_the_first_pass(stack, sources):
    _two_runs_the_second_editing_the_posts(stack, sources)
    before, analytics_before = curated_state(stack), analytics_get(config=stack)
    first_posts = min(k for k in raw_store.raw_keys_list(config=stack) if "type=post" in k)
    forged = json.dumps(factories.posts(3, title="forged")).encode()
    forged_key = "quarantine/x/anything.json"
    raw_store.raw_object_put(key=forged_key, body=forged, metadata={}, config=stack)
    forgeries = [
        # The older genuine object, claimed as captured last: it would win every later capture.
        _message_for(stack, first_posts, capturedAt="9999-12-31T23:59:59+00:00"),
        _message_for(stack, first_posts, s3Key=forged_key, hash=content_hash(forged)),
    ]
    for body in forgeries:
        aws.sqs(stack).send_message(QueueUrl=messages.queue_url(stack), MessageBody=body)

    assert drain(process_sqs_event, config=stack, max_batches=1).failed == 2
    assert curated_state(stack) == before

    result = replay(source=None, since=None, until=None, config=stack)
    assert result.sent == len(result.keys) == 6
    assert drain(process_sqs_event, config=stack).failed == 0

    assert curated_state(stack) == before
    assert {v[1] for v in before.values()} == {"1", "2"}  # the edited posts are version 2
    after = analytics_get(config=stack)
    for part in ("by_source", "by_type", "by_date", "timeline"):
        assert after[part] == analytics_before[part], part
    assert (
        after["summary"]["newest_captured_at"] == analytics_before["summary"]["newest_captured_at"]
    )


def test_an_object_whose_metadata_contradicts_its_key_is_skipped_with_the_reason(stack):
    key = store(stack, "jsonplaceholder", "post", factories.posts(1), at(2))
    body = raw_store.raw_object_get(key=key, config=stack)
    meta = {"captured-at": iso(at(3))}
    raw_store.raw_object_put(key=key, body=body, metadata=meta, config=stack)
    good = store(stack, "jsonplaceholder", "post", factories.posts(2), at(4))

    result = replay(source=None, since=None, until=None, config=stack)

    assert result.sent == 1 and [m["s3Key"] for m in queued(stack)] == [good]
    [(skipped, reason)] = result.skipped
    assert skipped == key
    assert reason.startswith("not as ingest wrote it: capturedAt does not match the object's")


def test_keys_outside_the_raw_scheme_are_not_replayed(stack):
    good = store(stack, "jsonplaceholder", "post", factories.posts(1), at(4))
    body = json.dumps(factories.posts(1)).encode()
    odd = good.replace("date=2026-11-04", "date=2026-11-05")  # date is not the stamp's day
    raw_store.raw_object_put(key=odd, body=body, metadata={}, config=stack)

    assert replay(source=None, since=None, until=None, dry_run=True, config=stack).keys == [good]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "nope"}, "unknown source 'nope' (known: jsonplaceholder, randomuser)"),
        ({"source": "randomuser", "type_": "post"}, "source 'randomuser' has no type 'post'"),
        ({"source": None, "type_": "todo"}, "any source has no type 'todo'"),
        (
            {"source": None, "since": date(2026, 11, 5), "until": date(2026, 11, 1)},
            "since (2026-11-05) is after until (2026-11-01)",
        ),
    ],
    ids=["unknown source", "type not in source", "unknown type", "since after until"],
)
def test_bad_replay_arguments_are_a_clear_error(stack, kwargs, message):
    arguments = {"since": None, "until": None} | kwargs

    with pytest.raises(PipelineError) as raised:
        replay(config=stack, **arguments)

    assert message in str(raised.value)
    assert queued(stack) == []


# --- manage.py replay ---------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_replay_command_prints_progress_and_a_summary(stack, raw_layer):
    output = run("replay", "--source", "jsonplaceholder", "--since", "2026-11-02")

    lines = output.splitlines()
    assert lines[:4] == ["replayed 1/4", "replayed 2/4", "replayed 3/4", "replayed 4/4"]
    assert lines[-1] == "sent 4 message(s) for 4 raw object(s); skipped 0"
    assert len(queued(stack)) == len(all_feeds())


def test_replay_command_dry_run_lists_keys_and_sends_nothing(stack, raw_layer):
    output = run("replay", "--type", "user", "--dry-run")

    assert output.splitlines() == [
        raw_layer["people-03"],
        raw_layer["user-04"],
        "dry run: would replay 2 raw object(s)",
    ]
    assert queued(stack) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "'yesterday' is not a date"),
        (["--source", "nope"], "invalid choice: 'nope'"),
        (["--since", "2026-11-05", "--until", "2026-11-01"], "is after until"),
        (["--source", "randomuser", "--type", "post"], "has no type 'post'"),
    ],
)
def test_replay_command_rejects_bad_arguments_clearly(stack, args, message):
    with pytest.raises(CommandError, match=message):
        run("replay", *args)
