"""The documented deploy commands work exactly as written, with no virtualenv activated.

Zappa packages whatever environment ``VIRTUAL_ENV`` names, else pyenv's current one:
run unactivated on a machine with pyenv, ``.venv/bin/zappa package dev`` once zipped
another environment (scipy, numpy, IPython, awscli and the project's own ``.venv/``,
202.5 MiB). The Makefile's targets name the project's ``.venv``; the docs use them.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import OTHER_ENV_PACKAGES, ROOT, unactivated_shell

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEPLOY_DOCS = [ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"]
WORKFLOW_FILES = sorted((ROOT / ".github").rglob("*.yml"))
# The Zappa commands that build a package, so depend on which environment Zappa finds.
PACKAGING = re.compile(r"\bzappa\s+(?:package|deploy|update)\s+[a-z_]+")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SHELL_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
OPTIONAL = re.compile(r"\s\[[^\]]*\]")  # the docs' `[ARGS=…]`: an optional argument


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- make package, as written ---------------------------------------------------------------


def test_make_package_zips_the_project_and_its_venv_from_an_unactivated_shell_with_pyenv(
    dev_package,
):
    with zipfile.ZipFile(dev_package) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert {"handler.py", "django/__init__.py", "pipeline/__init__.py"} <= set(names)
    assert "rest_framework/__init__.py" in names  # the project's .venv, not another one
    assert not tops & set(OTHER_ENV_PACKAGES)
    assert not tops & {".venv", ".venv-checkov", "node_modules", ".github"}
    assert not tops & {"package.json", "package-lock.json", "Makefile"}


def test_the_shell_the_package_is_built_from_points_zappa_at_another_environment(tmp_path):
    """The premise: in that shell, plain Zappa would package the pyenv environment."""
    probe = "from zappa.core import Zappa; print(Zappa.get_current_venv())"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=unactivated_shell(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(tmp_path / "pyenv" / "versions" / "other")


# --- release and health, with Zappa stood in for ------------------------------------------


def _fake_zappa(directory: Path, *, status_exit: int, status_json: str = "{}") -> Path:
    """A ``zappa`` that logs its arguments; ``status`` prints JSON and exits as told."""
    log = directory / "zappa.log"
    fake = directory / "zappa"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {shlex.quote(str(log))}\n'
        'if [ "$1" = status ]; then\n'
        f"  printf '%s' {shlex.quote(status_json)}\n"
        f"  exit {status_exit}\n"
        "fi\n"
    )
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize(
    ("status_exit", "then"),
    [(1, "deploy dev -j --disable_progress"), (0, "update dev -j --disable_progress")],
    ids=["not-deployed-yet", "deployed"],
)
def test_make_release_deploys_a_stage_zappa_does_not_know_and_updates_one_it_does(
    tmp_path, status_exit, then
):
    fake = _fake_zappa(tmp_path, status_exit=status_exit)
    done = _make("release", "STAGE=dev", f"ZAPPA={fake}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "zappa.log").read_text().splitlines() == ["status dev -j", then]


class _Health(BaseHTTPRequestHandler):
    """Answers every GET with the status the test sets, and remembers the paths asked."""

    status = HTTPStatus.OK
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b'{"status": "ok"}' if self.status == HTTPStatus.OK else b'{"status": "degraded"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``paths``."""


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("answer", "passes"),
    [(HTTPStatus.OK, True), (HTTPStatus.SERVICE_UNAVAILABLE, False)],
    ids=["healthy", "degraded"],
)
def test_make_health_asks_the_stages_deployed_url_and_passes_only_on_200(
    tmp_path, health_server, answer, passes
):
    base, handler = health_server
    handler.status = answer
    status = f'{{"Lambda Name": "twl-pipeline-dev", "API Gateway URL": "{base}/dev"}}'
    fake = _fake_zappa(tmp_path, status_exit=0, status_json=status)
    done = _make("health", "STAGE=dev", f"ZAPPA={fake}", "HEALTH_RETRIES=0")
    assert (done.returncode == 0) is passes, done.stdout + done.stderr
    assert handler.paths == ["/dev/api/health"]
    assert ('"ok"' if passes else '"degraded"') in done.stdout  # the body is shown either way


def test_make_health_fails_when_zappa_finds_no_deployed_stage(tmp_path, health_server):
    _, handler = health_server
    fake = _fake_zappa(tmp_path, status_exit=1, status_json="No Lambda detected")
    done = _make("health", "STAGE=dev", f"ZAPPA={fake}", "HEALTH_RETRIES=0")
    assert done.returncode != 0
    assert handler.paths == []


# --- the docs and the Makefile cannot drift apart -----------------------------------------


def _command_lines(path: Path) -> Iterator[str]:
    """Lines of a doc's fenced code blocks and inline code spans; a workflow's lines."""
    text = path.read_text()
    if path.suffix == ".yml":
        yield from re.findall(r"^\s*(?:-\s*)?run:\s*(.+)$", text, flags=re.MULTILINE)
        return
    yield from re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
    fenced = re.findall(r"^\s*```[^\n]*\n(.*?)^\s*```", text, flags=re.MULTILINE | re.DOTALL)
    for block in fenced:
        yield from block.splitlines()


def _make_commands(paths: list[Path]) -> dict[tuple[str, ...], str]:
    """Each distinct ``make …`` command (its arguments) and the first file naming it."""
    found: dict[tuple[str, ...], str] = {}
    shell = {"STAGE": "dev"}  # the deploy action passes the stage in $STAGE
    for path in paths:
        for line in _command_lines(path):
            try:
                words = shlex.split(OPTIONAL.sub("", line), comments=True)
            except ValueError:
                continue
            while words and ASSIGNMENT.match(words[0]):
                words = words[1:]  # FOO=bar make …
            if len(words) < 2 or words[0] != "make":
                continue
            args = tuple(SHELL_VARIABLE.sub(lambda m: shell.get(m[1], m[0]), w) for w in words[1:])
            found.setdefault(args, path.name)
    return found


DOC_COMMANDS = _make_commands(DOCS + WORKFLOW_FILES)


def test_the_docs_and_workflows_name_the_deploy_targets():
    targets = {args[0] for args in DOC_COMMANDS}
    assert {"package", "deploy", "update", "release", "provision", "verify"} <= targets


@pytest.mark.parametrize("args", sorted(DOC_COMMANDS), ids=" ".join)
def test_every_make_command_the_docs_and_workflows_give_exists(args):
    done = _make("-n", *args)
    assert done.returncode == 0, f"{DOC_COMMANDS[args]}: make {' '.join(args)}\n{done.stderr}"


@pytest.mark.parametrize("doc", DEPLOY_DOCS, ids=lambda p: p.name)
def test_the_deploy_docs_never_run_a_packaging_zappa_command_but_through_make(doc):
    lines = [line for line in doc.read_text().splitlines() if PACKAGING.search(line)]
    assert lines == []
