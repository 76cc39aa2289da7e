"""Content-Security-Policy (nothing inline) and Permissions-Policy on pages, API and admin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
SAMPLED = ["/", "/records/", "/api/health", "/api/records", "/api/docs/", "/admin/login/"]
# An inline script is a <script> without src; inline style is <style> or style="…";
# on…= attributes are inline event handlers. All three are what CSP's 'unsafe-inline' allows.
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "style element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
}


def directives(header: str) -> dict[str, list[str]]:
    parts = (p.split() for p in header.split(";") if p.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize("path", SAMPLED)
def test_every_kind_of_response_carries_a_strict_csp(client, stack, path):
    reply = client.get(path)
    assert reply.status_code in (200, 503), path  # /api/health: 503 until sources are fresh
    policy = directives(reply["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in reply["Content-Security-Policy"]
    assert "unsafe-eval" not in reply["Content-Security-Policy"]


@pytest.mark.parametrize("path", SAMPLED)
def test_every_kind_of_response_carries_a_permissions_policy(client, stack, path):
    policy = dict(
        item.strip().split("=", 1) for item in client.get(path)["Permissions-Policy"].split(",")
    )
    assert policy["camera"] == policy["microphone"] == policy["geolocation"] == "()"
    assert policy["clipboard-write"] == "(self)"  # the Copy JSON button


def test_an_admin_page_behind_the_login_carries_both_headers(django_user_model, stack):
    operator = Client()
    operator.force_login(django_user_model.objects.create_superuser("ops", "o@e.test", "pw"))
    reply = operator.get("/admin/pipeline/source/")
    assert reply.status_code == 200
    assert "'unsafe-inline'" not in reply["Content-Security-Policy"]
    assert "camera=()" in reply["Permissions-Policy"]


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_style(template):
    text = template.read_text()
    found = {kind: pattern.findall(text) for kind, pattern in INLINE.items()}
    assert not any(found.values()), found


def test_the_api_docs_load_their_script_and_styles_from_files(client):
    html = client.get("/api/docs/").content.decode()
    assert not any(pattern.search(html) for pattern in INLINE.values())
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert len(scripts) == 3 and all(src.startswith("/") for src in scripts)
    start_up = client.get(scripts[-1].replace("&amp;", "&"))
    assert start_up.status_code == 200
    assert start_up["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in start_up.content.decode()


def test_the_browsable_api_has_no_inline_style_or_script(client, stack):
    html = client.get("/api/", HTTP_ACCEPT="text/html").content.decode()
    assert "Django REST framework" in html
    # DRF's own data block (<script type="application/json">) is data, never executed.
    found = {kind: pattern.findall(html) for kind, pattern in INLINE.items()}
    found["inline script"] = [t for t in found["inline script"] if "application/json" not in t]
    assert not any(found.values()), found
