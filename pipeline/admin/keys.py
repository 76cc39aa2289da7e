"""Admin page: clients' API keys. A key's secret is shown once, on the page that makes it.

Built on the library's ``APIKeyModelAdmin``; the library's own ``APIKey`` admin is
unregistered, so there is one key list. What may never happen, and how:

- The secret shown twice, or carried anywhere: the add form's answer is a page
  rendered in that same response, whose message holds the key. The message is used
  up there, so the secret never rides in the messages cookie or through a redirect;
  only its hash is stored and no page shows it again.
- One DynamoDB call per row: "last used" is one ``BatchGetItem`` for the page's keys
  (``get_changelist_instance``); if DynamoDB fails the column says "unknown".
- An unlogged or undone revocation: "Revoke selected keys" asks first, then revokes
  for good and writes each key to the admin log (the change form's "revoked" box is
  logged by Django). A revoked key is read-only.
- A key deleted: no one may delete one, superusers included. A revoked key stays as
  the record of who could read what, and the admin log's entries keep their object.
"""

from __future__ import annotations

from typing import Any, Final

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from pipeline.core.config import get_config
from pipeline.core.constants import API_KEY_SCOPES, PERSONAL_DATA_SCOPE
from pipeline.core.errors import BadRequest
from pipeline.models import ApiKey, scope_list
from pipeline.services.apikeys import check_expiry, key_issue, key_last_used, key_revoke

# Importing the library's admin registered its model; one key list is ours.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

ADD_FIELDS: Final = ("name", "scopes", "expiry_date", "rate")
CHANGE_FIELDS: Final = ("prefix", "name", "scopes", "expiry_date", "rate", "revoked", "created")
CHANGE_READ_ONLY: Final = ("prefix", "created", "last_used")
# Set on each listed key by get_changelist_instance: a datetime, None (never) or UNKNOWN.
LAST_USED_ATTRIBUTE: Final = "_last_used"
UNKNOWN: Final = "unknown"


class ApiKeyForm(forms.ModelForm):
    """The key's fields, with its scopes as checkboxes (stored comma-separated)."""

    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in API_KEY_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=f"{PERSONAL_DATA_SCOPE}: also the fields sources declare personal. "
        "None: public fields only.",
    )

    class Meta:
        model = ApiKey
        fields = (*ADD_FIELDS, "revoked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["scopes"] = scope_list(self.instance.scopes)

    def clean_scopes(self) -> str:
        return ",".join(self.cleaned_data.get("scopes") or [])

    def clean_expiry_date(self) -> Any:
        expires = self.cleaned_data.get("expiry_date")
        if self.instance._state.adding:
            try:
                check_expiry(expires)
            except BadRequest as exc:
                raise forms.ValidationError(str(exc)) from None
        return expires


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Clients' API keys: add (the key is shown once), list with last use, revoke."""

    model = ApiKey
    form = ApiKeyForm
    search_fields = ("name", "prefix")
    actions = ["revoke_selected"]

    # Methods, not attributes: the library's tuples fix their length for the type checker.
    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        return ("prefix", "name", "scope_names", "created", "last_used", "expires", "revoked")

    def get_list_filter(self, request: HttpRequest) -> tuple[str, ...]:
        return ("revoked", "created")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ADD_FIELDS if obj is None else (*CHANGE_FIELDS, "last_used")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (*CHANGE_FIELDS, "last_used") if obj.revoked else CHANGE_READ_ONLY

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.revoked:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- The list ----------------------------------------------------------------------

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        """The page's keys, each with when it was last used: one DynamoDB read."""
        changelist = super().get_changelist_instance(request)
        keys = list(changelist.result_list)  # the page's query, cached for the rows
        used = key_last_used([k.prefix for k in keys], config=get_config())
        if used is None:
            messages.warning(
                request, "When the keys were last used is unknown: DynamoDB did not answer."
            )
        for key in keys:
            setattr(key, LAST_USED_ATTRIBUTE, UNKNOWN if used is None else used.get(key.prefix))
        return changelist

    @admin.display(description="scopes")
    def scope_names(self, obj: ApiKey) -> str:
        return ", ".join(scope_list(obj.scopes)) or "none"

    @admin.display(description="last used")
    def last_used(self, obj: ApiKey) -> Any:
        if hasattr(obj, LAST_USED_ATTRIBUTE):
            value = getattr(obj, LAST_USED_ATTRIBUTE)
        else:  # the change page: one key, one read
            used = key_last_used([obj.prefix], config=get_config())
            value = UNKNOWN if used is None else used.get(obj.prefix)
        return "never" if value is None else value

    @admin.display(description="expires", ordering="expiry_date")
    def expires(self, obj: ApiKey) -> str:
        if obj.expiry_date is None:
            return "never"
        shown = str(display_for_value(obj.expiry_date, ""))
        return f"{shown} (expired)" if obj.has_expired else shown

    # --- Adding: the key is shown once --------------------------------------------------

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any = None, change: bool = False
    ) -> None:
        if change:
            obj.save()
            return
        secret = key_issue(obj)
        messages.warning(
            request,
            f"The API key for {obj.name} is: {secret} Store it somewhere safe now: it "
            "cannot be shown again (only its hash is kept).",
        )

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: Any = None
    ) -> HttpResponse:
        """The page holding the key's message, rendered now so the message is used up here."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"API key {obj.prefix} created",
            "key": obj,
            "changelist_url": reverse("admin:pipeline_apikey_changelist"),
            "add_url": reverse("admin:pipeline_apikey_add"),
            "breadcrumb_tail": obj.prefix,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/pipeline/apikey/created.html", context)

    # --- Revoking -----------------------------------------------------------------------

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[ApiKey]
    ) -> HttpResponse | None:
        active = list(queryset.filter(revoked=False))
        if not active:
            self.message_user(request, "The selected keys are revoked already.", messages.WARNING)
            return None
        if request.POST.get("post") != "yes":
            return self._revoke_confirmation(request, active)
        for key in active:
            key_revoke(key.prefix)
            self.log_change(request, key, "Revoked (Revoke selected keys); cannot be undone.")
        prefixes = ", ".join(k.prefix for k in active)
        self.message_user(
            request,
            f"Revoked {len(active)} key(s): {prefixes}. Requests with them are refused (401).",
            messages.SUCCESS,
        )
        return None

    def _revoke_confirmation(self, request: HttpRequest, keys: list[ApiKey]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Revoke API keys",
            "keys": keys,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:pipeline_apikey_changelist"),
            "breadcrumb_tail": "Revoke",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/pipeline/apikey/revoke_confirm.html", context)
