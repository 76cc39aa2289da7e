"""The access policy as deployed: TWL_API_ACCESS=key behind API Gateway, keys made by make."""

from __future__ import annotations

import pytest
import requests

from pipeline.selectors.access import personal_fields

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
PEOPLE = "api/records?source=randomuser&limit=100"


def _get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=30, allow_redirects=False, **kwargs)


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_the_deployed_stage_needs_a_key_and_gives_personal_fields_only_to_its_scope(
    running_stack,
):
    web, stack = running_stack.web, running_stack.stack
    # No key: 401 JSON on data, with the challenge; health and the schema stay open.
    refused = _get(web + "api/records")
    assert refused.status_code == 401 and refused.json()["error"] == "not_authenticated"
    assert refused.headers["WWW-Authenticate"].startswith("Api-Key")
    assert _get(web + "api/seed/analytics").status_code == 401
    assert _get(web + "api/health").status_code in (200, 503)
    assert _get(web + "api/schema/?format=json").status_code == 200

    # The scoped key (made at start with `make manage ARGS="apikey create …"`).
    people = _get(web + PEOPLE, headers=running_stack.key_headers).json()["results"]
    assert people and all(p["personal_data"] == "included" and p["data"]["email"] for p in people)
    names = {p["title"] for p in people}

    # A key without the scope, as an operator makes one: no personal field, no raw item.
    plain = stack.create_api_key("reader")
    shown = _get(web + PEOPLE, headers={"Authorization": f"Api-Key {plain}"}).json()["results"]
    assert {p["id"] for p in shown} == {p["id"] for p in people}
    hidden = personal_fields("randomuser", "user")
    assert all(not hidden & set(p["data"]) and p["title"] not in names for p in shown)
    raw = _get(f"{web}api/records/{people[0]['id']}/raw", headers={"X-Api-Key": plain})
    assert raw.status_code == 403 and raw.json()["error"] == "forbidden"
    seed = _get(web + "api/seed/records?limit=5", headers={"X-Api-Key": plain})
    assert seed.status_code == 200, seed.text[:500]
    seed = seed.json()
    assert seed["count"] == len(seed["records"]) == 5

    # Anonymous pages: the neutral titles, never a name.
    page = _get(web + "records/?source=randomuser").text
    assert "randomuser person " in page and not any(name in page for name in names)

    # Revoked from the operator's machine: refused at once, on the warm function too.
    stack.make("manage", f"ARGS=apikey revoke {plain.split('.')[0]}")
    gone = _get(web + PEOPLE, headers={"X-Api-Key": plain})
    assert gone.status_code == 401 and gone.json()["error"] == "authentication_failed"


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_a_browser_on_another_origin_may_send_the_key_through_api_gateway(running_stack):
    preflight = requests.options(
        running_stack.web + "api/seed/records",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
        timeout=30,
    )
    assert preflight.status_code == 200, preflight.text[:300]
    allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "content-type"} <= allowed
    reply = _get(
        running_stack.web + "api/seed/analytics",
        headers={"Origin": "http://localhost:3000", **running_stack.key_headers},
    )
    assert reply.status_code == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.json()["summary"]["total_records"] > 0
