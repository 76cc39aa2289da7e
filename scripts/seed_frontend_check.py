"""Check that the seed project's own Next.js frontend renders from this backend's /api/seed/.

The seed (miguecoder/JL-Outsourcer) shipped a Next.js 14 dashboard that reads
``$NEXT_PUBLIC_API_URL/analytics``, ``/records?limit=50`` and ``/records/<id>`` with an
``x-api-key`` header. This script serves an already built copy of it (``next start`` on
a free loopback port, a different origin from the site, so the browser preflights every
call exactly as it would in production) and drives Debian's Chromium through it:

- ``/``: no error box; the four summary cards: Total Records equals the API's
  ``summary.total_records``, Data Sources its ``total_sources``, Oldest/Latest Record are
  dates (not ``N/A`` while there are records, never ``Invalid Date``); one bar
  (``.recharts-bar-rectangle``) per source of ``by_source``; a line
  (``.recharts-line-curve``) for ``timeline``, with one dot per point.
- ``/records``: no error box; ``tbody tr`` rows, one per record the API returns for
  ``?limit=50``, each showing that record's title/name/email and a parseable date; the
  source filter narrows the rows to that source.
- ``/records/<first id>`` (reached by the row's "View Details"): no error box, a
  parseable capture date, and its Raw JSON equals the API's ``/records/<id>``.
- Before the browser: the build carries this site's URL and this key; the CORS preflight
  from the frontend's origin allows ``content-type`` and ``x-api-key``; the answers have
  the types the pages rely on (numbers, strings, ids that fit a URL path unescaped).
- The browser's console: no CORS refusal and no failed request to the site.
Screenshots go to docs/screenshots/seed-frontend-{dashboard,records,detail}.png.

How to run it (from the repository root)::

    make run                                    # shell 1: the whole product on :8000
    .venv/bin/python manage.py apikey create seed-frontend --scope personal-data
    # (or, in `manage.py shell`: pipeline.models.ApiKey.objects.create_key(
    #      name="seed-frontend", scopes="personal-data") -> (obj, key))
    git -C <seed mirror> archive HEAD frontend | tar -x -C /tmp/seedfront
    cd /tmp/seedfront/frontend && npm install && NEXT_TELEMETRY_DISABLED=1 \\
        NEXT_PUBLIC_API_URL=http://127.0.0.1:8000/api/seed NEXT_PUBLIC_API_KEY=<key> \\
        npx next build                         # Next inlines NEXT_PUBLIC_* here
    .venv/bin/python scripts/seed_frontend_check.py \\
        --seed-dir /tmp/seedfront/frontend --key <key>

A key without scopes works too (people then have no name or email and a neutral
title): the script compares the page with what the API returns for the same key.

Why it is not in ``make test``: it needs the seed's source, which is someone else's code
that this repository does not vendor, plus an npm install and a Next build (~1 minute)
of it; the /api/seed/ contract itself is covered by the API tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# As tests/browser/conftest.py launches it: no sandbox (root), nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ERROR_BOX = ".bg-red-100"
TIMEOUT_MS = 20_000
UNSAFE_IN_PATH = re.compile(r"[#?/%\\\s]")


class CheckFailed(Exception):
    """A check did not hold: the message says which and what was seen."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def api_get(site: str, path: str, key: str) -> Any:
    """GET <site>/api/seed<path> as the frontend does; the parsed JSON body."""
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    request = urllib.request.Request(f"{site}/api/seed{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()[:300].decode(errors="replace")
        raise CheckFailed(f"GET /api/seed{path} answered {exc.code}: {body}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"{site} does not answer ({exc}): is `make run` up?") from exc


def check_preflight(site: str, origin: str) -> None:
    """The OPTIONS request Chromium sends before each GET (x-api-key is not CORS-safe)."""
    request = urllib.request.Request(
        f"{site}/api/seed/analytics",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        raise CheckFailed(f"CORS preflight from {origin} answered {exc.code}") from exc
    allowed_origin = headers.get("Access-Control-Allow-Origin", "")
    allowed_headers = headers.get("Access-Control-Allow-Headers", "").lower()
    expect(status < 300, f"CORS preflight answered {status}")
    expect(
        allowed_origin in ("*", origin),
        f"CORS preflight allows origin {allowed_origin!r}, not {origin}",
    )
    for header in ("content-type", "x-api-key"):
        expect(
            header in allowed_headers,
            f"CORS preflight does not allow {header} (Allow-Headers: {allowed_headers!r})",
        )


def check_build(seed_dir: Path, site: str, key: str) -> None:
    """The build exists and carries this site's URL and this key (inlined at build time)."""
    if not (seed_dir / ".next" / "BUILD_ID").is_file():
        raise CheckFailed(f"{seed_dir} has no Next build: run `npx next build` there first")
    bundle = "".join(
        p.read_text(errors="replace") for p in (seed_dir / ".next" / "static").rglob("*.js")
    )
    api_url = f"{site}/api/seed"
    expect(
        api_url in bundle,
        f"the build was not made with NEXT_PUBLIC_API_URL={api_url}: rebuild with it",
    )
    expect(key in bundle, "the build does not carry this key: rebuild with NEXT_PUBLIC_API_KEY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def next_server(seed_dir: Path, port: int) -> Iterator[str]:
    """``next start`` on 127.0.0.1:<port> for the duration; its own process group."""
    binary = seed_dir / "node_modules" / ".bin" / "next"
    if not binary.exists():
        raise CheckFailed(f"{binary} is missing: run `npm install` in {seed_dir}")
    env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
    log = (seed_dir / ".next" / "seed-frontend-check.log").open("w")
    process = subprocess.Popen(
        [str(binary), "start", "-p", str(port), "-H", "127.0.0.1"],
        cwd=seed_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise CheckFailed(
                        f"next start did not come up on {url}: see {log.name}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        log.close()


def check_contract(analytics: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The types the seed's pages rely on (``id.substring``, ``new Date(...)``, charts)."""
    summary = analytics.get("summary") or {}
    for field in ("total_records", "total_sources"):
        expect(type(summary.get(field)) is int, f"summary.{field} is {summary.get(field)!r}")
    for field in ("oldest_record", "newest_record"):
        value = summary.get(field)
        expect(value is None or isinstance(value, str), f"summary.{field} is {value!r}")
    by_source = analytics.get("by_source")
    expect(
        isinstance(by_source, dict) and all(type(v) is int for v in by_source.values()),
        f"by_source is {by_source!r} (want {{source: count}})",
    )
    timeline = analytics.get("timeline")
    expect(
        isinstance(timeline, list)
        and all(isinstance(p.get("date"), str) and type(p.get("count")) is int for p in timeline),
        f"timeline is {timeline!r} (want [{{date, count}}])",
    )
    for record in records:
        for field in ("id", "source", "captured_at", "fingerprint"):
            expect(isinstance(record.get(field), str), f"record {field} is not a string: {record}")
        for field in ("title", "name", "email", "processed_at"):
            value = record.get(field)
            expect(value is None or isinstance(value, str), f"record {field}={value!r}: {record}")
        # The seed puts the id into a URL path unescaped: router.push(`/records/${id}`).
        expect(
            not UNSAFE_IN_PATH.search(record["id"]),
            f"record id {record['id']!r} cannot ride in the seed's /records/<id> path",
        )


def screenshot(page: Any, folder: Path, name: str) -> str:
    """The page as shown; the records page only as far as the window (50 rows weigh 0.5 MB)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seed-frontend-{name}.png"
    page.screenshot(path=str(path), full_page=name != "records")
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def wait_loaded(page: Any) -> None:
    """Until the page shows its content (every page's h1) or its error box; fail on the box."""
    page.wait_for_selector(f"h1, {ERROR_BOX}", timeout=TIMEOUT_MS)
    if page.locator(ERROR_BOX).count():
        raise CheckFailed(f"{page.url} shows an error: {page.locator(ERROR_BOX).inner_text()!r}")


def check_dashboard(page: Any, front: str, analytics: dict[str, Any]) -> dict[str, str]:
    page.goto(f"{front}/")
    wait_loaded(page)
    cards: dict[str, str] = dict(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('div.shadow'))
                .filter(d => d.children.length === 2 && !d.querySelector('svg'))
                .map(d => [d.children[0].textContent.trim(), d.children[1].textContent.trim()])"""
        )
    )
    summary = analytics["summary"]
    for label, field in (("Total Records", "total_records"), ("Data Sources", "total_sources")):
        shown, want = cards.get(label), str(summary[field])
        expect(shown == want, f"{label} shows {shown!r}, the API's summary.{field} is {want}")
    for label in ("Oldest Record", "Latest Record"):
        shown = cards.get(label, "")
        expect(bool(shown) and shown != "Invalid Date", f"{label} shows {shown!r}")
        if summary["total_records"]:
            expect(shown != "N/A", f"{label} shows N/A although there are records")
    sources = analytics["by_source"]
    bars = ".recharts-bar-rectangle"
    page.wait_for_function(
        f"n => document.querySelectorAll('{bars}').length >= n", arg=len(sources)
    )
    expect(
        page.locator(bars).count() == len(sources),
        f"{page.locator(bars).count()} bars for {len(sources)} sources ({sources})",
    )
    bar_chart = page.locator(".recharts-wrapper").first
    ticks = bar_chart.locator(".recharts-xAxis .recharts-cartesian-axis-tick-value")
    ticks = ticks.all_text_contents()
    expect(set(ticks) <= set(sources), f"bar labels {ticks} are not the sources {list(sources)}")
    curve = page.locator(".recharts-line-curve")
    expect(curve.count() == 1, f"{curve.count()} timeline lines (want 1)")
    expect(bool(curve.first.get_attribute("d")), "the timeline line has no path data")
    # Recharts draws the dots once the line's animation ends: one per timeline point.
    page.wait_for_function(
        "n => document.querySelectorAll('.recharts-line-dot').length === n",
        arg=len(analytics["timeline"]),
    )
    cards["bars"] = str(page.locator(bars).count())
    cards["timeline points"] = str(len(analytics["timeline"]))
    return cards


def row_texts(page: Any) -> list[dict[str, str]]:
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('tbody tr')).map(tr => {
                const td = tr.querySelectorAll('td');
                return {id: td[0].textContent, source: td[1].textContent.trim(),
                        data: Array.from(td[2].querySelectorAll('div'))
                                   .map(d => d.textContent).join('|'),
                        captured: td[3].textContent.trim()};
            })"""
        )
    )


def shown_data(record: dict[str, Any]) -> str:
    """What the Data cell shows for a record: title, name, email, each when truthy."""
    return "|".join(str(record[f]) for f in ("title", "name", "email") if record.get(f))


def check_records(
    page: Any, front: str, records: list[dict[str, Any]], site: str, key: str
) -> dict[str, int]:
    page.goto(f"{front}/records")
    wait_loaded(page)
    rows = row_texts(page)
    expect(len(rows) == len(records), f"{len(rows)} rows for {len(records)} API records")
    expect(bool(rows), "the records table has no rows")
    for row, record in zip(rows, records, strict=True):
        expect(row["id"] == f"{record['id'][:20]}...", f"row id {row['id']!r} for {record}")
        expect(row["source"] == record["source"], f"row source {row['source']!r} for {record}")
        expect(row["data"] == shown_data(record), f"row data {row['data']!r} for {record}")
        expect(row["captured"] != "Invalid Date", f"captured_at does not parse: {record}")
    counts = {
        "rows": len(rows),
        "with title": sum(bool(r.get("title")) for r in records),
        "with name": sum(bool(r.get("name")) for r in records),
        "with email": sum(bool(r.get("email")) for r in records),
    }
    options = page.locator("select option").all_inner_texts()[1:]
    if options:
        page.select_option("select", options[-1])
        page.wait_for_function(
            "s => { const r = document.querySelectorAll('tbody tr td:nth-child(2)');"
            " return r.length && Array.from(r).every(td => td.textContent.trim() === s); }",
            arg=options[-1],
            timeout=TIMEOUT_MS,
        )
        source = options[-1]
        want = len(api_get(site, f"/records?source={quote(source)}&limit=50", key)["records"])
        got = page.locator("tbody tr").count()
        expect(got == want, f"{got} rows for source={source}, the API returns {want}")
        counts[f"rows for source={source}"] = got
        page.select_option("select", "all")
        page.wait_for_function(
            "n => document.querySelectorAll('tbody tr').length === n", arg=len(rows)
        )
    return counts


def check_detail(page: Any, record: dict[str, Any], site: str, key: str) -> dict[str, str]:
    """The first row's "View Details": the page shows the API's record for that id."""
    page.locator("tbody tr").first.get_by_text("View Details").click()
    page.wait_for_url(re.compile(r"/records/[^/]+$"), timeout=TIMEOUT_MS)
    wait_loaded(page)
    detail = api_get(site, f"/records/{quote(record['id'], safe='')}", key)
    shown = json.loads(page.locator("pre").inner_text())
    expect(shown == detail, f"the detail page shows {shown}, the API returns {detail}")
    expect(shown.get("id") == record["id"], f"detail of {record['id']!r} is {shown.get('id')!r}")
    captured = page.evaluate(
        """() => [...document.querySelectorAll('label')]
            .find(l => l.textContent === 'Captured At').nextElementSibling.textContent"""
    )
    expect(captured != "Invalid Date", f"detail's Captured At is {captured!r}")
    return {"url": page.url, "captured": captured, "fields": ", ".join(sorted(shown))}


def watch(page: Any, site: str, problems: list[str], noise: list[str]) -> None:
    """Collect what the browser refuses or fails on the way to the site (CORS blocks show as
    console errors); the frontend's own misses (its favicon, aborted RSC prefetches) are noise.
    """

    def about_site(url: str, text: str = "") -> bool:
        return url.startswith(site) or "CORS" in text or "Access-Control" in text

    def on_console(message: Any) -> None:
        if message.type == "error":
            url = message.location.get("url", "")
            seen = f"console error: {message.text} ({url})"
            (problems if about_site(url, message.text) else noise).append(seen)

    def on_response(response: Any) -> None:
        if response.url.startswith(site) and response.status >= 400:
            problems.append(f"{response.status} {response.request.method} {response.url}")

    def on_failed(request: Any) -> None:
        seen = f"failed {request.method} {request.url}: {request.failure}"
        (problems if about_site(request.url) else noise).append(seen)

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)


def run_browser(front: str, site: str, key: str, shots: Path) -> list[str]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    analytics = api_get(site, "/analytics", key)
    records = api_get(site, "/records?limit=50", key).get("records") or []
    check_contract(analytics, records)
    steps = (
        ("dashboard", lambda page: check_dashboard(page, front, analytics)),
        ("records", lambda page: check_records(page, front, records, site, key)),
        ("detail", lambda page: check_detail(page, records[0], site, key) if records else None),
    )
    report: list[str] = []
    problems: list[str] = []
    noise: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        watch(page, site, problems, noise)
        try:
            for name, step in steps:
                try:
                    seen = step(page)
                except PlaywrightError as exc:
                    seen_so_far = "; ".join(problems) or "nothing else"
                    raise CheckFailed(
                        f"{name}: {exc.message} (the browser saw {seen_so_far})"
                    ) from exc
                finally:
                    report.append(f"{name}: {screenshot(page, shots, name)}")
                report.append(f"  {seen}")
        finally:
            browser.close()
    expect(not problems, "the browser saw:\n  " + "\n  ".join(problems))
    return report + [f"ignored (not the site's): {n}" for n in noise]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-dir", type=Path, required=True, help="a built seed frontend/")
    parser.add_argument("--site", default="http://127.0.0.1:8000", help="this backend's root")
    parser.add_argument("--key", required=True, help="the key the frontend was built with")
    parser.add_argument("--port", type=int, default=0, help="next start's port (default: free)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    site = args.site.rstrip("/")
    seed_dir = args.seed_dir.resolve()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: bash scripts/ensure-chromium.sh", file=sys.stderr)
        return 2
    try:
        check_build(seed_dir, site, args.key)
        port = args.port or free_port()
        check_preflight(site, f"http://127.0.0.1:{port}")
        with next_server(seed_dir, port) as front:
            report = run_browser(front, site, args.key, args.screenshots.resolve())
    except CheckFailed as exc:
        print(f"seed frontend check FAILED: {exc}", file=sys.stderr)
        return 1
    print("seed frontend check passed")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
