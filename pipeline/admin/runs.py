"""Console page: recent ingestion runs with each feed's outcome; Ingest now and Replay.

Both actions go through ``pipeline.services.jobs.dispatch``: inline locally, queued on
the worker function in a deployed stage (whose web role only reads data). Either way
the answer comes at once, with a link to the job's page (``pipeline.admin.jobs``). A
replay dry run only reads, so it always runs here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import URLPattern, path

from pipeline.admin.console import ConsoleAdmin, log_action
from pipeline.admin.jobs import job_link, with_job_link
from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.models import IngestionRun
from pipeline.services import jobs
from pipeline.services.jobs import JobFailed, JobRejected, JobTicket
from pipeline.services.replay import ReplayResult, replay
from pipeline.sources import SOURCES, known_types
from pipeline.stores import ledger
from pipeline.stores.ledger import RunRecord

RUNS_SHOWN = 20
DRY_RUN_KEYS_SHOWN = 200


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
        source = cast(forms.ChoiceField, self.fields["source"])
        type_ = cast(forms.ChoiceField, self.fields["type"])
        source.choices = [("", "All sources")] + [(s, s) for s in sorted(SOURCES)]
        type_.choices = [("", "All types")] + [(t, t) for t in known_types()]

    def clean(self) -> dict[str, Any]:
        # Form.clean returns self.cleaned_data (the stub allows None for overrides).
        data = cast("dict[str, Any]", super().clean())
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
        """The recent runs, or with ``?run=<id>`` that one run (a job's page links to it)."""
        self.require_view(request)
        config, run_id = get_config(), request.GET.get("run", "").strip()
        if not run_id:
            runs = ledger.run_list(limit=RUNS_SHOWN, config=config)
            return self.render(request, "admin/pipeline/ingestionrun/list.html", {"runs": runs})
        run, shown = ledger.run_get(run_id, config=config), run_id[: ledger.MAX_RUN_ID_CHARS]
        if run is None:
            messages.error(request, f"No run {shown!r}.")
        context = {"runs": [run] if run else [], "breadcrumb_tail": f"Run {shown}"}
        return self.render(request, "admin/pipeline/ingestionrun/list.html", context)

    def ingest_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.require_change(request)
        outcome = jobs.dispatch(
            jobs.JOB_INGEST, {}, requested_by=request.user.get_username(), config=get_config()
        )
        if isinstance(outcome, JobRejected):
            text = f"Ingest now: {outcome.reason}. Nothing ran."
            messages.error(request, with_job_link(text, outcome.job_id))
            return redirect(self.url("changelist"))
        if isinstance(outcome, JobTicket):
            log_action(
                request,
                IngestionRun,
                object_id=outcome.job_id,
                label=f"Ingest now: job {outcome.job_id}",
                message=f"Ingest now: {outcome.description}",
            )
            text = "Ingest now: queued on the worker; the job's page links to its run when done."
            messages.info(request, with_job_link(text, outcome.job_id))
            return redirect(self.url("changelist"))
        if isinstance(outcome, JobFailed):
            text = f"Ingest now failed: {outcome.reason}"
            log_action(
                request,
                IngestionRun,
                object_id=outcome.job_id,
                label=f"Ingest now: job {outcome.job_id}",
                message=f"{text} (job {outcome.job_id})",
            )
            messages.error(request, with_job_link(f"{text}.", outcome.job_id))
            return redirect(self.url("changelist"))
        run = outcome.result
        log_action(
            request,
            IngestionRun,
            object_id=run.run_id,
            label=f"Ingest now: run {run.run_id}",
            message=f"Ingest now: run {run.run_id} {run.status}; {_feeds_summary(run)}",
        )
        messages.add_message(request, _run_level(run), run_message(run, job_id=outcome.job_id))
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
        if form.is_valid() and form.cleaned_data["dry_run"]:
            result = self._dry_run(request, form)
            context["result"] = result
            context["keys_shown"] = result.keys[:DRY_RUN_KEYS_SHOWN] if result else []
        elif form.is_valid() and self._replay(request, form):
            return redirect(self.url("changelist"))
        return self.render(request, "admin/pipeline/ingestionrun/replay.html", context)

    def _replay(self, request: HttpRequest, form: ReplayForm) -> bool:
        """Send (or queue) the replay; False when it was refused (the form says why)."""
        data = form.cleaned_data
        kwargs = {
            "source": data["source"] or None,
            "type": data["type"] or None,
            "since": data["since"].isoformat() if data["since"] else None,
            "until": data["until"].isoformat() if data["until"] else None,
        }
        outcome = jobs.dispatch(
            jobs.JOB_REPLAY, kwargs, requested_by=request.user.get_username(), config=get_config()
        )
        if isinstance(outcome, JobRejected):
            form.add_error(None, outcome.reason)
            return False
        scope = _replay_scope(data)
        if isinstance(outcome, JobTicket):
            text = outcome.description
            queued = f"Replay {scope}: queued on the worker; its messages reach the queue soon."
            messages.info(request, with_job_link(queued, outcome.job_id))
        elif isinstance(outcome, JobFailed):
            text = f"failed: {outcome.reason} (job {outcome.job_id})"
            failed = f"Replay {scope} failed: {outcome.reason}."
            messages.error(request, with_job_link(failed, outcome.job_id))
        else:
            text = _replay_summary(outcome.result, dry_run=False)
            messages.success(request, with_job_link(f"{text}.", outcome.job_id))
        log_action(
            request,
            IngestionRun,
            object_id="replay",
            label=f"Replay {scope}",
            message=f"Replay {scope}: {text}",
        )
        return True

    def _dry_run(self, request: HttpRequest, form: ReplayForm) -> ReplayResult | None:
        """List what a replay would send: a read, so it runs here in every stage."""
        data = form.cleaned_data
        try:
            result = replay(
                source=data["source"] or None,
                type_=data["type"] or None,
                since=data["since"],
                until=data["until"],
                dry_run=True,
                config=get_config(),
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
            message=f"Replay {scope}: {_replay_summary(result, dry_run=True)}",
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


def run_message(run: RunRecord, *, job_id: str | None = None) -> str:
    """The run's per-feed table (and its job's link), as (escaped, safe) HTML for a message."""
    context = {"run": run, "job_link": job_link(job_id) if job_id else None}
    return render_to_string("admin/pipeline/ingestionrun/run_message.html", context)


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
