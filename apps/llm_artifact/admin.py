"""Admin for artifacts: curate the queries agents wrote, see where they came from, run
them and read their run history."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.accounts.admin import ShareInline, SharingAdminMixin
from apps.core.admin import (
    SortedChangeList,
    already_note,
    badge,
    change_link,
    changelist_link,
    set_field_logged,
)
from apps.core.forms import PrettyJSONField
from apps.core.highlight import highlight_sql
from apps.core.widgets import SQLEditorWidget
from apps.datasources.sources import all_data_sources
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.download import bundle_download
from apps.llm_artifact.forms import StatusChoiceMixin
from apps.llm_artifact.models import (
    SEARCH_FIELDS,
    Artifact,
    ArtifactJob,
    ArtifactRun,
    ArtifactShare,
    Tag,
)
from apps.llm_artifact.services import run_artifact

# Readable on the admin's light and dark themes alike.
STATUS_COLOURS = {
    Artifact.Status.DRAFT: "#6c757d",
    Artifact.Status.ACTIVE: "#198754",
    Artifact.Status.DEPRECATED: "#b35c00",
    Artifact.Status.FAILED: "#dc3545",
}

OUTCOME_COLOURS = {
    ArtifactRun.Outcome.OK: "#198754",
    ArtifactRun.Outcome.ERROR: "#dc3545",
    ArtifactRun.Outcome.TIMEOUT: "#b35c00",
    ArtifactRun.Outcome.REJECTED: "#6f42c1",
}

# The change page lists this many referencing messages and links to the rest.
MESSAGES_SHOWN = 20
# The change page's run history shows this many of the latest runs and links to the rest.
RUNS_SHOWN = 20


def status_badge(artifact: Artifact) -> SafeString:
    """A coloured pill for an artifact's status; the chat admin's inline shares it."""
    return badge(STATUS_COLOURS.get(artifact.status, "#6c757d"), artifact.get_status_display())


def outcome_badge(run: ArtifactRun) -> SafeString:
    return badge(OUTCOME_COLOURS.get(run.outcome, "#6c757d"), run.get_outcome_display())


class LatestRunsFormSet(BaseInlineFormSet):
    """The latest runs, for display only.

    Posted data is never bound, so saving the artifact neither needs this formset's
    management form nor can it change a run, whatever is posted.
    """

    def __init__(self, data=None, files=None, *args, **kwargs) -> None:
        super().__init__(None, None, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ArtifactRun]:
        # Cached: the formset asks for its queryset once per form, and a fresh slice would
        # query again each time.
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:RUNS_SHOWN]
        return self._latest

    def is_valid(self) -> bool:
        return True

    def save(self, commit: bool = True) -> list:
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        return []


class ArtifactRunInline(admin.TabularInline):
    model = ArtifactRun
    formset = LatestRunsFormSet
    verbose_name_plural = f"latest runs (up to {RUNS_SHOWN}, newest first)"
    fields = [
        "started_at",
        "outcome_badge",
        "user",
        "duration_ms",
        "row_count",
        "truncated",
        "data_source",
        "short_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[ArtifactRun]:
        return super().get_queryset(request).without_snapshot().select_related("user")

    def has_add_permission(self, request: HttpRequest, obj: Artifact | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Artifact | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Artifact | None = None) -> bool:
        return False

    @admin.display(description=_("outcome"))
    def outcome_badge(self, run: ArtifactRun) -> SafeString:
        return outcome_badge(run)

    @admin.display(description=_("error"))
    def short_error(self, run: ArtifactRun) -> str:
        return _shorten(run.error) or self.get_empty_value_display()


def source_dialects() -> dict[str, str]:
    return {name: source.dialect for name, source in all_data_sources().items()}


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ArtifactShareInline(ShareInline):
    model = ArtifactShare
    fields = ["group", "can_edit"]


class VerifiedFilter(admin.SimpleListFilter):
    title = _("verified")
    parameter_name = "verified"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("yes", _("Verified")), ("no", _("Not verified"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> QuerySet[Artifact]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(verified_at__isnull=self.value() == "no")
        return queryset


class ArtifactAdminForm(StatusChoiceMixin, forms.ModelForm):
    class Meta:
        model = Artifact
        # The admin's fieldsets choose the fields; this form only changes the status's and
        # gives the SQL the editor.
        fields = ["status"]

    keep_verified = forms.BooleanField(
        required=False,
        label=_("Still answers the question"),
        help_text=_("Changing the SQL removes the verified mark unless this is ticked."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "sql_query" in self.fields:
            self.fields["sql_query"].widget = SQLEditorWidget(
                data_source_field="data_source",
                dialects=source_dialects,
                draft_key=str(self.instance.pk or "new"),
                declarations_field="query_params",
                attrs={"class": "vLargeTextField", "aria-label": "SQL"},
            )


@admin.register(Artifact)
class ArtifactAdmin(SharingAdminMixin, admin.ModelAdmin):
    # "Failed" is shown when runs set it, never offered as a choice.
    form = ArtifactAdminForm
    list_display = [
        "title",
        "status_badge",
        "verified_badge",
        "artifact_type",
        "owner",
        "visibility",
        "agent_link",
        "chat_link",
        "data_source",
        "execution_count",
        "last_executed_at",
        "updated_at",
    ]
    list_display_links = ["title"]
    list_filter = [
        "status",
        VerifiedFilter,
        "artifact_type",
        "visibility",
        "data_source",
        "agent",
        "tags",
    ]
    list_select_related = ["owner", "agent", "chat"]
    # Shows the search box; the search itself is ArtifactQuerySet.ranked_search().
    search_fields = SEARCH_FIELDS
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner", "chat", "agent", "tags"]
    # The declarations and the chart are typed as JSON: parsed as strictly as the API does,
    # shown indented in a monospace editor.
    formfield_overrides = {models.JSONField: {"form_class": PrettyJSONField}}
    actions = [
        "run_selected",
        "mark_active",
        "mark_draft",
        "mark_deprecated",
        "mark_verified",
        "remove_verified",
        "export_bundle",
    ]
    # Staff see every artifact here; sharing changes made here are in the sharing history.
    inlines = [ArtifactRunInline, ArtifactShareInline]
    readonly_fields = [
        "sql_highlighted",
        "chart_preview",
        "content_preview",
        "origin_links",
        "referencing_messages",
        "execution_count",
        "last_executed_at",
        "last_error",
        "last_error_detail",
        "all_runs",
        "created_at",
        "updated_at",
        "verified_by",
        "verified_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "artifact_type", "status", "owner", "visibility"]}),
        (
            "Query",
            {"fields": ["data_source", "sql_highlighted", "sql_query", "query_params"]},
        ),
        ("Presentation", {"fields": ["visualization_config", "chart_preview"]}),
        ("Notes", {"fields": ["description", "comment"]}),
        (
            "Library",
            {"fields": ["question", "tags", "verified_by", "verified_at", "keep_verified"]},
        ),
        (
            "Origin",
            {"fields": ["chat", "agent", "origin_links", "referencing_messages"]},
        ),
        (
            "Statistics",
            {
                "fields": [
                    "execution_count",
                    "last_executed_at",
                    "last_error",
                    "last_error_detail",
                    "all_runs",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Artifact | None = None) -> list:
        """The SQL type's fieldsets; another type (apps/llm_artifact/types) shows its
        document and its own preview in place of the query and chart."""
        spec = artifact_types.of(obj) if obj is not None else None
        if spec is None or spec.uses_sql:
            return self.fieldsets
        content = (
            "Content",
            {"fields": ["data_source", *spec.content_fields, "content_preview"]},
        )
        return [
            content if name == "Query" else (name, options)
            for name, options in self.fieldsets
            if name != "Presentation"
        ]

    @admin.display(description=_("preview"))
    def content_preview(self, artifact: Artifact) -> SafeString:
        """What the type's admin template shows of the content (read-only)."""
        spec = artifact_types.of(artifact)
        if artifact.pk is None or not spec.admin_template:
            return format_html("{}", "—")
        return render_to_string(
            spec.admin_template, {"artifact": artifact, **spec.admin_context(artifact)}
        )

    class Media:
        # The chart preview's button (static/js/charts.js loads vega only where it draws).
        js = ["js/charts.js"]

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[SortedChangeList]:
        return SortedChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Artifact], search_term: str
    ) -> tuple[QuerySet[Artifact], bool]:
        # The change list keeps its own sort (a column's, or the newest first).
        return queryset.ranked_search(search_term).order_by(), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Artifact]:
        # The change page reads owner, agent and chat too, not only the changelist, and
        # checks the chart against the latest result (two subqueries, not two queries).
        return super().get_queryset(request).with_related().with_last_result_columns()

    @admin.display(description=_("chart preview"))
    def chart_preview(self, artifact: Artifact) -> SafeString:
        """The chart drawn on the server, on demand: drawing it runs the query."""
        if artifact.pk is None or not artifact.visualization_config:
            return format_html("{}", "No chart: the results show as a table.")
        problems = format_html_join(
            "",
            '<li style="color:{}">{}{}</li>',
            (
                (
                    "#dc3545" if problem.is_error else "#b35c00",
                    format_html("<code>{}</code>: ", problem.path) if problem.path else "",
                    problem.message,
                )
                for problem in artifact.visualization_problems()
            ),
        )
        url = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "svg"})
        png = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "png"})
        return format_html(
            "<div data-chart-image>{}"
            '<p style="margin:0 0 .5em"><button type="button" class="button" '
            'data-chart-image-src="{}?width=640&amp;height=360">Preview with the default '
            "values</button> (runs the query) · open as "
            '<a href="{}" target="_blank" rel="noopener">SVG</a> or '
            '<a href="{}" target="_blank" rel="noopener">PNG</a></p>'
            '<p data-chart-image-note style="margin:0"></p>'
            '<img hidden alt="Chart of {}" style="max-width:100%;border:1px solid #ddd;'
            'background:#fff"></div>',
            format_html('<ul style="margin:0 0 .5em;padding-left:1.2em">{}</ul>', problems)
            if problems
            else "",
            url,
            url,
            png,
            artifact.title,
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, artifact: Artifact) -> SafeString:
        return status_badge(artifact)

    @admin.display(description=_("agent"), ordering="agent__name")
    def agent_link(self, artifact: Artifact) -> SafeString:
        if artifact.agent_id is None:
            return self.get_empty_value_display()
        return change_link("llm_agent_agent", artifact.agent_id, artifact.agent)

    @admin.display(description=_("chat"), ordering="chat__title")
    def chat_link(self, artifact: Artifact) -> SafeString:
        if artifact.chat_id is None:
            return self.get_empty_value_display()
        return change_link("llm_chat_chat", artifact.chat_id, artifact.chat)

    @admin.display(description=_("open"))
    def origin_links(self, artifact: Artifact) -> SafeString:
        return format_html(
            "Chat: {} · Agent: {}", self.chat_link(artifact), self.agent_link(artifact)
        )

    @admin.display(description=_("SQL (highlighted)"))
    def sql_highlighted(self, artifact: Artifact) -> SafeString:
        if not artifact.sql_query:
            return self.get_empty_value_display()
        # highlight_sql escapes every token, so LLM-written SQL cannot inject markup.
        return format_html(
            '<div style="max-height:30em;overflow:auto;max-width:60em">{}</div>',
            highlight_sql(artifact.display_sql),
        )

    @admin.display(description=_("messages that reference it"))
    def referencing_messages(self, artifact: Artifact) -> SafeString:
        if artifact.pk is None:
            return self.get_empty_value_display()
        # Reached through the reverse relation: chats are a layer above artifacts.
        related = artifact.messages.select_related("chat").order_by("created_at", "id")
        total = related.count()
        if not total:
            return self.get_empty_value_display()
        items = format_html_join(
            "",
            "<li>{} — {} in {} ({})</li>",
            (
                (
                    change_link("llm_chat_message", message.pk, f"Message #{message.pk}"),
                    message.get_artifact_action_display(),
                    change_link("llm_chat_chat", message.chat_id, message.chat),
                    message.get_role_display(),
                )
                for message in related[:MESSAGES_SHOWN]
            ),
        )
        all_link = changelist_link(
            "llm_chat_message",
            {"artifact__id__exact": artifact.pk},
            ngettext("All %d message", "All %d messages", total) % total,
        )
        return format_html('<ul style="margin:0;padding-left:1.2em">{}</ul>{}', items, all_link)

    @admin.display(description=_("run history"))
    def all_runs(self, artifact: Artifact) -> SafeString:
        if artifact.pk is None:
            return self.get_empty_value_display()
        total = artifact.runs.count()
        if not total:
            return format_html("{}", gettext("Never run."))
        return changelist_link(
            "llm_artifact_artifactrun",
            {"artifact__id__exact": artifact.pk},
            ngettext("All %d run", "All %d runs", total) % total,
        )

    @admin.action(description=_("Run selected artifacts"), permissions=["change"])
    def run_selected(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        """Run each with its default parameter values, as the signed-in operator.

        Each run is recorded like any other; one artifact failing does not stop the rest,
        and each gets its own message.
        """
        for artifact in queryset.order_by("title", "pk"):
            try:
                run, _result = run_artifact(artifact, user=request.user, raw_params={})
            except ValidationError as exc:
                # A required parameter without a default: nothing ran, nothing recorded.
                problems = " ".join(
                    message for messages_ in exc.message_dict.values() for message in messages_
                )
                self.message_user(
                    request,
                    gettext(
                        "“%(artifact)s” did not run: %(problems)s Run it from its page instead."
                    )
                    % {"artifact": artifact, "problems": problems},
                    messages.WARNING,
                )
                continue
            if run.outcome == ArtifactRun.Outcome.OK:
                rows = ngettext("%d row", "%d rows", run.row_count) % run.row_count
                if run.truncated:
                    rows += " " + gettext("(display cap reached)")
                self.message_user(
                    request,
                    gettext("“%(artifact)s” ran: %(rows)s in %(ms)s ms.")
                    % {"artifact": artifact, "rows": rows, "ms": f"{run.duration_ms:.0f}"},
                    messages.SUCCESS,
                )
            else:
                outcome = run.get_outcome_display().lower()
                self.message_user(
                    request,
                    gettext("“%(artifact)s” %(outcome)s: %(error)s")
                    % {
                        "artifact": artifact,
                        "outcome": outcome,
                        "error": run.error_for(request.user),
                    },
                    messages.ERROR,
                )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[Artifact], status: Artifact.Status
    ) -> None:
        changed, already = set_field_logged(request, queryset, "status", status, "Status")
        message = ngettext(
            "%(count)d artifact marked as %(status)s.",
            "%(count)d artifacts marked as %(status)s.",
            changed,
        ) % {"count": changed, "status": status.label.lower()}
        self.message_user(request, message + already_note(already), messages.SUCCESS)

    @admin.display(description=_("verified"), ordering="verified_at")
    def verified_badge(self, artifact: Artifact) -> SafeString | str:
        if not artifact.is_verified:
            return self.get_empty_value_display()
        return format_html(
            '<span title="{}">✔ {}</span>', artifact.question, f"{artifact.verified_at:%Y-%m-%d}"
        )

    def save_model(self, request: HttpRequest, obj: Artifact, form, change: bool) -> None:
        obj.keep_verified = bool(form.cleaned_data.get("keep_verified"))
        super().save_model(request, obj, form, change)

    @admin.action(
        description=_("Mark as verified (for the question each has)"), permissions=["change"]
    )
    def mark_verified(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        verified = skipped = 0
        for artifact in queryset.select_related(None).only("pk", "question", "sql_query"):
            if not artifact.question.strip():
                skipped += 1
                continue
            artifact.verify(request.user)
            verified += 1
        message = ngettext(
            "%(count)d artifact marked as verified.",
            "%(count)d artifacts marked as verified.",
            verified,
        ) % {"count": verified}
        if skipped:
            message += ngettext(
                " %(count)d has no question: give it one first.",
                " %(count)d have no question: give them one first.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.WARNING if skipped else messages.SUCCESS)

    @admin.action(description=_("Remove the verified mark"), permissions=["change"])
    def remove_verified(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        # By id: a searched change list's queryset joins the search index, which UPDATE
        # cannot take.
        selected = Artifact.objects.filter(pk__in=queryset.values("pk"), verified_at__isnull=False)
        count = selected.update(verified_at=None, verified_by=None)
        message = ngettext(
            "%(count)d artifact is no longer verified.",
            "%(count)d artifacts are no longer verified.",
            count,
        ) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=_("Mark as active"), permissions=["change"])
    def mark_active(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.ACTIVE)

    @admin.action(description=_("Mark as draft"), permissions=["change"])
    def mark_draft(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.DRAFT)

    @admin.action(description=_("Mark as deprecated"), permissions=["change"])
    def mark_deprecated(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        self._set_status(request, queryset, Artifact.Status.DEPRECATED)

    @admin.action(description=_("Export selected as a bundle"), permissions=["view"])
    def export_bundle(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> HttpResponse:
        # The bundle format (docs/bundles.md), as the list page and the API export it.
        return bundle_download(queryset)


@admin.register(ArtifactRun)
class ArtifactRunAdmin(admin.ModelAdmin):
    """The history of every run. Read-only: runs are facts, recorded by running."""

    list_display = [
        "started_at",
        "artifact_link",
        "outcome_badge",
        "user",
        "data_source",
        "duration_ms",
        "row_count",
        "truncated",
        "short_error",
    ]
    list_display_links = ["started_at"]
    list_filter = ["outcome", "data_source", "truncated"]
    list_select_related = ["artifact", "user"]
    # The reference a user quotes is in both errors; the detail names hosts and roles.
    search_fields = ["artifact__title", "error", "error_detail", "user__username"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ArtifactRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ArtifactRun | None = None) -> bool:
        return False

    @admin.display(description=_("artifact"), ordering="artifact__title")
    def artifact_link(self, run: ArtifactRun) -> SafeString:
        return change_link("llm_artifact_artifact", run.artifact_id, run.artifact)

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, run: ArtifactRun) -> SafeString:
        return outcome_badge(run)

    @admin.display(description=_("error"))
    def short_error(self, run: ArtifactRun) -> str:
        return _shorten(run.error) or self.get_empty_value_display()


JOB_STATUS_COLOURS = {
    "queued": "#6c757d",
    "running": "#0d6efd",
    "succeeded": "#198754",
    "failed": "#dc3545",
    "cancelled": "#b35c00",
}


@admin.register(ArtifactJob)
class ArtifactJobAdmin(admin.ModelAdmin):
    """Background runs and exports of artifacts, and the export files on disk. Made by
    the pages and the API; operators cancel them or delete a file before its time."""

    list_display = [
        "created_at",
        "artifact_link",
        "kind",
        "export_format",
        "status_badge",
        "job_link",
        "requested_by",
        "progress_display",
        "file_display",
        "expires_at",
    ]
    list_display_links = ["created_at"]
    list_filter = ["kind", "export_format", "job__status"]
    list_select_related = ["artifact", "job", "job__requested_by"]
    search_fields = ["artifact__title", "job__requested_by__username", "file_name"]
    raw_id_fields = ["artifact", "job", "run"]
    readonly_fields = [field.name for field in ArtifactJob._meta.fields] + ["job_link"]
    date_hierarchy = "created_at"
    actions = ["cancel_jobs", "delete_files"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("artifact"), ordering="artifact__title")
    def artifact_link(self, record: ArtifactJob) -> SafeString:
        return change_link("llm_artifact_artifact", record.artifact_id, record.artifact)

    @admin.display(description=_("status"), ordering="job__status")
    def status_badge(self, record: ArtifactJob) -> SafeString:
        colour = JOB_STATUS_COLOURS.get(record.job.status, "#6c757d")
        return badge(colour, record.job.get_status_display())

    @admin.display(description=_("job"))
    def job_link(self, record: ArtifactJob) -> SafeString:
        """The queue's record of this work (attempts, errors, retry) in the Job admin."""
        return change_link("jobs_job", record.job_id, str(record.job_id)[:8])

    @admin.display(description=_("requested by"), ordering="job__requested_by__username")
    def requested_by(self, record: ArtifactJob) -> str:
        user = record.job.requested_by
        return user.get_username() if user else self.get_empty_value_display()

    @admin.display(description=_("progress"))
    def progress_display(self, record: ArtifactJob) -> str:
        if record.total_rows:
            return f"{record.rows_written:,} / {record.total_rows:,} rows ({record.percent}%)"
        return f"{record.rows_written:,} rows ({record.percent}%)"

    @admin.display(description=_("file"))
    def file_display(self, record: ArtifactJob) -> str:
        if not record.file_name:
            return self.get_empty_value_display()
        return f"{record.download_name} ({record.file_size or 0:,} bytes)"

    @admin.action(description=_("Cancel the selected jobs"))
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[ArtifactJob]) -> None:
        cancelled = sum(record.job.request_cancel() for record in queryset.select_related("job"))
        self.message_user(
            request,
            ngettext("Asked %(count)d job to stop.", "Asked %(count)d jobs to stop.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS,
        )

    @admin.action(description=_("Delete the selected export files now"))
    def delete_files(self, request: HttpRequest, queryset: QuerySet[ArtifactJob]) -> None:
        deleted = sum(record.delete_file() for record in queryset)
        self.message_user(
            request,
            ngettext("Deleted %(count)d file.", "Deleted %(count)d files.", deleted)
            % {"count": deleted},
            messages.SUCCESS,
        )


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Tags (the artifacts' autocomplete searches them here), with how many artifacts carry
    each."""

    list_display = ["name", "artifact_count"]
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(n_artifacts=models.Count("artifacts"))

    @admin.display(description=_("artifacts"), ordering="n_artifacts")
    def artifact_count(self, tag: Tag) -> int:
        return tag.n_artifacts
