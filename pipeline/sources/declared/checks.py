"""The primitive checks a definition is made of, each recording a FieldError instead of raising.

Every check takes the value, its path and the ``Errors`` collector, and returns the
checked value or INVALID, so validation goes on past the first problem and reports
every one at once. Messages never repeat a value the user typed (it might be a
secret pasted into the wrong field); they name the path and the rule. A check that
fails returns INVALID, so a caller never builds on a value of the wrong type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from pipeline.sources.base import shown
from pipeline.sources.declared.model import FieldError
from pipeline.sources.declared.paths import FLATTEN_DEPTH, PLACEHOLDER

INVALID: Final = object()  # a check failed (its error is recorded)
ABSENT: Final = object()  # the key is not there
_KEY_SHOWN = 40

PARAM_NAME = re.compile(r"[A-Za-z0-9_.~\[\]-]{1,64}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_SEGMENT = re.compile(r"[^.{}\x00-\x20\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
PATH_MAX_CHARS = 200
TEXT_MAX_CHARS = 1000
MAX_ENTRIES = 50
MAX_PARAM_INT = 10**15


class Errors:
    """Collects FieldErrors in the order they are found."""

    def __init__(self) -> None:
        self.found: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.found.append(FieldError(path, message))


def child(path: str, key: Any) -> str:
    """The path of ``key`` inside the object at ``path`` (odd keys quoted and cut short)."""
    text = key if isinstance(key, str) else repr(key)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", text):
        text = "[" + shown(text[:_KEY_SHOWN]) + "]"
        return f"{path}{text}" if path else text
    return f"{path}.{text}" if path else text


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def kind(value: Any) -> str:
    """A value's JSON type name, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names = {str: "string", list: "array", dict: "object"}
    for python, name in names.items():
        if isinstance(value, python):
            return name
    return "object" if isinstance(value, Mapping) else type(value).__name__


def obj(value: Any, path: str, errs: Errors, known: tuple[str, ...]) -> Mapping[str, Any] | Any:
    """An object with only ``known`` keys (each unknown key is an error of its own)."""
    if not isinstance(value, Mapping):
        errs.add(path or "definition", f"must be an object, not {kind(value)}")
        return INVALID
    for key in value:
        if key not in known:
            errs.add(child(path, key), f"unknown key (known: {', '.join(known)})")
    return value


def string(value: Any, path: str, errs: Errors, *, max_chars: int = TEXT_MAX_CHARS) -> Any:
    """A string of 1..max_chars characters with no control characters."""
    if not isinstance(value, str):
        errs.add(path, f"must be a string, not {kind(value)}")
    elif not value:
        errs.add(path, "must not be empty")
    elif len(value) > max_chars:
        errs.add(path, f"is {len(value):,} characters; at most {max_chars:,}")
    elif _CONTROL.search(value):
        errs.add(path, "must not contain control characters (line breaks included)")
    else:
        return value
    return INVALID


def matching(value: Any, path: str, errs: Errors, pattern: re.Pattern[str], rule: str) -> Any:
    """A string matching ``pattern`` in full; ``rule`` says what that means, for the message."""
    if not isinstance(value, str):
        errs.add(path, f"must be a string, not {kind(value)}")
        return INVALID
    if not pattern.fullmatch(value):
        errs.add(path, f"must be {rule}")
        return INVALID
    return value


def integer(value: Any, path: str, errs: Errors, *, low: int, high: int) -> Any:
    """An integer (not a boolean, not 5.0) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(path, f"must be an integer, not {kind(value)}")
        return INVALID
    if not low <= value <= high:
        errs.add(path, f"must be between {low:,} and {high:,}")
        return INVALID
    return value


def boolean(value: Any, path: str, errs: Errors) -> Any:
    if not isinstance(value, bool):
        errs.add(path, f"must be true or false, not {kind(value)}")
        return INVALID
    return value


def is_dotted(value: Any) -> bool:
    """1..8 non-empty keys joined by ".", at most 200 characters, no spaces, braces, controls."""
    if not isinstance(value, str) or not value or len(value) > PATH_MAX_CHARS:
        return False
    segments = value.split(".")
    return len(segments) <= FLATTEN_DEPTH and all(_SEGMENT.fullmatch(s) for s in segments)


def dotted(value: Any, path: str, errs: Errors) -> Any:
    """A dotted path (``is_dotted``)."""
    if not isinstance(value, str):
        errs.add(path, f"must be a dotted path (a string), not {kind(value)}")
        return INVALID
    if not is_dotted(value):
        errs.add(
            path,
            f"must be a dotted path: 1..{FLATTEN_DEPTH} keys joined by '.', "
            f"at most {PATH_MAX_CHARS} characters, no empty key, space or brace",
        )
        return INVALID
    return value


def template(value: Any, path: str, errs: Errors) -> Any:
    """A title: a dotted path, or text with ``{dotted.path}`` placeholders."""
    if string(value, path, errs, max_chars=300) is INVALID:
        return INVALID
    if "{" not in value and "}" not in value:
        return dotted(value, path, errs)
    literal = PLACEHOLDER.sub("", value)
    if "{" in literal or "}" in literal:
        errs.add(path, "has an unmatched brace; placeholders look like {owner.name}")
        return INVALID
    bad = [n for n, m in enumerate(PLACEHOLDER.finditer(value), 1) if not is_dotted(m.group(1))]
    for number in bad:
        errs.add(path, f"placeholder #{number} is not a dotted path (keys joined by '.')")
    return INVALID if bad else value


def param_value(value: Any, path: str, errs: Errors) -> Any:
    """A query parameter value: text, a finite number or a boolean."""
    if isinstance(value, str):
        return string(value, path, errs) if value else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return integer(value, path, errs, low=-MAX_PARAM_INT, high=MAX_PARAM_INT)
    if isinstance(value, float) and math.isfinite(value):
        return value
    errs.add(path, f"must be a string, number or boolean, not {kind(value)}")
    return INVALID


def path_list(value: Any, path: str, errs: Errors, *, nullable: bool = False) -> Any:
    """A list of distinct dotted paths (``null`` too when ``nullable``)."""
    if value is None and nullable:
        return None
    if not isinstance(value, list):
        allowed = "an array of dotted paths" + (" or null" if nullable else "")
        errs.add(path, f"must be {allowed}, not {kind(value)}")
        return INVALID
    if len(value) > MAX_ENTRIES * 4:
        errs.add(path, f"has {len(value):,} paths; at most {MAX_ENTRIES * 4}")
        return INVALID
    seen: dict[str, int] = {}
    for index, entry in enumerate(value):
        if dotted(entry, item(path, index), errs) is INVALID:
            continue
        if entry in seen:
            errs.add(item(path, index), f"repeats {item(path, seen[entry])}")
        seen.setdefault(entry, index)
    return tuple(seen)
