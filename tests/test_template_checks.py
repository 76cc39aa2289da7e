"""Each stage's stack template passes cfn-lint and checkov, offline, each tool once per stage.

``make test`` installs both: cfn-lint with the dev requirements (.venv) and checkov in a
virtualenv of its own (``.venv-checkov``, Makefile) because its pins clash with the app's.
A missing tool fails these tests, never skips them. A checkov finding that does not apply
is skipped in the template itself, on the resource, with its reason
(``Metadata: checkov: skip: [{id, comment}]``); nothing is skipped on the command line.
"""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.deploy.stack.spec import StackOptions
from pipeline.deploy.stack.template import template_json
from tests.test_zappa_settings import RAW, ROOT, WEB, load

# The web stages own a stack each; a ``_worker`` stage runs on its web stage's stack.
STAGES = sorted(s for s, cfg in RAW.items() if "extends" in cfg and not s.endswith("_worker"))
# Every optional resource on (the alarm e-mail adds a subscription): the fullest template.
OPTIONS = StackOptions(alarm_email="ops@example.com")
CHECKOV_VENV = ROOT / ".venv-checkov"  # the Makefile's CHECKOV_VENV
CHECKOV = CHECKOV_VENV / "bin" / "checkov"
CHECKOV_TIMEOUT_SECONDS = 180
# checkov reaches out twice unless told not to: PyPI for a newer version, and the Prisma
# Cloud API for its guidelines and ID mappings (retried, so seconds even when refused).
CHECKOV_OFFLINE_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE", "BC_SKIP_MAPPING": "TRUE"}
CHECKOV_ARGS = ["--framework", "cloudformation", "--compact", "--skip-download", "-o", "json"]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
# A developer's platform key would make checkov upload results, and a no-proxy list could
# let a request past the sentinel: neither reaches these runs.
DROPPED_VARIABLES = ("BC_API_KEY", "PRISMA_API_URL", "BC_API_URL", "NO_PROXY", "no_proxy")
# What checkov reports for a skip in the template that gives no comment.
NO_COMMENT = "No comment provided"
INSTALL_HINT = "run `make test`, which installs it"


@dataclass(frozen=True)
class CheckovRun:
    """One checkov run on one template: its JSON report and what the template holds."""

    stage: str
    report: dict[str, Any]
    resources: int

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.report.get("summary", {}))

    def checks(self, outcome: str) -> list[dict[str, Any]]:
        return list(self.report.get("results", {}).get(f"{outcome}_checks", []))

    def summary_line(self) -> str:
        """One line for a closing note: the counts and checkov's version."""
        s = self.summary
        return (
            f"checkov {s.get('checkov_version', '?')} on {self.stage}: {s.get('passed', 0)} "
            f"passed, {s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped "
            f"({s.get('resource_count', 0)} of {self.resources} resources scanned)"
        )


class _ProxySentinel(socketserver.ThreadingTCPServer):
    """A proxy that answers nothing and remembers each request: any reach outside shows."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Record)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Record(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, _ProxySentinel)
        self.server.requests.append(self.request.recv(256).decode(errors="replace").strip())


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    """Each stage's template JSON in a file, as ``provision --print-template`` prints it."""
    folder = tmp_path_factory.mktemp("templates")
    paths = {}
    for stage in STAGES:
        paths[stage] = folder / f"twl-pipeline-{stage}.json"
        paths[stage].write_text(template_json(stage, OPTIONS))
    return paths


@pytest.fixture(scope="module")
def proxy() -> Iterator[_ProxySentinel]:
    sentinel = _ProxySentinel()
    thread = threading.Thread(target=sentinel.serve_forever, daemon=True)
    thread.start()
    yield sentinel
    sentinel.shutdown()
    sentinel.server_close()


@pytest.fixture(scope="module")
def checkov_runs(templates, proxy, tmp_path_factory) -> dict[str, CheckovRun]:
    """checkov once per stage, the stages side by side, every proxy pointing at the sentinel."""
    if not CHECKOV.exists():
        where = CHECKOV.relative_to(ROOT)
        pytest.fail(f"checkov is missing at {where}: {INSTALL_HINT} (`make checkov` alone)")
    home = tmp_path_factory.mktemp("checkov-home")
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
    # A fresh cache: a cached version answer from an earlier run cannot hide a lookup.
    env |= CHECKOV_OFFLINE_ENV | {"XDG_CACHE_HOME": str(home)}
    env |= dict.fromkeys(PROXY_VARIABLES, proxy.url)
    started = {
        stage: subprocess.Popen(
            [str(CHECKOV), *CHECKOV_ARGS, "-f", path.name],
            cwd=path.parent,  # no .checkov.yaml of the project or the user is read
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stage, path in templates.items()
    }
    return {stage: _finish(stage, process, templates[stage]) for stage, process in started.items()}


def _finish(stage: str, process: subprocess.Popen[str], path: Path) -> CheckovRun:
    try:
        out, err = process.communicate(timeout=CHECKOV_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"checkov took over {CHECKOV_TIMEOUT_SECONDS}s on {stage}")
    # 0: nothing failed, 1: a check failed; anything else is checkov itself failing.
    try:
        assert process.returncode in (0, 1)
        report = json.loads(out)
    except (AssertionError, ValueError):
        pytest.fail(f"checkov did not report on {stage} (exit {process.returncode}):\n{err}")
    if isinstance(report, list):  # one report per framework when several ran
        report = next(r for r in report if r.get("check_type") == "cloudformation")
    resources = len(json.loads(path.read_text())["Resources"])
    return CheckovRun(stage=stage, report=report, resources=resources)


@pytest.fixture(scope="module")
def lint_matches(templates) -> dict[str, list[str]]:
    """cfn-lint's errors and warnings per stage, each as one readable line."""
    try:
        from cfnlint.api import ManualArgs, lint_file
    except ImportError:
        pytest.fail(f"cfn-lint is not installed in this environment: {INSTALL_HINT}")
    found = {}
    for stage, path in templates.items():
        config = ManualArgs(regions=[load(stage).aws_region])
        found[stage] = [
            f"{m.rule.id} [{m.rule.severity}] {'/'.join(map(str, m.path or []))} "
            f"(line {m.linenumber}): {m.message}"
            for m in lint_file(path, config=config)
        ]
    return found


def test_every_web_stage_of_zappa_settings_gets_its_template_checked():
    assert sorted(WEB) == STAGES
    assert STAGES


def test_checkov_virtualenv_inside_the_project_stays_out_of_the_lambda_package():
    """Zappa zips the project folder: unexcluded, checkov's 290 MB would ship (180 MiB zip)."""
    assert CHECKOV_VENV.name in RAW["base"]["exclude"]


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_finds_no_error_or_warning_in_the_stage_template(lint_matches, stage):
    assert lint_matches[stage] == [], "\n".join(lint_matches[stage])


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_fails_no_check_on_the_stage_template(checkov_runs, stage):
    run = checkov_runs[stage]
    failed = [
        f"{c['check_id']} on {c['resource']} (lines {'-'.join(map(str, c['file_line_range']))}):"
        f" {c['check_name']}"
        for c in run.checks("failed")
    ]
    assert failed == [], run.summary_line() + "\n" + "\n".join(failed)


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_really_scanned_every_resource_of_the_template(checkov_runs, stage):
    """Not vacuous: the file was read as CloudFormation and checks passed on it."""
    run = checkov_runs[stage]
    assert run.summary.get("parsing_errors") == 0, run.report
    assert run.summary.get("resource_count") == run.resources, run.summary_line()
    assert run.summary.get("passed", 0) > 0, run.summary_line()


@pytest.mark.parametrize("stage", STAGES)
def test_every_skipped_checkov_check_gives_its_reason_in_the_template(checkov_runs, stage):
    run = checkov_runs[stage]
    skipped = run.checks("skipped")
    unexplained = [
        f"{c['check_id']} on {c['resource']}"
        for c in skipped
        if str(c["check_result"].get("suppress_comment", "")).strip() in ("", NO_COMMENT)
    ]
    reasons = "\n".join(
        f"{c['check_id']} on {c['resource']}: {c['check_result'].get('suppress_comment')}"
        for c in skipped
    )
    assert unexplained == [], run.summary_line() + "\n" + reasons
    assert len(skipped) == run.summary.get("skipped"), run.summary_line()


def test_checkov_summary_line_counts_every_check_it_reported(checkov_runs):
    """For the closing note: ``pytest -rP`` shows the printed lines; failures repeat them."""
    lines = [checkov_runs[stage].summary_line() for stage in STAGES]
    print("\n".join(lines))
    for stage, line in zip(STAGES, lines, strict=True):
        run = checkov_runs[stage]
        counted = ", ".join(
            f"{len(run.checks(outcome))} {outcome}" for outcome in ("passed", "failed", "skipped")
        )
        assert f"on {stage}: {counted} (" in line, "\n".join(lines)


def test_checkov_reaches_no_host_while_it_scans(checkov_runs, proxy):
    """Offline: no version check on PyPI, no guideline download from the platform."""
    assert len(checkov_runs) == len(STAGES)
    assert proxy.requests == [], proxy.requests
