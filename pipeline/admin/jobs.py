"""Console page: the admin's jobs newest first, and one job's status, result or failure reason.

Every Ingest now, Replay, redrive and delete is a job with a record in the ledger
(``pipeline.services.jobs``); the page that started one answers at once with a link
here (``job_link``). A job's page refreshes itself (``<meta http-equiv="refresh">``:
no script, the CSP allows none inline) until the job is over, or until the worker has
been silent for longer than it could take, when the page says so and stops.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from pipeline.admin.console import ConsoleAdmin
from pipeline.core.clock import parse_iso, utc_now
from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import JOB_TTL
from pipeline.models import Job
from pipeline.stores import worker
from pipeline.stores.worker import QUEUED, RUNNING, JobRecord

JOBS_SHOWN: Final = 50
REFRESH_SECONDS: Final = 2
# A queued job the worker has not picked up after this long: Lambda may hold an event
# for hours while the worker is throttled or failing, or the invoke was refused and
# the record could not be marked rejected; the page stops waiting either way.
QUEUED_STALL: Final = timedelta(minutes=10)
# Room for clocks and Lambda's own start-up beyond the worker's timeout.
RUNNING_SLACK: Final = timedelta(minutes=1)
SHORT_ID_CHARS: Final = 8
_CHANGE_URL = "admin:pipeline_job_change"


def job_link(job_id: str) -> SafeString:
    """A link to one job's page, as the pages that start jobs put it in their message."""
    url = reverse(_CHANGE_URL, args=[job_id])
    return format_html(
        '<a href="{}" data-testid="job-link">job {}</a>', url, job_id[:SHORT_ID_CHARS]
    )


def with_job_link(text: str, job_id: str | None) -> SafeString:
    """``text`` (escaped) and, when the job has a record, the link to its page."""
    if job_id is None:
        return format_html("{}", text)
    return format_html("{} See {}.", text, job_link(job_id))


def stall_note(record: JobRecord, *, now: datetime, config: PipelineConfig) -> str | None:
    """Why a job that is not over has surely stopped (None: it may still be under way)."""
    if record.status == RUNNING and record.running_at:
        limit = timedelta(seconds=config.worker_timeout_seconds) + RUNNING_SLACK
        if now - parse_iso(record.running_at) > limit:
            return (
                f"Running for longer than the worker's time limit "
                f"({config.worker_timeout_seconds} s): it stopped (timed out or ran out of "
                "memory) without recording how the job ended. Its log has the details; "
                "check what the job did before starting it again."
            )
    if record.status == QUEUED and now - parse_iso(record.started_at) > QUEUED_STALL:
        minutes = int(QUEUED_STALL.total_seconds() // 60)
        return (
            f"Not picked up by the worker after {minutes} minutes. Either the invoke was "
            "refused and this record could not be corrected (the web function's log says "
            '"could not invoke"), or the worker is throttled or failing (its log says why) '
            "and Lambda may still deliver it later."
        )
    return None


@admin.register(Job)
class JobAdmin(ConsoleAdmin):
    """The admin's jobs newest first; one job's status, result or failure reason."""

    def extra_urls(self) -> list[URLPattern]:
        # Named "change", as the record page is, so admin log entries link here.
        detail = self.guarded(self.detail_view)
        return [path("<str:job_id>/change/", detail, name=self.url_name("change"))]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        config, now = get_config(), utc_now()
        listed = worker.job_record_list(limit=JOBS_SHOWN, config=config)
        notes = [stall_note(job, now=now, config=config) for job in listed]
        waiting = any(job.active and not note for job, note in zip(listed, notes, strict=True))
        rows = [{"job": job, "stalled": note} for job, note in zip(listed, notes, strict=True)]
        context = {
            "rows": rows,
            "refresh_seconds": REFRESH_SECONDS if waiting else None,
            "ttl_days": JOB_TTL.days,
        }
        return self.render(request, "admin/pipeline/job/list.html", context)

    def detail_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        self.require_view(request)
        config = get_config()
        job = worker.job_record_get(job_id, config=config)
        if job is None:
            messages.error(
                request,
                f"No job {job_id[:40]!r}: a job's record is kept {JOB_TTL.days} days, "
                "and its id is 32 hex digits.",
            )
            return redirect(self.url("changelist"))
        stalled = stall_note(job, now=utc_now(), config=config)
        context = {
            "title": f"Job {job.job_id[:SHORT_ID_CHARS]}: {job.job}",
            "breadcrumb_tail": f"Job {job.job_id[:SHORT_ID_CHARS]}",
            "job": job,
            "stalled": stalled,
            "run_url": (
                reverse("admin:pipeline_ingestionrun_changelist")
                + "?"
                + urlencode({"run": job.run_id})
                if job.run_id
                else None
            ),
            "refresh_seconds": REFRESH_SECONDS if job.active and not stalled else None,
        }
        return self.render(request, "admin/pipeline/job/detail.html", context)
