"""The dead-letter queue tools: list with reasons, redrive, delete, and ``manage.py dlq``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.handlers import process_sqs_event
from pipeline.local.poller import drain
from pipeline.selectors import records
from pipeline.services.dlq import dlq_delete, dlq_list, dlq_redrive
from pipeline.stores import aws, ledger, messages, raw_store
from pipeline.stores.messages import RawObjectMessage
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db


def dead_letter(config) -> tuple[str, RawObjectMessage]:
    """A message whose raw object is gone: processing fails it 3 times, SQS dead-letters it."""
    message = put_raw(config, "jsonplaceholder", "post", factories.posts(2))
    aws.s3(config).delete_object(Bucket=config.raw_bucket, Key=message.s3Key)
    message_id = messages.message_send(message, config=config)
    drain(process_sqs_event, config=config, retry_delay_seconds=0)
    return message_id, message


def send_to_dlq(config, body: str, **kwargs) -> str:
    url = messages.queue_url(config, dlq=True)
    return aws.sqs(config).send_message(QueueUrl=url, MessageBody=body, **kwargs)["MessageId"]


def visible(config, *, dlq: bool) -> int:
    attributes = aws.sqs(config).get_queue_attributes(
        QueueUrl=messages.queue_url(config, dlq=dlq),
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def receive_all(config, *, dlq: bool) -> list[dict]:
    reply = aws.sqs(config).receive_message(
        QueueUrl=messages.queue_url(config, dlq=dlq),
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )
    return reply.get("Messages", [])


def run(*args: str, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_a_message_that_keeps_failing_lands_in_the_dlq_with_its_reason(stack):
    message_id, message = dead_letter(stack)

    [letter] = dlq_list(config=stack)

    assert letter.message_id == message_id
    assert "does not exist" in letter.reason
    assert (letter.source, letter.type, letter.s3_key) == ("jsonplaceholder", "post", message.s3Key)
    assert json.loads(letter.body) == json.loads(message.to_json())
    assert letter.sent_at is not None and letter.failed_at is not None
    assert letter.receive_count >= stack.max_receive_count


def test_listing_the_dlq_leaves_every_message_visible(stack):
    ids = {send_to_dlq(stack, f"not a message {n}") for n in range(3)}

    first = dlq_list(config=stack)
    second = dlq_list(config=stack)

    assert {letter.message_id for letter in first} == ids
    assert {letter.message_id for letter in second} == ids
    assert visible(stack, dlq=True) == 3


def test_listing_reads_several_batches_without_duplicates_and_honours_the_limit(stack):
    ids = {send_to_dlq(stack, f"body {n}") for n in range(23)}

    everything = dlq_list(config=stack)
    some = dlq_list(config=stack, limit=5)

    assert sorted(letter.message_id for letter in everything) == sorted(ids)
    assert len(some) == 5
    assert visible(stack, dlq=True) == 23


def test_a_body_that_is_not_a_valid_message_is_listed_without_source_or_reason(stack):
    send_to_dlq(stack, '{"source": "nowhere"}')

    [letter] = dlq_list(config=stack)

    assert (letter.source, letter.type, letter.s3_key, letter.reason) == (None, None, None, None)
    assert letter.body == '{"source": "nowhere"}'


def test_redrive_moves_a_message_back_and_it_then_processes(stack):
    message_id, message = dead_letter(stack)
    # The operator fixes the cause (the raw object is back), then redrives.
    body = json.dumps(factories.posts(2)).encode()
    raw_store.raw_object_put(key=message.s3Key, body=body, metadata={}, config=stack)

    moved = dlq_redrive([message_id], config=stack)
    totals = drain(process_sqs_event, config=stack)

    assert moved == 1
    assert dlq_list(config=stack) == []
    assert (totals.succeeded, totals.failed) == (1, 0)
    assert records.record_detail("jsonplaceholder-post-2", config=stack)["version"] == 1


def test_redrive_sends_the_exact_body_and_message_attributes(stack):
    attributes = {"source": {"DataType": "String", "StringValue": "randomuser"}}
    send_to_dlq(stack, "exact body ✓", MessageAttributes=attributes)

    assert dlq_redrive(None, config=stack) == 1

    [copy] = receive_all(stack, dlq=False)
    assert copy["Body"] == "exact body ✓"
    assert copy["MessageAttributes"]["source"]["StringValue"] == "randomuser"


def test_redrive_of_named_messages_leaves_the_others_in_the_dlq_and_visible(stack):
    ids = [send_to_dlq(stack, f"body {n}") for n in range(12)]

    moved = dlq_redrive([ids[3], ids[11]], config=stack)

    assert moved == 2
    assert visible(stack, dlq=False) == 2
    assert visible(stack, dlq=True) == 10
    assert {letter.message_id for letter in dlq_list(config=stack)} == set(ids) - {ids[3], ids[11]}


def test_redrive_all_empties_the_dlq_into_the_main_queue(stack):
    for n in range(14):
        send_to_dlq(stack, f"body {n}")

    assert dlq_redrive(None, config=stack) == 14
    assert visible(stack, dlq=True) == 0
    assert visible(stack, dlq=False) == 14


def test_redrive_keeps_a_message_in_the_dlq_when_the_send_fails(stack, monkeypatch):
    message_id = send_to_dlq(stack, "keep me")

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage")

    monkeypatch.setattr(aws.sqs(stack), "send_message", refuse)
    with pytest.raises(ClientError):
        dlq_redrive([message_id], config=stack)
    monkeypatch.undo()

    assert [letter.message_id for letter in dlq_list(config=stack)] == [message_id]
    assert visible(stack, dlq=False) == 0


def test_redrive_or_delete_of_an_unknown_id_changes_nothing(stack):
    send_to_dlq(stack, "stay")

    assert dlq_redrive(["no-such-id"], config=stack) == 0
    assert dlq_delete(["no-such-id"], config=stack) == 0
    assert dlq_redrive([], config=stack) == 0
    assert visible(stack, dlq=True) == 1


def test_delete_removes_only_the_named_messages(stack):
    ids = [send_to_dlq(stack, f"body {n}") for n in range(4)]

    deleted = dlq_delete([ids[0], ids[2]], config=stack)

    assert deleted == 2
    assert {letter.message_id for letter in dlq_list(config=stack)} == {ids[1], ids[3]}
    assert visible(stack, dlq=False) == 0


def test_delete_all_empties_the_dlq_message_by_message(stack):
    for n in range(15):
        send_to_dlq(stack, f"body {n}")

    assert dlq_delete(None, config=stack) == 15
    assert dlq_list(config=stack) == []


def test_the_failure_reason_is_the_one_the_sqs_handler_recorded(stack):
    message_id = send_to_dlq(stack, "{}")
    ledger.message_failure_put(
        message_id=message_id,
        reason="InvalidMessage: body is not valid",
        receive_count=3,
        at="2026-11-28T09:00:00.000000Z",
        config=stack,
    )

    [letter] = dlq_list(config=stack)

    assert letter.reason == "InvalidMessage: body is not valid"
    assert letter.failed_at == "2026-11-28T09:00:00.000000Z"


# --- manage.py dlq ------------------------------------------------------------------


class Terminal(StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_dlq_list_command_prints_each_message_with_its_reason(stack):
    message_id, _ = dead_letter(stack)

    output = run("dlq", "list")

    assert message_id in output and "does not exist" in output
    assert "jsonplaceholder/post" in output
    assert output.splitlines()[-1] == "1 message(s) in the dead-letter queue"


def test_dlq_redrive_command_moves_only_the_named_messages(stack):
    ids = [send_to_dlq(stack, f"body {n}") for n in range(3)]

    output = run("dlq", "redrive", "--id", ids[1])

    assert "redrove 1 message(s)" in output
    assert visible(stack, dlq=True) == 2 and visible(stack, dlq=False) == 1


def test_dlq_redrive_command_fails_when_a_named_message_is_missing(stack):
    with pytest.raises(CommandError, match="1 of the named message"):
        run("dlq", "redrive", "--id", "no-such-id")


def test_dlq_purge_refuses_without_a_terminal_and_without_yes(stack):
    send_to_dlq(stack, "body")

    with pytest.raises(CommandError, match="pass --yes"):
        run("dlq", "purge", stdin=StringIO(""))

    assert visible(stack, dlq=True) == 1


def test_dlq_purge_asks_on_a_terminal_and_deletes_after_yes(stack, monkeypatch):
    send_to_dlq(stack, "body")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    output = run("dlq", "purge", stdin=Terminal())

    assert "deleted 1 message(s)" in output
    assert visible(stack, dlq=True) == 0


def test_dlq_purge_answered_no_deletes_nothing(stack, monkeypatch):
    send_to_dlq(stack, "body")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    output = run("dlq", "purge", stdin=Terminal())

    assert "purge cancelled" in output
    assert visible(stack, dlq=True) == 1


def test_dlq_purge_with_yes_deletes_everything_without_asking(stack):
    for n in range(3):
        send_to_dlq(stack, f"body {n}")

    assert "deleted 3 message(s)" in run("dlq", "purge", "--yes")
    assert visible(stack, dlq=True) == 0


def test_dlq_command_reports_an_unreachable_aws_without_a_traceback(config, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    aws.reset_clients()
    try:
        with pytest.raises(CommandError, match="dlq list failed"):
            run("dlq", "list")
    finally:
        aws.reset_clients()
