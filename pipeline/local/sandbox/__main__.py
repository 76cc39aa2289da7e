"""``python -m pipeline.local.sandbox``: serve every fake API on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence

from pipeline.local import sandbox
from pipeline.local.sandbox import registry
from pipeline.local.sandbox.registry import CONTROL_PREFIX
from pipeline.local.sandbox.server import SandboxServer


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sandbox until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.local.sandbox",
        description=(sandbox.__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = SandboxServer(args.host, args.port, poll_interval=0.5)
    try:
        server.start()
    except OSError as exc:
        parser.exit(2, f"cannot listen on {args.host}:{args.port}: {exc}\n")
    generic = [name for name, fake in registry.FAKES.items() if registry.is_generic(fake)]
    width = max(len(source) for source in [*server.source_urls(), *generic]) + 1
    for source, url in server.source_urls().items():
        # RandomUser's base URL is not itself an endpoint; show where people come from.
        shown = f"{url}/api/" if source == "randomuser" else url
        print(f"{source + ':':<{width}} {shown}")
    for name in generic:
        print(f"{name + ':':<{width}} {server.url_for(name)} (for declared sources)")
    print(f"{'faults/stats:':<{width}} {server.url}{CONTROL_PREFIX}/faults, {CONTROL_PREFIX}/stats")
    print("Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
