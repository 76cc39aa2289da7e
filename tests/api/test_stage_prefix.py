"""Under API Gateway's stage prefix every path check, link, redirect and limit holds as without it.

Behind API Gateway's default URL every path starts with the stage: Zappa's handler
passes ``SCRIPT_NAME=/dev`` and ``PATH_INFO`` without it, and the stage's settings set
``FORCE_SCRIPT_NAME`` from ``TWL_SCRIPT_NAME``, so ``request.path`` is ``/dev/api/…``
while ``request.path_info`` is ``/api/…``. Every test here runs in both shapes: no
prefix (``make run``, a custom domain) and ``/dev``. The client sends what Zappa's
translation of an API Gateway event sends (the first tests check that) and sets the
script prefix per request as Django's WSGI handler does, so ``reverse()``, ``{% url %}``
and ``build_absolute_uri`` answer as they do in Lambda.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import finders
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.test.utils import override_script_prefix
from django.urls import Resolver404, resolve, set_script_prefix
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient, ForceAuthClientHandler
from rest_framework.throttling import AnonRateThrottle
from zappa.wsgi import create_wsgi_request

from pipeline.core import tracing
from pipeline.core.constants import LEDGER_PK, LEDGER_SK
from pipeline.services.process import process_message
from pipeline.stores import aws
from pipeline.stores.throttle import throttle_key, window_start
from records_api import api, views
from records_api.throttling import API_SCOPE, HEALTH_SCOPE, PAGE_SCOPE, SharedAnonRateThrottle
from tests import factories
from tests.factories import put_raw
from tests.test_settings import reloaded_settings
from tests.test_zappa_settings import ROOT
from twl_site.urls import urlpatterns

pytestmark = pytest.mark.django_db

STAGE_PREFIX = "/dev"
PREFIXES = [pytest.param("", id="no-prefix"), pytest.param(STAGE_PREFIX, id="stage-prefix")]
# What settings.py derives from TWL_SCRIPT_NAME; read from the module itself, not restated.
STAGE_SETTINGS = ("FORCE_SCRIPT_NAME", "STATIC_URL", "SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH")
HOST = "testserver"
GATEWAY_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
CUSTOM_DOMAIN = "api.example.test"
RECORD = "jsonplaceholder-post-1"
RECORDS = 5
CLIENT_IP = "203.0.113.7"
NOW = 1_800_000_000 + 45.0  # mid-window: no test runs across a window boundary
PERIOD = 60
INTERNAL = "renderer exploded: internal detail"


# --- the two shapes ------------------------------------------------------------------------


@functools.cache
def _stage_settings(script_name: str) -> dict[str, Any]:
    """The settings module's values for ``TWL_SCRIPT_NAME=script_name``."""
    with (
        pytest.MonkeyPatch.context() as patch,
        reloaded_settings(patch, TWL_SCRIPT_NAME=script_name) as stage,
    ):
        return {name: getattr(stage, name) for name in STAGE_SETTINGS}


@pytest.fixture(params=PREFIXES)
def prefix(request, settings) -> str:
    """The stage's prefix ("" or /dev), with the settings a stage with it runs on."""
    for name, value in _stage_settings(request.param).items():
        setattr(settings, name, value)
    return request.param


class PrefixSettingHandler(ForceAuthClientHandler):
    """The test client's handler, setting the script prefix per request as WSGIHandler does."""

    def __call__(self, environ: dict[str, Any]) -> Any:
        set_script_prefix(get_script_name(environ))
        try:
            return super().__call__(environ)
        finally:
            set_script_prefix("/")


class StageClient(APIClient):
    """A client whose requests carry ``SCRIPT_NAME`` and a path below it, as Zappa's do."""

    def __init__(self, prefix: str, **defaults: Any) -> None:
        super().__init__(SCRIPT_NAME=prefix, **defaults)
        self.handler = PrefixSettingHandler(enforce_csrf_checks=False)
        self.prefix = prefix

    def follow(self, url: str, **extra: Any):
        """GET a URL the site handed out (a link, a Location), below the prefix as Zappa would."""
        parts = urlsplit(url)
        assert parts.path.startswith(f"{self.prefix}/"), url
        path = parts.path[len(self.prefix) :]
        return self.get(f"{path}?{parts.query}" if parts.query else path, **extra)


@pytest.fixture
def browser(prefix) -> StageClient:
    return StageClient(prefix)


@pytest.fixture
def operator(prefix, django_user_model) -> StageClient:
    """A signed-in superuser."""
    user = django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")
    client = StageClient(prefix)
    client.force_login(user)
    return client


@pytest.fixture
def records(stack):
    """A few processed posts (``RECORD`` among them)."""
    message = put_raw(stack, "jsonplaceholder", "post", factories.posts(RECORDS))
    process_message(message, config=stack)
    return stack


def _host(prefix: str) -> str:
    """API Gateway's own host carries the stage in the path; a custom domain does not."""
    return GATEWAY_HOST if prefix else CUSTOM_DOMAIN


def _rest_event(path: str, prefix: str) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event; its ``path`` is below the stage, as AWS sends."""
    headers = {"Host": _host(prefix), "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "queryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"stage": "dev", "path": f"{prefix}{path}", "httpMethod": "GET"},
    }


def _http_event(path: str, prefix: str) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event; its ``rawPath`` holds the stage, if the URL does."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"{prefix}{path}",
        "rawQueryString": "",
        "headers": {"host": _host(prefix), "x-forwarded-proto": "https"},
        "requestContext": {"stage": "dev", "http": {"method": "GET", "path": f"{prefix}{path}"}},
        "isBase64Encoded": False,
    }


def _zappa_environ(event: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Zappa's own translation, with the ``script_name`` zappa.handler picks: the stage on
    API Gateway's host, none behind a custom domain."""
    environ = create_wsgi_request(event, script_name=prefix or None)
    environ["wsgi.input"] = environ.get("wsgi.input") or BytesIO(b"")
    environ["lambda.event"] = event
    return environ


@pytest.mark.parametrize("shape", [_rest_event, _http_event], ids=["rest-api", "http-api"])
def test_the_client_sends_the_script_name_and_path_zappa_sends(browser, prefix, shape):
    environ = _zappa_environ(shape("/api/", prefix), prefix)

    meta = browser.get("/api/").wsgi_request.META

    assert (meta["SCRIPT_NAME"], meta["PATH_INFO"]) == (prefix, "/api/")
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (prefix, "/api/")


def test_through_zappas_translation_and_djangos_wsgi_handler_the_answer_is_the_clients(
    browser, prefix, settings
):
    settings.ALLOWED_HOSTS = [HOST, GATEWAY_HOST, CUSTOM_DOMAIN]
    path = "/api/no-such-endpoint"
    status: list[str] = []
    environ = _zappa_environ(_rest_event(path, prefix), prefix)
    body = b"".join(WSGIHandler()(environ, lambda code, headers, *_: status.append(code)))
    set_script_prefix("/")

    assert int(status[0].split()[0]) == HTTPStatus.NOT_FOUND
    assert json.loads(body) == browser.get(path).json()


def test_no_route_begins_with_a_deployed_stages_name():
    # Zappa strips the stage from PATH_INFO by a plain string prefix: under /dev a request
    # for /dev/devices would reach Django as "ices".
    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    names = {name.split("_")[0] for name in stages}
    routes = [str(pattern.pattern) for pattern in urlpatterns] + ["static/"]
    assert [r for r in routes if any(r.startswith(name) for name in names)] == []


# --- the API's own answers -------------------------------------------------------------------


def test_an_unknown_api_path_answers_the_json_404_naming_the_path_asked_for(browser, prefix):
    reply = browser.get("/api/no-such-endpoint")

    assert reply.status_code == HTTPStatus.NOT_FOUND
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {
        "error": "not_found",
        "detail": f"no such endpoint: {prefix}/api/no-such-endpoint",
    }


def test_an_unknown_page_answers_the_sites_404_page(browser):
    reply = browser.get("/no/such/page/")

    assert reply.status_code == HTTPStatus.NOT_FOUND
    assert reply["Content-Type"].startswith("text/html")


@pytest.fixture
def broken_renderer(monkeypatch) -> None:
    """The API's JSON renderer fails: the error escapes DRF's own handler, to handler500."""

    def explode(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError(INTERNAL)

    monkeypatch.setattr(JSONRenderer, "render", explode)


def test_a_failing_api_view_answers_the_json_500_without_its_internals(prefix, broken_renderer):
    reply = StageClient(prefix, raise_request_exception=False).get("/api/")

    assert reply.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {
        "error": "server_error",
        "detail": "unexpected error; it has been logged",
    }
    assert INTERNAL not in reply.content.decode()


def test_a_failing_page_answers_the_sites_500_page_with_links_below_the_prefix(prefix, monkeypatch):
    def explode(**kwargs: Any) -> None:
        raise RuntimeError(INTERNAL)

    monkeypatch.setattr(views, "analytics_get", explode)

    reply = StageClient(prefix, raise_request_exception=False).get("/")

    assert reply.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert reply["Content-Type"].startswith("text/html")
    assert INTERNAL not in reply.content.decode()
    urls = site_urls(reply.content.decode())
    assert f"{prefix}/" in urls and misplaced(urls, prefix) == []


def _latency(capsys) -> list[str]:
    lines = capsys.readouterr().out.splitlines()
    documents = [json.loads(line) for line in lines if '"_aws"' in line]
    return [d["endpoint"] for d in documents if "ApiLatency" in d]


@pytest.mark.parametrize(
    ("path", "endpoints"),
    [
        ("/api/", ["api-root"]),
        ("/api/records?limit=0", ["api-records"]),
        ("/api/no-such-endpoint", ["unmatched"]),
        ("/admin/login/", []),
    ],
    ids=["endpoint", "bad-request", "unknown", "page"],
)
def test_api_latency_is_emitted_with_the_route_and_only_for_the_api(
    browser, capsys, path, endpoints
):
    capsys.readouterr()
    browser.get(path)
    assert _latency(capsys) == endpoints


@contextmanager
def _denied(stack) -> Iterator[None]:
    """Every DynamoDB call denied, as AWS would deny it."""

    def deny(**kwargs: Any) -> None:
        error = {"Error": {"Code": "AccessDenied", "Message": "denied"}}
        raise ClientError(error, "Query")

    events = aws.dynamodb(stack).meta.events
    events.register("before-call.dynamodb.*", deny)
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.*", deny)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/records", "application/json"), ("/records/", "text/html")],
    ids=["api", "page"],
)
def test_an_aws_failure_is_a_503_logged_with_the_path_as_asked_for(
    browser, prefix, stack, caplog, path, content_type
):
    with caplog.at_level(logging.WARNING), _denied(stack):
        reply = browser.get(path)

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert reply["Content-Type"].startswith(content_type)
    assert any(f"on {prefix}{path}:" in r.getMessage() for r in caplog.records), caplog.text


def test_the_api_root_links_every_endpoint_below_the_prefix(browser, prefix):
    links = browser.get("/api/").json()

    assert links and all(url.startswith(f"http://{HOST}{prefix}/api/") for url in links.values()), (
        links
    )
    assert browser.follow(links["docs"]).status_code == HTTPStatus.OK


def test_pagination_links_of_the_api_and_the_records_page_carry_the_prefix(
    browser, prefix, records, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    first = browser.get("/api/records", {"limit": 2}).json()
    second = browser.follow(first["next"]).json()
    page = _paging_links(browser.get("/records/").content.decode())
    next_page = _paging_links(browser.follow(page["next"]).content.decode())

    assert first["next"].startswith(f"http://{HOST}{prefix}/api/records?")
    assert first["results"][0]["url"].startswith(f"http://{HOST}{prefix}/api/records/")
    assert second["results"] and {r["id"] for r in first["results"]}.isdisjoint(
        r["id"] for r in second["results"]
    )
    assert page["next"].startswith(f"{prefix}/records/?")
    assert next_page["prev"].startswith(f"{prefix}/records/")
    assert browser.follow(next_page["prev"]).status_code == HTTPStatus.OK


def _paging_links(html: str) -> dict[str, str]:
    found = re.findall(r'<a rel="(next|prev)" href="([^"]+)"', html)
    return {rel: href.replace("&amp;", "&") for rel, href in found}


def test_a_raw_item_too_large_names_its_records_url_below_the_prefix(
    browser, prefix, records, monkeypatch
):
    monkeypatch.setattr(api, "RAW_ITEM_MAX_BYTES", 1)

    reply = browser.get(f"/api/records/{RECORD}/raw")

    assert reply.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert reply.json()["detail"].endswith(f"is at {prefix}/api/records/{RECORD}")


def test_the_api_answers_cross_origin_reads_and_pages_do_not(browser):
    origin = {"HTTP_ORIGIN": "https://elsewhere.example"}

    assert browser.get("/api/", **origin)["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in browser.get("/admin/login/", **origin)


# --- pages: every link, form, stylesheet and script below the prefix --------------------------


class _Urls(HTMLParser):
    """Every href, src and action of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in {"href", "src", "action"} and v]


def site_urls(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.found


def _routed(path_info: str) -> bool:
    """Whether the path below the prefix is a static file or a route of the site."""
    static = "/static/"
    if path_info.startswith(static):
        return finders.find(path_info[len(static) :]) is not None
    try:
        resolve(path_info)
    except Resolver404:
        return False
    return True


def misplaced(urls: list[str], prefix: str) -> list[str]:
    """The site's URLs not below the prefix exactly once, or leading nowhere below it.

    Fragments and bare queries (``#main``, ``?cursor=…``) are relative to the page and
    keep its prefix; another host's URLs are not the site's.
    """
    wrong = []
    for url in urls:
        parts = urlsplit(url)
        if parts.netloc not in ("", HOST) or not (parts.netloc or url.startswith("/")):
            continue
        path = parts.path
        below = path == prefix or path.startswith(f"{prefix}/")
        twice = bool(prefix) and path.startswith(f"{prefix}{prefix}/")
        if not below or twice or not _routed(path[len(prefix) :] or "/"):
            wrong.append(url)
    return wrong


def _wrong_links(client: StageClient, pages: dict[str, int]) -> dict[str, Any]:
    """Per page: its status if not the one expected, else its misplaced URLs (or none found)."""
    wrong: dict[str, Any] = {}
    for path, status in pages.items():
        reply = client.get(path, HTTP_ACCEPT="text/html")
        urls = site_urls(reply.content.decode())
        if reply.status_code != status:
            wrong[path] = reply.status_code
        elif not urls or misplaced(urls, client.prefix):
            wrong[path] = misplaced(urls, client.prefix) or "no links"
    return wrong


PAGES = {
    "/": HTTPStatus.OK,
    "/records/": HTTPStatus.OK,
    "/records/?source=jsonplaceholder&type=post": HTTPStatus.OK,
    f"/records/{RECORD}/": HTTPStatus.OK,
    "/records/?id=jsonplaceholder-post-999": HTTPStatus.NOT_FOUND,
    "/records/?source=nope": HTTPStatus.BAD_REQUEST,
    "/records/no-such-record/": HTTPStatus.NOT_FOUND,
    "/no/such/page/": HTTPStatus.NOT_FOUND,
    "/api/docs/": HTTPStatus.OK,
    "/api/": HTTPStatus.OK,  # the browsable API
    "/api/records?limit=2": HTTPStatus.OK,
    "/admin/login/": HTTPStatus.OK,
}
ADMIN_PAGES = {
    path: HTTPStatus.OK
    for path in (
        "/admin/",
        "/admin/pipeline/",
        "/admin/pipeline/record/",
        f"/admin/pipeline/record/{RECORD}/change/",
        "/admin/pipeline/source/",
        "/admin/pipeline/ingestionrun/",
        "/admin/pipeline/ingestionrun/replay/",
        "/admin/pipeline/deadlettermessage/",
        "/admin/pipeline/job/",
    )
}


# One test per shape, each page in turn: the stack is provisioned once, not once a page.
def test_every_link_form_stylesheet_and_script_of_every_page_is_below_the_prefix(browser, records):
    assert _wrong_links(browser, PAGES) == {}


def test_every_link_and_form_of_every_admin_page_is_below_the_prefix(operator, records):
    assert _wrong_links(operator, ADMIN_PAGES) == {}


def test_the_admins_view_site_link_is_the_sites_root_below_the_prefix(operator, prefix):
    html = operator.get("/admin/").content.decode()

    [site] = re.findall(r'<a href="([^"]*)">View site</a>', html)
    assert site == (prefix or "/")


@pytest.mark.parametrize(
    "asset",
    [
        "css/site.css",
        "admin/css/base.css",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ],
)
def test_static_files_are_served_below_the_prefix(browser, prefix, asset):
    reply = browser.follow(f"{prefix}/static/{asset}")

    assert reply.status_code == HTTPStatus.OK
    assert reply["Content-Type"].startswith("text/css")


def test_the_api_docs_load_the_schema_and_call_the_api_below_the_prefix(browser, prefix):
    page = site_urls(browser.get("/api/docs/").content.decode())
    [script] = [u for u in page if "script" in urlsplit(u).query]

    assert script == f"{prefix}/api/docs/?script="
    assert f'url: "{prefix}/api/schema/"' in browser.follow(script).content.decode()
    schema = browser.get("/api/schema/", {"format": "json"}).json()
    # Swagger UI joins the server and the path: "Try it out" calls /dev/api/records.
    assert schema["servers"] == [{"url": prefix or "/"}]
    assert "/api/records" in schema["paths"]


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/records", "/api/docs", "/admin"], ids=["page", "api", "admin"])
def test_a_path_without_its_slash_is_redirected_to_it_below_the_prefix(browser, prefix, path):
    reply = browser.get(path, {"q": "1"})

    assert reply.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert reply["Location"] == f"{prefix}{path}/?q=1"


def test_a_record_lookup_redirects_to_its_page_below_the_prefix(browser, operator, prefix, records):
    page = browser.get("/records/", {"id": RECORD})
    admin = operator.get("/admin/pipeline/record/", {"id": RECORD})

    assert page["Location"] == f"{prefix}/records/{RECORD}/"
    assert admin["Location"] == f"{prefix}/admin/pipeline/record/{RECORD}/change/"


def test_plain_http_is_redirected_to_https_at_the_same_prefixed_url(browser, prefix, settings):
    settings.SECURE_SSL_REDIRECT = True

    reply = browser.get("/records/", {"source": "jsonplaceholder"})

    assert reply.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert reply["Location"] == f"https://{HOST}{prefix}/records/?source=jsonplaceholder"


def test_the_admin_sends_a_visitor_to_its_sign_in_and_back_below_the_prefix(
    browser, prefix, django_user_model
):
    django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")

    to_login = browser.get("/admin/")
    login_page = browser.follow(to_login["Location"]).content.decode()
    signed_in = browser.post(
        f"/admin/login/?next={prefix}/admin/",
        {"username": "ops", "password": "pw", "next": f"{prefix}/admin/password_change/"},
    )

    assert to_login["Location"] == f"{prefix}/admin/login/?next={prefix}/admin/"
    assert f'action="{prefix}/admin/login/?next={prefix}/admin/"' in login_page
    assert signed_in["Location"] == f"{prefix}/admin/password_change/"
    assert browser.follow(signed_in["Location"]).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "next_url", [None, "https://elsewhere.example/admin/"], ids=["no-next", "foreign-next"]
)
def test_signing_in_with_no_usable_next_lands_on_the_admin_below_the_prefix(
    browser, prefix, django_user_model, next_url
):
    django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")
    form = {"username": "ops", "password": "pw"} | ({"next": next_url} if next_url else {})

    reply = browser.post("/admin/login/", form)

    assert reply.status_code == HTTPStatus.FOUND
    assert reply["Location"] == f"{prefix}/admin/"


def test_a_view_needing_a_sign_in_sends_the_visitor_to_the_admins_below_the_prefix(prefix):
    with override_script_prefix(f"{prefix}/"):
        reply = redirect_to_login(f"{prefix}/records/")

    assert reply["Location"] == f"{prefix}/admin/login/?next={prefix}/records/"


# --- cookies ------------------------------------------------------------------------------


def test_the_session_and_csrf_cookies_are_scoped_to_the_prefix(browser, prefix, django_user_model):
    django_user_model.objects.create_superuser("ops", "ops@example.test", "pw")

    page = browser.get("/admin/login/")
    signed_in = browser.post("/admin/login/", {"username": "ops", "password": "pw"})

    assert page.cookies["csrftoken"]["path"] == (prefix or "/")
    assert signed_in.cookies["sessionid"]["path"] == (prefix or "/")


# --- throttling ------------------------------------------------------------------------------


def _hits(stack, scope: str) -> int | None:
    key = {
        LEDGER_PK: {"S": throttle_key(scope, CLIENT_IP)},
        LEDGER_SK: {"S": str(window_start(NOW, PERIOD))},
    }
    item = aws.dynamodb(stack).get_item(TableName=stack.ledger_table, Key=key).get("Item")
    return int(item["hits"]["N"]) if item else None


def test_throttle_scopes_keys_limits_and_answers_are_the_same_with_or_without_the_prefix(
    prefix, stack, settings, monkeypatch
):
    monkeypatch.setattr(SharedAnonRateThrottle, "timer", staticmethod(lambda: NOW))
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    settings.TWL_PAGE_RATE = "1/minute"
    settings.TWL_HEALTH_RATE = "3/minute"
    client = StageClient(prefix, REMOTE_ADDR=CLIENT_IP)

    replies = {
        p: [client.get(p) for _ in range(4)] for p in ("/api/health", "/api/records", "/records/")
    }

    refused_from = {
        path: [r.status_code for r in answers].index(HTTPStatus.TOO_MANY_REQUESTS)
        for path, answers in replies.items()
    }
    assert refused_from == {"/api/health": 3, "/api/records": 2, "/records/": 1}
    scopes = (HEALTH_SCOPE, API_SCOPE, PAGE_SCOPE)
    assert {s: _hits(stack, s) for s in scopes} == {HEALTH_SCOPE: 3, API_SCOPE: 2, PAGE_SCOPE: 1}
    assert replies["/api/health"][-1].json()["error"] == "throttled"
    assert replies["/records/"][-1]["Content-Type"].startswith("text/html")


# --- tracing ------------------------------------------------------------------------------


@pytest.fixture
def subsegments(settings, monkeypatch) -> list[str]:
    """TWL_TRACING on, with X-Ray's subsegments recorded by name instead of sent."""
    names: list[str] = []

    @contextmanager
    def record(name: str, **annotations: Any) -> Iterator[None]:
        names.append(name)
        yield None

    monkeypatch.setattr(tracing, "configure", lambda **kwargs: None)
    monkeypatch.setattr(tracing, "subsegment", record)
    monkeypatch.setattr(tracing, "annotate", lambda segment, **kwargs: None)
    settings.TWL_TRACING = True
    return names


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/", "web.api-root"),
        ("/api/records?limit=0", "web.api-records"),
        ("/admin/", "web.admin:index"),
        ("/no/such/page/", "web.unmatched"),
    ],
)
def test_each_request_is_traced_under_its_urls_name(browser, subsegments, path, name):
    browser.get(path)
    assert subsegments == [name]


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script_name", "expected"),
    [("", "/"), ("/dev", "/dev"), ("/dev/", "/dev")],
    ids=["custom-domain", "stage", "stage-with-slash"],
)
def test_the_stage_prefix_setting_derives_the_script_name_static_url_and_cookie_paths(
    script_name, expected
):
    derived = _stage_settings(script_name)

    assert derived["FORCE_SCRIPT_NAME"] == (expected if script_name else None)
    assert derived["STATIC_URL"] == f"{expected.rstrip('/')}/static/"
    assert derived["SESSION_COOKIE_PATH"] == derived["CSRF_COOKIE_PATH"] == expected
