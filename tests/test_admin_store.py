"""The admin's own data in S3 (pipeline/stores/s3sqlite): kept across cold starts and redeploys.

Each Lambda container of a stage is modelled as its own ``DatabaseWrapper`` with its
own local copy (its /tmp), all of them on the stage's one S3 object in in-process moto
(5.2.5 enforces ``IfMatch`` and ``IfNoneMatch: *`` on put_object, so the conflicts
below are S3's own refusals, not stubs). Management commands run as ``manage.py``
runs them (``run_from_argv``: the command, then every connection closed).
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.exceptions import ImproperlyConfigured
from django.core.management import ManagementUtility
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.sqlite3.base import DatabaseWrapper as PlainSQLite
from django.db.utils import ConnectionHandler
from django.test import Client, RequestFactory

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import ADMIN_DB_KEY
from pipeline.deploy.stack.roles import StageTarget, function_policy
from pipeline.deploy.stack.spec import spec_from_config
from pipeline.deploy.stack.storage import ADMIN_DB_HISTORY_DAYS
from pipeline.deploy.stack.template import build_template
from pipeline.stores import aws
from pipeline.stores.s3sqlite import ENGINE, store
from pipeline.stores.s3sqlite.base import DatabaseWrapper
from pipeline.stores.s3sqlite.store import (
    AdminDataConflict,
    AdminDataUnavailable,
    Location,
)
from records_api.admin_data import (
    CONFLICT_DETAIL,
    UNAVAILABLE_DETAIL,
    admin_data_failure,
)
from tests.iam_eval import CallRecorder, IamMapper, IamRequest, allowed, allowing_statement
from tests.test_settings import reloaded_settings

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "operator"
PASSWORD = "a long operator passphrase, 7 words"
ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
# The first seeded database (migrated, one operator), built once by the documented
# commands and then uploaded as it is: migrating takes a second or two each time.
_SEEDED: dict[str, bytes] = {}


class Containers:
    """Lambda containers of one stage: each its own local copy, all on one S3 object."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wrappers: dict[str, DatabaseWrapper] = {}

    def path(self, name: str) -> Path:
        return self.root / name / "db.sqlite3"

    def wrapper(self, name: str) -> DatabaseWrapper:
        if name not in self.wrappers:
            settings = {"ENGINE": ENGINE, "KEY": ADMIN_DB_KEY, "NAME": str(self.path(name))}
            handler = ConnectionHandler({DEFAULT_DB_ALIAS: settings | {"CONN_MAX_AGE": 0}})
            self.wrappers[name] = DatabaseWrapper(handler.settings[DEFAULT_DB_ALIAS])
        return self.wrappers[name]

    @contextmanager
    def on(self, name: str) -> Iterator[DatabaseWrapper]:
        """Run the body in container ``name``: its wrapper is Django's default database."""
        previous = connections[DEFAULT_DB_ALIAS]
        connections[DEFAULT_DB_ALIAS] = self.wrapper(name)
        try:
            yield self.wrappers[name]
        finally:
            connections[DEFAULT_DB_ALIAS] = previous

    def cold_start(self, name: str) -> None:
        """A new process on the same /tmp: a new wrapper, the copy left where it was."""
        self._drop(name)

    def redeploy(self, name: str) -> None:
        """A new container after a deploy: a new wrapper and no local copy at all."""
        self._drop(name)
        for path in self.path(name).parent.iterdir():
            path.unlink()

    def _drop(self, name: str) -> None:
        wrapper = self.wrappers.pop(name, None)
        if wrapper is not None:
            PlainSQLite.close(wrapper)  # a process that ends uploads nothing more

    def close_all(self) -> None:
        for name in list(self.wrappers):
            self._drop(name)


@pytest.fixture
def containers(stack, tmp_path, django_db_blocker, settings) -> Iterator[Containers]:
    """The stage's stack on moto; no admin database in S3 until a test makes one."""
    # A fast hash: each sign-in would otherwise spend a third of a second on PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    made = Containers(tmp_path)
    with django_db_blocker.unblock():
        yield made
    made.close_all()


@pytest.fixture
def superuser_password(monkeypatch) -> str:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    return PASSWORD


@pytest.fixture
def recorder(monkeypatch) -> CallRecorder:
    calls = CallRecorder()
    calls.install(monkeypatch)
    return calls


def manage(*args: str) -> None:
    """``manage.py <args>`` as it runs: the command, then every connection closed (saved)."""
    argv = ["manage.py", *args]
    ManagementUtility(argv).fetch_command(args[0]).run_from_argv(argv)


def create_operator(username: str = USERNAME) -> None:
    """The documented command, without a prompt (``DJANGO_SUPERUSER_PASSWORD`` is set)."""
    manage("createsuperuser", "--noinput", "--username", username, "--email", "ops@example.org")


def seed(containers: Containers, config: PipelineConfig) -> str:
    """A migrated database with one operator in S3; its ETag."""
    if "db" not in _SEEDED:
        with containers.on("laptop"):
            manage("migrate", "--verbosity", "0")
            create_operator()
        containers.cold_start("laptop")
        _SEEDED["db"] = containers.path("laptop").read_bytes()
        return head(config)["ETag"]
    reply = aws.s3(config).put_object(
        Bucket=config.raw_bucket, Key=ADMIN_DB_KEY, Body=_SEEDED["db"]
    )
    return str(reply["ETag"])


def head(config: PipelineConfig) -> dict[str, Any]:
    return dict(aws.s3(config).head_object(Bucket=config.raw_bucket, Key=ADMIN_DB_KEY))


def in_s3(config: PipelineConfig, sql: str, tmp_path: Path) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` in the S3 object as it is now (read with the standard sqlite3)."""
    body = aws.s3(config).get_object(Bucket=config.raw_bucket, Key=ADMIN_DB_KEY)["Body"].read()
    copy = tmp_path / "inspected.sqlite3"
    copy.write_bytes(body)
    with sqlite3.connect(copy) as db:
        return sorted(db.execute(sql).fetchall())


def sign_in(client: Client) -> None:
    reply = client.post("/admin/login/?next=/admin/", {"username": USERNAME, "password": PASSWORD})
    assert reply.status_code == HTTPStatus.FOUND, reply.content[:500]
    assert reply["Location"] == "/admin/"
    assert USERNAME in client.get("/admin/").content.decode()


def add_group(client: Client, name: str) -> Any:
    return client.post("/admin/auth/group/add/", {"name": name, "_save": "Save"})


def s3_calls(recorder: CallRecorder, operation: str) -> list[dict[str, Any]]:
    return [c.params for c in recorder.calls if c.service == "s3" and c.operation == operation]


# --- Kept across cold starts and redeploys -------------------------------------------------


def test_an_operator_made_by_the_documented_commands_signs_in_after_a_cold_start_and_a_redeploy(
    containers, config, superuser_password, tmp_path
):
    seed(containers, config)  # make migrate + make operator, on the operator's machine
    client = Client()
    with containers.on("web"):
        sign_in(client)
    containers.cold_start("web")
    with containers.on("web"):
        sign_in(Client())
    containers.redeploy("web")
    assert not containers.path("web").exists()
    with containers.on("web"):
        sign_in(Client())

    # Each sign-in's last_login reached S3 before its response left.
    [(last_login,)] = in_s3(config, "SELECT last_login FROM auth_user", tmp_path)
    assert last_login is not None


def test_a_database_that_does_not_exist_yet_starts_empty_and_migrate_creates_it(
    containers, config, recorder
):
    with containers.on("laptop") as db, recorder.window():
        assert db.introspection.table_names() == []
        db.close()
        assert s3_calls(recorder, "PutObject") == []  # nothing changed: nothing uploaded
        manage("migrate", "--verbosity", "0")

    [put] = s3_calls(recorder, "PutObject")
    assert put["IfNoneMatch"] == "*" and "IfMatch" not in put
    assert head(config)["ContentLength"] == len(containers.path("laptop").read_bytes())


# --- Reads cost one conditional GET and never write ------------------------------------------


def test_a_request_that_only_reads_makes_no_put_and_a_warm_container_downloads_nothing(
    containers, config, superuser_password, recorder
):
    etag = seed(containers, config)
    client = Client()
    with containers.on("web") as db:
        sign_in(client)
        db.close()  # the end of the request
        after_sign_in = head(config)["ETag"]
        assert after_sign_in != etag
        copy = containers.path("web").stat()
        with recorder.window():
            for page in ("/admin/", "/admin/auth/user/", "/admin/auth/group/"):
                assert client.get(page).status_code == HTTPStatus.OK
                db.close()

    gets = s3_calls(recorder, "GetObject")
    assert len(gets) == 3 and all(g["IfNoneMatch"] == after_sign_in for g in gets)
    assert s3_calls(recorder, "PutObject") == []
    assert head(config)["ETag"] == after_sign_in
    # 304 each time: the copy was never rewritten.
    assert containers.path("web").stat().st_mtime_ns == copy.st_mtime_ns


def _append_to_copy(location: Location) -> None:
    with location.path.open("ab") as copy:
        copy.write(b"left by a crash")


def _garble_record(location: Location) -> None:
    location.record.write_text("{not json")


def _record_of_another_bucket(location: Location) -> None:
    location.record.write_text(location.record.read_text().replace(location.bucket, "other"))


@pytest.mark.parametrize(
    "damage",
    [_append_to_copy, _garble_record, _record_of_another_bucket],
    ids=["copy-changed", "record-garbled", "record-of-another-object"],
)
def test_a_local_copy_not_known_to_be_its_download_is_downloaded_again(
    containers, config, superuser_password, recorder, damage
):
    seed(containers, config)
    with containers.on("web") as db:
        db.ensure_connection()
        db.close()
        damage(db._location()[0])
        with recorder.window():
            db.ensure_connection()
            db.close()

    [get] = s3_calls(recorder, "GetObject")
    assert "IfNoneMatch" not in get
    assert containers.path("web").read_bytes() == _SEEDED["db"]


# --- Conflicts are refused by S3 and seen by the operator ------------------------------------


def test_a_write_that_lost_the_race_answers_409_and_the_other_containers_write_survives(
    containers, config, superuser_password, tmp_path
):
    seed(containers, config)
    client_a, client_b = Client(), Client()
    with containers.on("a") as a:
        sign_in(client_a)
        a.close()
        a.ensure_connection()  # request A starts: its copy is S3's version now
    with containers.on("b") as b:
        sign_in(client_b)
        assert add_group(client_b, "from-b").status_code == HTTPStatus.FOUND
        b.close()
    won = head(config)["ETag"]

    with containers.on("a"):
        reply = add_group(client_a, "from-a")  # ...and saves after B did
    assert reply.status_code == HTTPStatus.CONFLICT
    page = reply.content.decode()
    assert "changed in another request" in page and "Traceback" not in page
    # The view ran (a job it started may be queued): a reload would post it again.
    assert "do not resubmit" in page and "Jobs" in page and "Reload" not in page
    assert head(config)["ETag"] == won
    assert in_s3(config, "SELECT name FROM auth_group", tmp_path) == [("from-b",)]
    assert not containers.path("a").exists()  # discarded: the next request reads S3 again

    with containers.on("a"):
        listing = client_a.get("/admin/auth/group/").content.decode()
        assert "was added successfully" not in listing  # the untrue message was dropped
        assert add_group(client_a, "from-a").status_code == HTTPStatus.FOUND
    assert in_s3(config, "SELECT name FROM auth_group", tmp_path) == [("from-a",), ("from-b",)]


@pytest.mark.parametrize("first_deploy", [True, False], ids=["both-migrate-first", "existing"])
def test_a_management_command_that_lost_the_race_fails_and_the_winners_data_stays(
    containers, config, superuser_password, tmp_path, first_deploy
):
    """Two operators at once: the one whose command ends second is refused, loudly."""
    if not first_deploy:
        seed(containers, config)
    with containers.on("laptop-a") as a:
        a.ensure_connection()  # A's command starts...
    with containers.on("laptop-b"):
        if first_deploy:
            manage("migrate", "--verbosity", "0")
        create_operator("b-operator")  # ...B's runs to the end...
    won = head(config)["ETag"]

    with containers.on("laptop-a"), pytest.raises(AdminDataConflict, match="not saved"):
        # ...then A's ends: the error leaves manage.py, which exits 1.
        manage("migrate", "--verbosity", "0") if first_deploy else create_operator("a-operator")

    assert head(config)["ETag"] == won
    users = [u for (u,) in in_s3(config, "SELECT username FROM auth_user", tmp_path)]
    assert "b-operator" in users and "a-operator" not in users
    assert not containers.path("laptop-a").exists()


# --- A failed read is an error, never an empty database --------------------------------------


def _client_error(code: str, status: HTTPStatus) -> ClientError:
    reply: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(reply, "GetObject")


READ_FAILURES = {
    "denied": _client_error("AccessDenied", HTTPStatus.FORBIDDEN),
    "s3-error": _client_error("InternalError", HTTPStatus.INTERNAL_SERVER_ERROR),
    "no-bucket": _client_error("NoSuchBucket", HTTPStatus.NOT_FOUND),
    "network": EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
}


@pytest.mark.parametrize("failure", READ_FAILURES.values(), ids=READ_FAILURES.keys())
def test_a_failed_read_raises_answers_503_and_never_uploads(
    containers, config, superuser_password, monkeypatch, failure
):
    seed(containers, config)
    client = Client()
    with containers.on("web") as db:
        sign_in(client)
        db.close()
    etag = head(config)["ETag"]
    s3 = aws.s3(config)
    monkeypatch.setattr(s3, "get_object", _refusing(failure))
    monkeypatch.setattr(s3, "put_object", lambda **_: pytest.fail("uploaded after a failed read"))
    containers.redeploy("web")
    with containers.on("web") as db:
        with pytest.raises(AdminDataUnavailable, match="could not read"):
            db.ensure_connection()
        db.close()
        reply = client.get("/admin/")
        db.close()

    assert reply.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not be read or saved" in reply.content.decode()
    assert head(config)["ETag"] == etag


@pytest.mark.parametrize(
    ("body", "limit", "why"),
    [
        (b"<html>not a database</html>", None, "not a SQLite database"),
        (b"", None, "not a SQLite database"),
        (b"SQLite format 3\x00" + bytes(4096), 1024, "over the size limit"),
    ],
    ids=["not-sqlite", "empty", "too-large"],
)
def test_an_object_that_is_not_a_usable_database_is_refused_and_never_saved_over(
    containers, config, monkeypatch, body, limit, why
):
    if limit:
        monkeypatch.setattr(store, "ADMIN_DB_MAX_BYTES", limit)
    etag = aws.s3(config).put_object(Bucket=config.raw_bucket, Key=ADMIN_DB_KEY, Body=body)["ETag"]
    with containers.on("web") as db:
        with pytest.raises(AdminDataUnavailable, match=why):
            db.ensure_connection()
        db.close()
    assert head(config)["ETag"] == etag
    assert not containers.path("web").exists()


def _refusing(failure: Exception) -> Any:
    def refuse(**_: Any) -> None:
        raise failure

    return refuse


def test_access_denied_names_the_likely_cause(containers, config, monkeypatch):
    """The web role may not list the bucket: S3 answers a missing key with AccessDenied."""
    monkeypatch.setattr(aws.s3(config), "get_object", _refusing(READ_FAILURES["denied"]))
    with containers.on("web") as db, pytest.raises(AdminDataUnavailable, match="make migrate"):
        db.ensure_connection()


@pytest.mark.parametrize("conflict", [True, False], ids=["conflict", "unavailable"])
@pytest.mark.parametrize("path", ["/admin/auth/user/", "/api/records"])
def test_a_failure_is_a_409_or_503_page_or_json_without_the_internal_error(conflict, path):
    exc = (AdminDataConflict if conflict else AdminDataUnavailable)("s3://secret/admin/db.sqlite3")
    reply = admin_data_failure(RequestFactory().post(path), exc)
    assert reply.status_code == (
        HTTPStatus.CONFLICT if conflict else HTTPStatus.SERVICE_UNAVAILABLE
    )
    body = reply.content.decode()
    api = path.startswith("/api/")
    shown = json.loads(body)["detail"] if api else html.unescape(body)
    assert (CONFLICT_DETAIL if conflict else UNAVAILABLE_DETAIL) in shown
    assert "secret" not in body
    assert reply["Content-Type"].startswith("application/json" if api else "text/html")


# --- Permissions, history, settings ----------------------------------------------------------


def test_every_call_the_admin_makes_on_its_database_is_allowed_to_the_web_role(
    containers, config, superuser_password, recorder
):
    seed(containers, config)
    client = Client()
    with containers.on("web") as db, recorder.window():
        sign_in(client)
        assert add_group(client, "ops").status_code == HTTPStatus.FOUND
        db.close()

    target = StageTarget(names=config.names, region=REGION, account_id=ACCOUNT)
    web = function_policy("web", target)
    mapper = IamMapper(REGION, ACCOUNT, {})
    requests = {r for c in recorder.calls for r in mapper.requests(c)}
    assert {r.action for r in requests} == {"s3:GetObject", "s3:PutObject"}
    assert {allowing_statement(web, r) for r in requests} == {"AdminDatabase"}


def test_only_the_web_role_reaches_the_admin_database_and_only_to_read_and_write_it(config):
    target = StageTarget(names=config.names, region=REGION, account_id=ACCOUNT)
    web, worker = (function_policy(f, target) for f in ("web", "worker"))
    database = target.bucket(f"/{ADMIN_DB_KEY}")
    for action in ("s3:GetObject", "s3:PutObject"):
        assert allowed(web, IamRequest.of(action, database))
        assert not allowed(worker, IamRequest.of(action, database))
    assert not allowed(web, IamRequest.of("s3:DeleteObject", database))
    assert not allowed(web, IamRequest.of("s3:PutObject", target.bucket("/raw/k.json")))
    listing = IamRequest.of("s3:ListBucket", target.bucket(), {"s3:prefix": ["admin/"]})
    assert not allowed(web, listing)  # a missing database reads as AccessDenied


def test_old_versions_of_the_admin_database_expire_and_the_current_one_never(config):
    bucket = build_template(spec_from_config(config)).to_dict()["Resources"]["RawBucket"]
    [rule] = [
        r
        for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        if r["Prefix"] == "admin/"
    ]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": ADMIN_DB_HISTORY_DAYS}
    assert ADMIN_DB_HISTORY_DAYS >= 30
    assert not {"ExpirationInDays", "Transitions"} & set(rule)
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


IN_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-dev", "DJANGO_SECRET_KEY": "k" * 50}
ADMIN_DB_VARIABLES = ("DATABASE_URL", "TWL_ADMIN_DB", "TWL_ADMIN_DB_KEY")


@pytest.mark.parametrize(
    ("env", "engine", "key"),
    [
        (IN_LAMBDA, ENGINE, ADMIN_DB_KEY),
        ({}, "django.db.backends.sqlite3", None),
        ({"TWL_ADMIN_DB": "s3", "TWL_ADMIN_DB_KEY": "admin/b.sqlite3"}, ENGINE, "admin/b.sqlite3"),
        (IN_LAMBDA | {"TWL_ADMIN_DB": "file"}, "django.db.backends.sqlite3", None),
        (
            IN_LAMBDA | {"DATABASE_URL": "postgres://u:p@db.example.org:5432/twl"},
            "django.db.backends.postgresql",
            None,
        ),
    ],
    ids=["lambda-default", "local-default", "s3-chosen", "file-chosen", "database-url-wins"],
)
def test_the_admin_database_follows_the_settings(monkeypatch, env, engine, key):
    unset = {*ADMIN_DB_VARIABLES, "AWS_LAMBDA_FUNCTION_NAME"} - set(env)
    with reloaded_settings(monkeypatch, unset=unset, **env) as site:
        database = site.DATABASES["default"]
    assert database["ENGINE"] == engine
    assert database.get("KEY") == key
    if engine == ENGINE:
        assert database["CONN_MAX_AGE"] == 0  # every request reads S3's current version


def test_an_unknown_admin_database_kind_stops_start_up(monkeypatch):
    with (
        pytest.raises(ImproperlyConfigured, match="TWL_ADMIN_DB"),
        reloaded_settings(monkeypatch, unset=["DATABASE_URL"], TWL_ADMIN_DB="dynamodb"),
    ):
        pass


def test_with_lambdas_old_sqlite_the_backend_runs_django_on_the_packaged_one(tmp_path):
    """Lambda's python3.11 has SQLite 3.7.17; Django 5.2 refuses anything before 3.31."""
    script = f"""
import os
import sqlite3
sqlite3.sqlite_version_info = (3, 7, 17)  # as Lambda's python3.11 runtime links
import django
from django.conf import settings
django.setup()
settings.DATABASES["default"]["NAME"] = ":memory:"  # plain SQLite: no S3 in this check
from django.core.management import call_command
from django.contrib.auth import authenticate, get_user_model
from django.db import connection
call_command("migrate", verbosity=0)
get_user_model().objects.create_superuser("{USERNAME}", "ops@example.org", "pw-{USERNAME}")
assert authenticate(username="{USERNAME}", password="pw-{USERNAME}") is not None
print(connection.Database.__name__, connection.Database.sqlite_version)
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "twl_site.settings",
        "TWL_ADMIN_DB": "s3",
        "TWL_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    module, version = done.stdout.split()
    assert module == "pysqlite3.dbapi2"
    assert tuple(int(p) for p in version.split(".")) >= (3, 31)


def test_the_local_copy_is_per_bucket_and_key_under_the_temp_directory(config):
    wrapper = DatabaseWrapper(
        ConnectionHandler(
            {DEFAULT_DB_ALIAS: {"ENGINE": ENGINE, "KEY": "admin/x.sqlite3"}}
        ).settings[DEFAULT_DB_ALIAS]
    )
    location, _ = wrapper._location()
    assert (location.bucket, location.key) == (config.raw_bucket, "admin/x.sqlite3")
    assert location.path.is_relative_to(tempfile.gettempdir())
    assert location.path.parts[-3:] == (config.raw_bucket, "admin", "x.sqlite3")


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``make`` as documented, with the virtualenv taken as installed (nothing reinstalled)."""
    return subprocess.run(
        ["make", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_migrate_and_make_operator_run_djangos_commands_on_the_stages_s3_database():
    done = _make("-n", "migrate", "operator", "STAGE=dev", "USERNAME=ops")
    assert done.returncode == 0, done.stderr
    on_s3 = "env TWL_STAGE=dev TWL_ADMIN_DB=s3 .venv/bin/python manage.py"
    assert f"{on_s3} migrate\n" in done.stdout
    assert f'{on_s3} createsuperuser --username "ops"' in done.stdout
    assert "--noinput" not in done.stdout  # the password is prompted, never passed


def test_make_operator_without_a_username_says_how_to_call_it():
    env = {k: v for k, v in os.environ.items() if k != "USERNAME"}
    done = _make("operator", "STAGE=dev", env=env)
    assert done.returncode == 2
    assert "usage: make operator STAGE=dev USERNAME=<name>" in done.stderr
