"""Offline, API-compatible copies of public source APIs, served on loopback for local runs.

Start one with ``SandboxServer().start()`` (or ``python -m pipeline.local.sandbox``) and
point each source's base URL at ``server.url_for(source)`` (``server.source_urls()`` has
them all). Faults (latency, error statuses, malformed bodies, connection resets) can be
switched on in-process via ``server.faults`` or over HTTP at ``/_sandbox/faults`` to
exercise the client's retry and error handling.

What lives here:

- ``server``: ``SandboxServer``, the threaded HTTP server and the ``/_sandbox`` endpoints.
- ``faults``: ``Fault`` and ``FaultRegistry``.
- ``registry``: the ``FakeApi`` contract and ``FAKES``, every fake module found here.
- ``jsonplaceholder``, ``randomuser``: the fakes (JSONPlaceholder; RandomUser 1.4, whose
  people Faker makes, see ``_nationalities``). A fake for another source is one more module.
- ``catalog``: a generic API for declared sources (``server.catalog_url``): 95 fixed items
  with every paginator style, bearer/API-key/basic auth, a nested selector, ``updated_since``.

It imports nothing from the rest of ``pipeline``, so it can stand in for the real APIs
without the pipeline's settings.
"""

from pipeline.local.sandbox._common import FakeReply, FakeRequest
from pipeline.local.sandbox.faults import Fault, FaultRegistry
from pipeline.local.sandbox.registry import FAKES, FakeApi, HttpFakeApi
from pipeline.local.sandbox.server import SandboxServer

__all__ = [
    "FAKES",
    "FakeApi",
    "FakeReply",
    "FakeRequest",
    "Fault",
    "FaultRegistry",
    "HttpFakeApi",
    "SandboxServer",
]
