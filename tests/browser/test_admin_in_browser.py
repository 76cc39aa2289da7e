"""The operator's console in a real browser: sign in, redrive a dead letter, see it processed."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from pipeline.core.config import get_config
from pipeline.services.dlq import dlq_list
from pipeline.stores import raw_store
from pipeline.stores.curated import record_get
from pipeline.stores.messages import message_send
from tests import factories
from tests.browser.conftest import screenshot
from tests.factories import put_raw

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("timed out waiting")


def dead_letter_whose_raw_object_is_missing(config) -> tuple[str, bytes, str]:
    """A valid message for a raw object not written yet: it fails 3 times and is dead-lettered."""
    body = json.dumps(factories.posts(1, title="late arrival")).encode()
    message = put_raw(config, "jsonplaceholder", "post", body, write=False)
    return message_send(message, config=config), body, message.s3Key


def test_operator_signs_in_and_redrives_a_dead_letter_which_then_gets_processed(
    page, running_stack, django_user_model
):
    django_user_model.objects.create_superuser(
        "operator", "op@example.org", "correct horse battery"
    )
    config = get_config()
    original = record_get("jsonplaceholder-post-1", config=config)
    message_id, body, key = dead_letter_whose_raw_object_is_missing(config)
    wait_for(lambda: any(d.message_id == message_id for d in dlq_list(config=config)))

    raw_store.raw_object_put(key=key, body=body, metadata={}, config=config)  # the cause is fixed

    web = running_stack.urls["web"]
    page.goto(web + "admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Site administration")).to_be_visible()

    page.goto(web + "admin/pipeline/deadlettermessage/")
    row = page.locator(f"#message-{message_id}")
    expect(row).to_contain_text("does not exist")
    screenshot(page, "admin-dead-letters")
    row.get_by_role("button", name=f"Redrive message {message_id}").click()
    expect(page.locator(".messagelist")).to_contain_text("1")

    updated = wait_for(
        lambda: (
            (r := record_get("jsonplaceholder-post-1", config=config))
            and r["title"] == "late arrival 1"
            and r
        )
    )
    assert updated["version"] == original["version"] + 1
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.filter(change_message__startswith="Redrove 1 message").exists()
    page.goto(web + "admin/")  # the admin index lists the action under "Recent actions"
    expect(page.locator("#recent-actions-module")).to_contain_text("ead")
