from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.forms.models import _get_foreign_key
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import ApiToken, SharingChange
from apps.accounts.sharing import Share, Visibility, change_sharing
from apps.core.admin import change_link


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Operators see and revoke tokens; new ones are made by their users (page or API)."""

    list_display = ["user", "name", "token_key", "created", "last_used", "expiry"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name", "token_key"]
    list_filter = ["created", "expiry"]
    readonly_fields = ["user", "name", "token_key", "created", "last_used", "expiry"]
    exclude = ["digest"]

    def has_add_permission(self, request) -> bool:
        return False


# --- sharing --------------------------------------------------------------------------------


class ShareInline(admin.TabularInline):
    """The groups a row is shared with; the concrete inline names the share model."""

    extra = 0
    # A search box rather than a select of every group; it reads each row's group by its id
    # (one query a share: a row is shared with a few of the groups at most).
    autocomplete_fields = ["group"]
    verbose_name = _("share with a group")
    verbose_name_plural = _("shared with groups (while visibility is not private)")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Each row is labelled with its str(), which names the row it shares and the group.
        parent = _get_foreign_key(self.parent_model, self.model, fk_name=self.fk_name).name
        return super().get_queryset(request).select_related("group", parent)


class SharingAdminMixin:
    """A shared row's visibility, owner and shares inline, changed through change_sharing:
    every change made in the admin is in the sharing history, with the operator as actor.

    The form and the shares formset are validated as usual; instead of saving the three
    directly, the admin hands what they ask for to change_sharing, the one writer of sharing.
    The concrete admin lists its ShareInline subclass in `inlines`.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        wanted = {"visibility": obj.visibility, "owner": obj.owner}
        if change:
            stored = type(obj)._base_manager.only("visibility", "owner_id").get(pk=obj.pk)
            obj.visibility, obj.owner_id = stored.visibility, stored.owner_id
        else:
            # New rows start private, as anywhere else; the change below shares them.
            obj.visibility = Visibility.PRIVATE
        obj._sharing_wanted = wanted
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> None:
        shares = None
        for formset in formsets:
            if not issubclass(formset.model, Share):
                self.save_formset(request, form, formset, change=change)
                continue
            shares = {
                share.cleaned_data["group"]: share.cleaned_data.get("can_edit", False)
                for share in formset.forms
                if share.cleaned_data
                and share.cleaned_data.get("group")
                and not share.cleaned_data.get("DELETE")
            }
            # Saved below by change_sharing; the admin's log message reads these.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        form.save_m2m()
        wanted = form.instance._sharing_wanted
        change_sharing(
            form.instance,
            actor=request.user,
            visibility=wanted["visibility"],
            owner=wanted["owner"],
            shares=shares,
        )


@admin.register(SharingChange)
class SharingChangeAdmin(admin.ModelAdmin):
    """The history of sharing: read-only, written by every change of visibility, shares or
    owner (pages, API, admin)."""

    list_display = ["at", "actor", "subject", "change"]
    list_display_links = ["at"]
    list_select_related = ["actor"]
    list_filter = ["subject_type", "at"]
    search_fields = ["subject_title", "change", "actor__username"]
    date_hierarchy = "at"
    fields = ["at", "actor", "subject", "subject_type", "subject_id", "subject_title", "change"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="what", ordering="subject_title")
    def subject(self, change: SharingChange) -> SafeString:
        # "llm_artifact.artifact" names its admin page: llm_artifact_artifact.
        return format_html(
            "{} {}",
            change.subject_type.rsplit(".", 1)[-1],
            change_link(
                change.subject_type.replace(".", "_"), change.subject_id, change.subject_title
            ),
        )
