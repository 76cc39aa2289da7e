"""The console's shared base: a ModelAdmin of custom pages, and the admin log of operator actions.

Each placeholder model (``pipeline.models``) gets a ``ConsoleAdmin`` whose pages render
templates from plain pipeline functions, never the ORM. Actions need the model's
"change" permission, are POST-only and CSRF-protected, and each one is written to
Django's admin log. An AWS failure becomes a message and a 503 page, not a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from pipeline.core.errors import AWS_ERRORS

log = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


class ConsoleAdmin(admin.ModelAdmin):
    """A ModelAdmin of custom pages: no add, no delete, no ORM changelist."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path("", self.guarded(self.changelist_view), name=self.url_name("changelist")),
            *self.extra_urls(),
        ]

    def extra_urls(self) -> list[URLPattern]:
        return []

    def url_name(self, action: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{action}"

    def url(self, action: str, *args: str) -> str:
        name = f"{self.admin_site.name}:{self.url_name(action)}"
        return reverse(name, args=args, current_app=self.admin_site.name)

    def guarded(self, view: View) -> View:
        """Staff-only and CSRF-protected (admin_view), and AWS errors as a message."""

        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except AWS_ERRORS as exc:
                log.warning("admin %s: AWS request failed: %s", request.path, exc)
                messages.error(request, aws_failure_message(exc))
                return self.render(request, "admin/pipeline/unavailable.html", {}, status=503)

        return self.admin_site.admin_view(inner)

    def render(
        self, request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
    ) -> TemplateResponse:
        request.current_app = self.admin_site.name
        base = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            # Always set by Django (the stub allows None).
            "title": str(self.opts.verbose_name_plural).capitalize(),
            "has_change_permission": self.has_change_permission(request),
            "changelist_url": self.url("changelist"),
        }
        return TemplateResponse(request, template, base | context, status=status)

    def require_view(self, request: HttpRequest) -> None:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied

    def require_change(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied


def aws_failure_message(exc: Exception) -> str:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return (
        f"AWS did not answer ({detail}). Check that AWS, or the local emulator, is "
        "reachable and try again."
    )


def log_action(
    request: HttpRequest,
    model: type[models.Model],
    *,
    object_id: str,
    label: str,
    message: str,
    flag: int = CHANGE,
) -> None:
    """One admin log entry for an operator action on something outside the database."""
    LogEntry.objects.log_actions(
        # Only reached through admin_view: a signed-in staff user, so a real pk.
        user_id=cast(int, request.user.pk),
        queryset=[model(id=object_id, name=label[:200])],
        action_flag=flag,
        change_message=message,
        single_object=True,
    )
