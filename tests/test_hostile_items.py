"""A bad item never costs its neighbours: DynamoDB's limits are checked before writing,
a write DynamoDB still refuses is retried without that item, and arbitrary JSON thrown
into a raw object of good posts leaves every good post curated (a hypothesis property)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.core.errors import InvalidItem, InvalidMessage
from pipeline.core.limits import item_check, number_problem
from pipeline.core.payloads import content_hash, fingerprint
from pipeline.deploy.provision import provision
from pipeline.services import process, upsert
from pipeline.services.process import process_message
from pipeline.services.recount import recount
from pipeline.services.upsert import Refusal, plan_upserts, records_upsert
from pipeline.sources.jsonplaceholder import MAX_ID
from pipeline.stores import aws, raw_store
from pipeline.stores.curated import CuratedRecord, record_get
from pipeline.stores.ledger import run_items
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db

HUGE = 10**40
STAMP = "2026-11-20T00:00:01.000000Z"


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _posts_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    items = factories.posts(4)
    items[index] |= changes
    return items


def _people_with_age(index: int, age: Any) -> dict[str, Any]:
    payload = factories.people(4)
    payload["results"][index]["dob"]["age"] = age
    return payload


def _ids(source: str, type_: str, payload: Any) -> list[str]:
    items = payload["results"] if isinstance(payload, dict) else payload
    key = (lambda i: i["login"]["uuid"]) if source == "randomuser" else (lambda i: i["id"])
    return [f"{source}-{type_}-{key(item)}" for item in items]


HOSTILE = {
    "a 450 KB body": (
        "jsonplaceholder",
        "post",
        _posts_with(2, body="x" * 450_000),
        2,
        "item is 450,",
    ),
    "an id of 10**40": ("jsonplaceholder", "post", _posts_with(1, id=HUGE), 1, "1.000e+40"),
    "a userId of 10**40": (
        "jsonplaceholder",
        "post",
        _posts_with(0, userId=HUGE),
        0,
        "field 'userId' is 1.000e+40, outside 1..9007199254740991",
    ),
    "an id of 0": ("jsonplaceholder", "post", _posts_with(3, id=0), 3, "'id' is 0, outside 1.."),
    "a dob.age of 10**40": (
        "randomuser",
        "user",
        _people_with_age(1, HUGE),
        1,
        "field 'dob.age' is 1.000e+40, outside 0..150",
    ),
    "a dob.age of -1": ("randomuser", "user", _people_with_age(2, -1), 2, "outside 0..150"),
    "an uncurated field nested 930 levels deep": (
        "jsonplaceholder",
        "post",
        _posts_with(1, extra=_nested(930)),
        1,
        "nests 931 levels deep; at most 64",
    ),
    "a lone surrogate in a title": (
        "jsonplaceholder",
        "post",
        _posts_with(2, title="\ud800"),
        2,
        "not valid Unicode",
    ),
}


@pytest.mark.parametrize(
    ("source", "type_", "payload", "bad", "reason"), HOSTILE.values(), ids=HOSTILE.keys()
)
def test_a_hostile_item_is_rejected_with_its_reason_and_its_neighbours_land(
    stack, source, type_, payload, bad, reason
):
    message = put_raw(stack, source, type_, payload)

    result = process_message(message, config=stack)

    assert [r.index for r in result.rejections] == [bad]
    assert reason in result.rejections[0].reason
    assert result.counts.inserted == 3
    ids = _ids(source, type_, payload)
    for index, record_id in enumerate(ids):
        stored = record_get(record_id, config=stack)
        assert (stored is None) == (index == bad), record_id
    # The ledger's processed entry counts the rejection; the counters count only the three.
    [entry] = [i for i in run_items(message.runId, config=stack) if i.get("kind") == "processed"]
    assert (entry["inserted"], entry["rejected"], entry["items"]) == (3, 1, 4)
    assert recount(config=stack, fix=False).drift == []


def test_an_item_dynamodb_refuses_at_write_time_is_retried_without_it(stack, monkeypatch):
    """With the pre-write check off, DynamoDB's own ValidationException names no item:
    the chunk is halved until the oversized post is alone, and only it is rejected."""
    monkeypatch.setattr(process, "item_check", lambda attributes: 0)
    items = factories.posts(6)
    items[4]["body"] = "x" * 450_000

    result = process_message(put_raw(stack, "jsonplaceholder", "post", items), config=stack)

    assert result.counts.inserted == 5
    assert [r.index for r in result.rejections] == [4]
    assert result.rejections[0].reason.startswith("DynamoDB refused the item: Item size")
    assert record_get("jsonplaceholder-post-5", config=stack) is None
    assert all(record_get(f"jsonplaceholder-post-{i}", config=stack) for i in (1, 2, 3, 4, 6))
    assert recount(config=stack, fix=False).drift == []


def _record(record_id: str, data: dict[str, Any]) -> CuratedRecord:
    attributes = {"source": "jsonplaceholder", "type": "post", "data": data}
    attributes |= {"source_type": "jsonplaceholder#post", "raw_index": 0}
    return CuratedRecord(record_id, f"fp-{record_id}", "2026-11-20T00:00:00.000000Z", attributes)


def test_a_record_a_cancelled_transaction_names_is_dropped_and_the_rest_rewritten(
    stack, monkeypatch
):
    """DynamoDB cancels a transaction naming the item it will not store ("ValidationError"
    at that item's position, as AWS answers): the others are re-planned and written."""
    real, calls = upsert.transaction_write, []

    def dynamodb(items, *, config):
        calls.append(len(items))
        ids = [op["Put"]["Item"].get("id", {}).get("S") for op in items if "Put" in op]
        if "bad" in ids:
            reasons = [{"Code": "None"} for _ in items]
            reasons[ids.index("bad")] = {"Code": "ValidationError", "Message": "Item too odd"}
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}
            raise ClientError(error | {"CancellationReasons": reasons}, "TransactWriteItems")
        real(items, config=config)

    monkeypatch.setattr(upsert, "transaction_write", dynamodb)
    records = [_record(f"r{i}", {"n": i}) for i in range(2)] + [_record("bad", {"n": 9})]
    records.append(_record("r3", {"n": 3}))

    counts = records_upsert(records, config=stack, processed_at="2026-11-20T00:00:01.000000Z")

    assert (counts.inserted, counts.refused) == (
        3,
        [Refusal("bad", "DynamoDB refused the item: Item too odd")],
    )
    assert len(calls) == 2  # the cancelled transaction and the one without the bad record
    assert record_get("bad", config=stack) is None
    assert all(record_get(i, config=stack) for i in ("r0", "r1", "r3"))
    assert recount(config=stack, fix=False).drift == []


def test_a_record_the_serializer_cannot_encode_is_refused_by_the_plan_without_io():
    records = [_record("ok", {"n": 1}), _record("float", {"n": 1.5})]

    plan = plan_upserts(records, {}, "table")

    assert plan.counts.inserted == 1 and plan.write_ids == ["ok"]
    assert [(r.record_id, r.reason) for r in plan.counts.refused] == [
        ("float", "DynamoDB cannot store the item (TypeError)")
    ]


def test_a_validation_error_no_item_explains_fails_the_write_instead_of_rejecting_all(
    stack, monkeypatch
):
    def refuse(items, *, config):
        error = {"Error": {"Code": "ValidationException", "Message": "something systemic"}}
        raise ClientError(error, "TransactWriteItems")

    monkeypatch.setattr(upsert, "transaction_write", refuse)
    records = [_record(f"r{i}", {"n": i}) for i in range(4)]

    with pytest.raises(ClientError, match="something systemic"):
        records_upsert(records, config=stack, processed_at="2026-11-20T00:00:01.000000Z")


def test_a_single_record_refused_for_no_named_reason_fails_the_write_not_the_record(
    stack, monkeypatch
):
    def refuse(items, *, config):
        error = {"Error": {"Code": "ValidationException", "Message": "something systemic"}}
        raise ClientError(error, "TransactWriteItems")

    monkeypatch.setattr(upsert, "transaction_write", refuse)

    with pytest.raises(ClientError, match="something systemic"):
        records_upsert([_record("r0", {"n": 0})], config=stack, processed_at=STAMP)


def test_a_raw_object_s3_will_not_show_is_an_invalid_message_with_its_reason(stack, monkeypatch):
    message = put_raw(stack, "jsonplaceholder", "post", factories.posts(2))

    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    monkeypatch.setattr(process.raw_store, "raw_object_read", denied)
    with pytest.raises(InvalidMessage, match="does not exist or may not be read"):
        process_message(message, config=stack)


# --- the limits module ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"body": "x" * 410_000}, r"item is 410,\d+ bytes"),
        ({"": 1}, "empty attribute name"),
        ({"a": {"": None}}, r"data\.a\.: empty attribute name"),
        ({"n": HUGE}, "more than 38 significant digits"),
        ({"n": Decimal("1E+126")}, "outside DynamoDB's number range"),
        ({"n": Decimal("-1E-131")}, "outside DynamoDB's number range"),
        ({"n": Decimal("NaN")}, "not a finite number"),
        ({"n": float("inf")}, "is a float"),
        ({"deep": _nested(32)}, "nested deeper than DynamoDB's 32 levels"),
        ({"text": "a\udfffb"}, "not valid Unicode"),
        ({"bad": object()}, "cannot be stored"),
    ],
    ids=[
        "too big",
        "empty name",
        "empty nested name",
        "too many digits",
        "too large",
        "too small",
        "NaN",
        "float",
        "too deep",
        "lone surrogate",
        "odd type",
    ],
)
def test_what_dynamodb_would_refuse_is_an_invalid_item_with_a_reason(data, reason):
    with pytest.raises(InvalidItem, match=reason):
        item_check({"id": "x", "data": data})


@pytest.mark.parametrize(
    "data",
    [
        {"body": "x" * 400_000},
        {"n": 10**38 - 1},
        {"n": Decimal("9.9999999999999999999999999999999999999E+125")},
        {"n": Decimal("-1E-130")},
        {"n": 0, "flag": True, "none": None, "empty": "", "list": []},
        {"deep": _nested(31)},
        {"name": "Zoë Østergård 🐼"},
    ],
    ids=["near the limit", "38 digits", "largest", "smallest", "scalars", "31 deep", "unicode"],
)
def test_what_dynamodb_accepts_passes_the_check(data):
    assert item_check({"id": "x", "data": data}) > 0


def test_item_size_counts_utf8_bytes_of_names_and_values():
    # "id" + "x", "data" + map (3) + element (1) + "é" name (2) + "€" value (3)
    assert item_check({"id": "x", "data": {"é": "€"}}) == 3 + 4 + 3 + 1 + 2 + 3


def test_number_problem_is_none_for_ordinary_numbers():
    assert [number_problem(n) for n in (0, -7, 2**53, Decimal("3.14"))] == [None] * 4


# --- the property ------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**60), max_value=10**60),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(lambda m, e: Decimal(f"{m}E{e}"), st.integers(-9, 9), st.integers(-200, 200)),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
# Any JSON value: lists and objects (empty keys included) of scalars, deep ones too.
_JSON = st.one_of(
    st.recursive(
        _SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.integers(30, 40).map(_nested),
)
_ODD_TEXT = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=2),  # surrogates
    st.sampled_from([380_000, 410_000]).map(lambda n: "x" * n),
)
_HUGE = st.one_of(st.integers(10**38, 10**45), st.integers(-(10**45), -(10**38)))
# A post with one field made hostile (or dropped, or none); a hostile id never collides
# with a good one (see ``_distinct``).
_POST_FIELDS = ("id", "userId", "title", "body")
_HOSTILE_VALUE = st.one_of(st.integers(-(10**45), 10**45), _HUGE, _ODD_TEXT, _ODD_TEXT, _JSON)


def _spoiled(post: dict[str, Any], field: str | None, value: Any, drop: bool) -> dict[str, Any]:
    if field is None:
        return post
    return {k: v for k, v in post.items() if k != field} if drop else post | {field: value}


_HOSTILE_POST = st.builds(
    _spoiled,
    st.fixed_dictionaries(
        {f: st.integers(1, 10**6) for f in ("id", "userId")} | {"title": _TEXT, "body": _TEXT},
        optional={"extra": _JSON},
    ),
    st.sampled_from((None, *_POST_FIELDS)),
    _HOSTILE_VALUE,
    st.booleans(),
)
# A valid post with arbitrary JSON in fields that are not curated: it must land.
_GOOD_WITH_JUNK = st.dictionaries(
    _TEXT.filter(lambda k: k not in {"id", "userId", "title", "body"}), _JSON, max_size=3
)
_GOOD_POSTS = 4


def _dumps(items: list[Any]) -> bytes:
    """JSON with exact decimals written as JSON numbers (json.dumps cannot)."""
    text = json.dumps(items, default=lambda d: f"@@{d}@@")
    return re.sub(r'"@@([^"]*)@@"', r"\1", text).encode()


def _distinct(item: Any, index: int) -> Any:
    """Keep a hostile post's valid id away from the good ids."""
    if isinstance(item, dict) and type(item.get("id")) is int and 1 <= item["id"] <= MAX_ID:
        item = item | {"id": 10**7 + index}
    return item


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hostile=st.lists(st.one_of(_HOSTILE_POST, _JSON), max_size=6),
    junk=st.lists(_GOOD_WITH_JUNK, max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_arbitrary_items_among_good_posts_never_cost_a_good_post(config, hostile, junk, order):
    good = factories.posts(_GOOD_POSTS)
    for k, extra in enumerate(junk):
        good.append(factories.posts(1)[0] | extra | {"id": 1000 + k})
    # Round-trip first, so each item is what processing reads (Decimal("5") reads back as 5).
    read = json.loads(_dumps(good + hostile), parse_float=Decimal)
    pairs = [(item, True) for item in read[: len(good)]]
    pairs += [(_distinct(item, i), False) for i, item in enumerate(read[len(good) :])]
    order.shuffle(pairs)
    items = [item for item, _ in pairs]

    aws.reset_clients()
    with mock_aws():
        provision(config=config)
        message = put_raw(config, "jsonplaceholder", "post", _dumps(items))
        result = process_message(message, config=config)

        rejected = {r.index: r.reason for r in result.rejections}
        assert all(rejected.values()), "every rejection has a reason"
        for index, (item, must_land) in enumerate(pairs):
            if index in rejected:
                assert not must_land, (index, rejected[index])
                continue
            stored = record_get(f"jsonplaceholder-post-{item['id']}", config=config)
            assert stored is not None and stored["raw_index"] == index
            assert stored["fingerprint"] == fingerprint(item)
        counts = result.counts
        landed = counts.inserted + counts.updated + counts.unchanged + counts.stale
        assert result.items == len(items) == landed + result.rejected
        assert recount(config=config, fix=False).drift == []
    aws.reset_clients()


def test_the_property_writes_exact_decimals_as_json_numbers():
    assert _dumps([{"a": Decimal("-0.5"), "b": Decimal("1E+126")}]) == b'[{"a": -0.5, "b": 1E+126}]'


def test_a_raw_object_nested_past_what_a_parser_can_read_fails_its_message_with_a_reason(stack):
    body = b"[" * 100_000 + b"]" * 100_000
    message = put_raw(stack, "jsonplaceholder", "post", [], captured_at="2026-11-20T10:00:00Z")
    key = message.s3Key.replace(message.hash[:16], content_hash(body)[:16])
    raw_store.raw_object_put(key=key, body=body, metadata={}, config=stack)
    deep = replace(message, s3Key=key, hash=content_hash(body))

    with pytest.raises(InvalidMessage, match="is nested too deeply"):
        process_message(deep, config=stack)


def test_the_pages_of_a_deeply_nested_items_neighbours_still_answer(stack, client, settings):
    """The web re-reads the whole raw object a hundred frames deeper than the worker did."""
    payload = _posts_with(1, extra=_nested(930))
    process_message(put_raw(stack, "jsonplaceholder", "post", payload), config=stack)
    neighbours = [i for n, i in enumerate(_ids("jsonplaceholder", "post", payload)) if n != 1]
    for record_id in neighbours:
        assert client.get(f"/records/{record_id}/").status_code == 200, record_id
        raw = client.get(f"/api/records/{record_id}/raw", {"format": "json"})
        assert raw.status_code == 200, record_id
        assert raw.json()["id"] == record_id
