"""Shared by the benchmarks: replace one section of docs/PERFORMANCE.md, or append it."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"


def write_section(heading: str, text: str, path: Path = DOC) -> None:
    """Swap the section that starts at ``heading`` (up to the next ``## ``) for ``text``."""
    current = path.read_text() if path.exists() else "# Performance\n"
    before, found, after = current.partition(heading)
    rest = ""
    if found:
        following = after.find("\n## ")
        rest = after[following + 1 :] if following >= 0 else ""
    path.write_text(
        before.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + ("\n" + rest if rest else "")
    )
