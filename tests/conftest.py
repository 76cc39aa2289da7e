"""Shared fixtures: offline AWS (moto in-process) and a pipeline config for it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

# Fake credentials before any boto3 import can look for real ones.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
# Many requests per second in API tests; the throttles have their own tests
# (tests/api/test_throttling.py), which switch them on. For subprocesses; in this
# process the settings were read before this file runs: see ``throttles_off``.
os.environ["TWL_API_ANON_RATE"] = ""
os.environ["TWL_PAGE_RATE"] = ""
os.environ["TWL_HEALTH_RATE"] = ""
os.environ["TWL_API_KEY_RATE"] = ""

from moto import mock_aws

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.names import resource_names
from pipeline.local.emulator import install_moto_extensions
from pipeline.sources import builtin_names
from pipeline.stores import aws

install_moto_extensions()


def use_stage(settings, stage: str) -> None:
    """Name every resource after ``stage`` by the one naming rule, as the settings module does."""
    names = resource_names(stage)
    settings.TWL_STAGE = stage
    settings.TWL_RAW_BUCKET = names.raw_bucket
    settings.TWL_QUEUE_NAME = names.queue
    settings.TWL_DLQ_NAME = names.dlq
    settings.TWL_CURATED_TABLE = names.curated_table
    settings.TWL_LEDGER_TABLE = names.ledger_table


STACK_REWRITTEN_SETTINGS = (
    "AWS_ENDPOINT_URL",
    "TWL_SOURCE_BASE_URLS",
)


def settings_for_local_stack(settings, stage: str):
    """Touch every setting LocalStack rewrites, so the fixture restores them afterwards."""
    for name in STACK_REWRITTEN_SETTINGS:
        setattr(settings, name, getattr(settings, name))
    use_stage(settings, stage)
    return settings


@pytest.fixture(autouse=True)
def throttles_off(settings, monkeypatch) -> None:
    """No rate limit unless a test sets one: pytest-django read the settings before this file.

    DRF fixes its throttle rates on the class at import, so the API's is patched there.
    """
    from rest_framework.throttling import AnonRateThrottle

    settings.TWL_PAGE_RATE = ""
    settings.TWL_HEALTH_RATE = ""
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": None})


class _Moto:
    """Whether in-process moto answers AWS calls now (the ``moto_aws`` fixture is active)."""

    on = False


def pytest_sessionstart(session) -> None:
    """Declared sources are read only where an AWS answers: moto or an emulator.

    They live in the ledger table. A test on moto (``moto_aws``, ``stack``) or on an
    emulator (an endpoint is set) reads them as the functions do; anywhere else (other
    tests, imports while collecting) the registry holds the built-in sources only,
    without trying to reach AWS. (Django is set up by now: the provider is installed.)
    """
    from pipeline import sources as registry

    provider = registry.declared_provider()
    if provider is None:
        return

    def reachable() -> bool:
        return _Moto.on or get_config().aws_endpoint_url is not None

    registry.declared_provider_set(
        lambda: provider.current() if reachable() else {},
        lambda name, version: provider.at_version(name, version) if reachable() else None,
    )


@pytest.fixture(autouse=True)
def declared_sources_fresh(monkeypatch) -> Iterator[None]:
    """No declared source read by another test; and a read lasts the test.

    Writes still drop it, so no count of AWS calls depends on how fast a test runs.
    """
    from pipeline.stores import declared_sources

    declared_sources.definitions_cache_clear()
    monkeypatch.setattr(declared_sources, "CACHE_SECONDS", float("inf"))
    yield
    declared_sources.definitions_cache_clear()


@pytest.fixture
def config(settings) -> PipelineConfig:
    """Settings for stage 'test' on in-process moto (no endpoint); returns their config."""
    settings.AWS_ENDPOINT_URL = None
    settings.AWS_REGION = "us-east-1"
    use_stage(settings, "test")
    settings.TWL_SOURCE_BASE_URLS = {name: f"https://{name}.test" for name in builtin_names()}
    settings.TWL_HTTP_RETRY_AFTER_MAX = 1
    # moto ignores policy conditions, so a TLS-only policy would deny every request;
    # provisioning tests switch it back on to check the policy itself.
    return get_config()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """In-process moto for the test; cached clients are dropped before and after."""
    aws.reset_clients()
    with mock_aws():
        _Moto.on = True
        try:
            yield
        finally:
            _Moto.on = False
    aws.reset_clients()


@pytest.fixture
def stack(config, moto_aws) -> PipelineConfig:
    """In-process moto with every resource provisioned.

    Its declared sources (none yet) are read once here, as a warm web instance holds
    them, so a test counting a request's AWS calls counts the request's own. A test that
    writes definitions other than through ``pipeline.stores.definitions`` clears the
    cache (``definitions_cache_clear``) to see them.
    """
    from pipeline.deploy.provision import provision
    from pipeline.stores.declared_sources import declared_sources, definitions_cache_clear

    provision(config=config)
    definitions_cache_clear()  # provisioning looked before the ledger table existed
    declared_sources(config=config)
    return config


@pytest.fixture
def sources(config) -> Iterator[responses.RequestsMock]:
    """Every source's API answered by `responses`, offline.

    The two built-in sources get small payloads (new people on each call); any other
    registered source is answered in-process by its sandbox fake, so a new source needs
    no change here.
    """
    from pipeline.local.sandbox import FAKES
    from tests import factories

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        base = config.base_url("jsonplaceholder")
        mock.get(f"{base}/posts", json=factories.posts(3))
        mock.get(f"{base}/comments", json=factories.comments(5))
        mock.get(f"{base}/users", json=factories.users(2))
        mock.add_callback(
            "GET",
            f"{config.base_url('randomuser')}/api/",
            callback=lambda request: (200, {}, json.dumps(factories.people(4))),
        )
        for name in builtin_names() - {"jsonplaceholder", "randomuser"}:
            _answer_with_fake(mock, FAKES[name], config.base_url(name))
        yield mock


def _answer_with_fake(mock: responses.RequestsMock, fake, base: str) -> None:
    """Serve every GET below ``base`` from a sandbox fake, without a server."""

    def answer(request):
        url = urlsplit(request.url)
        status, body = fake.respond(url.path[len(urlsplit(base).path) :], parse_qs(url.query), base)
        return status, {"Content-Type": "application/json"}, body

    mock.add_callback("GET", re.compile(re.escape(base) + r"(/.*)?$"), callback=answer)


ROOT = Path(__file__).resolve().parent.parent
# What the "other" environment a stand-in pyenv names holds: none of it may reach the zip.
OTHER_ENV_PACKAGES = ("IPython", "scipy", "numpy", "awscli", "other_env_marker")


def unactivated_shell(work: Path) -> dict[str, str]:
    """A shell as the docs assume one: no virtualenv activated (no VIRTUAL_ENV, the venv
    not on PATH), and a ``pyenv`` first on PATH whose current version is another
    environment (Zappa asks pyenv when VIRTUAL_ENV is unset) holding OTHER_ENV_PACKAGES."""
    root = work / "pyenv"
    site = root / "versions" / "other" / "lib" / "python3.11" / "site-packages"
    for name in OTHER_ENV_PACKAGES:
        (site / name).mkdir(parents=True, exist_ok=True)
        (site / name / "__init__.py").write_text("")
    shims = work / "bin"
    shims.mkdir(exist_ok=True)
    pyenv = shims / "pyenv"
    pyenv.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  root) echo {root} ;;\n"
        "  version-name) echo other ;;\n"
        "  *) echo 'pyenv 2.4.0 (a stand-in)' ;;\n"
        "esac\n"
    )
    pyenv.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env["PATH"] = os.pathsep.join([str(shims), *path])
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


@pytest.fixture(scope="session")
def dev_package(tmp_path_factory) -> Path:
    """The dev stage's zip, built once per session by the documented command exactly as
    written, ``make package STAGE=dev`` (from an :func:`unactivated_shell`)."""
    work = tmp_path_factory.mktemp("dev-package")
    output = work / "twl-pipeline-dev.zip"
    done = subprocess.run(
        ["make", "--no-print-directory", "package", "STAGE=dev", f"OUTPUT={output}"],
        cwd=ROOT,
        env=unactivated_shell(work),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return output


@pytest.fixture(scope="session")
def stage_packages(dev_package, tmp_path_factory) -> dict:
    """The dev and dev_worker zips, each built once per session with ``make package``."""
    from pipeline.local.deployed import build_packages

    worker = build_packages(["dev_worker"], tmp_path_factory.mktemp("packages"))
    return {"dev": dev_package, **worker}


@pytest.fixture
def make_api_key(db):
    """Create an API key as ``manage.py apikey create`` does; returns the key itself."""
    from pipeline.models import ApiKey

    def make(name: str = "test key", *, scopes: str = "", **fields) -> str:
        _, key = ApiKey.objects.create_key(name=name, scopes=scopes, **fields)
        return key

    return make


@pytest.fixture
def personal_client(make_api_key):
    """An API client holding a key with the personal-data scope."""
    from rest_framework.test import APIClient

    from pipeline.core.constants import PERSONAL_DATA_SCOPE

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=make_api_key("personal", scopes=PERSONAL_DATA_SCOPE))
    return client
