"""The Django admin as operator console: pages, actions, the admin log, permissions, errors."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from pipeline.handlers import process_sqs_event
from pipeline.local.admin_user import admin_user_from_env, ensure_admin_user
from pipeline.local.poller import drain
from pipeline.models import DeadLetterMessage, IngestionRun
from pipeline.selectors import records
from pipeline.services.dlq import dlq_list
from pipeline.services.ingest import ingest
from pipeline.services.process import process_message
from pipeline.stores import aws, ledger, messages
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db

ADMIN = "/admin/pipeline"


@pytest.fixture
def operator(client, django_user_model) -> Client:
    """A logged-in superuser."""
    user = django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def data(stack, sources):
    """One processed ingest (14 records), its run, and one message in the DLQ."""
    ingest(config=stack)
    drain(process_sqs_event, config=stack)
    return stack


def dead_letter(config, body: str = "not a message") -> str:
    """Put a message straight on the DLQ with the reason the SQS handler would record."""
    url = messages.queue_url(config, dlq=True)
    message_id = aws.sqs(config).send_message(QueueUrl=url, MessageBody=body)["MessageId"]
    ledger.message_failure_put(
        message_id=message_id,
        reason="InvalidMessage: body is not JSON",
        receive_count=3,
        at="2026-11-28T09:00:00.000000Z",
        config=config,
    )
    return message_id


def dlq_ids(config) -> set[str]:
    return {letter.message_id for letter in dlq_list(config=config)}


def main_queue_depth(config) -> int:
    attributes = aws.sqs(config).get_queue_attributes(
        QueueUrl=messages.queue_url(config), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def log_entries(model) -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(model)
    return list(LogEntry.objects.filter(content_type=content_type).order_by("action_time"))


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/admin/", "Dead-letter queue"),
        (f"{ADMIN}/", "Ingest now"),
        (f"{ADMIN}/record/", "jsonplaceholder-post-1"),
        (f"{ADMIN}/record/jsonplaceholder-post-1/change/", "Curated data"),
        (f"{ADMIN}/ingestionrun/", "succeeded"),
        (f"{ADMIN}/ingestionrun/replay/", "Raw objects to replay"),
        (f"{ADMIN}/deadlettermessage/", "InvalidMessage: body is not JSON"),
        (f"{ADMIN}/deadlettermessage/delete/?all=1", "every message"),
        (f"{ADMIN}/source/", "jsonplaceholder — enabled — 10 records"),
    ],
)
def test_each_console_page_renders_for_a_superuser_with_data(operator, data, url, text):
    dead_letter(data)

    response = operator.get(url)

    assert response.status_code == 200
    assert text in response.content.decode()


def test_console_pages_send_a_user_who_is_not_staff_to_the_login(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))

    for page in ("record/", "ingestionrun/", "deadlettermessage/", "source/"):
        response = client.get(f"{ADMIN}/{page}")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_a_staff_user_with_view_permission_sees_pages_but_cannot_act(
    client, django_user_model, data
):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="pipeline", codename__startswith="view")
    )
    client.force_login(user)

    runs = client.get(f"{ADMIN}/ingestionrun/")
    ingest_now = client.post(f"{ADMIN}/ingestionrun/ingest/")
    redrive = client.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"})

    assert runs.status_code == 200 and "Ingest now" not in runs.content.decode()
    assert (ingest_now.status_code, redrive.status_code) == (403, 403)
    assert len(ledger.run_list(config=data)) == 1


def test_console_actions_refuse_a_post_without_a_csrf_token(django_user_model, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))

    response = client.post(f"{ADMIN}/ingestionrun/ingest/")

    assert response.status_code == 403
    assert len(ledger.run_list(config=data)) == 1


# --- Records ----------------------------------------------------------------------


def test_records_are_filtered_and_paged_by_cursor(operator, stack):
    process_message(put_raw(stack, "jsonplaceholder", "post", factories.posts(30)), config=stack)
    process_message(put_raw(stack, "randomuser", "user", factories.people(2)), config=stack)

    first = operator.get(f"{ADMIN}/record/", {"source": "jsonplaceholder", "type": "post"})
    second = operator.get(f"{ADMIN}/record/{first.context['next_url']}")

    ids = [r["id"] for r in first.context["records"] + second.context["records"]]
    assert len(first.context["records"]) == 25
    assert sorted(ids) == sorted(f"jsonplaceholder-post-{n}" for n in range(1, 31))
    assert second.context["next_url"] is None


def test_a_record_lookup_by_id_opens_its_page_with_a_link_to_the_public_page(operator, data):
    lookup = operator.get(f"{ADMIN}/record/", {"id": "jsonplaceholder-user-2"})
    page = operator.get(lookup["Location"])

    assert lookup["Location"] == f"{ADMIN}/record/jsonplaceholder-user-2/change/"
    assert page.context["record"]["title"] == "User 2"
    assert page.context["public_url"] in (
        "/records/jsonplaceholder-user-2",
        "/records/jsonplaceholder-user-2/",
        "/api/records/jsonplaceholder-user-2",
    )
    assert f'href="{page.context["public_url"]}"' in page.content.decode()


def test_an_unknown_record_id_is_a_message_not_an_error_page(operator, data):
    response = operator.get(f"{ADMIN}/record/no-such-record/change/", follow=True)

    assert response.status_code == 200
    assert "no record 'no-such-record'" in page_messages(response)


def test_an_unknown_source_filter_is_a_message(operator, data):
    response = operator.get(f"{ADMIN}/record/", {"source": "nope"})

    assert response.status_code == 200
    assert any("unknown source 'nope'" in m for m in page_messages(response))


# --- Ingest now and replay ----------------------------------------------------------


def test_ingest_now_creates_a_run_shows_its_feeds_and_logs_it(operator, stack, sources):
    response = operator.post(f"{ADMIN}/ingestionrun/ingest/", follow=True)

    [run] = ledger.run_list(config=stack)
    [entry] = log_entries(IngestionRun)
    [message] = page_messages(response)
    assert run.trigger == "admin" and run.status == "succeeded"
    assert (entry.action_flag, entry.object_id) == (CHANGE, run.run_id)
    assert "succeeded" in entry.change_message and "randomuser/user stored" in entry.change_message
    assert f"run {run.run_id} succeeded" in message and "<table" in message
    assert response.redirect_chain[-1][0] == f"{ADMIN}/ingestionrun/"


def test_ingest_now_is_post_only(operator, stack):
    assert operator.get(f"{ADMIN}/ingestionrun/ingest/").status_code == 405
    assert ledger.run_list(config=stack) == []


def test_the_replay_form_sends_messages_and_logs_it(operator, data):
    response = operator.post(
        f"{ADMIN}/ingestionrun/replay/", {"source": "jsonplaceholder"}, follow=True
    )

    [entry] = log_entries(IngestionRun)
    assert main_queue_depth(data) == 3
    assert "sent 3 of 3 raw object(s)" in page_messages(response)[0]
    assert entry.object_id == "replay"
    assert "jsonplaceholder/all types" in entry.change_message
    assert "sent 3 of 3" in entry.change_message


def test_a_replay_dry_run_lists_the_keys_and_sends_nothing(operator, data):
    response = operator.post(
        f"{ADMIN}/ingestionrun/replay/", {"source": "randomuser", "dry_run": "on"}
    )

    assert response.status_code == 200
    assert len(response.context["result"].keys) == 1
    assert "raw/source=randomuser/type=user/" in response.content.decode()
    assert main_queue_depth(data) == 0
    assert "dry run" in log_entries(IngestionRun)[0].change_message


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"since": "2026-11-05", "until": "2026-11-01"}, "must not be after"),
        ({"source": "randomuser", "type": "post"}, "has no type"),
        ({"since": "soon"}, "Enter a valid date"),
    ],
)
def test_the_replay_form_shows_clear_errors_and_sends_nothing(operator, data, form, error):
    response = operator.post(f"{ADMIN}/ingestionrun/replay/", form)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert main_queue_depth(data) == 0
    assert log_entries(IngestionRun) == []


# --- Dead-letter queue --------------------------------------------------------------


def test_redrive_one_from_the_console_moves_it_and_logs_it(operator, stack):
    keep, move = dead_letter(stack), dead_letter(stack)

    response = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"id": move}, follow=True)

    [entry] = log_entries(DeadLetterMessage)
    assert dlq_ids(stack) == {keep}
    assert main_queue_depth(stack) == 1
    assert (entry.action_flag, entry.object_id) == (CHANGE, move)
    assert entry.change_message == f"Redrove 1 message(s) to the main queue: {move}"
    assert "Redrove 1 message(s)" in page_messages(response)[0]


def test_redrive_all_from_the_console_moves_everything_and_logs_it(operator, stack):
    for _ in range(3):
        dead_letter(stack)

    operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"})

    [entry] = log_entries(DeadLetterMessage)
    assert dlq_ids(stack) == set()
    assert main_queue_depth(stack) == 3
    assert entry.object_id == "all"
    assert entry.change_message == "Redrove 3 message(s) to the main queue: all messages"


def test_delete_asks_for_confirmation_before_deleting_and_logs_it(operator, stack):
    keep, drop = dead_letter(stack), dead_letter(stack)

    confirm = operator.get(f"{ADMIN}/deadlettermessage/delete/", {"id": drop})
    assert confirm.status_code == 200
    assert "Yes, I\u2019m sure" in confirm.content.decode() and drop in confirm.content.decode()
    assert dlq_ids(stack) == {keep, drop}

    operator.post(f"{ADMIN}/deadlettermessage/delete/", {"id": drop})

    [entry] = log_entries(DeadLetterMessage)
    assert dlq_ids(stack) == {keep}
    assert (entry.action_flag, entry.object_id) == (DELETION, drop)
    assert drop in entry.change_message


def test_delete_all_after_confirmation_empties_the_dlq_and_logs_it(operator, stack):
    for _ in range(3):
        dead_letter(stack)

    operator.post(f"{ADMIN}/deadlettermessage/delete/", {"all": "1"})

    [entry] = log_entries(DeadLetterMessage)
    assert dlq_ids(stack) == set()
    assert entry.action_flag == DELETION
    assert entry.change_message.startswith("Deleted 3 message(s)")


def test_redrive_is_post_only_and_needs_a_choice(operator, stack):
    message_id = dead_letter(stack)

    assert (
        operator.get(f"{ADMIN}/deadlettermessage/redrive/", {"id": message_id}).status_code == 405
    )
    nothing = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {}, follow=True)

    assert "Choose a message to redrive." in page_messages(nothing)
    assert dlq_ids(stack) == {message_id}
    assert log_entries(DeadLetterMessage) == []


def test_redriving_a_message_that_is_gone_says_so(operator, stack):
    response = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"id": "gone"}, follow=True)

    assert "1 not found" in page_messages(response)[0]


# --- Sources and failures -----------------------------------------------------------


def test_the_sources_page_shows_enabled_state_counts_and_the_last_error(operator, data, settings):
    settings.TWL_ENABLED_SOURCES = ["jsonplaceholder"]
    ledger.feed_failure_record(
        source="randomuser",
        type_="user",
        at="2026-11-28T10:00:00.000000Z",
        error="HTTP 503",
        config=data,
    )

    response = operator.get(f"{ADMIN}/source/")

    by_name = {s["name"]: s for s in response.context["sources"]}
    assert by_name["jsonplaceholder"]["enabled"] and not by_name["randomuser"]["enabled"]
    assert (by_name["jsonplaceholder"]["count"], by_name["randomuser"]["count"]) == (10, 4)
    assert by_name["randomuser"]["last_error"] == "HTTP 503"
    assert by_name["randomuser"]["last_success_at"] is not None
    assert [f["count"] for f in by_name["jsonplaceholder"]["feeds"]] == [3, 5, 2]


def test_an_aws_failure_shows_a_friendly_message_not_a_server_error(operator, config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        response = operator.get(f"{ADMIN}/deadlettermessage/")
    finally:
        aws.reset_clients()

    assert response.status_code == 503
    [message] = page_messages(response)
    assert message.startswith("AWS did not answer")
    assert "Traceback" not in response.content.decode()


def test_an_aws_failure_during_an_action_is_a_message_too(operator, config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        response = operator.post(f"{ADMIN}/deadlettermessage/redrive/", {"all": "1"})
    finally:
        aws.reset_clients()

    assert response.status_code == 503
    assert "AWS did not answer" in page_messages(response)[0]
    assert log_entries(DeadLetterMessage) == []


def test_the_record_page_shows_curated_data_as_json(operator, data):
    response = operator.get(f"{ADMIN}/record/jsonplaceholder-post-1/change/")

    shown = json.loads(response.context["data_json"])
    assert shown == json.loads(
        json.dumps(
            records.record_detail("jsonplaceholder-post-1", config=data)["data"], default=str
        )
    )


# --- The local stack's admin user ---------------------------------------------------


def test_ensure_admin_user_creates_a_superuser_once(django_user_model):
    assert ensure_admin_user(username="admin", password="secret") is True
    assert ensure_admin_user(username="admin", password="other") is False

    user = django_user_model.objects.get(username="admin")
    assert user.is_superuser and user.is_staff and user.check_password("secret")


def test_admin_user_from_env_defaults_to_the_local_stack_login(monkeypatch):
    monkeypatch.delenv("TWL_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("TWL_ADMIN_PASSWORD", raising=False)
    assert admin_user_from_env() == ("admin", "admin")

    monkeypatch.setenv("TWL_ADMIN_USERNAME", "ops")
    monkeypatch.setenv("TWL_ADMIN_PASSWORD", "s3cret")
    assert admin_user_from_env() == ("ops", "s3cret")

    monkeypatch.setenv("TWL_ADMIN_PASSWORD", "")
    assert admin_user_from_env() is None
