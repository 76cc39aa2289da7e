"""Server-rendered pages: real numbers, filters and paging, record detail, friendly failures."""

from __future__ import annotations

import re

import pytest

from pipeline.stores import aws

pytestmark = pytest.mark.django_db


def text(reply) -> str:
    return reply.content.decode()


def test_dashboard_shows_the_real_numbers_and_charts_say_them_in_text(
    client, populated, dynamo_calls
):
    reply = client.get("/")
    assert reply.status_code == 200
    html = text(reply)
    assert re.search(r'data-testid="total-records">72<', html)
    assert "jsonplaceholder: 60" in html and "randomuser: 12" in html  # bar chart <desc>/<title>
    assert "jsonplaceholder / comment: 25" in html
    assert "<svg" in html and 'role="img"' in html
    assert "Records ingested per day, last 7 days" in html
    assert 'data-testid="dlq-depth">0<' in html
    assert "Scan" not in dynamo_calls.operations
    assert sum(dynamo_calls.operations.values()) <= 5


def test_dashboard_badges_say_never_before_any_ingest(client, populated):
    html = text(client.get("/"))
    assert 'data-testid="status-randomuser">never<' in html


def test_records_page_lists_newest_first_and_filters_from_all_known_values(client, populated):
    html = text(client.get("/records/"))
    assert html.count('<option value="') == 2 + 3 + 2  # sources, types, and the two "all" options
    assert 'value="comment"' in html and 'value="randomuser"' in html
    rows = re.findall(r'href="/records/([^/"]+)/"', html)
    assert len(rows) == 25
    assert rows[0].startswith("randomuser-user-")
    filtered = text(client.get("/records/", {"source": "jsonplaceholder", "type": "user"}))
    ids = re.findall(r'href="/records/([^/"]+)/"', filtered)
    assert sorted(ids) == [f"jsonplaceholder-user-{n}" for n in range(1, 6)]
    assert '<option value="user" selected>' in filtered


def test_next_and_previous_walk_the_pages(client, populated):
    first = text(client.get("/records/"))
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = text(client.get(next_link))
    first_ids = set(re.findall(r'href="/records/([^/"]+)/"', first))
    second_ids = set(re.findall(r'href="/records/([^/"]+)/"', second))
    assert len(second_ids) == 25 and not first_ids & second_ids
    prev_link = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    back = text(client.get(prev_link))
    assert set(re.findall(r'href="/records/([^/"]+)/"', back)) == first_ids
    assert 'rel="prev"' not in back


def test_empty_table_shows_an_empty_state(client, stack):
    assert 'data-testid="empty-state"' in text(client.get("/records/"))


def test_lookup_by_id_opens_the_record_or_says_it_is_missing(client, populated):
    found = client.get("/records/", {"id": "jsonplaceholder-post-2"})
    assert found.status_code == 302 and found["Location"] == "/records/jsonplaceholder-post-2/"
    missing = client.get("/records/", {"id": "jsonplaceholder-post-999"})
    assert missing.status_code == 404 and "No record with id" in text(missing)


def test_bad_filter_value_is_a_friendly_400(client, populated):
    reply = client.get("/records/", {"source": "twitter"})
    assert reply.status_code == 400 and "unknown source" in text(reply)


def test_record_page_shows_fields_and_pretty_raw_json(client, populated):
    html = text(client.get("/records/jsonplaceholder-post-3/"))
    assert 'data-testid="record-id">jsonplaceholder-post-3<' in html
    assert "&quot;title&quot;: &quot;post 3&quot;" in html  # indented JSON, escaped
    assert 'href="/api/records/jsonplaceholder-post-3"' in html
    assert "Copy JSON" in html


def test_unknown_record_page_is_the_sites_404(client, populated):
    reply = client.get("/records/nope-nope-1/")
    assert reply.status_code == 404 and "Not found" in text(reply)


def test_aws_failure_shows_a_friendly_banner_never_a_traceback(client, config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        for url in ("/", "/records/", "/records/jsonplaceholder-post-1/"):
            reply = client.get(url)
            assert reply.status_code == 503, url
            assert "cannot be reached right now" in text(reply)
            assert "Traceback" not in text(reply)
    finally:
        aws.reset_clients()


def test_static_files_are_served_by_whitenoise(client):
    reply = client.get("/static/css/site.css")
    assert reply.status_code == 200
    assert b"--accent" in b"".join(reply.streaming_content)


def test_unknown_page_uses_the_site_404(client, settings):
    settings.DEBUG = False
    reply = client.get("/no-such-page/")
    assert reply.status_code == 404 and "Back to the dashboard" in text(reply)


def test_records_and_record_pages_make_a_bounded_number_of_dynamodb_calls(
    client, populated, dynamo_calls
):
    client.get("/records/")
    assert dict(dynamo_calls.operations) == {"Query": 2}
    dynamo_calls.operations.clear()
    client.get("/records/", {"source": "randomuser"})
    assert dict(dynamo_calls.operations) == {"Query": 1}
    dynamo_calls.operations.clear()
    client.get("/records/jsonplaceholder-post-3/")
    assert dict(dynamo_calls.operations) == {"GetItem": 1}
