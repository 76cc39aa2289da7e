"""A person's view: the dashboard after a real ingest, the records browser, a record."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import keep_readme_screenshot, screenshot
from tests.stacks import FULL_TABLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_shows_real_numbers_after_a_real_ingest(page, running_stack):
    page.goto(running_stack.urls["web"])
    assert page.get_by_test_id("total-records").inner_text() == str(FULL_TABLE)
    assert page.get_by_test_id("status-jsonplaceholder").inner_text() == "fresh"
    assert page.get_by_test_id("dlq-depth").inner_text() == "0"
    figure = page.locator("figure", has_text="Records by source and type")
    assert "jsonplaceholder / comment: 500" in figure.locator("desc").text_content()
    assert page.locator("#chart-timeline-table tbody tr").count() == 7
    keep_readme_screenshot(screenshot(page, "dashboard"))


def test_records_browser_filters_and_pages(page, running_stack):
    page.goto(running_stack.urls["web"] + "records/")
    page.get_by_label("Source").select_option("jsonplaceholder")
    page.get_by_label("Type").select_option("comment")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"source=jsonplaceholder&type=comment"))
    rows = page.get_by_test_id("records-table").locator("tbody tr")
    assert rows.count() == 25
    first_page = rows.locator("td:first-child").all_inner_texts()
    assert all(i.startswith("jsonplaceholder-comment-") for i in first_page)
    screenshot(page, "records")
    page.get_by_role("link", name="Next →").click()
    second_page = (
        page.get_by_test_id("records-table").locator("tbody tr td:first-child").all_inner_texts()
    )
    assert len(second_page) == 25 and not set(first_page) & set(second_page)
    page.get_by_role("link", name="← Previous").click()
    again = (
        page.get_by_test_id("records-table").locator("tbody tr td:first-child").all_inner_texts()
    )
    assert again == first_page


def test_opening_a_record_shows_its_fields_and_raw_json(page, running_stack):
    failures: list[str] = []
    page.on(
        "console",
        lambda m: failures.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("requestfailed", lambda r: failures.append(f"failed {r.url}: {r.failure}"))
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    # A person, to an anonymous visitor: a neutral title, personal fields and raw withheld.
    page.goto(running_stack.urls["web"] + "records/?source=randomuser")
    link = page.get_by_test_id("records-table").locator("tbody tr td:first-child a").first
    record_id = link.inner_text()
    link.click()
    assert page.get_by_test_id("record-id").inner_text() == record_id
    assert page.get_by_role("heading", level=1).inner_text().startswith("randomuser person ")
    expect(page.get_by_test_id("fields-withheld")).to_contain_text("email")
    expect(page.get_by_test_id("raw-withheld")).to_be_visible()
    assert page.get_by_test_id("raw-json").count() == 0
    # A post holds nothing personal: its raw item is shown, with its Copy button.
    page.goto(running_stack.urls["web"] + "records/jsonplaceholder-post-1/")
    raw = page.get_by_test_id("raw-json").inner_text()
    assert '"userId"' in raw and '"body"' in raw
    page.wait_for_load_state("load")
    assert failures == []
    expect(page.get_by_role("button", name="Copy JSON")).to_be_visible(timeout=15_000)
    screenshot(page, "record")
