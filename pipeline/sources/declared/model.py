"""The parsed shape of a declared source: frozen, hashable values, defaults already filled.

Only ``spec.parse_definition`` builds these from user input, so every instance is a
definition that passed validation; code downstream never re-checks a field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import PipelineError

ParamValue = str | int | float | bool


@dataclass(frozen=True)
class FieldError:
    """One problem of a definition, at a path such as ``resources[0].endpoint.path``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DefinitionInvalid(PipelineError):
    """A definition that does not follow the format; ``errors`` holds every problem found."""

    def __init__(self, errors: tuple[FieldError, ...] | list[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class Paginator:
    """A paginator style (dlt's names) and its options, every default filled, in spec order."""

    type: str
    options: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def query_params(self) -> tuple[str, ...]:
        """The query parameters this paginator sets itself (none may be set elsewhere)."""
        names = {"page_number": ("page_param",), "offset": ("offset_param", "limit_param")}
        keys = names.get(self.type, ("cursor_param",) if self.type == "cursor" else ())
        return tuple(str(self.get(k)) for k in keys)


SINGLE_PAGE = Paginator("single_page")


@dataclass(frozen=True)
class Auth:
    """How requests authenticate: a secret *reference* (never a value) and its placement."""

    type: str  # bearer | api_key | http_basic
    secret: str  # ssm:/path/name or env:TWL_SOURCE_SECRET_<NAME>
    name: str | None = None  # api_key: the header carrying the key
    username: str | None = None  # http_basic: the user (the secret is the password)


@dataclass(frozen=True)
class Client:
    """What every request of the source shares: origin, headers, auth, default paginator."""

    base_url: str  # no trailing slash
    headers: tuple[tuple[str, str], ...] = ()
    auth: Auth | None = None
    paginator: Paginator | None = None


@dataclass(frozen=True)
class Incremental:
    """Fetch only what changed: the item's cursor field and the query parameter that takes it."""

    cursor_path: str
    param: str
    initial_value: str | None = None


@dataclass(frozen=True)
class Resource:
    """One type of the source: its endpoint, how to find items, and how to curate one."""

    name: str
    path: str  # "" or starts with "/"
    params: tuple[tuple[str, ParamValue], ...]
    data_selector: str  # "" = the body is the list
    paginator: Paginator | None
    primary_key: str
    title: str
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]
    personal: tuple[str, ...]
    incremental: Incremental | None
    max_pages: int


@dataclass(frozen=True)
class Definition:
    """A declared source: what an operator wrote, validated and with defaults filled."""

    name: str
    client: Client
    resources: tuple[Resource, ...]
    schedule_minutes: int = 5
    enabled: bool = True

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        known = ", ".join(r.name for r in self.resources)
        raise PipelineError(f"source {self.name!r} has no type {name!r} (known: {known})")
