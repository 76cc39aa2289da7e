"""The fake-API contract (``FakeApi``) and ``FAKES``, every fake found in this package.

A fake API is a module of this package that declares ``SOURCE`` (the pipeline source it
stands in for), ``PREFIX`` (where the server mounts it) and ``respond``. Adding a fake for a
new source is one new module: discovery imports each public module here and keeps those that
fit the contract, so nothing else has to list it.

Two optional members extend the contract without changing it. A fake that also defines
``respond_http(request: FakeRequest) -> FakeReply`` (an ``HttpFakeApi``) is served through
it, so it can read request headers and set response headers (auth, ``Link``); ``respond``
must still answer on its own, for callers without headers (the tests' in-process
``sources`` fixture). A fake with ``GENERIC = True`` stands in for no built-in source (it
serves declared sources, whose base URL is in their definition), so ``source_urls()``
leaves it out while ``url_for()`` still finds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Protocol, runtime_checkable

from pipeline.local.sandbox._common import FakeReply, FakeRequest

# Modules of the package that are machinery, not fakes. Importing them from here would also
# be circular (server imports this module); "_"-prefixed modules are skipped as well.
_MACHINERY = frozenset({"faults", "registry", "server"})
# The server's own endpoints live under this prefix; no fake may take it.
CONTROL_PREFIX = "/_sandbox"


@runtime_checkable
class FakeApi(Protocol):
    """What a fake API module provides."""

    SOURCE: str
    PREFIX: str

    def respond(self, path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
        """Status and body for a GET of ``path`` (below ``PREFIX``) with ``query`` parameters.

        ``base_url`` is the server's own URL, for bodies that link back to it.
        """
        ...


@runtime_checkable
class HttpFakeApi(FakeApi, Protocol):
    """A fake that also sees request headers and may set response headers."""

    def respond_http(self, request: FakeRequest) -> FakeReply:
        """The reply to ``request`` (its path is below ``PREFIX``)."""
        ...


def is_generic(fake: FakeApi) -> bool:
    """Whether ``fake`` serves declared sources rather than standing in for a built-in one."""
    return getattr(fake, "GENERIC", False) is True


def _check(fake: FakeApi, found: dict[str, FakeApi]) -> None:
    prefix = fake.PREFIX
    if not prefix.startswith("/") or prefix.endswith("/") or prefix == CONTROL_PREFIX:
        raise ValueError(f"{fake!r}: PREFIX must look like '/name' (not {CONTROL_PREFIX})")
    for other in found.values():
        if other.SOURCE == fake.SOURCE or prefix == other.PREFIX:
            raise ValueError(f"{fake!r} and {other!r} share a SOURCE or a PREFIX")


def discover() -> dict[str, FakeApi]:
    """Import this package's fake-API modules; returns them by ``SOURCE``, sorted by name."""
    found: dict[str, FakeApi] = {}
    here = str(Path(__file__).resolve().parent)
    for info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if info.ispkg or info.name.startswith("_") or info.name in _MACHINERY:
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if isinstance(module, FakeApi):
            _check(module, found)
            found[module.SOURCE] = module
    return found


FAKES: dict[str, FakeApi] = discover()


def find(path: str) -> tuple[FakeApi, str] | None:
    """The fake mounted at ``path`` and the rest of the path below its prefix, if any."""
    # Longest prefix first, so a fake at /a/b would win over one at /a.
    for fake in sorted(FAKES.values(), key=lambda f: len(f.PREFIX), reverse=True):
        if path == fake.PREFIX or path.startswith(fake.PREFIX + "/"):
            return fake, path[len(fake.PREFIX) :]
    return None
