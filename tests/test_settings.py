"""Settings come from the environment; production refuses to start without a secret."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twl_site.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TWL_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_secret_key_stops_with_a_clear_message():
    result = _check({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr.split("ImproperlyConfigured")[-1]


def test_inside_lambda_debug_defaults_off_and_needs_the_secret():
    result = _check({"AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-dev"})
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_with_secret_key_starts():
    result = _check({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr


def test_local_defaults_start_without_any_variable():
    assert _check({}).returncode == 0


def test_every_variable_read_is_listed_in_env_example():
    example = (ROOT / ".env.example").read_text()
    listed = {
        line.split("=")[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    source = (ROOT / "twl_site" / "settings.py").read_text()
    import re

    read = set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', source))
    read |= set(re.findall(r'env_str\("([A-Z0-9_]+)"', source))
    read -= {"AWS_LAMBDA_FUNCTION_NAME", "AWS_DEFAULT_REGION"}  # set by Lambda / boto3 itself
    assert read - listed == set()


@contextlib.contextmanager
def reloaded_settings(monkeypatch, unset=(), **env):
    """The settings module re-read under ``env``; the real one is restored afterwards."""
    from twl_site import settings as site

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    try:
        yield importlib.reload(site)
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_resource_names_follow_the_stage(monkeypatch):
    with reloaded_settings(monkeypatch, TWL_STAGE="prod") as reloaded:
        assert reloaded.TWL_RAW_BUCKET == "twl-pipeline-raw-data-prod"
        assert reloaded.TWL_QUEUE_NAME == "twl-pipeline-ingestion-queue-prod"
        assert reloaded.TWL_DLQ_NAME == "twl-pipeline-ingestion-queue-prod-dlq"
        assert reloaded.TWL_CURATED_TABLE == "twl-pipeline-curated-prod"


def test_a_twl_override_renames_its_resource_and_the_dlq_follows_the_queue(monkeypatch):
    overrides = {"TWL_RAW_BUCKET": "acme-raw", "TWL_QUEUE_NAME": "acme-queue"}
    with reloaded_settings(monkeypatch, TWL_STAGE="prod", **overrides) as reloaded:
        assert reloaded.TWL_RAW_BUCKET == "acme-raw"
        assert (reloaded.TWL_QUEUE_NAME, reloaded.TWL_DLQ_NAME) == ("acme-queue", "acme-queue-dlq")
        assert reloaded.TWL_LEDGER_TABLE == "twl-pipeline-ledger-prod"


def test_each_source_base_url_comes_from_its_own_variable(monkeypatch):
    urls = {
        "TWL_RANDOMUSER_BASE_URL": "http://127.0.0.1:9/randomuser",
        "TWL_SOME_NEW_SOURCE_BASE_URL": "https://new.example",
    }
    with reloaded_settings(monkeypatch, unset=["TWL_ENABLED_SOURCES"], **urls) as reloaded:
        assert reloaded.TWL_SOURCE_BASE_URLS["randomuser"] == "http://127.0.0.1:9/randomuser"
        assert reloaded.TWL_SOURCE_BASE_URLS["some_new_source"] == "https://new.example"
        assert reloaded.TWL_ENABLED_SOURCES is None  # every registered source


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("0", False), ("Yes", True), ("off", False)]
)
def test_boolean_variables_accept_common_spellings(monkeypatch, raw, value):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", default=not value) is value


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "public"),  # DEBUG on: make run
        ({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50}, "key"),
        ({"TWL_API_ACCESS": "KEY"}, "key"),
        (
            {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50, "TWL_API_ACCESS": "public"},
            "public",
        ),
    ],
)
def test_the_access_policy_defaults_to_keys_in_production(monkeypatch, env, expected):
    from twl_site import settings as site

    for name in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "TWL_API_ACCESS", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        reloaded = importlib.reload(site)
        assert expected == reloaded.TWL_API_ACCESS
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_an_unknown_access_policy_stops_start_up():
    result = _check({"TWL_API_ACCESS": "open"})
    assert result.returncode != 0
    assert "TWL_API_ACCESS is 'open'; use 'public' or 'key'" in result.stderr


def test_malformed_variables_are_configuration_errors(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ValueError, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG", default=True)
    with pytest.raises(ValueError, match="X_INT='ten' is not an integer"):
        env_int("X_INT", 1)


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c")
    assert env_list("X_LIST", []) == ["a", "b", "c"]


def _deploy_check(extra: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TWL_"))}
    env = clean | {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 10 + "x9#Q" * 12} | extra
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_no_warnings_in_production_mode():
    result = _deploy_check({"DJANGO_ALLOWED_HOSTS": "abc.execute-api.us-east-1.amazonaws.com"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_database_url_selects_postgresql(monkeypatch):
    import importlib

    from twl_site import settings as site

    monkeypatch.setenv("DATABASE_URL", "postgres://twl:secret@db.internal:5432/twl")
    try:
        db = importlib.reload(site).DATABASES["default"]
        assert (db["ENGINE"], db["HOST"], db["NAME"]) == (
            "django.db.backends.postgresql",
            "db.internal",
            "twl",
        )
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_production_cookies_are_secure_and_https_is_enforced(monkeypatch):
    import importlib

    from twl_site import settings as site

    monkeypatch.setenv("DJANGO_DEBUG", "false")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "x" * 60)
    try:
        prod = importlib.reload(site)
        assert prod.SESSION_COOKIE_SECURE and prod.CSRF_COOKIE_SECURE and prod.SECURE_SSL_REDIRECT
        assert prod.SECURE_HSTS_SECONDS == 31_536_000
        assert prod.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
        assert prod.SESSION_ENGINE.endswith("signed_cookies")
    finally:
        monkeypatch.undo()
        importlib.reload(site)
