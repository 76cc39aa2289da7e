"""The SSRF guard: every address class refused, literal or resolved, on every hop, on the wire."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from pipeline.core.config import get_config
from pipeline.core.errors import SourceError
from pipeline.services import http_guard
from pipeline.services.http import RETRY_STATUSES
from pipeline.services.http_guard import (
    AddressPolicy,
    AddressRefused,
    DeadlineExceeded,
    PageTooLarge,
    address_refusal,
    check_url,
    guarded_get,
    guarded_session,
    policy_for,
)
from pipeline.sources.declared.paginators import PageRequest

DEPLOYED = AddressPolicy(allow_loopback=False, require_https=True)
LOCAL = AddressPolicy(allow_loopback=True, require_https=False)
# A deployed policy over plain http, so a local test server can stand in for a public one.
PUBLIC_HTTP = AddressPolicy(allow_loopback=False, require_https=False)
PUBLIC = "93.184.216.34"
TIMEOUT = (2.0, 2.0)

REFUSED = [
    ("10.0.0.5", "a private address"),
    ("172.16.3.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("127.0.0.1", "a loopback address"),
    ("127.45.6.7", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.169.254", "the instance metadata address"),
    ("fd00:ec2::254", "the instance metadata address"),
    ("169.254.170.2", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("fc00::1", "a private address"),
    ("192.0.2.10", "a private address"),
    ("::ffff:10.0.0.5", "a private address (as 10.0.0.5 inside IPv6)"),
    ("::ffff:169.254.169.254", "the instance metadata address (as 169.254.169.254 inside IPv6)"),
    ("::ffff:127.0.0.1", "a loopback address (as 127.0.0.1 inside IPv6)"),
    ("64:ff9b::a9fe:a9fe", "the instance metadata address (as 169.254.169.254 inside IPv6)"),
    ("2002:a00:5::", "a private address (as 10.0.0.5 inside IPv6)"),
]


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_every_non_public_address_class_is_refused_with_its_name(address: str, kind: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), DEPLOYED) == kind


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), DEPLOYED) is None


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_literal_address_in_the_url_is_refused(address: str, kind: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        check_url(f"https://{_url_host(address)}/items", DEPLOYED)
    expected = f"refused: {ipaddress.ip_address(address)} is {kind}; "
    assert str(refused.value) == expected + "declared sources may only reach public addresses"


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """Host -> the addresses getaddrinfo answers; other hosts resolve as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        if not answers[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(address, port) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


def _info(address: str, port: Any) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, int(port), 0, 0) if family == socket.AF_INET6 else (address, int(port))
    return (family, socket.SOCK_STREAM, 6, "", sockaddr)


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_host_resolving_to_a_refused_address_is_refused_naming_both(
    dns, address: str, kind: str
) -> None:
    dns["api.example.com"] = [address]
    with pytest.raises(AddressRefused) as refused:
        check_url("https://api.example.com/items", DEPLOYED)
    assert str(refused.value) == (
        f"refused: {ipaddress.ip_address(address)} (api.example.com) is {kind}; "
        "declared sources may only reach public addresses"
    )


def test_one_refused_address_among_public_ones_refuses_the_host(dns) -> None:
    dns["api.example.com"] = [PUBLIC, "2606:4700::1111", "10.1.2.3"]
    with pytest.raises(AddressRefused, match=r"10\.1\.2\.3 \(api\.example\.com\) is a private"):
        check_url("https://api.example.com/items", DEPLOYED)


def test_a_host_resolving_only_to_public_addresses_passes(dns) -> None:
    dns["api.example.com"] = [PUBLIC, "2606:4700::1111"]
    check_url("https://api.example.com:8443/items?page=2", DEPLOYED)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1", "0177.0.0.1"])
def test_obfuscated_spellings_of_loopback_are_refused_as_what_they_resolve_to(host: str) -> None:
    with pytest.raises(AddressRefused, match=rf"127\.0\.0\.1 \({host}\) is a loopback address"):
        check_url(f"https://{host}/", DEPLOYED)


def test_an_unresolvable_host_is_a_source_error(dns) -> None:
    dns["nowhere.invalid"] = []
    with pytest.raises(SourceError, match=r"cannot resolve 'nowhere\.invalid'"):
        check_url("https://nowhere.invalid/", DEPLOYED)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8001/catalog", "http://localhost/x", "http://[::1]/"]
)
def test_loopback_is_allowed_on_the_local_stack(url: str) -> None:
    check_url(url, LOCAL)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://0.0.0.0:8001/", "an unspecified address"),
        ("http://10.0.0.5/", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "the instance metadata address"),
    ],
)
def test_the_local_stack_still_refuses_everything_but_loopback(url: str, kind: str) -> None:
    with pytest.raises(AddressRefused, match=kind):
        check_url(url, LOCAL)


def test_deployed_stages_require_https(dns) -> None:
    dns["api.example.com"] = [PUBLIC]
    with pytest.raises(AddressRefused) as refused:
        check_url("http://api.example.com/items", DEPLOYED)
    assert str(refused.value) == (
        "refused: http://api.example.com/items is not https; deployed stages require https"
    )
    check_url("http://api.example.com/items", LOCAL)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1/", "https:///path", "items"],
)
@pytest.mark.parametrize("policy", [DEPLOYED, LOCAL])
def test_other_schemes_and_hostless_urls_are_refused(url: str, policy: AddressPolicy) -> None:
    with pytest.raises(AddressRefused, match="is not an http\\(s\\) URL with a host"):
        check_url(url, policy)


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(AddressRefused, match="carries credentials in the URL"):
        check_url("http://user:pw@127.0.0.1/", LOCAL)


@pytest.mark.parametrize(("allowed", "policy"), [(False, DEPLOYED), (True, LOCAL)])
def test_the_policy_follows_the_loopback_setting(
    settings, allowed: bool, policy: AddressPolicy
) -> None:
    settings.TWL_SOURCES_ALLOW_LOOPBACK = allowed
    assert policy_for(get_config()) == policy


def test_the_guarded_session_reuses_the_sources_retry_rule(config) -> None:
    session = guarded_session(config, DEPLOYED)
    retry = session.get_adapter("https://api.example.com/").max_retries
    assert (retry.total, retry.status_forcelist) == (config.http_retries, RETRY_STATUSES)
    assert session.trust_env is False
    assert session.headers["User-Agent"].startswith("twl-pipeline/")


# ---- a real server on 127.0.0.1


Reply = tuple[int, dict[str, str], bytes]
# A reply header the test server drops: send the body without Content-Length (to the close).
NO_LENGTH = "x-test-no-length"


@dataclass
class Server:
    """A loopback HTTP server answering ``routes``; ``seen`` records (path, headers) per request."""

    url: str
    routes: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def other_server() -> Iterator[Server]:
    yield from _serve()


def _serve() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            answer = state.routes.get(self.path.split("?")[0])
            status, headers, body = answer() if answer else (404, {}, b"{}")
            self.send_response(status)
            for name, value in headers.items():
                if name != NO_LENGTH:
                    self.send_header(name, value)
            if NO_LENGTH not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _get(session: requests.Session, url: str, policy: AddressPolicy = LOCAL, **kw: Any) -> Any:
    options: dict[str, Any] = {"headers": {}, "max_bytes": 1_000_000, "deadline": 1e12}
    options.update(kw)
    return guarded_get(session, PageRequest(url, ()), policy=policy, timeout=TIMEOUT, **options)


@pytest.fixture
def session(config) -> requests.Session:
    return guarded_session(config, LOCAL)


def test_a_page_is_fetched_with_lower_case_headers(server, session) -> None:
    server.routes["/items"] = lambda: (200, {"X-Total": "3"}, b'{"items": [1, 2, 3]}')
    page = guarded_get(
        session,
        PageRequest(server.url + "/items", (("page", "2"),)),
        headers={"Authorization": "Bearer t"},
        policy=LOCAL,
        timeout=TIMEOUT,
        max_bytes=100,
        deadline=1e12,
    )
    assert (page.status, page.body, page.headers["x-total"]) == (200, b'{"items": [1, 2, 3]}', "3")
    assert page.url == server.url + "/items?page=2"
    assert server.seen[0][0] == "/items?page=2"
    assert server.seen[0][1]["authorization"] == "Bearer t"


def test_dns_rebinding_is_refused_at_the_connection(server, config, monkeypatch) -> None:
    """The check resolves a public address; the connect then resolves (and reaches) 127.0.0.1."""
    port = server.url.rsplit(":", 1)[1]
    calls: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: Any, port_: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "rebind.test":
            return real(host, port_, *args, **kwargs)
        calls.append(host)
        return [_info(PUBLIC if len(calls) == 1 else "127.0.0.1", port_)]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    server.routes["/secret"] = lambda: (200, {}, b"leaked")
    session = guarded_session(config, PUBLIC_HTTP)
    with pytest.raises(AddressRefused) as refused:
        _get(session, f"http://rebind.test:{port}/secret", PUBLIC_HTTP)
    assert str(refused.value).startswith(
        "refused: 127.0.0.1 (rebind.test) is a loopback address (the address connected to"
    )
    assert len(calls) == 2  # the check, then the connection's own resolution
    assert server.seen == []  # not one byte of the request reached the server


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        ("http://10.0.0.5/admin", r"10\.0\.0\.5 is a private address"),
        ("http://0.0.0.0:8001/", r"0\.0\.0\.0 is an unspecified address"),
        ("http://[::ffff:a9fe:a9fe]/", "is the instance metadata address"),
        ("file:///etc/passwd", r"is not an http\(s\) URL with a host"),
    ],
)
def test_a_redirect_to_a_refused_target_is_refused(server, session, target, refusal) -> None:
    server.routes["/items"] = lambda: (302, {"Location": target}, b"")
    with pytest.raises(AddressRefused, match=refusal):
        _get(session, server.url + "/items")
    assert [path for path, _ in server.seen] == ["/items"]


def test_a_redirect_to_the_metadata_address_is_refused(server, session) -> None:
    target = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    server.routes["/items"] = lambda: (307, {"Location": target}, b"")
    with pytest.raises(AddressRefused, match="is the instance metadata address"):
        _get(session, server.url + "/items")


def test_a_redirect_from_https_to_http_is_refused_when_deployed(dns, monkeypatch) -> None:
    dns["api.example.com"] = [PUBLIC]
    calls: list[str] = []

    class Answer:
        status_code, url = 301, "https://api.example.com/items"
        headers = {"Location": "http://api.example.com/items"}

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    session = requests.Session()
    monkeypatch.setattr(session, "get", lambda url, **kw: calls.append(url) or Answer())
    with pytest.raises(AddressRefused, match="is not https; deployed stages require https"):
        _get(session, "https://api.example.com/items", DEPLOYED)
    assert calls == ["https://api.example.com/items"]


def test_same_origin_redirects_are_followed_with_their_headers(server, session) -> None:
    server.routes["/old"] = lambda: (301, {"Location": "/new?x=1"}, b"")
    server.routes["/new"] = lambda: (200, {}, b"[]")
    page = _get(session, server.url + "/old", headers={"X-API-Key": "k"})
    assert (page.url, page.body) == (server.url + "/new?x=1", b"[]")
    assert [h.get("x-api-key") for _, h in server.seen] == ["k", "k"]


def test_a_redirect_to_another_origin_drops_the_callers_headers(
    server, other_server, session
) -> None:
    server.routes["/items"] = lambda: (302, {"Location": other_server.url + "/elsewhere"}, b"")
    other_server.routes["/elsewhere"] = lambda: (200, {}, b"[]")
    headers = {"Authorization": "Bearer secret-token", "X-API-Key": "k", "Accept-Language": "en"}
    assert _get(session, server.url + "/items", headers=headers).body == b"[]"
    [(_, arrived)] = other_server.seen
    assert {"authorization", "x-api-key", "accept-language"} & set(arrived) == set()
    assert server.seen[0][1]["authorization"] == "Bearer secret-token"


def test_redirects_stop_after_five_hops(server, session) -> None:
    server.routes["/loop"] = lambda: (302, {"Location": "/loop"}, b"")
    with pytest.raises(SourceError, match="more than 5 redirects"):
        _get(session, server.url + "/loop")
    assert len(server.seen) == 6


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (True, "the page declares 1,200,003 bytes, over the 1,000,000 bytes allowed"),
        (False, "the page is over the 1,000,000 bytes allowed"),  # streamed, then cut
    ],
)
def test_a_body_over_the_cap_is_cut(server, session, declared: bool, message: str) -> None:
    body = b"[" + b"1," * 600_000 + b"1]"
    headers = {} if declared else {NO_LENGTH: "1"}
    server.routes["/big"] = lambda: (200, headers, body)
    with pytest.raises(PageTooLarge, match=message):
        _get(session, server.url + "/big", max_bytes=1_000_000)


def test_a_body_at_the_cap_is_kept(server, session) -> None:
    server.routes["/exact"] = lambda: (200, {}, b"x" * 1000)
    assert len(_get(session, server.url + "/exact", max_bytes=1000).body) == 1000


@pytest.mark.parametrize("status", [401, 404, 400])
def test_a_non_2xx_answer_raises_http_error(server, session, status: int) -> None:
    server.routes["/items"] = lambda: (status, {}, b'{"error": "no"}')
    with pytest.raises(requests.HTTPError) as failed:
        _get(session, server.url + "/items")
    assert failed.value.response.status_code == status


def test_a_3xx_without_location_raises_http_error(server, session) -> None:
    server.routes["/items"] = lambda: (304, {}, b"")
    with pytest.raises(requests.HTTPError, match="304 answer without a usable redirect"):
        _get(session, server.url + "/items")


def test_a_passed_deadline_sends_nothing(server, session) -> None:
    server.routes["/items"] = lambda: (200, {}, b"[]")
    with pytest.raises(DeadlineExceeded, match="before the request"):
        _get(session, server.url + "/items", deadline=10.0, clock=lambda: 11.0)
    assert server.seen == []


def test_a_body_that_outlasts_the_deadline_is_abandoned(server, session) -> None:
    server.routes["/slow"] = lambda: (200, {}, b"x" * 300_000)
    ticks = iter(range(100))
    with pytest.raises(DeadlineExceeded, match="while reading the page"):
        _get(session, server.url + "/slow", deadline=2.0, clock=lambda: float(next(ticks)))


def test_environment_proxies_are_ignored(server, session, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:9")
    monkeypatch.setenv("http_proxy", "http://10.255.255.1:9")
    server.routes["/items"] = lambda: (200, {}, b"[]")
    assert _get(session, server.url + "/items").body == b"[]"


def test_an_explicit_proxy_is_refused(server, session) -> None:
    session.proxies = {"http": "http://127.0.0.1:9"}
    with pytest.raises(AddressRefused, match="never go through a proxy"):
        _get(session, server.url + "/items")


def test_the_deployed_guard_refuses_the_local_server_itself(server, config) -> None:
    server.routes["/items"] = lambda: (200, {}, b"[]")
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback address"):
        _get(guarded_session(config, PUBLIC_HTTP), server.url + "/items", PUBLIC_HTTP)
    assert server.seen == []


def test_pool_classes_are_built_once_per_policy() -> None:
    assert http_guard._pool_classes(LOCAL) is http_guard._pool_classes(LOCAL)
    assert http_guard._pool_classes(LOCAL)["http"].ConnectionCls.policy == LOCAL
