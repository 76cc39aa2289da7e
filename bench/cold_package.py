"""The Lambda package of bench/cold_start.py: built, unzipped, varied and measured.

``build_package`` runs the documented ``make package STAGE=dev`` as a user would;
``variants`` copies the unzipped package into the what-ifs that are timed; ``sizes`` and
``trimmed`` say how big the zip is and how much the stage's ``exclude``/``exclude_glob``
(and the settings callback's botocore models) kept out of it.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.deploy.zappa_callbacks import unused_botocore_services

ROOT = Path(__file__).resolve().parents[1]
STAGE = "dev"  # the Zappa stage packaged, and served by the timed children
PSYCOPG = ("psycopg", "psycopg_binary", "psycopg_binary.libs", "psycopg-*", "psycopg_binary-*")


# --- the package ---------------------------------------------------------------------------


def build_package(output: Path) -> Path:
    """``make package STAGE=dev OUTPUT=...``: the documented command, no activation needed."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # as a user's shell
    command = ["make", "--no-print-directory", "package", f"STAGE={STAGE}", f"OUTPUT={output}"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return output


def unzip(package: Path, target: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(target)
    return target


@dataclass(frozen=True)
class Variant:
    """One unzipped package to time, and whether the secret comes from the environment."""

    label: str
    path: Path
    secret_in_env: bool = False


def variants(unzipped: Path, work: Path, earlier: tuple[str, Path] | None = None) -> list[Variant]:
    """As deployed, Zappa's default (no .pyc), two what-ifs, and an earlier (label, unzipped)."""
    no_pyc = _copy(unzipped, work / "no-pyc", "__pycache__")
    no_psycopg = _copy(unzipped, work / "no-psycopg", *PSYCOPG)
    env_secret = _copy(unzipped, work / "env-secret")
    settings = env_secret / "zappa_settings.py"
    lines = settings.read_text().splitlines(keepends=True)
    settings.write_text("".join(line for line in lines if not line.startswith("REMOTE_ENV")))
    return [
        Variant("as deployed: hash-based `.pyc`, secret from `remote_env`", unzipped),
        Variant("Zappa's default: no `.pyc` in the zip", no_pyc),
        Variant("what-if: no psycopg in the package", no_psycopg),
        Variant("what-if: secret in the Lambda environment", env_secret, secret_in_env=True),
        *([Variant(*earlier)] if earlier else []),
    ]


def _copy(source: Path, target: Path, *ignore: str) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignore))
    return target


def sizes(package: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes."""
    with zipfile.ZipFile(package) as archive:
        return package.stat().st_size, sum(i.file_size for i in archive.infolist())


# --- what the exclusions trimmed -----------------------------------------------------------


def trimmed(settings: dict[str, Any]) -> Counter[str]:
    """Bytes kept out of the package per exclude / exclude_glob rule (first match wins)."""
    exclude, globs = settings["exclude"], settings["exclude_glob"]
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    roots = [ROOT, site / "site-packages"]
    unused = set(unused_botocore_services())
    models = f"settings callback: botocore/data of {len(unused)} services"
    totals: Counter[str] = Counter()
    for root in roots:
        for path in _files(root):
            parts = path.relative_to(root).parts
            rule = _rule(parts, exclude, globs)
            if rule is None and parts[:2] == ("botocore", "data") and parts[2] in unused:
                rule = models
            if rule:
                totals[rule] += path.stat().st_size
    return totals


def _files(root: Path) -> Iterator[Path]:
    skip = {".git", ".venv"}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            yield Path(directory, name)


def _rule(parts: tuple[str, ...], exclude: list[str], globs: list[str]) -> str | None:
    for pattern in exclude:  # shutil.ignore_patterns: a name at any depth
        if any(fnmatch.fnmatch(part, pattern) for part in parts):
            return f"exclude {pattern}"
    for pattern in globs:  # Path.glob on the package root
        segments = pattern.split("/")
        if len(parts) >= len(segments) and all(
            fnmatch.fnmatch(part, seg) for part, seg in zip(parts, segments, strict=False)
        ):
            return f"exclude_glob {pattern}"
    return None
