"""The sandbox sources mimic JSONPlaceholder and RandomUser 1.4, and faults can be injected."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from faker import Faker

from pipeline.local.sandbox import FAKES, FakeApi, Fault, SandboxServer, registry
from pipeline.local.sandbox import jsonplaceholder as jsonplaceholder_fake
from pipeline.local.sandbox import randomuser as randomuser_fake
from pipeline.local.sandbox._nationalities import NATIONALITIES

TIMEOUT = 5
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(running_sandbox: SandboxServer) -> SandboxServer:
    """The module's server with no faults and zeroed request counts."""
    running_sandbox.faults.clear()
    running_sandbox.reset_stats()
    return running_sandbox


def get(url: str, **params: Any) -> requests.Response:
    return requests.get(url, params=params or None, timeout=TIMEOUT)


def people(sandbox: SandboxServer, **params: object) -> dict[str, Any]:
    response = get(f"{sandbox.randomuser_url}/api/", **params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- JSONPlaceholder


def test_posts_has_100_items_with_the_documented_fields(sandbox: SandboxServer) -> None:
    response = get(f"{sandbox.jsonplaceholder_url}/posts")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    posts = response.json()
    assert len(posts) == 100
    assert all(set(post) == {"userId", "id", "title", "body"} for post in posts)
    assert [post["id"] for post in posts] == list(range(1, 101))


@pytest.mark.parametrize(
    ("resource", "count", "fields"),
    [
        ("comments", 500, {"postId", "id", "name", "email", "body"}),
        ("todos", 200, {"userId", "id", "title", "completed"}),
        ("albums", 100, {"userId", "id", "title"}),
        ("photos", 5000, {"albumId", "id", "title", "url", "thumbnailUrl"}),
    ],
)
def test_other_collections_have_the_documented_size_and_fields(
    sandbox: SandboxServer, resource: str, count: int, fields: set[str]
) -> None:
    items = get(f"{sandbox.jsonplaceholder_url}/{resource}").json()

    assert len(items) == count
    assert all(set(item) == fields for item in items)


def test_comments_are_five_per_post(sandbox: SandboxServer) -> None:
    comments = get(f"{sandbox.jsonplaceholder_url}/comments").json()

    per_post = {post_id: 0 for post_id in range(1, 101)}
    for comment in comments:
        per_post[comment["postId"]] += 1
    assert set(per_post.values()) == {5}


def test_users_have_nested_address_geo_and_company_with_string_coordinates(
    sandbox: SandboxServer,
) -> None:
    users = get(f"{sandbox.jsonplaceholder_url}/users").json()

    assert len(users) == 10
    for user in users:
        assert set(user) == {
            "id", "name", "username", "email", "address", "phone", "website", "company"
        }  # fmt: skip
        assert set(user["address"]) == {"street", "suite", "city", "zipcode", "geo"}
        assert isinstance(user["address"]["geo"]["lat"], str)
        assert isinstance(user["address"]["geo"]["lng"], str)
        assert set(user["company"]) == {"name", "catchPhrase", "bs"}


def test_jsonplaceholder_body_is_identical_on_every_call(sandbox: SandboxServer) -> None:
    first = get(f"{sandbox.jsonplaceholder_url}/posts").content
    second = get(f"{sandbox.jsonplaceholder_url}/posts").content

    assert first == second


def test_single_item_is_served_and_an_unknown_id_is_404_empty_object(
    sandbox: SandboxServer,
) -> None:
    found = get(f"{sandbox.jsonplaceholder_url}/posts/7")
    missing = get(f"{sandbox.jsonplaceholder_url}/posts/101")

    assert found.status_code == 200
    assert found.json()["id"] == 7
    assert missing.status_code == 404
    assert missing.json() == {}


def test_query_filter_and_nested_route_select_related_items(sandbox: SandboxServer) -> None:
    by_user = get(f"{sandbox.jsonplaceholder_url}/posts", userId=2).json()
    nested = get(f"{sandbox.jsonplaceholder_url}/posts/3/comments").json()

    assert len(by_user) == 10
    assert {post["userId"] for post in by_user} == {2}
    assert [comment["id"] for comment in nested] == [11, 12, 13, 14, 15]


# --------------------------------------------------------------------------- RandomUser


def test_unseeded_randomuser_calls_return_new_people(sandbox: SandboxServer) -> None:
    first = people(sandbox, results=5)
    second = people(sandbox, results=5)

    assert re.fullmatch(r"[0-9a-f]{16}", first["info"]["seed"])
    assert first["info"]["seed"] != second["info"]["seed"]
    first_ids = {p["login"]["uuid"] for p in first["results"]}
    assert first_ids.isdisjoint(p["login"]["uuid"] for p in second["results"])


def test_seeded_randomuser_calls_are_reproducible(sandbox: SandboxServer) -> None:
    url = f"{sandbox.randomuser_url}/api/"
    first = get(url, seed="twl", results=20, page=2)
    second = get(url, seed="twl", results=20, page=2)
    other_page = get(url, seed="twl", results=20, page=3)

    assert first.content == second.content
    assert first.json()["info"] == {"seed": "twl", "results": 20, "page": 2, "version": "1.4"}
    assert other_page.json()["results"] != first.json()["results"]


def test_unseeded_response_reports_a_seed_that_replays_it(sandbox: SandboxServer) -> None:
    original = people(sandbox, results=3)
    replay = people(sandbox, results=3, seed=original["info"]["seed"])

    assert replay["results"] == original["results"]


@pytest.mark.parametrize(
    ("results", "expected"), [("7", 7), (None, 1), ("abc", 1), ("0", 1), ("9999", 5000)]
)
def test_randomuser_results_param_controls_count(
    sandbox: SandboxServer, results: str | None, expected: int
) -> None:
    params = {"seed": "count"} if results is None else {"seed": "count", "results": results}
    body = people(sandbox, **params)

    assert len(body["results"]) == expected
    assert body["info"]["results"] == expected


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/1.4/"])
def test_randomuser_accepts_each_api_path_spelling(sandbox: SandboxServer, path: str) -> None:
    response = get(f"{sandbox.randomuser_url}{path}", results=2)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_randomuser_person_has_the_documented_shape(sandbox: SandboxServer) -> None:
    person = people(sandbox, seed="shape")["results"][0]

    assert list(person) == [
        "gender", "name", "location", "email", "login", "dob", "registered",
        "phone", "cell", "id", "picture", "nat",
    ]  # fmt: skip
    assert set(person["name"]) == {"title", "first", "last"}
    location = person["location"]
    assert isinstance(location["street"]["number"], int)
    assert isinstance(location["coordinates"]["latitude"], str)
    assert re.fullmatch(r"[+-]?\d{1,2}:\d{2}", location["timezone"]["offset"])
    login = person["login"]
    assert uuid.UUID(login["uuid"]).version == 4
    salted = (login["password"] + login["salt"]).encode()
    assert login["sha256"] == hashlib.sha256(salted).hexdigest()
    assert login["md5"] == hashlib.md5(salted).hexdigest()
    assert ISO_MS_Z.match(person["dob"]["date"])
    assert ISO_MS_Z.match(person["registered"]["date"])
    assert person["dob"]["age"] >= 18
    assert set(person["picture"]) == {"large", "medium", "thumbnail"}
    assert re.fullmatch(r"[A-Z]{2}", person["nat"])


def test_randomuser_people_cover_postcode_types_and_null_ids(sandbox: SandboxServer) -> None:
    crowd = people(sandbox, results=500, seed="variety")["results"]

    postcode_types = {type(p["location"]["postcode"]) for p in crowd}
    assert postcode_types == {int, str}
    assert any(p["id"] == {"name": "", "value": None} for p in crowd)
    assert any(p["id"]["value"] is not None for p in crowd)
    assert any(not (p["name"]["first"] + p["name"]["last"]).isascii() for p in crowd)
    assert all(p["email"].isascii() for p in crowd)


def test_nat_param_limits_nationalities(sandbox: SandboxServer) -> None:
    crowd = people(sandbox, results=50, nat="gb,NL,xx")["results"]

    assert {p["nat"] for p in crowd} == {"GB", "NL"}
    assert all(isinstance(p["location"]["postcode"], str) for p in crowd)


def test_inc_and_exc_filter_fields(sandbox: SandboxServer) -> None:
    included = people(sandbox, results=3, inc="gender,name,nat")["results"]
    excluded = people(sandbox, results=3, exc="login,id,picture")["results"]

    assert all(set(p) == {"gender", "name", "nat"} for p in included)
    assert all(not {"login", "id", "picture"} & set(p) for p in excluded)
    assert all("email" in p for p in excluded)


def test_seeded_people_are_identical_across_calls_and_differ_between_pages(
    sandbox: SandboxServer,
) -> None:
    first = people(sandbox, seed="pages", results=40, page=1, nat="de,ua,ir,ca")
    again = people(sandbox, seed="pages", results=40, page=1, nat="de,ua,ir,ca")
    page_two = people(sandbox, seed="pages", results=40, page=2, nat="de,ua,ir,ca")

    assert again["results"] == first["results"]
    assert page_two["info"]["page"] == 2
    uuids = {p["login"]["uuid"] for p in first["results"]}
    assert uuids.isdisjoint(p["login"]["uuid"] for p in page_two["results"])
    assert [p["name"] for p in page_two["results"]] != [p["name"] for p in first["results"]]


def test_concurrent_seeded_requests_get_the_same_people(sandbox: SandboxServer) -> None:
    url = f"{sandbox.randomuser_url}/api/"
    expected = get(url, seed="threads", results=300).content

    # The server is threaded and Fakers are pooled: requests in flight must not share one.
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: get(url, seed="threads", results=300).content, range(8)))

    assert all(body == expected for body in bodies)


def _locale_names(locales: tuple[str, ...], kind: str) -> set[str]:
    """Every name Faker's person provider lists for ``kind`` (e.g. "first_names_male")."""
    names: set[str] = set()
    for locale in locales:
        provider = Faker(locale).factories[0].provider("faker.providers.person")
        names |= set(getattr(provider, kind, None) or getattr(provider, kind.rsplit("_", 1)[0]))
    return names


def _scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (first word of each Unicode character name)."""
    # Only cased and other letters: Ukrainian's apostrophe is a modifier letter (Lm).
    letters = (ch for ch in text if unicodedata.category(ch) in {"Lu", "Ll", "Lo"})
    return {unicodedata.name(ch).split()[0] for ch in letters}


@pytest.mark.parametrize("code", sorted(NATIONALITIES))
def test_every_nationality_has_names_from_its_faker_locale_and_an_ascii_email(
    sandbox: SandboxServer, code: str
) -> None:
    nat = NATIONALITIES[code]
    crowd = people(sandbox, results=60, seed=f"nat-{code}", nat=code)["results"]

    males = _locale_names(nat.locales, "first_names_male")
    females = _locale_names(nat.locales, "first_names_female")
    lasts = _locale_names(nat.locales, "last_names")
    assert {p["nat"] for p in crowd} == {code.upper()}
    assert {p["gender"] for p in crowd} == {"male", "female"}
    for p in crowd:
        first, last = p["name"]["first"], p["name"]["last"]
        assert first in (males if p["gender"] == "male" else females), (code, first)
        assert last in lasts, (code, last)
        assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9]+)?@example\.com", p["email"]), p["email"]
        assert p["location"]["country"] == nat.country
        assert isinstance(p["location"]["postcode"], int | str)
        assert p["dob"]["age"] >= 18


@pytest.mark.parametrize(("code", "script"), [("ua", "CYRILLIC"), ("ir", "ARABIC")])
def test_non_latin_nationalities_keep_their_script_with_ascii_emails(
    sandbox: SandboxServer, code: str, script: str
) -> None:
    crowd = people(sandbox, results=30, seed="scripts", nat=code)["results"]

    for p in crowd:
        assert _scripts(p["name"]["first"] + p["name"]["last"]) == {script}, p["name"]
        local = p["email"].removesuffix("@example.com")
        assert local.isascii() and len(local) >= 2, p["email"]


def test_every_nationality_maps_to_an_installed_faker_locale() -> None:
    assert len(NATIONALITIES) == 21
    # Only Serbia lacks a Faker locale of its own (sr_RS); it borrows Croatian names.
    stand_ins = {code for code, nat in NATIONALITIES.items() if code not in nat.locales[0].lower()}
    assert stand_ins <= {"rs"}
    assert NATIONALITIES["ca"].locales == ("en_CA", "fr_CA")
    assert NATIONALITIES["ua"].locales == ("uk_UA",)


def test_gender_param_forces_the_gender(sandbox: SandboxServer) -> None:
    crowd = people(sandbox, results=40, seed="gender", gender="female", nat="fr,tr")["results"]

    females = _locale_names(("fr_FR", "tr_TR"), "first_names_female")
    assert {p["gender"] for p in crowd} == {"female"}
    assert all(p["name"]["first"] in females for p in crowd)
    assert all("/women/" in p["picture"]["large"] for p in crowd)
    assert all(
        p["picture"]["large"].startswith(f"{sandbox.url}/randomuser/portraits/") for p in crowd
    )


def test_five_thousand_results_return_five_thousand_people(sandbox: SandboxServer) -> None:
    params: dict[str, str | int] = {"results": 5000, "seed": "big"}
    started = time.monotonic()
    response = requests.get(f"{sandbox.randomuser_url}/api/", params=params, timeout=60)
    elapsed = time.monotonic() - started

    body = response.json()
    assert len(body["results"]) == 5000
    assert body["info"] == {"seed": "big", "results": 5000, "page": 1, "version": "1.4"}
    assert len({p["login"]["uuid"] for p in body["results"]}) == 5000
    assert {p["nat"] for p in body["results"]} == {code.upper() for code in NATIONALITIES}
    # About 1 s on the 2-core dev machine; a generous bound catches a per-person Faker build.
    assert elapsed < 15


# --------------------------------------------------------------------------- faults


def test_status_fault_with_retry_after_then_recovers(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(path_prefix="/randomuser", kind="status", status=429, retry_after="2"))
    url = f"{sandbox.randomuser_url}/api/"

    throttled = get(url)
    recovered = get(url)

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json() == {"error": "Too Many Requests"}
    assert recovered.status_code == 200
    assert sandbox.faults.hits == 1
    assert sandbox.stats()["requests"]["/randomuser/api/"] == 2


def test_malformed_fault_returns_invalid_json(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(path_prefix="/jsonplaceholder/posts", kind="malformed"))

    response = get(f"{sandbox.jsonplaceholder_url}/posts")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert get(f"{sandbox.jsonplaceholder_url}/posts").json()[0]["id"] == 1


def test_error_body_fault(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(path_prefix="/randomuser", kind="error_body"))

    response = get(f"{sandbox.randomuser_url}/api/")

    assert response.status_code == 200
    assert response.json() == {"error": Fault().error}


def test_latency_fault_delays_response(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(kind="latency", delay=0.3))

    started = time.monotonic()
    response = get(f"{sandbox.jsonplaceholder_url}/users")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert len(response.json()) == 10
    assert elapsed >= 0.3


def test_reset_fault_drops_the_connection_without_a_response(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(kind="reset"))

    with pytest.raises(requests.ConnectionError):
        get(f"{sandbox.jsonplaceholder_url}/posts")
    assert get(f"{sandbox.jsonplaceholder_url}/posts").status_code == 200


def test_fault_only_hits_matching_paths_and_times_none_lasts_until_cleared(
    sandbox: SandboxServer,
) -> None:
    sandbox.faults.add(Fault(path_prefix="/randomuser", status=503, times=None))

    statuses = [get(f"{sandbox.randomuser_url}/api/").status_code for _ in range(3)]
    other = get(f"{sandbox.jsonplaceholder_url}/todos/1")
    sandbox.faults.clear()

    assert statuses == [503, 503, 503]
    assert other.status_code == 200
    assert get(f"{sandbox.randomuser_url}/api/").status_code == 200


def test_http_control_endpoint_adds_and_clears_faults(sandbox: SandboxServer) -> None:
    control = f"{sandbox.url}/_sandbox/faults"

    added = requests.post(
        control, json={"path_prefix": "/jsonplaceholder", "status": 502, "times": 2}, timeout=5
    )
    listed = requests.get(control, timeout=TIMEOUT).json()
    faulted = get(f"{sandbox.jsonplaceholder_url}/posts/1")
    cleared = requests.delete(control, timeout=TIMEOUT)
    after = get(f"{sandbox.jsonplaceholder_url}/posts/1")
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=TIMEOUT).json()

    assert added.status_code == 201
    assert [(f["status"], f["remaining"]) for f in listed["faults"]] == [(502, 2)]
    assert faulted.status_code == 502
    assert cleared.json() == {"cleared": 1}
    assert requests.get(control, timeout=TIMEOUT).json()["faults"] == []
    assert after.status_code == 200
    assert stats == {"requests": {"/jsonplaceholder/posts/1": 2}}


@pytest.mark.parametrize(
    "body", [{"kind": "explode"}, {"colour": "red"}, {"status": 42}, [1, 2], "not json"]
)
def test_http_control_endpoint_rejects_an_invalid_fault_with_400(
    sandbox: SandboxServer, body: object
) -> None:
    data = body if isinstance(body, str) else json.dumps(body)

    response = requests.post(f"{sandbox.url}/_sandbox/faults", data=data, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid fault")
    assert sandbox.faults.active() == []


# --------------------------------------------------------------------------- routing and lifecycle


@pytest.mark.parametrize(
    "path", ["/", "/nothing", "/jsonplaceholder/widgets", "/randomuser/other", "/_sandbox/x"]
)
def test_unknown_path_is_404_json(sandbox: SandboxServer, path: str) -> None:
    response = get(f"{sandbox.url}{path}")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {}


def test_data_endpoints_reject_other_methods_with_405(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.jsonplaceholder_url}/posts", json={}, timeout=TIMEOUT)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_server_exposes_urls_and_stop_is_idempotent() -> None:
    server = SandboxServer().start()
    base = server.url

    assert base == f"http://127.0.0.1:{server.port}"
    assert server.jsonplaceholder_url == base + "/jsonplaceholder"
    assert server.randomuser_url == base + "/randomuser"
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/jsonplaceholder/posts", timeout=TIMEOUT)


def test_registry_finds_both_fakes_by_source() -> None:
    assert {"jsonplaceholder", "randomuser"} <= set(FAKES)
    assert FAKES["jsonplaceholder"] is jsonplaceholder_fake
    assert FAKES["randomuser"] is randomuser_fake
    assert all(isinstance(fake, FakeApi) for fake in FAKES.values())
    assert {"/jsonplaceholder", "/randomuser"} <= {fake.PREFIX for fake in FAKES.values()}
    assert all(f"/{name}" == fake.PREFIX for name, fake in FAKES.items())


@pytest.mark.parametrize(
    ("path", "source", "rest"),
    [
        ("/jsonplaceholder", "jsonplaceholder", ""),
        ("/jsonplaceholder/posts/1", "jsonplaceholder", "/posts/1"),
        ("/randomuser/api/1.4/", "randomuser", "/api/1.4/"),
        ("/randomuserx/api/", None, None),
        ("/_sandbox/faults", None, None),
    ],
)
def test_registry_routes_by_prefix(path: str, source: str | None, rest: str | None) -> None:
    found = registry.find(path)

    if source is None:
        assert found is None
    else:
        assert found == (FAKES[source], rest)


def test_a_new_fake_in_the_registry_is_served_and_listed(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def respond(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
        return 200, json.dumps({"path": path, "query": query, "base": base_url}).encode()

    echo = SimpleNamespace(SOURCE="echo", PREFIX="/echo", respond=respond)
    monkeypatch.setitem(registry.FAKES, "echo", echo)

    response = get(f"{sandbox.url}/echo/a/b", x=1)

    assert response.json() == {"path": "/a/b", "query": {"x": ["1"]}, "base": sandbox.url}
    assert sandbox.url_for("echo") == f"{sandbox.url}/echo"
    assert sandbox.source_urls()["echo"] == f"{sandbox.url}/echo"


def test_source_urls_maps_each_source_to_its_prefix(sandbox: SandboxServer) -> None:
    assert sandbox.source_urls() == {
        "jsonplaceholder": f"{sandbox.url}/jsonplaceholder",
        "randomuser": f"{sandbox.url}/randomuser",
    }
    assert sandbox.url_for("randomuser") == sandbox.randomuser_url
    assert sandbox.url_for("jsonplaceholder") == sandbox.jsonplaceholder_url
    with pytest.raises(KeyError, match="nowhere"):
        sandbox.url_for("nowhere")


def test_python_dash_m_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pipeline.local.sandbox", "--port", "0"]
    # A child inherits an ignored SIGINT (as under `nohup ... &`), and Python then
    # installs no KeyboardInterrupt handler: give it the default disposition.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with process:
        try:
            assert process.stdout is not None
            first_line = process.stdout.readline()
            url = first_line.split()[-1]
            posts = requests.get(f"{url}/posts/1", timeout=TIMEOUT)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()

    assert first_line.startswith("jsonplaceholder:")
    assert posts.json()["id"] == 1
