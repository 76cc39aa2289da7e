"""API keys from birth to revocation: the command, the admin, the API's answers, last use, rates."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from botocore.exceptions import ClientError
from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from pipeline.core.clock import utc_now
from pipeline.core.constants import LEDGER_PK, LEDGER_SK, PERSONAL_DATA_SCOPE
from pipeline.models import ApiKey
from pipeline.stores import aws
from pipeline.stores.throttle import throttle_key, window_start
from records_api import access
from records_api.access import ApiKeyRateThrottle
from records_api.throttling import SharedAnonRateThrottle
from tests.api.conftest import DynamoCalls

pytestmark = pytest.mark.django_db

RECORDS = "/api/records"
KEYS = "/admin/pipeline/apikey/"
# Mid-window, so no throttle test runs across a window boundary.
WINDOW_START = 1_800_000_000
NOW = WINDOW_START + 45.0


@pytest.fixture(autouse=True)
def fresh_stamps():
    """Each test starts with no key stamped as used in this process."""
    access._stamped.clear()
    yield
    access._stamped.clear()


@pytest.fixture
def no_tables(config, moto_aws):
    """AWS with nothing provisioned: a request that should not reach DynamoDB fails if it does."""
    return config


@pytest.fixture
def key_mode(settings):
    settings.TWL_API_ACCESS = "key"


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    # No password: hashing one costs more than the rest of a test.
    browser.force_login(django_user_model.objects.create_superuser("ops", "ops@x.test", None))
    return browser


def run(*args: str) -> str:
    out = StringIO()
    call_command("apikey", *args, stdout=out, stderr=out)
    return out.getvalue()


def created_key(output: str) -> str:
    """The one line of ``apikey create``'s output that is a key."""
    (key,) = [line for line in output.splitlines() if "." in line and " " not in line]
    return key


def get(key: str | None, *, client: APIClient | None = None, header: str = "HTTP_X_API_KEY"):
    headers = {} if key is None else {header: key}
    return (client or APIClient()).get(RECORDS, **headers)


def assert_refused(response) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"].startswith("Api-Key")
    assert set(response.json()) >= {"error", "detail"}


def row_of(output: str, prefix: str) -> str:
    (row,) = [line for line in output.splitlines() if line.startswith(prefix)]
    return row


# --- Lifecycle -------------------------------------------------------------------------


def test_a_key_made_by_the_command_reads_the_api_until_revoked_and_is_never_logged(
    stack, key_mode, caplog
):
    caplog.set_level(logging.DEBUG)
    output = run("create", "partner", "--scope", PERSONAL_DATA_SCOPE)
    key = created_key(output)
    assert output.count(key) == 1
    assert "cannot be shown again" in output
    assert get(key).status_code == HTTPStatus.OK

    revoked = run("revoke", key.split(".")[0])

    assert "revoked" in revoked and key not in revoked
    assert_refused(get(key))
    assert key.split(".")[1] not in caplog.text


def test_a_key_added_in_the_admin_is_shown_once_works_and_is_revoked_by_the_action(
    stack, key_mode, operator
):
    added = operator.post(f"{KEYS}add/", {"name": "partner", "scopes": [PERSONAL_DATA_SCOPE]})
    (shown,) = [str(m) for m in added.context["messages"] if "is:" in str(m)]
    key = shown.split("is: ")[1].split()[0]
    stored = ApiKey.objects.get(prefix=key.split(".")[0])
    assert stored.scopes == PERSONAL_DATA_SCOPE
    # Rendered at once: the secret is in no cookie, no redirect, and no later page.
    assert added.status_code == HTTPStatus.OK
    assert not (added.cookies.get("messages") and added.cookies["messages"].value)
    assert not any(key in morsel.value for morsel in added.cookies.values())
    for page in (KEYS, f"{KEYS}{stored.pk}/change/"):
        assert key.split(".")[1] not in operator.get(page).content.decode()
    assert get(key).status_code == HTTPStatus.OK

    revoke = {"action": "revoke_selected", "_selected_action": [stored.pk]}
    asked = operator.post(KEYS, {**revoke, "index": "0"})
    assert "This cannot be undone" in asked.content.decode()
    assert get(key).status_code == HTTPStatus.OK  # asking revokes nothing
    done = operator.post(KEYS, {**revoke, "post": "yes"}, follow=True)

    assert any("Revoked 1 key(s)" in str(m) for m in done.context["messages"])
    assert_refused(get(key))
    logged = list(LogEntry.objects.filter(object_id=stored.pk).order_by("action_time"))
    assert [e.action_flag for e in logged] == [ADDITION, CHANGE]
    assert "Revoked" in logged[-1].change_message and key not in str(logged[-1].__dict__)


@pytest.mark.parametrize(
    "header, value",
    [
        ("HTTP_X_API_KEY", "{key}"),
        ("HTTP_AUTHORIZATION", "Api-Key {key}"),
        ("HTTP_AUTHORIZATION", "api-key   {key}"),
    ],
)
def test_both_headers_carry_a_key(stack, key_mode, make_api_key, header, value):
    assert get(value.format(key=make_api_key()), header=header).status_code == HTTPStatus.OK


def test_only_the_hash_is_stored(stack, make_api_key):
    key = make_api_key("hashed")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        row = " ".join(str(v) for v in cursor.fetchone())
    assert key.split(".")[0] in row
    assert key.split(".")[1] not in row


def test_an_expired_key_is_refused(stack, key_mode, make_api_key):
    assert_refused(get(make_api_key(expiry_date=utc_now() - timedelta(seconds=1))))


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "nodot" * 8,
        "a" * 10_000 + "." + "b" * 10_000,
        ".",
        "abc.def",
        "ключ.ключ",
        "'; DROP TABLE pipeline_apikey; --.x",
        "%00%00.%ff",
        "\x00\x01.\x7f",
    ],
)
@pytest.mark.parametrize("mode", ["key", "public"])
def test_a_bad_key_is_401_json_in_every_mode(no_tables, settings, make_api_key, bad, mode):
    settings.TWL_API_ACCESS = mode
    assert_refused(get(bad))
    assert_refused(get(f"Api-Key {bad}", header="HTTP_AUTHORIZATION"))


def test_a_right_prefix_with_a_wrong_secret_is_refused(stack, key_mode, make_api_key):
    assert_refused(get(make_api_key().split(".")[0] + ".wrong-secret"))


def test_in_public_mode_no_key_is_fine_and_in_key_mode_it_is_401(stack, settings):
    settings.TWL_API_ACCESS = "public"
    assert get(None).status_code == HTTPStatus.OK
    settings.TWL_API_ACCESS = "key"
    assert_refused(get(None))


# --- The command's and the admin's refusals -------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["create", "x", "--scope", "everything"], "unknown scope(s) everything"),
        (["create", "x", "--rate", "lots"], "a rate is <requests>/"),
        (["create", "x", "--rate", "0/minute"], "a rate is <requests>/"),
        (["create", "x", "--expires-days", "0"], "between 1 and"),
        (["create", "x", "--expires-days", "99999999999"], "between 1 and"),
        (["create", "   "], "name: This field cannot be blank"),
        (["create", "n" * 51], "at most 50 characters"),
        (["revoke", "nope1234"], "no API key has the prefix 'nope1234'"),
        (["revoke", "s3cr3t-not-a-prefix-at-all-0123456789"], "(not a key prefix)"),
    ],
)
def test_the_command_refuses_bad_input_clearly(args, message):
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
    assert ApiKey.objects.count() == 0


def test_revoking_by_the_whole_key_works_and_twice_is_harmless(stack, key_mode, make_api_key):
    key = make_api_key()
    run("revoke", key)
    assert "is revoked" in run("revoke", key.split(".")[0])
    assert_refused(get(key))


def test_the_add_form_offers_scopes_as_checkboxes_and_refuses_a_bad_rate(stack, operator):
    form = operator.get(f"{KEYS}add/").content.decode()
    assert 'type="checkbox" name="scopes" value="personal-data"' in form
    refused = operator.post(f"{KEYS}add/", {"name": "x", "rate": "fast"})
    assert refused.status_code == HTTPStatus.OK and refused.context["adminform"].form.errors
    past = {"name": "x", "expiry_date_0": "2020-01-01", "expiry_date_1": "00:00:00"}
    assert "in the future" in operator.post(f"{KEYS}add/", past).content.decode()
    assert ApiKey.objects.count() == 0


def test_an_active_keys_scopes_and_rate_can_be_changed_and_are_logged(
    stack, operator, make_api_key
):
    key = ApiKey.objects.get(prefix=make_api_key(scopes=PERSONAL_DATA_SCOPE).split(".")[0])
    form = operator.get(f"{KEYS}{key.pk}/change/").content.decode()
    (box,) = re.findall(r'<input type="checkbox" name="scopes"[^>]*>', form)
    assert "checked" in box
    changed = operator.post(f"{KEYS}{key.pk}/change/", {"name": "partner", "rate": "9/hour"})
    assert changed.status_code == HTTPStatus.FOUND
    key.refresh_from_db()
    assert (key.scopes, key.rate, key.revoked) == ("", "9/hour", False)
    assert LogEntry.objects.get(object_id=key.pk).action_flag == CHANGE


def test_a_revoked_key_is_read_only_and_no_key_can_be_deleted(stack, operator, make_api_key):
    key = ApiKey.objects.get(prefix=make_api_key().split(".")[0])
    assert 'name="_save"' in operator.get(f"{KEYS}{key.pk}/change/").content.decode()
    assert operator.get(f"{KEYS}{key.pk}/delete/").status_code == HTTPStatus.FORBIDDEN
    key.revoked = True
    key.save()

    page = operator.get(f"{KEYS}{key.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    attempt = operator.post(f"{KEYS}{key.pk}/change/", {"name": "renamed", "revoked": ""})
    assert attempt.status_code == HTTPStatus.FORBIDDEN
    assert ApiKey.objects.get(pk=key.pk).revoked
    assert "delete_selected" not in operator.get(KEYS).content.decode()


def test_the_librarys_own_key_admin_is_gone(operator):
    assert not admin.site.is_registered(APIKey)
    assert admin.site.is_registered(ApiKey)
    assert operator.get("/admin/rest_framework_api_key/apikey/").status_code == 404


# --- Last used -------------------------------------------------------------------------


def test_a_used_key_shows_when_and_is_stamped_once_a_minute(stack, operator, make_api_key):
    calls = DynamoCalls(aws.dynamodb(stack))
    key, idle = make_api_key("used"), make_api_key("idle")
    prefix = key.split(".")[0]
    assert "never" in row_of(run("list"), prefix)

    get(key)
    get(key)
    assert calls.operations["UpdateItem"] == 1  # the second request wrote nothing
    access._stamped[prefix] -= access.LAST_USED_EVERY_SECONDS  # a minute later
    get(key)
    assert calls.operations["UpdateItem"] == 2

    listed = run("list")
    assert f"{utc_now():%Y-%m-%d}" in row_of(listed, prefix).split("  ", 4)[-1]
    assert "never" in row_of(listed, idle.split(".")[0])
    before = calls.operations["BatchGetItem"]
    page = operator.get(KEYS)
    assert calls.operations["BatchGetItem"] == before + 1  # one read for the page
    cells = re.findall(r'<td class="field-last_used[^"]*">([^<]*)</td>', page.content.decode())
    assert len(cells) == 2 and cells.count("never") == 1
    assert any(str(utc_now().year) in cell for cell in cells)


def test_when_dynamodb_fails_the_lists_still_come_and_say_so(
    stack, operator, make_api_key, monkeypatch
):
    prefix = make_api_key().split(".")[0]

    def down(*args, **kwargs):
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")

    monkeypatch.setattr("pipeline.services.apikeys.keys_last_used", down)
    listed = run("list")
    assert "unknown" in row_of(listed, prefix) and "DynamoDB did not answer" in listed
    page = operator.get(KEYS)
    assert page.status_code == HTTPStatus.OK
    assert any("DynamoDB did not answer" in str(m) for m in page.context["messages"])


# --- Per-key rates on the shared counters ----------------------------------------------


@pytest.fixture
def key_rates(monkeypatch):
    """Freeze the throttles' clock mid-window and set the rates DRF read at import."""
    monkeypatch.setattr(SharedAnonRateThrottle, "timer", staticmethod(lambda: NOW))

    def set_rates(apikey: str | None, anon: str | None = None) -> None:
        rates = {"apikey": apikey, "anon": anon}
        monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", rates)
        monkeypatch.setattr(SharedAnonRateThrottle, "THROTTLE_RATES", {"anon": anon})

    return set_rates


def codes(key: str | None, times: int, client: APIClient | None = None) -> list[int]:
    return [get(key, client=client).status_code for _ in range(times)]


def test_a_key_is_throttled_on_its_own_count(stack, key_mode, key_rates, make_api_key):
    key_rates("3/minute")
    key, other = make_api_key("busy"), make_api_key("other")

    assert codes(key, 3) == [HTTPStatus.OK] * 3
    refused = get(key)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.json()["error"] == "throttled"
    assert refused["Retry-After"] == str(WINDOW_START + 60 - int(NOW))
    assert get(other).status_code == HTTPStatus.OK


def test_anonymous_requests_are_counted_apart_from_keys(stack, settings, key_rates, make_api_key):
    settings.TWL_API_ACCESS = "public"
    key_rates("3/minute", anon="2/minute")
    key = make_api_key()
    assert codes(None, 1) == [HTTPStatus.OK]
    assert codes(key, 4) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert codes(None, 2) == [HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


@pytest.mark.parametrize("rate, allowed", [("1/minute", 1), ("5/minute", 5)])
def test_a_keys_own_rate_overrides_the_default(
    stack, key_mode, key_rates, make_api_key, rate, allowed
):
    key_rates("3/minute")
    key = make_api_key(rate=rate)
    assert codes(key, allowed + 1) == [HTTPStatus.OK] * allowed + [HTTPStatus.TOO_MANY_REQUESTS]


def test_two_instances_share_one_count_in_dynamodb(stack, key_mode, key_rates, make_api_key):
    key_rates("3/minute")
    key = make_api_key()
    first, second = APIClient(), APIClient()

    assert codes(key, 2, first) + codes(key, 1, second) == [HTTPStatus.OK] * 3
    assert codes(key, 1, first) + codes(key, 1, second) == [HTTPStatus.TOO_MANY_REQUESTS] * 2
    counter = aws.dynamodb(stack).get_item(
        TableName=stack.ledger_table,
        Key={
            LEDGER_PK: {"S": throttle_key("apikey", key.split(".")[0])},
            LEDGER_SK: {"S": str(window_start(NOW, 60))},
        },
        ConsistentRead=True,
    )
    assert counter["Item"]["hits"]["N"] == "3"
