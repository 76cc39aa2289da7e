"""The declared-source form of the console: one field per part of a definition, or all of it pasted.

The form checks nothing of its own: it assembles the definition and hands it to
``definition_parse``, the one home of the format's rules, and puts each of its errors on
the field that holds the part at fault (``client.auth.secret`` on "Secret reference",
``resources[0].endpoint.paginator.limit`` on "Resources", with its path). So a bad
definition is a form with messages, never a server error. Secrets are references
(``ssm:/…``, ``env:TWL_SOURCE_SECRET_…``); the form never resolves or shows a value.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from django import forms

from pipeline.services.definitions import definition_parse
from pipeline.sources.declared import DefinitionInvalid, FieldError

AUTH_TYPES: Final = ("bearer", "api_key", "http_basic")
PASTED: Final = "definition_json"
# A definition's paths and the field showing each, most specific first.
FIELD_PATHS: Final = (
    ("client.base_url", "base_url"),
    ("client.headers", "headers"),
    ("client.auth.type", "auth_type"),
    ("client.auth.secret", "auth_secret"),
    ("client.auth.name", "auth_name"),
    ("client.auth.username", "auth_username"),
    ("client.auth", "auth_type"),
    ("client.paginator", "paginator"),
    ("resources", "resources"),
    ("schedule_minutes", "schedule_minutes"),
    ("enabled", "enabled"),
    ("name", "name"),
)
_PAGINATOR_NAME = re.compile(r"[a-z_]{1,40}")


def _area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 80, "class": "vLargeTextField"})


class DefinitionForm(forms.Form):
    """A declared source's definition, by field or pasted whole; ``definition`` once valid."""

    name = forms.CharField(
        required=False, max_length=64, help_text="[a-z][a-z0-9_]{1,30}, not a built-in source's"
    )
    base_url = forms.CharField(
        label="Base URL",
        required=False,
        max_length=2000,
        help_text="https://… (a deployed stage refuses http and private addresses)",
    )
    headers = forms.CharField(
        required=False,
        widget=_area(3),
        help_text='JSON object, e.g. {"Accept-Language": "en"}; no Authorization or Cookie '
        "(use the auth fields)",
    )
    auth_type = forms.ChoiceField(
        label="Auth type",
        required=False,
        choices=[("", "none"), *((t, t) for t in AUTH_TYPES)],
    )
    auth_secret = forms.CharField(
        label="Secret reference",
        required=False,
        max_length=600,
        help_text="ssm:/twl-pipeline/<stage>/sources/<name> or env:TWL_SOURCE_SECRET_<NAME>; "
        "a reference, never the secret itself",
    )
    auth_name = forms.CharField(
        label="Header name", required=False, max_length=200, help_text="api_key: default X-API-Key"
    )
    auth_username = forms.CharField(
        label="Username",
        required=False,
        max_length=200,
        help_text="http_basic: the user (the secret is the password)",
    )
    paginator = forms.CharField(
        label="Client paginator",
        required=False,
        widget=_area(4),
        help_text='JSON, e.g. {"type": "page_number", "total_path": "meta.pages"} or '
        '"single_page"; a resource may set its own',
    )
    resources = forms.CharField(
        required=False,
        widget=_area(16),
        help_text='JSON list: [{"name": "item", "endpoint": {"path": "/items"}, '
        '"primary_key": "id", …}]',
    )
    schedule_minutes = forms.CharField(
        label="Schedule (minutes)", required=False, max_length=20, help_text="5 to 10080; default 5"
    )
    enabled = forms.BooleanField(required=False, initial=True)
    definition_json = forms.CharField(
        label="Paste a whole definition (JSON)",
        required=False,
        widget=_area(12),
        help_text="Instead of the fields above: when given, the fields are ignored.",
    )
    opened_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, fixed_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_name = fixed_name
        self.definition: dict[str, Any] | None = None
        self._unparsed: set[str] = set()  # fields whose JSON did not parse
        if fixed_name is not None:  # editing: a new name would be another source
            self.fields["name"].disabled = True
            self.initial["name"] = fixed_name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pasted = (cleaned.get(PASTED) or "").strip()
        data = self._pasted(pasted) if pasted else self._from_fields(cleaned)
        if data is None:
            return cleaned
        try:
            definition_parse(data)
        except DefinitionInvalid as exc:
            for error in exc.errors:
                self.add_definition_error(error, pasted=bool(pasted))
        if self.fixed_name is not None and data.get("name") != self.fixed_name:
            self.add_definition_error(
                FieldError("name", f"is {data.get('name')!r}; this page edits {self.fixed_name!r}"),
                pasted=bool(pasted),
            )
        if not self.errors:
            self.definition = data
        return cleaned

    def add_definition_error(self, error: FieldError, *, pasted: bool = False) -> None:
        """Show ``error`` on the field holding its path (with the path, below the field's own)."""
        field = PASTED if pasted else field_for(error.path)
        if field in self._unparsed:
            return  # its JSON did not parse: that is the error to fix first
        own = dict(FIELD_PATHS).get(error.path) == field
        self.add_error(field, error.message if own else str(error))

    def _pasted(self, text: str) -> dict[str, Any] | None:
        value = self._json(PASTED, text)
        if value is not None and not isinstance(value, dict):
            self.add_error(PASTED, "must be a JSON object (one definition)")
            return None
        if value is not None and self.fixed_name is not None:
            value.setdefault("name", self.fixed_name)
        return value

    def _from_fields(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        client: dict[str, Any] = {"base_url": cleaned.get("base_url", "").strip()}
        headers = self._json("headers", cleaned.get("headers", ""))
        if headers is not None:
            client["headers"] = headers
        auth = _auth(cleaned)
        if auth is not None:
            client["auth"] = auth
        paginator = self._paginator(cleaned.get("paginator", ""))
        if paginator is not None:
            client["paginator"] = paginator
        data: dict[str, Any] = {"name": (cleaned.get("name") or "").strip(), "client": client}
        resources = self._json("resources", cleaned.get("resources", ""))
        if resources is not None:
            data["resources"] = resources
        schedule = (cleaned.get("schedule_minutes") or "").strip()
        if schedule:
            data["schedule_minutes"] = int(schedule) if schedule.isdecimal() else schedule
        data["enabled"] = bool(cleaned.get("enabled"))
        return data

    def _paginator(self, text: str) -> Any:
        """JSON, or a bare style name (``single_page``) as dlt accepts it."""
        if _PAGINATOR_NAME.fullmatch(text.strip()):
            return text.strip()
        return self._json("paginator", text)

    def _json(self, field: str, text: str) -> Any:
        """The field's JSON value (None: blank, or not JSON, which is the field's error)."""
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            self._unparsed.add(field)
            self.add_error(field, f"is not JSON: {exc}")
            return None
        except RecursionError:
            self._unparsed.add(field)
            self.add_error(field, "is nested too deeply")
            return None


def _auth(cleaned: dict[str, Any]) -> dict[str, Any] | None:
    parts = {
        "type": cleaned.get("auth_type") or "",
        "secret": (cleaned.get("auth_secret") or "").strip(),
        "name": (cleaned.get("auth_name") or "").strip(),
        "username": (cleaned.get("auth_username") or "").strip(),
    }
    given = {key: value for key, value in parts.items() if value}
    return given or None  # a secret without a type is the parser's "type: required"


def field_for(path: str) -> str | None:
    """The form field that holds ``path`` (None: the definition as a whole)."""
    for prefix, field in FIELD_PATHS:
        if path == prefix or path.startswith((f"{prefix}.", f"{prefix}[")):
            return field
    return None


def initial_from(definition: dict[str, Any], version: int) -> dict[str, Any]:
    """The form's fields for a stored (canonical) definition."""
    client = _mapping(definition.get("client"))  # a stored one that no longer parses too
    auth = _mapping(client.get("auth"))
    return {
        "name": definition.get("name", ""),
        "base_url": client.get("base_url", ""),
        "headers": pretty(client["headers"]) if client.get("headers") else "",
        "auth_type": auth.get("type") or "",
        "auth_secret": auth.get("secret") or "",
        "auth_name": auth.get("name") or "",
        "auth_username": auth.get("username") or "",
        "paginator": pretty(client["paginator"]) if client.get("paginator") else "",
        "resources": pretty(definition.get("resources", [])),
        "schedule_minutes": str(definition.get("schedule_minutes", "")),
        "enabled": bool(definition.get("enabled", True)),
        "opened_version": version,
    }


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
