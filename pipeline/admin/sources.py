"""Console pages: the sources (built-in and declared), and a declared source's add, edit, test,
enable or pause, delete and history.

What may never happen, and how:

- A change nobody can trace: every save, enable, pause and delete writes the admin log
  (the staff user is also the definition version's actor) and a new version of the
  definition; the history page lists them all, deleted ones included.
- Two operators overwriting each other: the form carries the version it was opened at
  and the save is refused (a form error) if the source moved on since.
- A change by GET: enable, pause and delete are POST-only (delete asks on a page of its
  own first) and need the "change" permission, as do add, edit and Test.
- A bad definition as a server error: the form puts every validation error on its field.
- A secret on a page: definitions hold references (``ssm:/…``, ``env:…``) and nothing here
  resolves one; Test's errors name the reference only.
- Deleting data: delete stops the fetching; the source's raw objects, curated records and
  history are kept (docs/SOURCES.md).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path

from pipeline.admin.console import ConsoleAdmin, log_action
from pipeline.admin.source_form import DefinitionForm, initial_from, pretty
from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.models import Source
from pipeline.selectors.definitions import (
    definition_stored,
    definition_versions,
    definitions_stored,
)
from pipeline.selectors.sources import sources_overview
from pipeline.services.definitions import (
    definition_remove,
    definition_save,
    definition_set_enabled,
    definition_test,
)
from pipeline.sources import builtin_names
from pipeline.sources.declared import DefinitionInvalid
from pipeline.stores.definitions import DefinitionConflict, StoredDefinition

FORM_TEMPLATE = "admin/pipeline/source/form.html"


@admin.register(Source)
class SourceAdmin(ConsoleAdmin):
    """Each source: enabled, schedule, version, last success, records; declared ones managed."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Placeholder models have no "add" permission: adding a source is a change.
        return self.has_change_permission(request)

    def extra_urls(self) -> list[URLPattern]:
        # "change" is Django's own name, so the admin log's entries link to the edit page.
        per_source = (
            ("change", self.definition_edit_view),
            ("history", self.versions_view),
            ("enable", self.enable_view),
            ("pause", self.pause_view),
            ("delete", self.remove_view),
        )
        return [
            path("add/", self.guarded(self.definition_add_view), name=self.url_name("add")),
            *(
                path(f"<str:name>/{action}/", self.guarded(view), name=self.url_name(action))
                for action, view in per_source
            ),
        ]

    # --- The list ----------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        self.require_view(request)
        config = get_config()
        rows = sources_overview(config=config)
        listed = {row["name"] for row in rows}
        # Stored but not in the registry: its definition no longer parses (a newer format?).
        unreadable = [d for d in definitions_stored(config=config) if d.name not in listed]
        context = {
            "sources": rows,
            "unreadable": unreadable,
            "has_add_permission": self.has_add_permission(request),
            "add_url": self.url("add"),
        }
        return self.render(request, "admin/pipeline/source/list.html", context)

    # --- Add, edit, Test ---------------------------------------------------------------

    def definition_add_view(self, request: HttpRequest) -> HttpResponse:
        return self._form_view(request, None)

    def definition_edit_view(self, request: HttpRequest, name: str) -> HttpResponse:
        self.require_change(request)
        stored = definition_stored(name, config=get_config())
        if stored is None:
            return self._missing(request, name)
        return self._form_view(request, stored)

    def _form_view(self, request: HttpRequest, stored: StoredDefinition | None) -> HttpResponse:
        self.require_change(request)
        fixed = stored.name if stored else None
        if request.method == "GET":
            initial = initial_from(stored.definition, stored.version) if stored else {}
            return self._render_form(
                request, DefinitionForm(initial=initial, fixed_name=fixed), stored
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        form = DefinitionForm(request.POST, fixed_name=fixed)
        if not form.is_valid() or form.definition is None:
            return self._render_form(request, form, stored)
        if "_test" in request.POST:
            tests = definition_test(form.definition, config=get_config())
            return self._render_form(request, form, stored, tests=tests)
        return self._save(request, form, stored)

    def _save(
        self, request: HttpRequest, form: DefinitionForm, stored: StoredDefinition | None
    ) -> HttpResponse:
        assert form.definition is not None  # a valid form
        try:
            result = definition_save(
                form.definition,
                actor=request.user.get_username(),
                config=get_config(),
                expected_version=form.cleaned_data.get("opened_version"),
                check_version=True,
            )
        except DefinitionInvalid as exc:  # a built-in source of that name appeared since
            for error in exc.errors:
                form.add_definition_error(error)
            return self._render_form(request, form, stored)
        except DefinitionConflict as exc:
            form.add_error(None, str(exc))
            return self._render_form(request, form, stored)
        if not result.changed:
            messages.info(
                request, f"Nothing changed: {result.name} is still version {result.version}."
            )
            return redirect(self.url("changelist"))
        created = stored is None
        verb = "Created" if created else "Saved"
        text = f"{verb} declared source {result.name} as version {result.version}."
        log_action(
            request,
            Source,
            object_id=result.name,
            label=f"declared source {result.name}",
            message=text,
            flag=ADDITION if created else CHANGE,
        )
        state = "enabled" if form.definition.get("enabled", True) else "paused"
        messages.success(request, f"{text} It is {state}.")
        return redirect(self.url("changelist"))

    def _render_form(
        self,
        request: HttpRequest,
        form: DefinitionForm,
        stored: StoredDefinition | None,
        *,
        tests: Any = None,
    ) -> HttpResponse:
        name = stored.name if stored else None
        context = {
            "title": f"Change declared source {name}" if name else "Add a declared source",
            "breadcrumb_tail": name or "Add",
            "form": form,
            "stored": stored,
            "tests": tests,
            "history_url": self.url("history", name) if name else None,
        }
        return self.render(request, FORM_TEMPLATE, context)

    # --- Enable, pause, delete ---------------------------------------------------------

    def enable_view(self, request: HttpRequest, name: str) -> HttpResponse:
        return self._set_enabled(request, name, enabled=True)

    def pause_view(self, request: HttpRequest, name: str) -> HttpResponse:
        return self._set_enabled(request, name, enabled=False)

    def _set_enabled(self, request: HttpRequest, name: str, *, enabled: bool) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.require_change(request)
        verb = "Enabled" if enabled else "Paused"
        try:
            result = definition_set_enabled(
                name, enabled, actor=request.user.get_username(), config=get_config()
            )
        except PipelineError as exc:  # gone, or changed at the same moment
            messages.error(request, f"{verb[:-1]}ing {name} failed: {exc}")
            return redirect(self.url("changelist"))
        if not result.changed:
            messages.info(request, f"{name} is {verb.lower()} already (version {result.version}).")
            return redirect(self.url("changelist"))
        text = f"{verb} declared source {name} (version {result.version})."
        log_action(request, Source, object_id=name, label=f"declared source {name}", message=text)
        messages.success(request, text)
        return redirect(self.url("changelist"))

    def remove_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        self.require_change(request)
        stored = definition_stored(name, config=get_config())
        if stored is None:
            return self._missing(request, name)
        if request.method == "GET":
            # Deleting stops the source for good: ask on a page of its own first.
            context = {"title": "Are you sure?", "breadcrumb_tail": "Delete", "stored": stored}
            return self.render(request, "admin/pipeline/source/delete_confirm.html", context)
        try:
            version = definition_remove(
                name, actor=request.user.get_username(), config=get_config()
            )
        except PipelineError as exc:
            messages.error(request, f"Deleting {name} failed: {exc}")
            return redirect(self.url("changelist"))
        text = (
            f"Deleted declared source {name} (was version {version}); its raw objects, "
            "curated records and history are kept."
        )
        log_action(
            request,
            Source,
            object_id=name,
            label=f"declared source {name}",
            message=text,
            flag=DELETION,
        )
        messages.success(request, text)
        return redirect(self.url("changelist"))

    # --- History -----------------------------------------------------------------------

    def versions_view(self, request: HttpRequest, name: str) -> HttpResponse:
        self.require_view(request)
        versions = definition_versions(name, config=get_config())
        if not versions:
            return self._missing(request, name)
        context = {
            "title": f"History of declared source {name}",
            "breadcrumb_tail": f"{name} history",
            "name": name,
            "versions": [(v, pretty(v.definition)) for v in versions],
            "current": definition_stored(name, config=get_config()),
        }
        return self.render(request, "admin/pipeline/source/history.html", context)

    def _missing(self, request: HttpRequest, name: str) -> HttpResponse:
        if name in builtin_names():
            messages.warning(request, f"{name} is a built-in source: it is code, not a definition.")
        else:
            messages.error(request, f"There is no declared source called {name!r}.")
        return redirect(self.url("changelist"))
