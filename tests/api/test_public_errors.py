"""No internals on public endpoints: a failure shows a short, safe reason; staff see the error.

AWS's own words (``AccessDenied … arn:aws:sts::…:assumed-role/… when calling the
PutObject operation``) stay in the logs and the admin; the dashboard, /api/health,
/api/runs and /api/analytics say "the raw bucket is unavailable".
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from pipeline.services.ingest import ingest
from pipeline.stores import aws

pytestmark = pytest.mark.django_db

ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/twl-pipeline-web-prod/session-1"
DENIED = (
    f"User: {ROLE_ARN} is not authorized to perform: s3:PutObject on resource: "
    "arn:aws:s3:::twl-pipeline-raw-prod/raw/x.json"
)
INTERNALS = (ROLE_ARN, "123456789012", "arn:aws", "PutObject", "AccessDenied", "not authorized")
PUBLIC_PATHS = ["/", "/api/health", "/api/runs", "/api/analytics"]


def deny(operation: str):
    """A botocore hook failing ``operation`` as AWS would, with its ARN-bearing message."""

    def hook(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": DENIED}}, operation)

    return hook


@pytest.fixture
def denied_put(stack, sources):
    """One ingest of JSONPlaceholder whose every S3 PutObject is denied."""
    aws.s3(stack).meta.events.register("before-call.s3.PutObject", deny("PutObject"))
    run = ingest(sources=["jsonplaceholder"], config=stack)
    assert run.status == "failed"
    return run


@pytest.fixture
def operator(django_user_model) -> Client:
    client = Client()
    user = django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_a_denied_s3_put_shows_no_arn_or_aws_text_on_public_endpoints(client, denied_put, path):
    body = client.get(path).content.decode()
    for internal in INTERNALS:
        assert internal not in body, (path, internal)


@pytest.mark.parametrize("path", ["/", "/api/runs", "/api/analytics"])
def test_public_endpoints_say_the_raw_bucket_is_unavailable(client, denied_put, path):
    assert "the raw bucket is unavailable" in client.get(path).content.decode()


def test_the_run_keeps_the_full_error_for_staff_and_a_reason_for_everyone(denied_put):
    feed = denied_put.feeds[0]
    assert ROLE_ARN in feed.error and "PutObject" in feed.error
    assert feed.reason == "the raw bucket is unavailable"


@pytest.mark.parametrize("page", ["source", "ingestionrun"])
def test_the_admin_sources_and_runs_pages_show_staff_the_full_error(operator, denied_put, page):
    html = operator.get(f"/admin/pipeline/{page}/").content.decode()
    assert ROLE_ARN in html and "PutObject" in html
    assert "shown publicly as: the raw bucket is unavailable" in html


def test_a_failed_send_is_the_queue_being_unavailable(stack, sources, client):
    aws.sqs(stack).meta.events.register("before-call.sqs.SendMessage", deny("SendMessage"))
    run = ingest(sources=["jsonplaceholder"], config=stack)
    reasons = {f.reason for f in run.feeds}
    assert reasons == {"the ingestion queue is unavailable; the next run sends it again"}
    assert ROLE_ARN not in client.get("/api/runs").content.decode()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"status": 404, "body": "gone"}, "the source answered HTTP 404"),
        ({"body": "[{not json"}, "the source sent an unusable payload"),
        ({"json": {"error": "internal detail 10.0.0.7"}}, "the source sent an unusable payload"),
    ],
)
def test_source_failures_are_told_in_safe_words(stack, sources, client, answer, reason):
    sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/posts", **answer)
    run = ingest(sources=["jsonplaceholder"], config=stack)
    [failed] = [f for f in run.feeds if f.outcome == "failed"]
    assert failed.reason == reason
    runs = client.get("/api/runs").json()["results"][0]["feeds"]
    assert [f["error"] for f in runs if f["error"]] == [reason]
    assert "10.0.0.7" not in client.get("/").content.decode()


def test_health_with_aws_unreachable_does_not_repeat_botocores_message(client, config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        reply = client.get("/api/health")
    finally:
        aws.reset_clients()
    assert reply.status_code == 503
    assert reply.json()["aws"] == {"reachable": False, "error": "the data store cannot be reached"}
    assert "127.0.0.1" not in reply.content.decode()
