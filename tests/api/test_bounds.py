"""Pages and responses stay small whatever a source sent (issue 10: a hostile record)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.services.process import process_message
from records_api import api, limits
from tests.factories import posts, put_raw

pytestmark = pytest.mark.django_db

HOSTILE = "jsonplaceholder-post-1"
# The 61 KB object nests 800 deep: processing now rejects an item that deep
# (tests/test_hostile_items.py). The worst that can be stored nests 64 levels; spread
# wide, it still pretty-prints to many MB.
DEPTH, COPIES = 60, 1000
PAGE_GOAL = 2 * limits.MB


def nested_lists(depth: int, copies: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth - 1):
        nested = [nested]
    return [nested] * copies


@pytest.fixture
def hostile(stack):
    """Post 1 carries 1,000 lists nested 60 deep; posts 2 and 3 are ordinary."""
    payload = posts(3)
    payload[0]["x"] = nested_lists(DEPTH, COPIES)
    process_message(put_raw(stack, "jsonplaceholder", "post", payload), config=stack)
    return payload[0]


def body_of(reply) -> bytes:
    return b"".join(reply.streaming_content) if reply.streaming else reply.content


def test_the_hostile_item_would_pretty_print_to_many_megabytes(hostile):
    # The premise of every test below: printed whole, the page could not be small.
    assert len(json.dumps(hostile, indent=2)) > 3 * PAGE_GOAL


def test_record_page_of_a_hostile_item_is_small_and_links_to_the_whole_item(client, hostile):
    reply = client.get(f"/records/{HOSTILE}/")
    html = body_of(reply).decode()
    assert reply.status_code == 200
    assert len(body_of(reply)) < limits.RAW_PREVIEW_BYTES + 64 * limits.KB
    assert 'data-testid="raw-truncated"' in html
    assert f'href="/api/records/{HOSTILE}/raw?format=json"' in html
    assert "Copy JSON" not in html  # half an item is not something to copy


def test_an_ordinary_record_page_still_shows_its_whole_item_with_a_copy_button(client, hostile):
    html = client.get("/records/jsonplaceholder-post-2/").content.decode()
    assert "&quot;title&quot;: &quot;post 2&quot;" in html
    assert 'data-testid="raw-truncated"' not in html and "Copy JSON" in html


def test_the_plain_json_of_the_raw_item_is_the_whole_item(client, hostile):
    reply = client.get(f"/api/records/{HOSTILE}/raw", {"format": "json"})
    assert reply.status_code == 200
    assert reply.json()["item"] == hostile


def test_the_browsable_api_of_a_hostile_item_is_a_bounded_page(client, hostile):
    for path in (f"/api/records/{HOSTILE}/raw", f"/api/records/{HOSTILE}"):
        reply = client.get(path, HTTP_ACCEPT="text/html")
        assert reply.status_code == 200, path
        assert len(reply.content) < limits.BROWSABLE_CONTENT_BYTES + 64 * limits.KB, path
    html = client.get(f"/api/records/{HOSTILE}/raw", HTTP_ACCEPT="text/html").content.decode()
    assert "cut at 256 KB" in html and "?format=json" in html


def test_a_raw_item_over_the_limit_is_refused_with_a_clear_422(client, hostile, monkeypatch):
    monkeypatch.setattr(api, "RAW_ITEM_MAX_BYTES", 10 * limits.KB)
    reply = client.get(f"/api/records/{HOSTILE}/raw")
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "item_too_large"
    assert "more than this endpoint answers" in body["detail"]
    assert f"/api/records/{HOSTILE}" in body["detail"]
    # The record page still shows what it can of the same item.
    assert client.get(f"/records/{HOSTILE}/").status_code == 200


@pytest.fixture
def long_fields(stack):
    """Post 1's title and body are long runs of characters HTML escapes six times over."""
    payload = posts(2)
    payload[0]["title"] = "'" * 40_000
    payload[0]["body"] = "<" * 150_000
    process_message(put_raw(stack, "jsonplaceholder", "post", payload), config=stack)
    return payload[0]


def test_long_curated_fields_are_cut_on_the_record_page_and_in_the_list(client, long_fields):
    reply = client.get(f"/records/{HOSTILE}/")
    html = reply.content.decode()
    assert reply.status_code == 200
    # Unbounded, the body alone would be 600 KB escaped, and the raw item once more.
    assert len(reply.content) < 2 * limits.RAW_PREVIEW_BYTES
    assert html.count("(cut at 4 KB;") == 2  # the title and the body fields
    listing = client.get("/records/")
    assert listing.status_code == 200 and len(listing.content) < 64 * limits.KB


def test_the_admin_record_page_cuts_long_curated_data(client, django_user_model, long_fields):
    user = django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")
    client.force_login(user)
    reply = client.get(f"/admin/pipeline/record/{HOSTILE}/change/")
    html = reply.content.decode()
    assert reply.status_code == 200
    assert 'data-testid="data-truncated"' in html
    assert len(reply.content) < 1 * limits.MB
