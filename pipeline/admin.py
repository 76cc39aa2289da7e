"""The Django admin as the operator's console: thin pages over the pipeline's functions.

Each placeholder model (pipeline/models.py) gets a ModelAdmin whose pages render
templates from plain pipeline functions, never the ORM: records, ingestion runs (with
Ingest now and Replay), the dead-letter queue (redrive, delete) and sources. Actions
need the model's "change" permission, are POST-only and CSRF-protected, and each one
is written to Django's admin log. An AWS failure becomes a message, not a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from pipeline import dlq, ledger, records
from pipeline.analytics import sources_overview
from pipeline.config import get_config
from pipeline.errors import PipelineError
from pipeline.ingest import ingest
from pipeline.ledger import RunRecord
from pipeline.models import DeadLetterMessage, IngestionRun, Record, Source
from pipeline.replay import ReplayResult, replay
from pipeline.sources import SOURCES

log = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
AWS_ERRORS = (ClientError, BotoCoreError)
RECORDS_PER_PAGE = 25
RUNS_SHOWN = 20
DEAD_LETTERS_SHOWN = 100
DRY_RUN_KEYS_SHOWN = 200
# Field order on the record page; anything else follows alphabetically.
RECORD_FIELDS = (
    "id",
    "title",
    "source",
    "type",
    "version",
    "captured_at",
    "first_seen_at",
    "processed_at",
    "fingerprint",
    "run_id",
    "raw_s3_key",
    "raw_index",
)


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
            "title": self.opts.verbose_name_plural.capitalize(),
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
        user_id=request.user.pk,
        queryset=[model(id=object_id, name=label[:200])],
        action_flag=flag,
        change_message=message,
        single_object=True,
    )


# --- Records ----------------------------------------------------------------------


@admin.register(Record)
class RecordAdmin(ConsoleAdmin):
    """Browse curated records newest first, filter, look one up, open its page."""

    def extra_urls(self) -> list[URLPattern]:
        # Named "change" so admin log entries link to the record's page.
        detail = self.guarded(self.detail_view)
        return [path("<str:record_id>/change/", detail, name=self.url_name("change"))]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        lookup = request.GET.get("id", "").strip()
        if lookup:
            try:
                return redirect(self.url("change", records.validate_record_id(lookup)))
            except records.BadRequest as exc:
                messages.error(request, str(exc))
        source, type_ = request.GET.get("source") or None, request.GET.get("type") or None
        page = _record_page(request, source, type_, request.GET.get("cursor") or None)
        next_query = {"source": source, "type": type_, "cursor": page.next_cursor}
        return self.render(
            request,
            "admin/pipeline/record/list.html",
            {
                "records": page.records,
                "next_url": "?" + urlencode({k: v for k, v in next_query.items() if v})
                if page.next_cursor
                else None,
                "sources": sorted(SOURCES),
                "types": records.known_types(),
                "source": source or "",
                "type": type_ or "",
                "lookup": lookup,
            },
        )

    def detail_view(self, request: HttpRequest, record_id: str) -> HttpResponse:
        self.require_view(request)
        try:
            record = records.record_detail(record_id, config=get_config())
        except (records.NotFound, records.BadRequest) as exc:
            messages.error(request, str(exc))
            return redirect(self.url("changelist"))
        return self.render(
            request,
            "admin/pipeline/record/detail.html",
            {
                "title": f"Record {record_id}",
                "breadcrumb_tail": record_id,
                "record": record,
                "fields": _record_fields(record),
                "data_json": json.dumps(record.get("data"), indent=2, sort_keys=True, default=str),
                "public_url": public_record_url(record_id),
            },
        )


def _record_page(
    request: HttpRequest, source: str | None, type_: str | None, cursor: str | None
) -> records.Page:
    try:
        return records.record_list(
            source=source,
            type_=type_,
            limit=RECORDS_PER_PAGE,
            cursor=cursor,
            config=get_config(),
        )
    except records.BadRequest as exc:
        messages.error(request, str(exc))
        return records.Page([], None)


def _record_fields(record: dict[str, Any]) -> list[tuple[str, Any]]:
    rest = sorted(k for k in record if k not in RECORD_FIELDS and k not in {"data", "source_type"})
    return [(k, record[k]) for k in (*RECORD_FIELDS, *rest) if k in record]


def public_record_url(record_id: str) -> str:
    """The record's public page, or its API URL while that page does not exist."""
    for name in ("record-detail", "api-record-detail"):
        try:
            return reverse(name, args=[record_id])
        except NoReverseMatch:
            continue
    return f"/api/records/{quote(record_id, safe='')}"


# --- Ingestion runs, Ingest now, Replay -------------------------------------------


class ReplayForm(forms.Form):
    """Which raw objects to send again."""

    source = forms.ChoiceField(required=False)
    type = forms.ChoiceField(required=False)
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First capture date, inclusive (YYYY-MM-DD). Empty: from the start.",
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last capture date, inclusive (YYYY-MM-DD). Empty: up to now.",
    )
    dry_run = forms.BooleanField(
        required=False,
        label="Dry run",
        help_text="Only list the raw objects that would be sent; send nothing.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "All sources")] + [(s, s) for s in sorted(SOURCES)]
        self.fields["type"].choices = [("", "All types")] + [(t, t) for t in records.known_types()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“Since” must not be after “until”.")
        return data


@admin.register(IngestionRun)
class IngestionRunAdmin(ConsoleAdmin):
    """Recent runs with each feed's outcome; Ingest now and Replay raw objects."""

    def extra_urls(self) -> list[URLPattern]:
        return [
            path("ingest/", self.guarded(self.ingest_view), name=self.url_name("ingest")),
            path("replay/", self.guarded(self.replay_view), name=self.url_name("replay")),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        runs = ledger.run_list(limit=RUNS_SHOWN, config=get_config())
        return self.render(request, "admin/pipeline/ingestionrun/list.html", {"runs": runs})

    def ingest_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.require_change(request)
        run = ingest(trigger="admin")
        log_action(
            request,
            IngestionRun,
            object_id=run.run_id,
            label=f"Ingest now: run {run.run_id}",
            message=f"Ingest now: run {run.run_id} {run.status}; {_feeds_summary(run)}",
        )
        messages.add_message(request, _run_level(run), run_message(run))
        return redirect(self.url("changelist"))

    def replay_view(self, request: HttpRequest) -> HttpResponse:
        self.require_change(request)
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        form = ReplayForm(request.POST if request.method == "POST" else None)
        context: dict[str, Any] = {
            "title": "Replay raw objects",
            "breadcrumb_tail": "Replay raw objects",
            "form": form,
        }
        if form.is_valid():
            result = self._replay(request, form)
            if result is not None and not form.cleaned_data["dry_run"]:
                messages.success(request, _replay_summary(result, dry_run=False))
                return redirect(self.url("changelist"))
            context["result"] = result
            context["keys_shown"] = result.keys[:DRY_RUN_KEYS_SHOWN] if result else []
        return self.render(request, "admin/pipeline/ingestionrun/replay.html", context)

    def _replay(self, request: HttpRequest, form: ReplayForm) -> ReplayResult | None:
        data = form.cleaned_data
        try:
            result = replay(
                source=data["source"] or None,
                type_=data["type"] or None,
                since=data["since"],
                until=data["until"],
                dry_run=data["dry_run"],
            )
        except PipelineError as exc:
            form.add_error(None, str(exc))
            return None
        scope = _replay_scope(data)
        log_action(
            request,
            IngestionRun,
            object_id="replay",
            label=f"Replay {scope}",
            message=f"Replay {scope}: {_replay_summary(result, dry_run=data['dry_run'])}",
        )
        return result


def _feeds_summary(run: RunRecord) -> str:
    parts = [f"{f.source}/{f.type} {f.outcome} ({f.item_count} items)" for f in run.feeds]
    errors = [f"{f.source}/{f.type}: {f.error}" for f in run.feeds if f.error]
    return "; ".join(parts + errors)


def _run_level(run: RunRecord) -> int:
    return {"succeeded": messages.SUCCESS, "partial": messages.WARNING}.get(
        run.status, messages.ERROR
    )


def run_message(run: RunRecord) -> str:
    """The run's per-feed table, as HTML for a message."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((f.source, f.type, f.outcome, f.item_count, f.error or f.s3_key or "") for f in run.feeds),
    )
    return format_html(
        "Ingest now: run {} {}."
        '<table class="run-feeds"><thead><tr><th scope="col">source</th><th scope="col">type</th>'
        '<th scope="col">outcome</th><th scope="col">items</th>'
        '<th scope="col">S3 key / error</th></tr></thead><tbody>{}</tbody></table>',
        run.run_id,
        run.status,
        rows,
    )


def _replay_scope(data: dict[str, Any]) -> str:
    def day(value: date | None, default: str) -> str:
        return value.isoformat() if value else default

    feed = f"{data['source'] or 'all sources'}/{data['type'] or 'all types'}"
    return f"{feed} from {day(data['since'], 'the start')} to {day(data['until'], 'now')}"


def _replay_summary(result: ReplayResult, *, dry_run: bool) -> str:
    if dry_run:
        return f"dry run: would send {len(result.keys)} raw object(s); nothing sent"
    text = f"sent {result.sent} of {len(result.keys)} raw object(s) to the queue"
    if result.skipped:
        text += f"; skipped {len(result.skipped)}: " + "; ".join(
            f"{key} ({reason})" for key, reason in result.skipped[:10]
        )
    return text


# --- Dead-letter queue --------------------------------------------------------------


@admin.register(DeadLetterMessage)
class DeadLetterAdmin(ConsoleAdmin):
    """Dead-lettered messages with their failure reasons; redrive or delete them."""

    def extra_urls(self) -> list[URLPattern]:
        return [
            path("redrive/", self.guarded(self.redrive_view), name=self.url_name("redrive")),
            path("delete/", self.guarded(self.delete_view), name=self.url_name("delete")),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        letters = dlq.dlq_list(limit=DEAD_LETTERS_SHOWN)
        return self.render(
            request,
            "admin/pipeline/deadlettermessage/list.html",
            {"letters": letters, "shown_limit": DEAD_LETTERS_SHOWN},
        )

    def redrive_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.require_change(request)
        ids = chosen_ids(request.POST)
        if ids == []:
            messages.error(request, "Choose a message to redrive.")
            return redirect(self.url("changelist"))
        moved = dlq.dlq_redrive(ids)
        text = f"Redrove {moved} message(s) to the main queue: {_which(ids)}"
        log_action(request, DeadLetterMessage, message=text, **_log_target(ids))
        _report(request, moved, ids, text)
        return redirect(self.url("changelist"))

    def delete_view(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        self.require_change(request)
        ids = chosen_ids(request.POST if request.method == "POST" else request.GET)
        if ids == []:
            messages.error(request, "Choose a message to delete.")
            return redirect(self.url("changelist"))
        if request.method == "GET":
            # Deleting loses the message for good: confirm on a page of its own first.
            context = {
                "title": "Are you sure?",
                "breadcrumb_tail": "Delete",
                "ids": ids or [],
                "delete_all": ids is None,
            }
            return self.render(request, "admin/pipeline/deadlettermessage/confirm.html", context)
        deleted = dlq.dlq_delete(ids)
        text = f"Deleted {deleted} message(s) from the dead-letter queue: {_which(ids)}"
        log_action(request, DeadLetterMessage, message=text, flag=DELETION, **_log_target(ids))
        _report(request, deleted, ids, text)
        return redirect(self.url("changelist"))


def chosen_ids(data: QueryDict) -> list[str] | None:
    """None for "all" (``all=1``), else the ``id`` values given (maybe none)."""
    if data.get("all") == "1":
        return None
    return [i for i in data.getlist("id") if i.strip()]


def _which(ids: list[str] | None) -> str:
    return "all messages" if ids is None else ", ".join(ids)


def _log_target(ids: list[str] | None) -> dict[str, str]:
    if ids is None:
        return {"object_id": "all", "label": "all dead-letter messages"}
    if len(ids) == 1:
        return {"object_id": ids[0], "label": f"dead-letter message {ids[0]}"}
    return {"object_id": "several", "label": f"{len(ids)} dead-letter messages"}


def _report(request: HttpRequest, count: int, ids: list[str] | None, text: str) -> None:
    if ids is not None and count < len(set(ids)):
        missing = len(set(ids)) - count
        messages.warning(request, f"{text}. {missing} not found: already moved or deleted?")
    else:
        messages.success(request, text + ".")


# --- Sources ---------------------------------------------------------------------


@admin.register(Source)
class SourceAdmin(ConsoleAdmin):
    """Each source: enabled, its feeds' last success, failure and error, record counts."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        rows = sources_overview(config=get_config())
        return self.render(request, "admin/pipeline/source/list.html", {"sources": rows})
