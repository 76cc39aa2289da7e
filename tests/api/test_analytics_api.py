"""/api/analytics from exact counters, /api/runs, /api/health, recount, and the API's ecosystem."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.core.constants import AGG_PK, AGG_TOTAL_SK
from pipeline.selectors.analytics import analytics_get
from pipeline.services.ingest import ingest
from pipeline.services.process import process_message
from pipeline.services.recount import recount
from pipeline.sources import SOURCES, all_feeds
from pipeline.stores import aws
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_analytics_counts_every_record_by_source_type_and_date(populated):
    doc = analytics_get(config=populated, now=NOW)
    summary = doc["summary"]
    assert summary["total_records"] == 72
    assert (summary["sources"], summary["types"]) == (2, 4)
    assert (summary["inserts"], summary["updates"]) == (72, 0)
    assert summary["oldest_captured_at"] == "2026-11-20T10:00:00.000000Z"
    assert summary["newest_captured_at"] == "2026-11-27T13:00:00.000000Z"
    assert doc["by_source"] == [
        {"source": "jsonplaceholder", "count": 60},
        {"source": "randomuser", "count": 12},
    ]
    assert {(t["source"], t["type"]): t["count"] for t in doc["by_type"]} == {
        ("jsonplaceholder", "post"): 30,
        ("jsonplaceholder", "comment"): 25,
        ("jsonplaceholder", "user"): 5,
        ("randomuser", "user"): 12,
    }
    by_date = {d["date"]: d["records"] for d in doc["by_date"]}
    assert len(doc["by_date"]) == 28
    assert (by_date["2026-11-20"], by_date["2026-11-24"], by_date["2026-11-21"]) == (30, 25, 0)


def test_timeline_is_the_last_seven_days_ascending_and_zero_filled(populated):
    timeline = analytics_get(config=populated, now=NOW)["timeline"]
    assert [d["date"] for d in timeline] == [f"2026-11-{n}" for n in range(22, 29)]
    assert [d["inserted"] for d in timeline] == [0, 0, 25, 0, 5, 12, 0]
    assert all(d["updated"] == 0 for d in timeline)


def test_an_update_moves_a_record_between_days_and_counts_once(populated):
    changed = factories.posts(30)
    changed[0]["title"] = "edited"
    message = put_raw(
        populated, "jsonplaceholder", "post", changed, captured_at="2026-11-27T08:00:00+00:00"
    )
    for _ in range(3):  # redelivery changes nothing further
        process_message(message, config=populated)
    doc = analytics_get(config=populated, now=NOW)
    assert (doc["summary"]["total_records"], doc["summary"]["updates"]) == (72, 1)
    by_date = {d["date"]: d for d in doc["timeline"]}
    assert by_date["2026-11-27"]["updated"] == 1
    assert {d["date"]: d["records"] for d in doc["by_date"]}["2026-11-20"] == 29
    assert recount(config=populated, fix=False).drift == []


def test_analytics_reads_a_handful_of_items_and_never_scans(client, populated, dynamo_calls):
    reply = client.get("/api/analytics")
    assert reply.status_code == 200
    assert "Scan" not in dynamo_calls.operations
    assert dynamo_calls.items_read <= 10
    assert sum(dynamo_calls.operations.values()) <= 5


def test_last_ingest_per_source_and_seconds_since(stack, sources, client):
    ingest(config=stack)
    doc = client.get("/api/analytics").json()
    last = {row["source"]: row for row in doc["summary"]["last_ingest"]}
    assert set(last) == set(SOURCES)
    assert all(
        row["seconds_since"] is not None and row["seconds_since"] < 60 for row in last.values()
    )


def test_recount_finds_no_drift_then_reports_and_repairs_a_tampered_counter(populated):
    out = StringIO()
    call_command("recount", "--check", stdout=out)
    assert "72 record(s) counted; drift: 0" in out.getvalue()
    aws.dynamodb(populated).update_item(
        TableName=populated.ledger_table,
        Key={"pk": {"S": AGG_PK}, "sk": {"S": AGG_TOTAL_SK}},
        UpdateExpression="ADD #t :n",
        ExpressionAttributeNames={"#t": "total"},
        ExpressionAttributeValues={":n": {"N": "5"}},
    )
    with pytest.raises(CommandError, match="Drift: 1"):
        call_command("recount", "--check", stdout=StringIO())
    out = StringIO()
    call_command("recount", stdout=out)
    assert "TOTAL total: stored 77, table says 72" in out.getvalue()
    assert recount(config=populated, fix=False).drift == []


def test_runs_lists_recent_runs_newest_first(stack, sources, client):
    first, second = ingest(config=stack), ingest(config=stack)
    body = client.get("/api/runs", {"limit": 5}).json()
    assert [r["run_id"] for r in body["results"]] == [second.run_id, first.run_id]
    assert body["results"][0]["feeds"][0]["outcome"] == "unchanged"
    assert client.get("/api/runs", {"limit": "0"}).status_code == 400


def test_health_is_200_when_sources_are_fresh_and_503_when_stale(stack, sources, client, settings):
    assert client.get("/api/health").status_code == 503  # never ingested
    ingest(config=stack)
    reply = client.get("/api/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok" and body["aws"]["reachable"] is True
    assert body["dlq"] == {"visible": 0, "in_flight": 0}
    assert body["queue"]["visible"] == len(all_feeds())
    settings.TWL_STALE_AFTER_SECONDS = -1
    assert client.get("/api/health").json()["status"] == "degraded"


def test_aws_failure_is_a_503_json_not_a_traceback(client, config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        for url in ("/api/records", "/api/analytics", "/api/records/x", "/api/runs"):
            reply = client.get(url)
            assert reply.status_code == 503, url
            assert reply.json()["error"] == "service_unavailable"
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["aws"]["reachable"] is False
    finally:
        aws.reset_clients()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_api_is_read_only(client, stack, method):
    reply = getattr(client, method)("/api/records", {})
    assert reply.status_code == 405
    assert reply.json()["error"] == "method_not_allowed"


def test_any_origin_may_read_by_default(client, populated):
    reply = client.get("/api/analytics", HTTP_ORIGIN="https://example.org")
    assert reply["Access-Control-Allow-Origin"] == "*"


def test_browsable_api_renders_html(client, populated):
    reply = client.get("/api/records", HTTP_ACCEPT="text/html")
    assert reply.status_code == 200
    assert b"Record List" in reply.content


def test_openapi_schema_and_swagger_ui_are_served_with_no_network(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/records", "/api/records/{record_id}", "/api/analytics", "/api/health"} <= set(
        paths
    )
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_anonymous_and_per_key_throttle_rates_come_from_the_environment(monkeypatch):
    import importlib

    from twl_site import settings as site

    monkeypatch.setenv("TWL_API_ANON_RATE", "30/minute")
    monkeypatch.setenv("TWL_API_KEY_RATE", "90/minute")
    try:
        assert importlib.reload(site).REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
            "anon": "30/minute",
            "apikey": "90/minute",
        }
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_anonymous_clients_are_throttled_with_a_json_429(client, populated, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import AnonRateThrottle

    # DRF reads the rates once, at import; patch the class as the setting would have set it.
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    cache.clear()
    codes = [client.get("/api/analytics").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get("/api/analytics").json()["error"] == "throttled"
    assert client.get("/api/health").status_code in (200, 503)  # health is never throttled
    cache.clear()


def test_unknown_api_paths_are_404_json(client, settings):
    settings.DEBUG = False
    reply = client.get("/api/nope")
    assert reply.status_code == 404
    assert reply.json()["error"] == "not_found"


def test_source_status_is_failing_when_its_last_attempt_failed(stack, sources, client):
    ingest(config=stack)
    sources.replace("GET", f"{stack.base_url('randomuser')}/api/", status=500)
    ingest(config=stack)
    rows = {r["source"]: r for r in client.get("/api/analytics").json()["summary"]["last_ingest"]}
    assert rows["jsonplaceholder"]["status"] == "fresh"
    assert rows["randomuser"]["status"] == "failing"
    assert "500" in rows["randomuser"]["last_error"]
    assert client.get("/api/health").status_code == 503
