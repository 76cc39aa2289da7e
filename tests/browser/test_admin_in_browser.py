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
from pipeline.stores.ledger import run_list
from pipeline.stores.messages import message_send
from tests import factories
from tests.browser.conftest import screenshot
from tests.factories import put_raw

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


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


def sign_in(page, web: str, username: str = "operator", password: str = PASSWORD) -> None:
    page.goto(web + "admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Site administration")).to_be_visible()


def test_operator_signs_in_and_redrives_a_dead_letter_which_then_gets_processed(
    page, running_stack
):
    running_stack.create_operator("operator", PASSWORD)
    config = get_config()
    original = record_get("jsonplaceholder-post-1", config=config)
    message_id, body, key = dead_letter_whose_raw_object_is_missing(config)
    wait_for(lambda: any(d.message_id == message_id for d in dlq_list(config=config)))

    raw_store.raw_object_put(key=key, body=body, metadata={}, config=config)  # the cause is fixed

    web = running_stack.web
    sign_in(page, web)

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
    # The admin log (in the deployed shape, in the stage's admin data in S3) lists it.
    page.goto(web + "admin/")
    expect(page.locator("#recent-actions-module")).to_contain_text("ead")


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_an_operator_made_by_the_documented_command_signs_in_after_cold_starts_and_a_redeploy(
    page, running_stack
):
    """No DATABASE_URL: the account lives in the stage's S3, not in any container."""
    running_stack.create_operator("operator", PASSWORD)
    web = running_stack.web
    sign_in(page, web)
    stack = running_stack.stack
    stack.web.restart()  # Lambda recycled the container: a cold start
    page.context.clear_cookies()
    sign_in(page, web)
    stack.redeploy()  # zappa update: new code, new containers
    page.context.clear_cookies()
    sign_in(page, web)
    expect(page.get_by_text("Site administration")).to_be_visible()


def test_ingest_now_answers_at_once_and_its_job_page_follows_the_run_to_done(page, running_stack):
    """Locally the job runs in the request; deployed, the request only hands it to the
    worker: with a slow source the page answers before the run ends, and follows it."""
    from pipeline.local.sandbox import Fault

    running_stack.create_operator("operator", PASSWORD)
    web = running_stack.web
    sign_in(page, web)
    running_stack.stack.sandbox.faults.add(
        Fault(path_prefix="/randomuser", kind="latency", delay=4.0, times=1)
    )
    page.goto(web + "admin/pipeline/ingestionrun/")
    page.get_by_role("button", name="Ingest now").click()
    link = page.get_by_test_id("job-link")
    expect(link).to_be_visible()
    link.click()
    status = page.get_by_test_id("job-status")
    if running_stack.mode == "deployed":
        assert status.inner_text() in {"queued", "running"}  # the request did not wait for it
    expect(status).to_have_text("done", timeout=60_000)
    screenshot(page, f"admin-job-{running_stack.mode}")
    run_link = page.get_by_test_id("job-run-link")
    run_id = run_link.get_attribute("href").rsplit("run=", 1)[1]
    run_link.click()
    expect(page.locator("#content")).to_contain_text(run_id)
    if running_stack.mode == "deployed":  # delivered twice (tests/stacks.py), run once
        wait_for(lambda: "already: not run again" in running_stack.function_logs())
        admin_runs = [r for r in run_list(config=get_config()) if r.trigger == "admin"]
        assert [r.run_id for r in admin_runs] == [run_id]
