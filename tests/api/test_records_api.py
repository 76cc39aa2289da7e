"""/api/records: newest first, filters, cursor paging with no Scan, and unbreakable input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.stores import aws

pytestmark = pytest.mark.django_db

EXPECTED = {
    (None, None): 72,
    ("jsonplaceholder", None): 60,
    ("randomuser", None): 12,
    (None, "user"): 17,
    ("jsonplaceholder", "user"): 5,
    ("jsonplaceholder", "post"): 30,
    (None, "comment"): 25,
}


def all_ids(config, source=None, type_=None) -> set[str]:
    items = aws.dynamodb(config).scan(TableName=config.curated_table)["Items"]
    return {
        i["id"]["S"]
        for i in items
        if (source is None or i["source"]["S"] == source)
        and (type_ is None or i["type"]["S"] == type_)
    }


def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


def walk(client, **params) -> list[dict]:
    seen, url = [], "/api/records"
    query = {k: v for k, v in params.items() if v is not None}
    while url:
        reply = client.get(url, query if url == "/api/records" else None)
        assert reply.status_code == 200, reply.content
        body = reply.json()
        seen += body["results"]
        url = body["next"]
        query = None
    return seen


def test_records_are_newest_first_with_drf_style_paging(client, populated):
    body = client.get("/api/records", {"limit": 5}).json()
    assert set(body) == {"next", "previous", "results"}
    assert len(body["results"]) == 5
    assert body["results"][0]["source"] == "randomuser"
    stamps = [r["captured_at"] for r in body["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert body["next"].startswith("http://testserver/api/records?")
    assert body["results"][0]["url"] == f"http://testserver/api/records/{body['results'][0]['id']}"


@pytest.mark.parametrize(("source", "type_"), list(EXPECTED))
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_paging_walk_returns_every_record_exactly_once(client, populated, source, type_, limit):
    seen = walk(client, source=source, type=type_, limit=limit)
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)) == EXPECTED[(source, type_)]
    assert set(ids) == all_ids(populated, source, type_)
    stamps = [r["captured_at"] for r in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_no_request_path_scans_and_reads_grow_with_limit_not_table(client, populated, dynamo_calls):
    for params in ({}, {"source": "jsonplaceholder"}, {"type": "user"}, {"limit": 3}):
        client.get("/api/records", params)
    assert "Scan" not in dynamo_calls.operations
    dynamo_calls.items_read = 0
    client.get("/api/records", {"limit": 3})
    # Two source partitions, each asked for limit + 1.
    assert dynamo_calls.items_read <= 2 * (3 + 1)


def test_empty_table_gives_an_empty_page(client, stack):
    assert client.get("/api/records").json() == {"next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1000000000"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"source": "twitter"}, "source"),
        ({"type": "todo"}, "type"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "x" * 9000}, "cursor"),
    ],
)
def test_bad_parameters_are_400_json_naming_the_parameter(client, stack, params, field):
    reply = client.get("/api/records", params)
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == "bad_request"
    assert field in body["detail"] or body.get("field") == field


def test_tampered_cursor_is_rejected(client, populated):
    cursor = cursor_of(client.get("/api/records", {"limit": 2}).json()["next"])
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    reply = client.get("/api/records", {"limit": 2, "cursor": tampered})
    assert reply.status_code == 400 and reply.json()["field"] == "cursor"


def test_cursor_cannot_be_reused_with_other_filters(client, populated):
    cursor = cursor_of(client.get("/api/records", {"limit": 2}).json()["next"])
    reply = client.get("/api/records", {"limit": 2, "source": "randomuser", "cursor": cursor})
    assert reply.status_code == 400
    assert "other filters" in reply.json()["detail"]


def test_record_detail_is_the_whole_curated_record(client, populated):
    body = client.get("/api/records/jsonplaceholder-post-3").json()
    assert body["id"] == "jsonplaceholder-post-3"
    assert body["version"] == 1
    assert body["first_seen_at"] == body["captured_at"] == "2026-11-20T10:00:00.000000Z"
    assert body["raw_s3_key"].startswith("raw/source=jsonplaceholder/type=post/")
    assert body["data"]["title"] == "post 3"


@pytest.mark.parametrize(
    ("record_id", "status"),
    [
        ("jsonplaceholder-post-999", 404),
        ("x" * 2048, 400),
        ("bad%01id", 400),
        ("bad%0Aid", 400),
        ("with%20space", 400),
    ],
)
def test_unknown_or_malformed_ids_are_json_errors(client, populated, record_id, status):
    reply = client.get(f"/api/records/{record_id}")
    assert reply.status_code == status
    assert reply["Content-Type"] == "application/json"
    assert reply.json()["error"] in {"not_found", "bad_request"}


def test_raw_endpoint_returns_the_item_as_the_source_sent_it(client, populated):
    from tests import factories

    body = client.get("/api/records/jsonplaceholder-post-3/raw").json()
    assert body["item"] == factories.posts(30)[2]
    assert body["raw_index"] == 2


def test_raw_person_has_credentials_and_national_id_masked(personal_client, populated):
    person_id = walk(personal_client, source="randomuser", limit=1)[0]["id"]
    item = personal_client.get(f"/api/records/{person_id}/raw").json()["item"]
    assert item["login"]["password"] == "[redacted]"
    assert item["login"]["sha256"] == "[redacted]"
    assert item["login"]["username"] == "purplebird123"
    assert item["id"] == {"name": "CPR", "value": "[redacted]"}
    assert item["name"]["first"] == "Zoë"


def test_raw_of_an_unknown_record_is_404(client, populated):
    assert client.get("/api/records/randomuser-user-nope/raw").status_code == 404


@pytest.mark.parametrize("url", ["/api/records?limit=", "/api/runs?limit="])
def test_an_empty_limit_is_a_400_not_the_default(client, stack, url):
    assert client.get(url).status_code == 400
