"""/api/seed/: the seed project's API contract, served from our reads, for its own frontend."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest

from pipeline.selectors import analytics
from pipeline.selectors.access import personal_fields
from pipeline.selectors.seed import LAST_KEY_MAX_CHARS, cursor_from, seed_limit
from pipeline.stores import aws

pytestmark = pytest.mark.django_db

LIST = "/api/seed/records"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
JS_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CORE = {"id", "source", "type", "title", "captured_at", "processed_at", "fingerprint", "raw_s3_key"}
PERSON = {
    "gender": "female",
    "country": "Denmark",
    "state": "Midtjylland",
    "nationality": "DK",
    "age": 33,
    "registered_at": "2012-03-05T11:02:45.123Z",
    "national_id_type": "CPR",
    "timezone_offset": "+1:00",
    "timezone_description": "Brussels, Copenhagen, Madrid, Paris",
}
PERSON_PERSONAL = {
    "name": "Zoë Østergård",
    "full_name": "Zoë Østergård",
    "name_title": "Ms",
    "first_name": "Zoë",
    "last_name": "Østergård",
    "email": "zoe.ostergard@example.com",
    "username": "purplebird123",
    "date_of_birth": "1993-07-20T09:44:18.674Z",
    "phone": "31 42 23 26",
    "cell": "70 48 17 64",
    "street": "4242 Skovvej",
    "city": "Aarhus N",
    "postcode": "8200",
    "latitude": "56.1629",
    "longitude": "10.2039",
    "picture_large": "https://randomuser.me/api/portraits/women/60.jpg",
    "picture_medium": "https://randomuser.me/api/portraits/med/women/60.jpg",
    "picture_thumbnail": "https://randomuser.me/api/portraits/thumb/women/60.jpg",
}
JP_USER = {
    "user_id": 1,
    "company_name": "Romaguera-Crona",
    "company_catch_phrase": "Multi-layered client-server neural-net",
}
JP_USER_PERSONAL = {
    "name": "User 1",
    "username": "Bret",
    "email": "leanne@example.org",
    "phone": "1-770-736-8031 x56442",
    "website": "hildegard.org",
    "street": "Kulas Light",
    "suite": "Apt. 556",
    "city": "Gwenborough",
    "zipcode": "92998-3874",
    "latitude": "-37.3159",
    "longitude": "81.1496",
}
# kind: (record id, captured_at, title shown to anyone, its fields, fields for the scope only)
CASES = {
    "post": (
        "jsonplaceholder-post-1",
        "2026-11-20T10:00:00.000Z",
        "post 1",
        {"post_id": 1, "user_id": 1, "body": "b", "userId": "1"},
        {},
    ),
    "comment": (
        "jsonplaceholder-comment-1",
        "2026-11-24T11:00:00.000Z",
        "c1",
        {"comment_id": 1, "post_id": 1, "name": "c1", "body": "x", "postId": "1"},
        {"email": "a@b.c"},
    ),
    "jsonplaceholder user": (
        "jsonplaceholder-user-1",
        "2026-11-26T12:00:00.000Z",
        "jsonplaceholder user 1",
        JP_USER,
        JP_USER_PERSONAL,
    ),
    "person": (None, "2026-11-27T13:00:00.000Z", None, PERSON, PERSON_PERSONAL),
}


def all_ids(config, source=None) -> set[str]:
    items = aws.dynamodb(config).scan(TableName=config.curated_table)["Items"]
    return {i["id"]["S"] for i in items if source is None or i["source"]["S"] == source}


def walk(client, **params) -> tuple[list[dict], list[str]]:
    """Every page from the first to the one whose lastKey is null: records and keys."""
    seen, keys, query = [], [], {k: v for k, v in params.items() if v is not None}
    while True:
        reply = client.get(LIST, query)
        assert reply.status_code == 200, reply.content
        body = reply.json()
        assert body["count"] == len(body["records"])
        seen += body["records"]
        if body["lastKey"] is None:
            return seen, keys
        keys.append(body["lastKey"])
        query = query | {"lastKey": body["lastKey"]}


def a_person_id(client) -> str:
    return client.get(LIST, {"source": "randomuser", "limit": 1}).json()["records"][0]["id"]


def test_list_has_the_seeds_shape_newest_first(client, populated):
    body = client.get(LIST).json()
    assert set(body) == {"records", "count", "lastKey"}
    assert body["count"] == len(body["records"]) == 20
    assert base64.b64decode(body["lastKey"], validate=True)
    stamps = [r["captured_at"] for r in body["records"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(JS_TIME.fullmatch(r["captured_at"]) for r in body["records"])
    assert {r["source"] for r in body["records"]} == {"randomuser", "jsonplaceholder"}


@pytest.mark.parametrize("personal", [True, False], ids=["personal-data key", "anonymous"])
@pytest.mark.parametrize("kind", list(CASES))
def test_each_record_is_flat_with_the_seeds_aliases(
    client, personal_client, populated, kind, personal
):
    reader = personal_client if personal else client
    record_id, captured_at, title, fields, personal_only = CASES[kind]
    record_id = record_id or a_person_id(client)
    ours = personal_client.get(f"/api/records/{record_id}").json()
    flat = reader.get(f"{LIST}/{record_id}").json()

    expected = fields | (personal_only if personal else {})
    assert set(flat) == CORE | set(expected)
    assert {k: flat[k] for k in expected} == expected
    assert flat["id"] == record_id
    assert (flat["source"], flat["type"]) == (ours["source"], ours["type"])
    assert (flat["fingerprint"], flat["raw_s3_key"]) == (ours["fingerprint"], ours["raw_s3_key"])
    assert flat["captured_at"] == captured_at
    assert JS_TIME.fullmatch(flat["processed_at"])
    assert flat["processed_at"] == ours["processed_at"][:23] + "Z"
    if kind == "person":
        title = "Zoë Østergård" if personal else f"randomuser person {record_id[16:24]}"
    elif kind == "jsonplaceholder user" and personal:
        title = "User 1"
    assert flat["title"] == title
    listed = {r["id"]: r for r in walk(reader, source=ours["source"], limit=100)[0]}
    assert listed[record_id] == flat


@pytest.mark.parametrize("kind", ["comment", "jsonplaceholder user", "person"])
def test_an_anonymous_reader_gets_no_personal_field_nor_alias_of_one(client, populated, kind):
    record_id, *_, personal_only = CASES[kind]
    record_id = record_id or a_person_id(client)
    flat = client.get(f"{LIST}/{record_id}").json()
    # A comment's name is its subject line; a person's (and its alias) is personal.
    withheld = personal_fields(flat["source"], flat["type"]) | {"email"}
    withheld |= set() if kind == "comment" else {"name"}
    assert not set(flat) & withheld
    shown = " ".join(str(v) for v in flat.values())
    # Text that could not turn up in a random id or digest by chance.
    telling = [str(v) for v in personal_only.values() if re.search(r"[^0-9a-f]", str(v))]
    assert not [value for value in telling if len(value) > 4 and value in shown]


@pytest.mark.parametrize("source", [None, "jsonplaceholder", "randomuser"])
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_paging_with_last_key_walks_every_record_exactly_once(client, populated, source, limit):
    seen, keys = walk(client, source=source, limit=limit)
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids))
    assert set(ids) == all_ids(populated, source)
    assert all(base64.b64decode(key, validate=True) for key in keys)
    stamps = [r["captured_at"] for r in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_a_space_in_a_last_key_reads_as_the_plus_an_unescaped_url_turns_into_it():
    assert base64.b64encode(b"~~~").decode() == "fn5+"
    assert cursor_from("fn5 ") == cursor_from("fn5+") == "~~~"


@pytest.mark.parametrize(
    ("limit", "count"),
    [(None, 20), ("abc", 20), ("0", 20), ("-5", 20), ("250", 72), ("7.5", 7)],
)
def test_limit_is_as_lenient_as_the_seeds(client, populated, limit, count):
    reply = client.get(LIST, {} if limit is None else {"limit": limit})
    assert reply.status_code == 200
    assert reply.json()["count"] == count


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        (None, 20),
        ("", 20),
        ("abc", 20),
        ("0", 20),
        ("-5", 20),
        ("-0", 20),
        ("250", 100),
        ("100", 100),
        ("7.5", 7),
        ("12abc", 12),
        (" +5", 5),
        ("0x10", 20),
        ("\u0663", 20),  # ARABIC-INDIC DIGIT THREE: not a digit to parseInt
        ("9" * 5000, 100),
        ("0" * 5000 + "5", 5),
    ],
)
def test_limit_reads_as_parse_int_did_and_is_capped_at_100(raw, limit):
    assert seed_limit(raw) == limit


@pytest.mark.parametrize("source", ["nope", "JSONPLACEHOLDER", "x" * 5000, "randomuser\x00"])
def test_an_unknown_source_is_an_empty_page_not_an_error(client, stack, source):
    reply = client.get(LIST, {"source": source})
    assert reply.status_code == 200
    assert reply.json() == {"records": [], "count": 0, "lastKey": None}


def test_an_empty_source_or_last_key_means_all_from_the_start(client, populated):
    assert client.get(LIST, {"source": "", "lastKey": ""}).json() == client.get(LIST).json()


def _forged(populated, client) -> list[str]:
    key = client.get(LIST, {"limit": 3}).json()["lastKey"]
    cursor = base64.b64decode(key).decode()
    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    return [
        "garbage!!",
        "aGVsbG8=",  # base64 of "hello"
        "//79",  # base64, but not UTF-8 inside
        cursor,  # our cursor itself, not wrapped
        base64.b64encode(tampered.encode()).decode(),
        key[:-4],
        "A" * (LAST_KEY_MAX_CHARS + 4),
        " " * (LAST_KEY_MAX_CHARS + 1),  # blank, but longer than the schema allows
        "\x00",
        "bGFzdEtleQ==\u00e9",  # not ASCII
    ]


def test_a_forged_or_garbled_last_key_is_a_400_json_error(client, populated):
    for last_key in _forged(populated, client):
        reply = client.get(LIST, {"lastKey": last_key})
        assert reply.status_code == 400, last_key
        body = reply.json()
        assert (body["error"], body["field"]) == ("bad_request", "lastKey")
        assert "lastKey" in body["detail"]


def test_a_last_key_of_one_source_is_refused_for_another(client, populated):
    key = client.get(LIST, {"source": "jsonplaceholder", "limit": 2}).json()["lastKey"]
    reply = client.get(LIST, {"source": "randomuser", "lastKey": key})
    assert reply.status_code == 400
    assert reply.json()["field"] == "lastKey"


@pytest.mark.parametrize(
    ("record_id", "echoed"),
    [
        ("jsonplaceholder-post-99999", "jsonplaceholder-post-99999"),
        ("bad id", "bad id"),
        ("\x01", "\x01"),
        ("a" * 300, "a" * 256),
    ],
)
def test_an_unknown_or_refused_id_is_the_seeds_404(client, stack, record_id, echoed):
    reply = client.get(f"{LIST}/{record_id}")
    assert reply.status_code == 404
    body = reply.json()
    assert (body["error"], body["id"]) == ("Record not found", echoed)


@pytest.fixture
def at_noon_after(monkeypatch) -> datetime:
    """Both analytics endpoints read the counters as of NOW (the day after the captures)."""
    monkeypatch.setattr(analytics, "utc_now", lambda: NOW)
    return NOW


def test_analytics_has_the_seeds_shape_and_our_numbers(client, populated, at_noon_after):
    seed = client.get("/api/seed/analytics").json()
    ours = client.get("/api/analytics").json()
    assert set(seed) == {"summary", "by_source", "by_date", "timeline"}
    assert seed["summary"] == {
        "total_records": 72,
        "total_sources": 2,
        "oldest_record": "2026-11-20T10:00:00.000Z",
        "newest_record": "2026-11-27T13:00:00.000Z",
    }
    assert seed["by_source"] == {"jsonplaceholder": 60, "randomuser": 12}
    assert seed["by_source"] == {r["source"]: r["count"] for r in ours["by_source"]}
    assert seed["summary"]["total_records"] == ours["summary"]["total_records"]
    days = [f"2026-11-{n}" for n in range(22, 29)]
    assert seed["timeline"] == [
        {"date": d, "count": c} for d, c in zip(days, [0, 0, 25, 0, 5, 12, 0], strict=True)
    ]
    assert list(seed["by_date"]) == days
    our_days = {d["date"]: d["records"] for d in ours["by_date"]}
    assert seed["by_date"] == {d: our_days[d] for d in days}
    assert [d["count"] for d in seed["timeline"]] == [d["records"] for d in ours["timeline"]]


def test_analytics_of_an_empty_table_counts_no_source(client, stack):
    seed = client.get("/api/seed/analytics").json()
    assert seed["summary"] == {
        "total_records": 0,
        "total_sources": 0,
        "oldest_record": None,
        "newest_record": None,
    }
    assert seed["by_source"] == {}
    assert len(seed["timeline"]) == len(seed["by_date"]) == 7


@pytest.mark.parametrize("url", [LIST, f"{LIST}/jsonplaceholder-post-1", "/api/seed/analytics"])
def test_with_keys_required_a_request_needs_one(client, populated, settings, make_api_key, url):
    settings.TWL_API_ACCESS = "key"
    refused = client.get(url)
    assert refused.status_code == 401
    assert set(refused.json()) >= {"error", "detail"}
    assert client.get(url, HTTP_X_API_KEY=make_api_key()).status_code == 200
