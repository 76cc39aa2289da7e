"""Who reads what: every operation of the schema, every page, for every kind of reader.

The walk takes its operations from the OpenAPI schema itself, so an endpoint added
later is covered without a change here. Personal values are collected from what a
key with the personal-data scope receives; no other reader may receive any of them,
on any endpoint, export or page, in either access mode.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from pipeline.core.constants import PERSONAL_DATA_SCOPE
from pipeline.selectors.access import personal_fields

pytestmark = pytest.mark.django_db

OPEN_OPERATIONS = {"health_retrieve"}  # and the schema and docs themselves
PAGES = ["/", "/records/", "/records/?source=randomuser", "/records/?type=user"]


def leaves(value: Any) -> Iterator[str]:
    """Every scalar of a JSON document, as text."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif value is not None:
        yield str(value)


def texts_of(response) -> set[str]:
    """The values a body carries: JSON leaves, NDJSON lines' leaves, or CSV cells."""
    kind = response.get("Content-Type", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode()
    if "csv" in kind:
        return {cell for row in csv.reader(io.StringIO(text)) for cell in row}
    if "ndjson" in kind:
        return {leaf for line in text.splitlines() if line for leaf in leaves(json.loads(line))}
    if "json" in kind:
        return set(leaves(json.loads(text))) if text else set()
    return {text}


@pytest.fixture
def personal_values(personal_client, populated) -> set[str]:
    """Every personal value the data holds, as a reader with the scope receives it."""
    found: set[str] = set()
    for source in ("randomuser", "jsonplaceholder"):
        page = personal_client.get("/api/records", {"source": source, "limit": 100}).json()
        for record in page["results"]:
            hidden = personal_fields(record["source"], record["type"])
            found |= {str(v) for k, v in record["data"].items() if k in hidden and v}
            if hidden:
                found.add(record["title"])
    # Short values (a postcode, "Ms") could match unrelated text; names, e-mails,
    # streets, phones and coordinates are what matters and are all longer.
    return {v for v in found if len(v) >= 5}


@pytest.fixture
def ids(personal_client, populated) -> dict[str, str]:
    def first(source: str, type_: str) -> str:
        page = personal_client.get("/api/records", {"source": source, "type": type_, "limit": 1})
        return page.json()["results"][0]["id"]

    return {"person": first("randomuser", "user"), "user": first("jsonplaceholder", "user")}


def operations(client: APIClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(operation id, path template, operation) for every GET in the served schema."""
    schema = client.get("/api/schema/", {"format": "json"}).json()
    found = []
    for path, methods in schema["paths"].items():
        if "get" in methods:
            found.append((methods["get"]["operationId"], path, methods["get"]))
    return found


def requests_for(client: APIClient, ids: dict[str, str]) -> list[tuple[str, str, dict]]:
    """Each operation with each record kind and filter it takes, and each export format."""
    made = []
    for op_id, path, operation in operations(client):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        queries: list[dict[str, str]] = [{}]
        if "source" in names:
            queries.append({"source": "randomuser"})
        if "type" in names:
            queries.append({"type": "user"})
        if op_id == "records_list":
            queries += [{"format": "csv"}, {"format": "ndjson", "type": "user"}]
        params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        for record in ids.values() if params else [None]:
            url = path
            for name in params:
                url = url.replace("{" + name + "}", record or "")
            made += [(op_id, url, query) for query in queries]
    return made


def test_the_walk_covers_every_data_operation_and_the_seed_contract(client, ids):
    covered = {op_id for op_id, _, _ in requests_for(client, ids)}
    assert {"records_list", "records_retrieve", "records_raw_retrieve"} <= covered
    assert {"analytics_retrieve", "runs_list", "health_retrieve"} <= covered
    assert {op for op in covered if op.startswith("seed_")} >= {
        "seed_records_list",
        "seed_records_retrieve",
        "seed_analytics_retrieve",
    }


def assert_nothing_personal(response, personal_values: set[str], where: str) -> None:
    # /api/health is 503 here: no source has ingested on this stack.
    assert response.status_code < 500 or where.startswith("health"), where
    leaked = {
        value
        for text in texts_of(response)
        for value in personal_values
        if value == text or (len(value) >= 6 and value in text and " " in text)
    }
    assert not leaked, f"{where} leaked {sorted(leaked)[:5]}"


def test_anonymous_readers_of_a_public_stage_get_no_personal_value_anywhere(
    client, ids, personal_values, settings
):
    settings.TWL_API_ACCESS = "public"
    for op_id, url, query in requests_for(client, ids):
        response = client.get(url, query)
        assert_nothing_personal(response, personal_values, f"{op_id} {url} {query}")
        if op_id == "records_raw_retrieve" and url.startswith("/api/records/randomuser"):
            assert response.status_code == 403
            assert response.json()["error"] == "forbidden"
    for path in [*PAGES, f"/records/{ids['person']}/", f"/records/{ids['user']}/"]:
        assert_nothing_personal(client.get(path), personal_values, path)


def test_a_key_without_the_scope_gets_no_personal_value_anywhere(
    client, ids, personal_values, settings, make_api_key
):
    settings.TWL_API_ACCESS = "key"
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=make_api_key("no scope"))
    for op_id, url, query in requests_for(client, ids):
        response = reader.get(url, query)
        assert response.status_code != 401, f"{op_id} {url}"
        assert_nothing_personal(response, personal_values, f"{op_id} {url} {query}")


def test_without_a_key_a_key_stage_answers_401_json_on_data_and_opens_only_health_and_docs(
    client, ids, settings
):
    settings.TWL_API_ACCESS = "key"
    for op_id, url, query in requests_for(client, ids):
        response = client.get(url, query)
        if op_id in OPEN_OPERATIONS:
            assert response.status_code != 401, url
            continue
        assert response.status_code == 401, f"{op_id} {url} {query}"
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["error"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Api-Key")
    for open_url in ["/api/schema/", "/api/docs/", "/api/"]:
        assert client.get(open_url).status_code == 200, open_url
    # Pages stay public: without personal fields (the test above).
    assert client.get("/records/").status_code == 200


@pytest.mark.parametrize("reader", ["scoped key", "staff"])
def test_the_scope_and_staff_receive_every_personal_field(
    reader, ids, personal_values, settings, make_api_key, django_user_model
):
    settings.TWL_API_ACCESS = "key"
    client = APIClient()
    if reader == "staff":
        staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
        client.force_login(staff)
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(scopes=PERSONAL_DATA_SCOPE)}")
    page = client.get("/api/records", {"source": "randomuser", "limit": 100})
    assert personal_values & texts_of(page)
    person = client.get(f"/api/records/{ids['person']}").json()
    assert person["personal_data"] == "included"
    assert set(personal_fields("randomuser", "user")) <= set(person["data"])
    raw = client.get(f"/api/records/{ids['person']}/raw")
    assert raw.status_code == 200 and raw.json()["item"]["email"]


def test_a_reader_without_the_scope_gets_the_record_with_a_neutral_title(client, ids):
    person = client.get(f"/api/records/{ids['person']}").json()
    uuid = ids["person"].removeprefix("randomuser-user-")
    assert person["title"] == f"randomuser person {uuid[:8]}"
    assert person["personal_data"] == "withheld"
    assert not set(personal_fields("randomuser", "user")) & set(person["data"])
    assert {"gender", "country", "nationality", "age"} <= set(person["data"])
    user = client.get(f"/api/records/{ids['user']}").json()
    assert user["title"] == f"jsonplaceholder user {ids['user'].rsplit('-', 1)[1]}"
    post = client.get("/api/records/jsonplaceholder-post-1").json()
    assert post["title"] and post["title"] != "jsonplaceholder post 1"  # not a name: kept
    assert client.get("/api/records/jsonplaceholder-post-1/raw").status_code == 200


def test_the_record_page_tells_an_anonymous_reader_what_is_withheld(client, ids, personal_values):
    page = client.get(f"/records/{ids['person']}/").content.decode()
    assert 'data-testid="fields-withheld"' in page and 'data-testid="raw-withheld"' in page
    assert 'data-testid="raw-json"' not in page


def test_signed_in_staff_see_everything_on_the_pages(client, ids, personal_values, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/records/{ids['person']}/").content.decode()
    assert 'data-testid="raw-json"' in page and 'data-testid="fields-withheld"' not in page
    assert any(value in page for value in personal_values)


def test_the_schema_documents_both_record_shapes_and_the_key_schemes(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]
    shapes = components["schemas"]
    assert {"PersonalRecord", "PublicRecord"} <= set(shapes)
    assert "email" in shapes["PublicRecord"]["properties"]["data"]["description"]
    schemes = components["securitySchemes"]
    assert schemes["ApiKeyHeader"] == schemes["ApiKeyHeader"] | {
        "in": "header",
        "name": "X-Api-Key",
    }
    assert schemes["ApiKeyAuthorization"]["name"] == "Authorization"
    detail = schema["paths"]["/api/records/{record_id}"]["get"]
    assert "401" in detail["responses"]
    assert "403" in schema["paths"]["/api/records/{record_id}/raw"]["get"]["responses"]
    assert "security" not in schema["paths"]["/api/health"]["get"]


@pytest.mark.parametrize("mode", ["public", "key"])
def test_the_schema_says_whether_a_key_is_needed(client, settings, mode):
    settings.TWL_API_ACCESS = mode
    schema = client.get("/api/schema/", {"format": "json"}).json()
    security = schema["paths"]["/api/records"]["get"]["security"]
    assert {"ApiKeyHeader": []} in security
    assert ({} in security) is (mode == "public")


def test_a_cors_preflight_for_the_seed_frontend_allows_its_key_header(client, settings):
    settings.TWL_API_ACCESS = "key"
    response = client.options(
        "/api/seed/records",
        HTTP_ORIGIN="http://localhost:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-api-key",
    )
    assert response.status_code == 200
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "content-type", "authorization"} <= allowed
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Origin"] in ("*", "http://localhost:3000")


def test_answers_that_depend_on_the_reader_are_never_shared_cached(client, ids, personal_client):
    for reader in (client, personal_client):
        for url in ["/api/records", f"/api/records/{ids['person']}", "/api/seed/records"]:
            response = reader.get(url)
            assert (
                "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
            )
            varies = {h.strip().lower() for h in response["Vary"].split(",")}
            assert {"x-api-key", "authorization", "cookie"} <= varies, url
    assert "private" not in client.get("/api/schema/").get("Cache-Control", "")


def test_a_key_stage_counts_requests_without_a_key_and_answers_401_to_any_non_staff(
    client, settings, monkeypatch, populated, django_user_model
):
    from rest_framework.throttling import AnonRateThrottle

    settings.TWL_API_ACCESS = "key"
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    statuses = [client.get("/api/records").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    user = django_user_model.objects.create_user("viewer", password="x")  # not staff
    signed_in = APIClient(REMOTE_ADDR="10.9.9.9")
    signed_in.force_login(user)
    assert signed_in.get("/api/records").status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer abcdefgh.abcdefghabcdefghabcdefghabcdefgh", "Api-Key", "Basic dXNlcjpwdw=="]
)
def test_an_authorization_header_we_do_not_read_is_a_401_not_the_public_shape(
    client, populated, header
):
    response = client.get("/api/records", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"


def test_a_feed_no_source_declares_shows_nothing_to_a_reader_without_the_scope():
    from pipeline.selectors.access import raw_allowed, record_shown

    orphan = {"id": "gone-item-7", "source": "gone", "type": "item", "title": "Ann Lee",
              "data": {"email": "ann@example.org"}}  # fmt: skip
    assert record_shown(orphan, personal=False)["data"] == {}
    assert record_shown(orphan, personal=False)["title"] == "gone item record"
    assert not raw_allowed(orphan, personal=False)
    assert record_shown(orphan, personal=True) == orphan


def test_pages_of_a_key_stage_link_the_api_only_for_staff(client, ids, settings, admin_user):
    settings.TWL_API_ACCESS = "key"
    anonymous = client.get("/records/").content.decode()
    assert 'data-testid="export-csv"' not in anonymous
    assert "/api/records/" not in client.get("/records/jsonplaceholder-post-1/").content.decode()
    client.force_login(admin_user)
    assert 'data-testid="export-csv"' in client.get("/records/").content.decode()
