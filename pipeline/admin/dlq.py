"""Console page: dead-lettered messages with their failure reasons; redrive or delete them.

Redrive and delete go through ``pipeline.services.jobs.dispatch``: inline locally,
queued on the worker function in a deployed stage (whose web role only reads data).
Either way the answer comes at once, with a link to the job's page.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.contrib import admin, messages
from django.contrib.admin.models import DELETION
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.urls import URLPattern, path
from django.utils.html import format_html

from pipeline.admin.console import ConsoleAdmin, log_action
from pipeline.admin.jobs import job_link, with_job_link
from pipeline.core.config import get_config
from pipeline.models import DeadLetterMessage
from pipeline.services import dlq, jobs
from pipeline.services.jobs import JobFailed, JobRejected, JobTicket

DEAD_LETTERS_SHOWN = 100


@admin.register(DeadLetterMessage)
class DeadLetterAdmin(ConsoleAdmin):
    """Dead-lettered messages with their failure reasons; redrive or delete them."""

    def extra_urls(self) -> list[URLPattern]:
        return [
            path("redrive/", self.guarded(self.redrive_view), name=self.url_name("redrive")),
            path("delete/", self.guarded(self.delete_messages_view), name=self.url_name("delete")),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        letters = dlq.dlq_list(limit=DEAD_LETTERS_SHOWN, config=get_config())
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
        outcome = jobs.dispatch(
            jobs.JOB_DLQ_REDRIVE,
            {"message_ids": ids},
            requested_by=request.user.get_username(),
            config=get_config(),
        )
        if isinstance(outcome, JobRejected):
            text = f"Redrive: {outcome.reason}. Nothing was moved."
            messages.error(request, with_job_link(text, outcome.job_id))
        elif isinstance(outcome, JobTicket | JobFailed):
            text = f"Redrive of {_which(ids)}: {_pending(outcome)}"
            log_action(request, DeadLetterMessage, message=text, **_log_target(ids))
            _report_job(request, outcome, f"Redrive of {_which(ids)}")
        else:
            text = f"Redrove {outcome.result} message(s) to the main queue: {_which(ids)}"
            log_action(request, DeadLetterMessage, message=text, **_log_target(ids))
            _report(request, outcome.result, ids, text, outcome.job_id)
        return redirect(self.url("changelist"))

    def delete_messages_view(self, request: HttpRequest) -> HttpResponse:
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
        outcome = jobs.dispatch(
            jobs.JOB_DLQ_DELETE,
            {"message_ids": ids},
            requested_by=request.user.get_username(),
            config=get_config(),
        )
        if isinstance(outcome, JobRejected):
            text = f"Delete: {outcome.reason}. Nothing was deleted."
            messages.error(request, with_job_link(text, outcome.job_id))
            return redirect(self.url("changelist"))
        if isinstance(outcome, JobTicket | JobFailed):
            what = f"Delete of {_which(ids)} from the dead-letter queue"
            text = f"{what}: {_pending(outcome)}"
            _report_job(request, outcome, what)
        else:
            text = f"Deleted {outcome.result} message(s) from the dead-letter queue: {_which(ids)}"
            _report(request, outcome.result, ids, text, outcome.job_id)
        log_action(request, DeadLetterMessage, message=text, flag=DELETION, **_log_target(ids))
        return redirect(self.url("changelist"))


def chosen_ids(data: QueryDict) -> list[str] | None:
    """None for "all" (``all=1``), else the ``id`` values given (maybe none)."""
    if data.get("all") == "1":
        return None
    return [i for i in data.getlist("id") if i.strip()]


def _which(ids: list[str] | None) -> str:
    return "all messages" if ids is None else ", ".join(ids)


class _LogTarget(TypedDict):
    """The ``object_id`` and ``label`` keywords of ``log_action``."""

    object_id: str
    label: str


def _log_target(ids: list[str] | None) -> _LogTarget:
    if ids is None:
        return {"object_id": "all", "label": "all dead-letter messages"}
    if len(ids) == 1:
        return {"object_id": ids[0], "label": f"dead-letter message {ids[0]}"}
    return {"object_id": "several", "label": f"{len(ids)} dead-letter messages"}


def _pending(outcome: JobTicket | JobFailed) -> str:
    """The admin log's words for a job queued on the worker, or one that failed inline."""
    if isinstance(outcome, JobTicket):
        return outcome.description
    return f"failed: {outcome.reason} (job {outcome.job_id})"


def _report_job(request: HttpRequest, outcome: JobTicket | JobFailed, what: str) -> None:
    if isinstance(outcome, JobTicket):
        text = format_html(
            "{}: queued on the worker as {}; the list updates in a few seconds.",
            what,
            job_link(outcome.job_id),
        )
        messages.info(request, text)
    else:
        messages.error(request, with_job_link(f"{what} failed: {outcome.reason}.", outcome.job_id))


def _report(
    request: HttpRequest, count: int, ids: list[str] | None, text: str, job_id: str
) -> None:
    if ids is not None and count < len(set(ids)):
        missing = len(set(ids)) - count
        warning = f"{text}. {missing} not found: already moved or deleted?"
        messages.warning(request, with_job_link(warning, job_id))
    else:
        messages.success(request, with_job_link(text + ".", job_id))
