"""The site over real HTTP in both shapes: API errors, links, and what only deployment adds."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=30, allow_redirects=False, **kwargs)


# One stack start per shape serves every case (a start is seconds, a case milliseconds).
API_ERRORS = [
    ("api/no-such-endpoint", 404, "not_found"),
    ("api/records?limit=abc", 400, "bad_request"),
    ("api/records?limit=0", 400, "bad_request"),
    ("api/records/jsonplaceholder-post-999999", 404, "not_found"),
]


def test_api_errors_are_json_with_no_internals(running_stack):
    for path, status, error in API_ERRORS:
        reply = _get(running_stack.web + path, headers=running_stack.key_headers)
        assert reply.status_code == status, (path, reply.text[:300])
        assert reply.headers["Content-Type"].startswith("application/json"), path
        assert reply.json()["error"] == error, path
        assert "Traceback" not in reply.text and "/site-packages/" not in reply.text


def test_api_links_and_pages_carry_the_sites_prefix(running_stack):
    prefix = urlsplit(running_stack.web).path  # "/" locally, "/dev/" deployed
    body = _get(running_stack.web + "api/records?limit=2", headers=running_stack.key_headers).json()
    assert urlsplit(body["next"]).path == f"{prefix}api/records"
    page = _get(running_stack.web + "records/").text
    assert f'href="{prefix}static/' in page and f'action="{prefix}records/"' in page


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_deployed_only_what_api_gateway_and_the_stage_add(running_stack):
    stack = running_stack.stack
    # Outside the stage's prefix API Gateway answers, not the function.
    outside = _get(stack.front.origin + "/api/records")
    assert (outside.status_code, outside.json()) == (403, {"message": "Forbidden"})
    # DEBUG is off: an unknown page is the site's own 404, never Django's debug page.
    missing = _get(running_stack.web + "no-such-page/")
    assert missing.status_code == 404
    assert "Django" not in missing.text and "URLconf" not in missing.text
    # The secure settings: HSTS, and the admin's cookies only over HTTPS.
    assert "max-age=31536000" in missing.headers["Strict-Transport-Security"]
    login = _get(running_stack.web + "admin/login/")
    assert login.status_code == 200
    assert "secure" in login.headers["Set-Cookie"].lower()


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_deployed_web_function_reports_api_latency_per_route(running_stack):
    """ApiLatency is what the dashboard's latency widget and alarms read; the prefix once hid it."""
    reply = _get(running_stack.web + "api/records?limit=1", headers=running_stack.key_headers)
    assert reply.status_code == 200
    metrics = [
        json.loads(line)
        for line in running_stack.function_logs().splitlines()
        if line.startswith("{") and '"_aws"' in line and "ApiLatency" in line
    ]
    assert metrics, running_stack.function_logs()[-2000:]
    assert {m["endpoint"] for m in metrics} >= {"api-records"}
    assert all(m["stage"] == "dev" for m in metrics)


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_the_deployed_worker_refuses_what_the_web_could_send_beyond_its_jobs(
    running_stack, tmp_path
):
    """The web role may invoke the worker; it must not get the worker's role with it."""
    import boto3

    stack = running_stack.stack
    client = boto3.client("lambda", endpoint_url=stack.urls["lambda"], region_name="us-east-1")
    marker = tmp_path / "ran"
    for event in (
        {"raw_command": f"open({str(marker)!r}, 'w').write('x')"},
        {"manage": "flush --noinput"},
        {"command": "shutil.rmtree", "path": str(tmp_path)},
    ):
        reply = client.invoke(FunctionName=stack.names.worker_function, Payload=json.dumps(event))
        answer = json.loads(reply["Payload"].read())
        assert answer["status"] == "rejected", (event, answer)
    assert not marker.exists() and tmp_path.exists()
    assert "event refused: raw_command" in running_stack.function_logs()
