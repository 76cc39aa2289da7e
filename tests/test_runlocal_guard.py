"""`manage.py runlocal` runs only against its own emulator and a local database, or refuses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.local import admin_user, stack
from pipeline.local.admin_user import NotLocal, ensure_admin_user
from pipeline.local.stack import local_only_problems

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/db.sqlite3", "HOST": ""}
POSTGRES = {"ENGINE": "django.db.backends.postgresql", "NAME": "twl", "OPTIONS": {}}
REAL_KEY_ID = "AKIA" + "EXAMPLEEXAMPLE12"  # the shape AWS issues, not a real key


def _problems(
    *,
    host: str = "127.0.0.1",
    environ: dict[str, str] | None = None,
    endpoint: str | None = None,
    database: dict[str, Any] = SQLITE,
) -> list[str]:
    return local_only_problems(
        host=host, environ=environ or {}, endpoint_setting=endpoint, database=database
    )


@pytest.mark.parametrize(
    "case",
    [
        {},
        {"environ": {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}},
        {"environ": {"AWS_ENDPOINT_URL_S3": "http://localhost:4566"}},
        {"endpoint": "http://[::1]:4566"},
        {"environ": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}},
        {"host": "localhost"},
        {"database": POSTGRES | {"HOST": "localhost", "PORT": "5432"}},
        {"database": POSTGRES | {"HOST": "127.0.0.1"}},
        {"database": POSTGRES | {"HOST": "/var/run/postgresql"}},
        {"database": POSTGRES | {"HOST": ""}},
    ],
    ids=[
        "defaults",
        "loopback-endpoint",
        "loopback-service-endpoint",
        "loopback-endpoint-setting",
        "test-credentials",
        "localhost",
        "postgres-on-localhost",
        "postgres-on-127",
        "postgres-socket-dir",
        "postgres-default-socket",
    ],
)
def test_everything_on_this_machine_is_accepted(case):
    assert _problems(**case) == []


AWS_DYNAMODB = "https://dynamodb.us-east-1.amazonaws.com"
RDS_HOST = "twl.cluster.rds.amazonaws.com"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        pytest.param(
            {"environ": {"AWS_ENDPOINT_URL": AWS_DYNAMODB}},
            f"AWS_ENDPOINT_URL names {AWS_DYNAMODB!r}",
            id="aws-endpoint",
        ),
        pytest.param(
            {"environ": {"AWS_ENDPOINT_URL_S3": "http://10.0.0.5:4566"}},
            "AWS_ENDPOINT_URL_S3 names",
            id="service-endpoint",
        ),
        pytest.param(
            {"endpoint": "https://sqs.eu-west-1.amazonaws.com"},
            "settings.AWS_ENDPOINT_URL names",
            id="endpoint-setting",
        ),
        pytest.param(
            {"environ": {"AWS_PROFILE": "prod"}},
            "real AWS credentials are configured: AWS_PROFILE",
            id="profile",
        ),
        pytest.param(
            {"environ": {"AWS_ACCESS_KEY_ID": REAL_KEY_ID}},
            "AWS_ACCESS_KEY_ID (an AWS-issued key)",
            id="aws-issued-key",
        ),
        pytest.param(
            {"environ": {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"}},
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            id="web-identity",
        ),
        pytest.param(
            {"environ": {"AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-prod"}},
            "inside AWS Lambda",
            id="lambda",
        ),
        pytest.param({"host": "0.0.0.0"}, "--host '0.0.0.0' is not a loopback", id="any-interface"),
        pytest.param(
            {"database": POSTGRES | {"HOST": RDS_HOST}},
            f"the database is on {RDS_HOST!r}",
            id="remote-database",
        ),
        pytest.param(
            {"database": POSTGRES | {"HOST": ""}, "environ": {"PGHOST": "db.example.com"}},
            "on 'db.example.com'",
            id="pghost",
        ),
        pytest.param(
            {"database": POSTGRES | {"OPTIONS": {"service": "prod"}}},
            "the named service 'prod'",
            id="pg-service",
        ),
        pytest.param(
            {"database": POSTGRES | {"HOST": ""}, "environ": {"PGSERVICE": "prod"}},
            "the named service 'prod'",
            id="pgservice-env",
        ),
        pytest.param(
            {"database": POSTGRES | {"HOST": "", "OPTIONS": {"hostaddr": "10.0.0.5"}}},
            "at '10.0.0.5'",
            id="hostaddr",
        ),
        pytest.param(
            {"database": POSTGRES | {"HOST": "localhost", "OPTIONS": {"hostaddr": "10.0.0.5"}}},
            "at '10.0.0.5'",
            id="hostaddr-beats-localhost",
        ),
        pytest.param(
            {"database": POSTGRES | {"HOST": ""}, "environ": {"PGHOSTADDR": "10.0.0.5"}},
            "at '10.0.0.5'",
            id="pghostaddr",
        ),
    ],
)
def test_anything_beyond_this_machine_is_refused_with_its_reason(case, reason):
    problems = _problems(**case)
    assert len(problems) == 1
    assert reason in problems[0]


def test_every_reason_is_listed_at_once():
    problems = _problems(
        host="0.0.0.0",
        environ={"AWS_PROFILE": "prod", "AWS_ENDPOINT_URL": "https://example.com"},
        database=POSTGRES | {"HOST": "db.example.com"},
    )
    assert len(problems) == 4


@pytest.fixture
def emulator_never_started(monkeypatch):
    """Fail the test if the stack gets as far as starting anything or migrating."""

    def started(*args, **kwargs):
        raise AssertionError("the stack started something before refusing")

    monkeypatch.setattr(stack.Emulator, "start", started)
    monkeypatch.setattr(stack, "call_command", started)


def test_command_refuses_a_real_aws_endpoint_before_starting_anything(
    monkeypatch, emulator_never_started, django_user_model
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(CommandError, match="refusing to start the local stack") as refused:
        call_command("runlocal")

    assert refused.value.returncode == 1
    assert "AWS_ENDPOINT_URL names 'https://dynamodb.us-east-1.amazonaws.com'" in str(refused.value)
    assert not django_user_model.objects.exists()


def test_command_refuses_a_remote_database_before_starting_anything(
    monkeypatch, emulator_never_started, django_user_model
):
    remote = SimpleNamespace(settings={"default": POSTGRES | {"HOST": "db.example.com"}})
    monkeypatch.setattr(stack, "connections", remote)

    with pytest.raises(CommandError, match=re.escape("the database is on 'db.example.com'")):
        call_command("runlocal")

    assert not django_user_model.objects.exists()


def test_the_default_admin_is_never_created_in_a_remote_database(monkeypatch, django_user_model):
    remote = SimpleNamespace(settings={"default": POSTGRES | {"HOST": "db.example.com"}})
    monkeypatch.setattr(admin_user, "connections", remote)

    with pytest.raises(NotLocal, match="refusing to create the local admin login"):
        ensure_admin_user(username="admin", password="admin")

    assert not django_user_model.objects.exists()


@pytest.mark.parametrize(
    ("production", "named"),
    [
        pytest.param(
            {"DATABASE_URL": f"postgres://admin:secret@{RDS_HOST}:5432/twl"}, RDS_HOST, id="db"
        ),
        pytest.param({"AWS_ENDPOINT_URL": AWS_DYNAMODB}, AWS_DYNAMODB, id="aws"),
    ],
)
def test_manage_py_runlocal_pointed_at_production_exits_non_zero_and_creates_nothing(
    tmp_path, production, named
):
    """The real command line, in its own process; a fresh SQLite path shows nothing is made."""
    sqlite = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TWL_", "AWS_"))}
    env |= {"TWL_SQLITE_PATH": str(sqlite), "TWL_LOG_FORMAT": "plain", **production}

    result = subprocess.run(
        [sys.executable, "manage.py", "runlocal", "--aws-port", "0", "--web-port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "refusing to start the local stack" in result.stderr
    assert repr(named) in result.stderr
    assert "Traceback" not in result.stderr
    assert "is running" not in result.stdout
    assert not sqlite.exists()
