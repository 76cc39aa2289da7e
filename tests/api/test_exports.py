"""CSV and NDJSON exports of /api/records: the whole filtered set, capped, shown as JSON is."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pytest

from pipeline.core.clock import utc_now
from pipeline.selectors.access import personal_fields
from pipeline.selectors.exports import CORE_COLUMNS, record_export_pages
from pipeline.services.process import process_message
from records_api.exports import escape_cell
from tests.api.test_records_api import walk
from tests.factories import put_raw

pytestmark = pytest.mark.django_db

FILTERS = [(None, None), ("jsonplaceholder", None), (None, "user"), ("randomuser", "user")]
FORMATS = ["csv", "ndjson"]
# What a browser sends when it follows a link (Firefox).
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# What a synchronous Lambda may answer, and the share of it an export may take.
LAMBDA_RESPONSE_BYTES = 6 * 2**20
LAMBDA_BUDGET = 0.85


def export(client, fmt: str, source=None, type_=None, **params):
    query = {"format": fmt, "source": source, "type": type_, **params}
    return client.get("/api/records", {k: v for k, v in query.items() if v is not None})


def body_of(reply) -> str:
    assert reply.status_code == 200, reply.content
    return b"".join(reply.streaming_content).decode()


def rows_of(reply, fmt: str) -> list[dict]:
    text = body_of(reply)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.split("\n") if line]


def header_of(reply) -> list[str]:
    return next(csv.reader(io.StringIO(body_of(reply), newline="")))


@pytest.mark.parametrize(("source", "type_"), FILTERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_holds_exactly_the_filtered_set_newest_first(client, populated, fmt, source, type_):
    seen = walk(client, source=source, type=type_, limit=100)
    reply = export(client, fmt, source, type_)
    rows = rows_of(reply, fmt)
    assert [r["id"] for r in rows] == [r["id"] for r in seen]
    if fmt == "ndjson":
        assert rows == seen  # each line is the record as the JSON page shows it
    assert reply["X-Export-Total"] == str(len(seen))
    assert reply["X-Export-Truncated"] == "false"
    assert reply["X-Export-Limit"] == "2000"


def named(reply, stem: str, extension: str, before: str) -> bool:
    """Whether the reply is the attachment ``<stem>-<UTC date>.<extension>`` (then or now)."""
    days = {before, utc_now().date().isoformat()}  # a run across midnight sees either
    names = {f'attachment; filename="{stem}-{day}.{extension}"' for day in days}
    return reply["Content-Disposition"] in names


def test_export_is_an_attachment_named_after_filter_and_utc_date(client, populated):
    today = utc_now().date().isoformat()
    for fmt, media_type in [("csv", "text/csv"), ("ndjson", "application/x-ndjson")]:
        reply = export(client, fmt)
        assert reply["Content-Type"] == f"{media_type}; charset=utf-8"
        assert named(reply, "records-all", fmt, today)
    both = export(client, "csv", "jsonplaceholder", "user")
    assert named(both, "records-jsonplaceholder-user", "csv", today)
    assert named(export(client, "ndjson", type_="post"), "records-post", "ndjson", today)


def personal_values(personal_client) -> set[str]:
    """Every personal value and name-title of the set, as a reader with the scope sees them."""
    found = set()
    for record in walk(personal_client, limit=100):
        hidden = personal_fields(record["source"], record["type"])
        found |= {str(v) for k, v in record["data"].items() if k in hidden and v not in (None, "")}
        if "name" in hidden or "full_name" in hidden:
            found.add(record["title"])
    return found


@pytest.mark.parametrize("fmt", FORMATS)
def test_anonymous_export_has_no_personal_value_and_the_scoped_key_has_them(
    client, personal_client, populated, fmt
):
    values = personal_values(personal_client)
    assert {"Zoë Østergård", "zoe.ostergard@example.com", "a@b.c", "User 3"} <= values
    anonymous = body_of(export(client, fmt))
    assert [v for v in values if v in anonymous] == []
    scoped = body_of(export(personal_client, fmt))
    assert [v for v in values if v not in scoped] == []


def test_csv_header_names_no_column_only_personal_values_fill(client, personal_client, populated):
    anonymous = header_of(export(client, "csv"))
    assert anonymous[: len(CORE_COLUMNS)] == list(CORE_COLUMNS)
    assert "data.name" in anonymous  # a comment's subject line, though a user's name is withheld
    assert {"data.email", "data.username", "data.first_name", "data.street"}.isdisjoint(anonymous)
    assert {"data.country", "data.company_name", "data.body"} <= set(anonymous)
    scoped = header_of(export(personal_client, "csv"))
    assert {"data.email", "data.username", "data.first_name", "data.street"} <= set(scoped)
    post = header_of(export(client, "csv", type_="post"))
    assert post == [*CORE_COLUMNS, "data.body", "data.post_id", "data.title", "data.user_id"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_stops_at_the_cap_and_says_it_is_truncated(client, populated, settings, fmt):
    settings.TWL_EXPORT_MAX_RECORDS = 7
    reply = export(client, fmt, type_="user")
    expected = [r["id"] for r in walk(client, type="user", limit=100)][:7]
    assert [r["id"] for r in rows_of(reply, fmt)] == expected
    assert (reply["X-Export-Total"], reply["X-Export-Limit"]) == ("17", "7")
    assert reply["X-Export-Truncated"] == "true"
    settings.TWL_EXPORT_MAX_RECORDS = 17
    assert export(client, fmt, type_="user")["X-Export-Truncated"] == "false"


def test_the_walk_reads_page_after_page_up_to_its_limit(client, populated, dynamo_calls):
    pages = record_export_pages(
        source="jsonplaceholder", type_=None, limit=30, config=populated, page_size=7
    )
    assert dynamo_calls.operations["Query"] == 0  # lazy: nothing read before it is consumed
    sizes, ids = [], []
    for page in pages:
        sizes.append(len(page))
        ids += [r["id"] for r in page]
    assert sizes == [7, 7, 7, 7, 2]
    assert ids == [r["id"] for r in walk(client, source="jsonplaceholder", limit=100)][:30]
    assert "Scan" not in dynamo_calls.operations


def test_export_never_scans_and_reads_the_counters_for_its_total(client, populated, dynamo_calls):
    body_of(export(client, "csv"))
    assert "Scan" not in dynamo_calls.operations
    assert dynamo_calls.operations["BatchGetItem"] == 1


def test_an_empty_table_exports_a_header_and_no_rows(client, stack):
    csv_reply = export(client, "csv")
    assert body_of(csv_reply) == ",".join(CORE_COLUMNS) + "\r\n"
    assert csv_reply["X-Export-Total"] == "0"
    assert body_of(export(client, "ndjson")) == ""


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-37.3159", "-37.3159"),  # a plain number is never a formula: kept as it is
        ("+1:00", "'+1:00"),
        ("a=b", "a=b"),
        (-5, -5),
        (None, None),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote_prefix(value, written):
    assert escape_cell(value) == written


def test_hostile_titles_are_escaped_in_csv_and_stay_one_line_in_ndjson(client, stack):
    titles = ["=1+1", "@cmd", "line\u2028sep\x85nel", 'quote " and\r\nbreak']
    posts = [{"userId": 1, "id": n + 1, "title": t, "body": "b"} for n, t in enumerate(titles)]
    process_message(put_raw(stack, "jsonplaceholder", "post", posts), config=stack)
    written = {r["data.post_id"]: r["title"] for r in rows_of(export(client, "csv"), "csv")}
    assert written == {"1": "'=1+1", "2": "'@cmd", "3": titles[2], "4": titles[3]}
    text = body_of(export(client, "ndjson"))
    assert text.count("\n") == len(text.splitlines()) == len(titles)
    assert sorted(json.loads(line)["title"] for line in text.splitlines()) == sorted(titles)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "field"),
    [({"source": "nope"}, "source"), ({"type": "x"}, "type"), ({"limit": "0"}, "limit")],
)
def test_a_bad_parameter_is_a_400_json_error_not_a_file(client, stack, fmt, params, field):
    reply = client.get("/api/records", {"format": fmt, **params})
    assert reply.status_code == 400
    assert reply["Content-Type"] == "application/json"
    assert reply.json()["error"] == "bad_request" and field in reply.json()["detail"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_key_mode_needs_a_key_for_an_export(client, populated, settings, make_api_key, fmt):
    settings.TWL_API_ACCESS = "key"
    refused = export(client, fmt)
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/json"
    assert refused.json()["error"]
    client.credentials(HTTP_X_API_KEY=make_api_key("reader"))
    assert len(rows_of(export(client, fmt), fmt)) == 72


def test_accept_header_asks_for_an_export_too(client, populated):
    reply = client.get("/api/records", {"type": "post"}, HTTP_ACCEPT="text/csv")
    assert len(rows_of(reply, "csv")) == 30


def test_records_page_links_to_the_csv_of_its_filters(client, populated):
    html = client.get("/records/", {"source": "jsonplaceholder", "type": "user"}).content.decode()
    link = re.search(r'href="([^"]+)"[^>]*data-testid="export-csv">Download CSV<', html)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url == "/api/records?format=csv&source=jsonplaceholder&type=user"
    ids = [r["id"] for r in rows_of(client.get(url, HTTP_ACCEPT=BROWSER_ACCEPT), "csv")]
    assert sorted(ids) == [f"jsonplaceholder-user-{n}" for n in range(1, 6)]
    plain = client.get("/records/").content.decode()
    assert 'href="/api/records?format=csv"' in plain


def test_the_cap_keeps_an_export_of_the_largest_records_within_lambdas_answer(
    personal_client, populated, settings
):
    """Zappa buffers the body and carries it in Lambda's JSON reply (base64 unless text)."""
    cap = settings.TWL_EXPORT_MAX_RECORDS
    csv_text = body_of(export(personal_client, "csv", "randomuser"))
    ndjson = body_of(export(personal_client, "ndjson", "randomuser")).encode()
    csv_per_record = len(json.dumps(csv_text)) / 12  # as the JSON string of the reply
    ndjson_per_record = len(base64.b64encode(ndjson)) / 12
    worst = max(csv_per_record, ndjson_per_record)
    assert cap * worst < LAMBDA_BUDGET * LAMBDA_RESPONSE_BYTES, (csv_per_record, ndjson_per_record)


def test_an_unknown_format_is_a_404_json_error(client, stack):
    reply = client.get("/api/records", {"format": "xlsx"})
    assert reply.status_code == 404
    assert reply["Content-Type"] == "application/json"


def test_a_store_failure_mid_stream_ends_the_body_unfinished_and_is_logged(
    client, populated, monkeypatch, caplog
):
    from botocore.exceptions import ClientError

    from records_api import exports

    real_pages = exports.record_export_pages

    def failing_pages(**kwargs):
        yield next(real_pages(**kwargs))[:1]
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query")

    monkeypatch.setattr(exports, "record_export_pages", failing_pages)
    reply = export(client, "ndjson")
    assert reply.status_code == 200  # the headers were sent before the failure
    stream = iter(reply.streaming_content)
    assert json.loads(next(stream))["id"] == client.get("/api/records").json()["results"][0]["id"]
    with pytest.raises(ClientError):
        next(stream)
    assert "export of records (None/None) stopped" in caplog.text
