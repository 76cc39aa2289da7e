"""The codebase stays lint-clean (ruff lint with a complexity cap, and ruff format)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = [sys.executable, "-m", "ruff"]


def test_ruff_lint_passes():
    result = subprocess.run([*RUFF, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(
        [*RUFF, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_follow_the_layers():
    """pyproject.toml's import-linter contract: entry points > services/selectors > stores > …"""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


BELOW_ENTRY_POINTS = ("core", "sources", "stores", "services", "selectors")


def test_below_the_entry_points_nothing_reads_django_settings():
    """Config is passed in; only ``core.config.get_config`` (called by entry points) reads it."""
    readers = []
    for package in BELOW_ENTRY_POINTS:
        for path in sorted((ROOT / "pipeline" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "django.conf":
                    readers.append(str(path.relative_to(ROOT)))
    assert readers == ["pipeline/core/config.py"]


def test_no_module_outside_migrations_and_tests_is_over_400_lines():
    code = [
        p
        for folder in ("pipeline", "records_api", "twl_site", "bench")
        for p in (ROOT / folder).rglob("*.py")
        if "migrations" not in p.parts
    ]
    long = {
        str(p.relative_to(ROOT)): n for p in code if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


def test_pipeline_itself_holds_packages_and_at_most_five_modules():
    modules = sorted(p.name for p in (ROOT / "pipeline").glob("*.py"))
    assert len(modules) <= 5, modules


def test_mypy_is_clean():
    """pyproject.toml's [tool.mypy]: strict defs, Django/DRF plugins, boto3 stubs."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
