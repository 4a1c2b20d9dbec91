"""Data source access, for operators: which groups may use each source, and which of its
tables (minus hidden columns) SQL may read.

Sources are configured in settings (DATA_SOURCES); a policy row adds rules to one. The list
shows every configured source, with or without a policy, so operators see what is open.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.datasources import schema
from apps.datasources.executor import QueryFailed
from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable
from apps.datasources.sources import data_source_names


class DataSourcePolicyForm(forms.ModelForm):
    """The source is chosen among the configured ones."""

    class Meta:
        model = DataSourcePolicy
        fields = ["source"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = data_source_names()
        if self.instance.source and self.instance.source not in names:
            names.append(self.instance.source)  # removed from settings since: still shown
        self.fields["source"].widget = forms.Select(
            choices=[("", "---------")] + [(name, name) for name in names]
        )


class ExposedTableForm(forms.ModelForm):
    class Meta:
        model = ExposedTable
        fields = ["name", "hidden_columns"]
        widgets = {"hidden_columns": forms.TextInput(attrs={"size": 50})}


class ExposedTableFormSet(forms.BaseInlineFormSet):
    """On a saved policy, the table is a choice of the source's real tables (read once for
    the whole formset); a source that cannot be read keeps a text field."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.table_choices: list[tuple[str, str]] | None = None
        source = self.instance.source if self.instance.pk else ""
        if source:
            try:
                tables = schema.list_all_tables(source)
            except QueryFailed:
                tables = None
            if tables is not None:
                self.table_choices = [("", "---------")] + [
                    (t.name, f"{t.name} ({', '.join(c.name for c in t.columns)})") for t in tables
                ]

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if self.table_choices is not None:
            choices = list(self.table_choices)
            current = form.initial.get("name")
            if current and current not in {value for value, _ in choices}:
                choices.append(
                    (current, gettext("%(table)s (no longer in the source)") % {"table": current})
                )
            form.fields["name"].widget = forms.Select(choices=choices)
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        if self.table_choices is not None:
            form.fields["name"].widget = forms.Select(choices=self.table_choices)
        return form


class DataSourceGrantInline(admin.TabularInline):
    model = DataSourceGrant
    extra = 0
    autocomplete_fields = ["group"]
    readonly_fields = ["created_at"]
    verbose_name = _("group granted this source")
    verbose_name_plural = _("Groups that may use this source (none: every signed-in user)")


class ExposedTableInline(admin.TabularInline):
    model = ExposedTable
    form = ExposedTableForm
    formset = ExposedTableFormSet
    extra = 0
    verbose_name = _("exposed table")
    verbose_name_plural = _(
        "Tables SQL may read (none: every table); hidden columns as a JSON list, e.g. "
        '["email", "phone"]'
    )


@admin.register(DataSourcePolicy)
class DataSourcePolicyAdmin(admin.ModelAdmin):
    form = DataSourcePolicyForm
    inlines = [DataSourceGrantInline, ExposedTableInline]
    list_display = ["source", "granted_to", "exposed", "updated_at"]
    search_fields = ["source", "grants__group__name", "exposed_tables__name"]
    readonly_fields = ["updated_at"]
    change_list_template = "admin/datasources/datasourcepolicy/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataSourcePolicy]:
        return (
            super()
            .get_queryset(request)
            .annotate(table_count=Count("exposed_tables", distinct=True))
            .prefetch_related("grants__group")
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        # The list's "Add a policy" links name the source: ?source=<name>.
        return {"source": request.GET.get("source", "")}

    @admin.display(description=_("may use it"))
    def granted_to(self, policy: DataSourcePolicy) -> str:
        groups = sorted(grant.group.name for grant in policy.grants.all())
        return ", ".join(groups) or gettext("every signed-in user")

    @admin.display(description=_("SQL may read"), ordering="table_count")
    def exposed(self, policy: DataSourcePolicy) -> str:
        count = policy.table_count
        if not count:
            return gettext("every table")
        return ngettext("%(count)d table", "%(count)d tables", count) % {"count": count}

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        with_policy = set(DataSourcePolicy.objects.values_list("source", flat=True))
        add_url = reverse("admin:datasources_datasourcepolicy_add")
        without = [name for name in data_source_names() if name not in with_policy]
        extra = {
            "sources_without_policy": format_html_join(
                ", ",
                '<a href="{}?source={}">{}</a>',
                ((add_url, name, name) for name in without),
            )
            if without
            else "",
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})
