from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import operator
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import BooleanField, FloatField, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.sharing import Share, Shared, SharedQuerySet, Visibility
from apps.core.highlight import pretty_sql
from apps.core.json import INT64_MAX, INT64_MIN, MAX_STORED_DEPTH, json_problem
from apps.core.querysets import StableOrderingQuerySet
from apps.datasources.access import (
    EVERYTHING,
    denied_sources_subquery,
    exposure_of,
    may_use_source,
)
from apps.datasources.check import reference_messages
from apps.datasources.errors import with_detail
from apps.datasources.guard import SQLRejected, referenced_parameters
from apps.datasources.sources import UnknownDataSource, get_data_source, validate_data_source
from apps.llm_artifact import search as fulltext
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.charts import ChartProblem, validate_visualization
from apps.llm_artifact.parameters import validate_declarations
from apps.llm_artifact.search import search_terms  # noqa: F401 (forms import it from here)
from apps.llm_artifact.templating import sql_slot_problems, validate_slots


def default_visualization_config() -> dict:
    return {}


def default_query_params() -> list:
    return []


def validate_visualization_config(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            "The visualization config must be a JSON object ({} for a table only).",
            code="not_an_object",
        )
    problem = json_problem(value, max_depth=MAX_STORED_DEPTH)
    if problem:
        raise ValidationError(problem, code="unrenderable")


# What a search looks in, on the page, the API and the admin alike (apps/llm_artifact/search.py).
SEARCH_FIELDS = fulltext.INDEXED_COLUMNS


class ArtifactQuerySet(SharedQuerySet, StableOrderingQuerySet):
    # The sharing rule (apps.accounts.sharing), and only on data sources the user may use:
    # an artifact on a source a user lost is out of their sight, their own included.

    def visible_to(self, user) -> ArtifactQuerySet:
        return super().visible_to(user).on_sources_usable_by(user)

    def editable_by(self, user) -> ArtifactQuerySet:
        return super().editable_by(user).on_sources_usable_by(user)

    def on_sources_usable_by(self, user) -> ArtifactQuerySet:
        if not user.is_authenticated or user.is_staff:
            return self
        return self.exclude(data_source__in=denied_sources_subquery(user))

    def with_shares(self) -> ArtifactQuerySet:
        """Prefetch what the sharing badge and the one-row rule read (Shared.is_shared)."""
        return self.prefetch_related(
            models.Prefetch("shares", queryset=ArtifactShare.objects.select_related("group"))
        )

    def ranked_search(self, q: str) -> ArtifactQuerySet:
        """Artifacts where every word of `q` is in the title, question, description, comment
        or SQL (any case; "quoted words" next to each other; the last word may be the start
        of a word), best match first, annotated with `search_rank` (higher is better).

        Read from the full-text index of the engine (apps/llm_artifact/search.py): FTS5's
        bm25 on SQLite, ts_rank on PostgreSQL. A search without a word returns the rows as
        they are (no annotation); other engines fall back to a scan with no rank.
        """
        phrases = fulltext.search_phrases(q)
        if not phrases:
            return self
        return self._ranked(
            fulltext.sqlite_match(phrases),
            fulltext.postgres_tsquery(phrases),
            scan=lambda: self._scan_search(phrases),
        )

    def ranked_by_words(self, words: Sequence[str]) -> ArtifactQuerySet:
        """Artifacts with any of `words` (each the start of a word) in the same indexed
        fields, best match first by the same rank as ranked_search: what the agent's library
        looks up for a question, whose words need not all be in one artifact."""
        words = [word for word in words if word.strip()]
        if not words:
            return self.none()
        return self._ranked(
            fulltext.sqlite_match_any(words),
            fulltext.postgres_tsquery_any(words),
            scan=lambda: self.filter(
                functools.reduce(
                    operator.or_,
                    (Q(**{f"{f}__icontains": w}) for w in words for f in SEARCH_FIELDS),
                )
            ),
        )

    def _ranked(self, sqlite_match: str, tsquery: str, *, scan) -> ArtifactQuerySet:
        """The rows the engine's full-text index finds for the query, with `search_rank`."""
        vendor = connections[self.db].vendor
        if vendor == "sqlite":
            weights = ", ".join(str(w) for w in fulltext.SQLITE_WEIGHTS)
            fts, table = fulltext.FTS_TABLE, fulltext.ARTIFACT_TABLE
            # A join with the virtual table: the ORM has no other way to reach one. bm25 is
            # lower for better matches.
            found = self.extra(
                select={"search_rank": f"-bm25({fts}, {weights})"},
                tables=[fts],
                where=[f"{fts}.rowid = {table}.id", f"{fts} MATCH %s"],
                params=[sqlite_match],
            )
        elif vendor == "postgresql":
            vector = f"{fulltext.ARTIFACT_TABLE}.{fulltext.POSTGRES_COLUMN}"
            query = "to_tsquery('simple'::regconfig, %s)"
            found = self.annotate(
                search_rank=RawSQL(f"ts_rank({vector}, {query})", [tsquery], FloatField())
            ).filter(RawSQL(f"{vector} @@ {query}", [tsquery], BooleanField()))
        else:
            found = scan().annotate(search_rank=Value(0.0))
        # The full-text index drives a search, not the visibility rule's per-branch indexes
        # (SharedQuerySet.page_branches), which could not carry an extra() rank either: a
        # searched list is read in one piece.
        return found._one_piece().order_by("-search_rank", "-id")

    def _scan_search(self, phrases: list[list[str]]) -> ArtifactQuerySet:
        artifacts = self
        for words in phrases:
            matches = Q()
            for field in SEARCH_FIELDS:
                matches |= Q(**{f"{field}__icontains": " ".join(words)})
            artifacts = artifacts.filter(matches)
        return artifacts

    def tagged(self, names: Sequence[str]) -> ArtifactQuerySet:
        """Artifacts carrying every one of these tags (any case)."""
        artifacts = self
        for name in names:
            links = Artifact.tags.through.objects.filter(
                artifact=OuterRef("pk"), tag__name__iexact=name.strip()
            )
            artifacts = artifacts.filter(models.Exists(links))
        return artifacts

    def with_library(self) -> ArtifactQuerySet:
        """What tag chips and the verified badge read, for a list (no query per row)."""
        return self.select_related("verified_by").prefetch_related(
            models.Prefetch("tags", queryset=Tag.objects.order_by(Lower("name")))
        )

    # The name the pages, the API and the admin used before the search was ranked.
    search = ranked_search

    def with_related(self) -> ArtifactQuerySet:
        return self.select_related("owner", "agent", "chat")

    def with_last_result_columns(self) -> ArtifactQuerySet:
        """Annotate what Artifact.last_result_columns() needs, so a list asks no query per row."""
        latest_ok = ArtifactRun.objects.filter(
            artifact=OuterRef("pk"),
            outcome=ArtifactRun.Outcome.OK,
            data_source=OuterRef("data_source"),
        ).order_by("-started_at", "-id")
        return self.annotate(
            last_ok_columns=Subquery(latest_ok.values("columns")[:1]),
            last_ok_sql_digest=Subquery(latest_ok.values("sql_digest")[:1]),
        )


# The choices live at module level so the CheckConstraints in Meta (which cannot see the
# model's class body) are built from them: a new member cannot be refused by the database.
# The types are the registry's (apps/llm_artifact/types/): a new type module adds a member
# (ArtifactType.DASHBOARD for "dashboard"), and a migration of the constraint below.
ArtifactType = models.TextChoices(
    "ArtifactType",
    [(spec.name.upper(), (spec.name, spec.label)) for spec in artifact_types.all_types()],
)


class ArtifactStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    DEPRECATED = "deprecated", _("Deprecated")
    FAILED = "failed", _("Failed")


class RunOutcome(models.TextChoices):
    OK = "ok", _("Succeeded")
    ERROR = "error", _("Failed")
    TIMEOUT = "timeout", _("Timed out")
    REJECTED = "rejected", _("Rejected")


class Artifact(Shared):
    ArtifactType = ArtifactType
    Status = ArtifactStatus

    title = models.CharField(max_length=200)
    artifact_type = models.CharField(
        max_length=32, choices=ArtifactType.choices, default=artifact_types.DEFAULT
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    sql_query = models.TextField("SQL", blank=True)
    # The content of a type that is not SQL (a dashboard's tiles and filters, a report's
    # text), checked by its registry entry (ArtifactTypeSpec.clean); {} for SQL queries.
    document = models.JSONField(default=dict, blank=True)
    query_params = models.JSONField(
        "parameters",
        default=default_query_params,
        blank=True,
        validators=[validate_declarations],
        help_text=(
            'List of {"name", "type", "label", "default", "required", "choices"} '
            "declarations; choices (for text) lists the values allowed."
        ),
    )
    visualization_config = models.JSONField(
        default=default_visualization_config,
        blank=True,
        validators=[validate_visualization_config],
    )
    data_source = models.CharField(max_length=64, validators=[validate_data_source])
    # Artifacts outlive the chat and agent that made them: a deleted chat must not take
    # curated queries with it.
    chat = models.ForeignKey(
        "llm_chat.Chat",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifacts",
    )
    agent = models.ForeignKey(
        "llm_agent.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifacts",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts"
    )
    description = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    execution_count = models.PositiveIntegerField(default=0, editable=False)
    last_executed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the latest run failed, shown beside a failed artifact; cleared by a good run.
    last_error = models.TextField(blank=True, editable=False)
    # For staff only: what the operators need to fix a failure of the data source's set-up
    # (the driver's text, naming host, port and role), which last_error only refers to.
    last_error_detail = models.TextField(blank=True, editable=False)
    # The library (apps/llm_artifact/library): a stable id across databases (bundles match
    # on it), the question the artifact answers, tags, and the verified mark.
    uid = models.UUIDField("UID", default=uuid.uuid4, unique=True, editable=False)
    question = models.TextField(
        blank=True, help_text="The question this artifact answers, in a user's words."
    )
    tags = models.ManyToManyField("Tag", blank=True, related_name="artifacts")
    # Who vouched that the SQL answers the question, and when; a change of the SQL clears it
    # unless the editor confirms it again (Artifact.save).
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A template's identifier slots (a table, a date column, ...), filled from the source's
    # schema when someone uses it; empty for an ordinary artifact.
    template_slots = models.JSONField(default=list, blank=True)
    # The template an artifact was made from.
    template = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="instances"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ArtifactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A user's rows in the orders the list page and the API sort by (id is their
            # tie-break), so the first page reads 25 index entries instead of sorting all
            # of the owner's rows, and a deep page's OFFSET walks the index only.
            models.Index(fields=["owner", "-updated_at", "-id"], name="artifact_owner_updated"),
            models.Index(fields=["owner", "-created_at", "-id"], name="artifact_owner_created_id"),
            models.Index(fields=["owner", "-execution_count", "-id"], name="artifact_owner_runs"),
            # The chat and agent filters, and their choices ("has this user an artifact from
            # this chat?" for each chat listed).
            models.Index(fields=["owner", "chat"], name="artifact_owner_chat"),
            models.Index(fields=["owner", "agent"], name="artifact_owner_agent"),
            # The status filter with the default sort.
            models.Index(
                fields=["owner", "status", "-updated_at", "-id"], name="artifact_owner_status"
            ),
            # Artifacts shared with everyone, and those shared with groups (each probed in the
            # shares of the user's groups), in the orders and with the status filter the
            # owner's indexes above serve: a list reads its "everyone" and "shared" branches
            # off them as it reads the owner's rows (SharedQuerySet.page_branches). The data
            # source is in them so that the rows on a source the user may not use, and those
            # not shared with them, are passed over without reading the table.
            models.Index(
                fields=["visibility", "-updated_at", "-id", "data_source"],
                name="artifact_visibility_updated",
            ),
            models.Index(
                fields=["visibility", "-created_at", "-id", "data_source"],
                name="artifact_visibility_created",
            ),
            models.Index(
                fields=["visibility", "-execution_count", "-id", "data_source"],
                name="artifact_visibility_runs",
            ),
            models.Index(
                fields=["visibility", "status", "-updated_at", "-id", "data_source"],
                name="artifact_visibility_status",
            ),
            models.Index(fields=["status"], name="artifact_status"),
            models.Index(fields=["data_source"], name="artifact_data_source"),
            models.Index(fields=["-last_executed_at"], name="artifact_last_executed"),
            models.Index(fields=["-execution_count"], name="artifact_execution_count"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ArtifactStatus.values),
                name="artifact_status_known",
            ),
            # The list's branches (private, groups, everyone) are all there is.
            models.CheckConstraint(
                condition=Q(visibility__in=Visibility.values),
                name="artifact_visibility_known",
            ),
            models.CheckConstraint(
                condition=Q(artifact_type__in=ArtifactType.values),
                name="artifact_type_known",
            ),
            models.CheckConstraint(
                condition=~Q(artifact_type__in=artifact_types.sql_names()) | ~Q(sql_query=""),
                name="artifact_sql_query_not_empty",
                violation_error_message="An SQL query artifact needs its SQL.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("llm_artifact:artifact_detail", args=[self.pk])

    @classmethod
    def from_db(cls, db, field_names, values):
        artifact = super().from_db(db, field_names, values)
        # The SQL as loaded, so save() can tell that it changed (and clear the verified mark).
        if "sql_query" in field_names:
            artifact._loaded_sql = values[field_names.index("sql_query")]
        return artifact

    # Set by an editor who confirms that the verified mark still holds for the new SQL.
    keep_verified = False

    def save(self, *args, **kwargs) -> None:
        loaded_sql = getattr(self, "_loaded_sql", None)
        changed = loaded_sql is not None and self.sql_query != loaded_sql
        if changed and self.verified_at is not None and not self.keep_verified:
            self.verified_at, self.verified_by = None, None
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "verified_at", "verified_by"}
        super().save(*args, **kwargs)
        self._loaded_sql = self.sql_query
        self.keep_verified = False

    @property
    def type_spec(self) -> artifact_types.ArtifactTypeSpec:
        """Its entry in the type registry: what its page, card, list row and admin show."""
        return artifact_types.of(self)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def is_template(self) -> bool:
        return bool(self.template_slots)

    def verify(self, user, question: str | None = None) -> None:
        """Mark as verified by `user` now, for `question` (or the one it already has)."""
        if question is not None:
            self.question = question.strip()
        self.verified_by, self.verified_at = user, timezone.now()
        self.save(update_fields=["question", "verified_by", "verified_at", "updated_at"])

    def set_tags(self, names: Sequence[Any]) -> None:
        """Carry exactly these tags (clean_tag_names' rules; a ValidationError on "tags")."""
        self.tags.set(Tag.objects.named(clean_tag_names(names)))

    def unverify(self) -> None:
        self.verified_by, self.verified_at = None, None
        self.save(update_fields=["verified_by", "verified_at", "updated_at"])

    # The sharing rule for one artifact in hand (ArtifactQuerySet's, row by row): on top of
    # the owner, visibility and shares, the user must be able to use the data source.
    def is_visible_to(self, user) -> bool:
        return super().is_visible_to(user) and self._source_usable_by(user)

    def is_editable_by(self, user) -> bool:
        return super().is_editable_by(user) and self._source_usable_by(user)

    def can_manage(self, user) -> bool:
        return super().can_manage(user) and self._source_usable_by(user)

    def _source_usable_by(self, user) -> bool:
        return user.is_authenticated and (user.is_staff or may_use_source(user, self.data_source))

    def copy_for(self, user: Any) -> Artifact:
        """Save and return a copy for `user` ("Duplicate"): theirs and private, titled
        "Copy of …", with the SQL, parameters, chart and texts, and nothing that runs,
        sharing or review left on the original (no runs, statistics, error, chat, shares or
        verified mark). The agent stays, so "Ask the agent" about the copy prefers it."""
        title = f"Copy of {self.title}"
        max_length = self._meta.get_field("title").max_length
        copy = Artifact(
            owner=user,
            title=title if len(title) <= max_length else title[: max_length - 1] + "…",
            artifact_type=self.artifact_type,
            # A failed status is the runs' verdict on the original, not the copy's.
            status=self.Status.ACTIVE if self.status == self.Status.FAILED else self.status,
            sql_query=self.sql_query,
            document=self.document,
            query_params=self.query_params,
            visualization_config=self.visualization_config,
            data_source=self.data_source,
            agent_id=self.agent_id,
            description=self.description,
            comment=self.comment,
            question=self.question,
            template_slots=self.template_slots,
        )
        # Not verified: the mark is a person's word on the original.
        copy.save()
        return copy

    def clean_fields(self, exclude: Any = None) -> None:
        """The field checks, with the chart checked as Vega-Lite against the latest result.

        The chart is checked here rather than in clean() because its errors can appear
        without anyone touching it (a later run no longer has a column it draws): a form
        that does not edit the chart (the title, say) excludes it and is not blocked.
        """
        errors: dict[str, list] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        checked = exclude is None or "visualization_config" not in exclude
        if checked and "visualization_config" not in errors:
            chart_errors = [p for p in self.visualization_problems() if p.is_error]
            if chart_errors:
                errors["visualization_config"] = [
                    ValidationError(str(problem), code="invalid_chart") for problem in chart_errors
                ]
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, list] = {}
        # Field validators skip "empty" values such as None and [], so the JSON shapes are
        # checked here as well, where nothing is skipped.
        for field, validate in (
            ("visualization_config", validate_visualization_config),
            ("query_params", validate_declarations),
            ("template_slots", validate_slots),
        ):
            if field == "template_slots" or getattr(self, field) in (None, [], "", ()):
                try:
                    validate(getattr(self, field))
                except ValidationError as exc:
                    errors[field] = exc.messages
        problem = json_problem(self.document, max_depth=MAX_STORED_DEPTH)
        if not isinstance(self.document, dict):
            errors["document"] = ["The document must be a JSON object."]
        elif problem:
            errors["document"] = [problem]
        try:
            spec = artifact_types.of(self)
        except artifact_types.UnknownArtifactType:
            spec = None  # The field's choices report it.
        if spec is not None and "document" not in errors:
            for field, messages in spec.clean(self, errors).items():
                errors.setdefault(field, []).extend(messages)
        if errors:
            raise ValidationError(errors)

    def _sql_errors(self) -> list[str]:
        """Layer 1 of the guard at save time, so bad SQL is caught before anyone runs it."""
        try:
            source = get_data_source(self.data_source)
        except UnknownDataSource:
            return []  # The data_source field reports that one.
        # A template's slots are no tables yet: its SQL meets the exposure once rendered.
        exposure = EVERYTHING if self.is_template else exposure_of(source.name)
        try:
            used = referenced_parameters(
                self.sql_query,
                dialect=source.dialect,
                allow_functions=source.allow_functions,
                exposure=exposure,  # hidden tables are refused at save too
            )
        except SQLRejected as exc:
            return [exc.message]
        if self.is_template:
            # A template names its tables and columns by slots (apps.llm_artifact.templating),
            # filled when it is used: the rendered SQL is checked then.
            return sql_slot_problems(
                self.sql_query, source.dialect, self.template_slots, source.allow_functions
            ) + undeclared_parameter_errors(used, self.query_params)
        # Unknown tables and columns, as the editor marks them and the agent is told.
        references = reference_messages(self.sql_query, source, exposure=exposure_of(source.name))
        return references + undeclared_parameter_errors(used, self.query_params)

    def last_result_columns(self) -> list[dict] | None:
        """The columns ({"name", "type"}) of the latest successful run, or None.

        None when there is no such run on the artifact's data source, when it ran other SQL
        than the artifact holds now (its columns may be gone), or when it predates recorded
        columns. One query, or none on a queryset annotated with_last_result_columns().
        """
        if hasattr(self, "last_ok_sql_digest"):
            digest, columns = self.last_ok_sql_digest, self.last_ok_columns
        elif self.pk is None:
            return None
        else:
            latest = (
                self.runs.filter(outcome=ArtifactRun.Outcome.OK, data_source=self.data_source)
                .order_by("-started_at", "-id")
                .values_list("sql_digest", "columns")
                .first()
            )
            digest, columns = latest if latest else ("", None)
        if digest != sql_digest(self.sql_query) or not isinstance(columns, list):
            return None
        return columns

    def last_result_column_names(self) -> list[str] | None:
        """The names of last_result_columns(): what a chart of this artifact can draw."""
        columns = self.last_result_columns()
        return [column["name"] for column in columns] if columns is not None else None

    def visualization_problems(self) -> list[ChartProblem]:
        """What is wrong with the chart config against the latest result, errors first.

        Warnings (the fields could not be checked because nothing ran yet) do not stop a
        save; errors do (see clean_fields()). [] for a table-only artifact.
        """
        if not isinstance(self.visualization_config, dict) or not self.visualization_config:
            return []
        return validate_visualization(
            self.visualization_config, columns=self.last_result_column_names()
        )

    # "Failed" is what a failed run sets (record_run) and a successful one clears: it is
    # shown on every face but chosen on none (page form, API, admin).
    SET_BY_RUNS = (ArtifactStatus.FAILED,)

    # Both read self.status as loaded: forms and serializers call them before they assign
    # the submitted value.
    def status_choices(self) -> list[tuple[str, str]]:
        """The statuses a person may choose, plus the current one when runs set it."""
        current = self.status if self.pk is not None else None
        return [
            (value, label)
            for value, label in self.Status.choices
            if value not in self.SET_BY_RUNS or value == current
        ]

    def check_status_choice(self, status: str) -> None:
        """Raise ValidationError when a person picks a status only runs may set."""
        current = self.status if self.pk is not None else None
        if status in self.SET_BY_RUNS and status != current:
            raise ValidationError(
                f"“{self.Status(status).label}” is set by runs, not chosen: a failed run sets "
                "it and a successful one clears it.",
                code="set_by_runs",
            )

    def record_run(
        self,
        *,
        user: Any,
        outcome: str,
        started_at: dt.datetime,
        params: dict,
        duration_ms: float = 0,
        row_count: int = 0,
        truncated: bool = False,
        error: str = "",
        error_detail: str = "",
        columns: Sequence[Any] | None = None,
        snapshot: list | None = None,
    ) -> ArtifactRun:
        """Record a run and apply its effect on the artifact's statistics and status.

        A good run counts one execution, stamps last_executed_at and turns a failed
        artifact active again; any other run marks an active artifact failed with the
        error. Draft and deprecated artifacts keep their status whatever runs do.
        `columns` (ResultColumn-like, or {"name", "type"} dicts) are the result's columns,
        kept so charts can be checked against them. `error` is shown to the user;
        `error_detail` (a QueryFailed's detail) only to staff. `snapshot` (result_snapshot())
        keeps a good run's first rows, so the page shows them without running the query;
        only the latest KEPT_SNAPSHOTS runs of an artifact keep theirs.
        """
        ok = outcome == ArtifactRun.Outcome.OK
        database = router.db_for_write(Artifact, instance=self)
        with transaction.atomic(using=database):
            run = ArtifactRun.objects.using(database).create(
                artifact=self,
                user=user if user is not None and user.is_authenticated else None,
                started_at=started_at,
                duration_ms=duration_ms,
                row_count=row_count,
                truncated=truncated,
                outcome=outcome,
                error=error,
                error_detail=error_detail,
                params=params,
                data_source=self.data_source,
                columns=_column_dicts(columns) if columns is not None else None,
                sql_digest=sql_digest(self.sql_query),
                snapshot=snapshot if ok else None,
            )
            if ok and snapshot is not None:
                _drop_old_snapshots(self, database)
            now = timezone.now()
            self.execution_count, self.status = self._apply_run(
                database, ok, now, error, error_detail
            )
        if ok:
            self.last_executed_at = now
        self.last_error = "" if ok else error
        self.last_error_detail = "" if ok else error_detail
        if ok and hasattr(self, "last_ok_sql_digest"):
            # An instance annotated with_last_result_columns() now knows this result.
            self.last_ok_columns, self.last_ok_sql_digest = run.columns, run.sql_digest
        return run

    def _apply_run(
        self, database: str, ok: bool, now: dt.datetime, error: str, error_detail: str
    ) -> tuple[int, str]:
        """One UPDATE of the statistics and status; returns the new count and status.

        The database decides the status from the current row, so a run that ends while
        someone deprecates the artifact cannot undo that. UPDATE ... RETURNING (SQLite
        3.35+, PostgreSQL) hands back what it decided in the same statement: the ORM's
        update() would need a second query to read it, on every run.
        """
        connection = connections[database]
        name = connection.ops.quote_name
        table = name(self._meta.db_table)
        count, status = name("execution_count"), name("status")
        # A good run turns a failed artifact active; a bad one marks an active one failed.
        before, after = (
            (self.Status.FAILED, self.Status.ACTIVE)
            if ok
            else (self.Status.ACTIVE, self.Status.FAILED)
        )
        assignments = [f"{status} = CASE WHEN {status} = %s THEN %s ELSE {status} END"]
        params: list[Any] = [before, after]
        if ok:
            last_executed_at = self._meta.get_field("last_executed_at")
            assignments += [f"{count} = {count} + 1", f"{name('last_executed_at')} = %s"]
            params.append(last_executed_at.get_db_prep_value(now, connection))
        assignments += [f"{name('last_error')} = %s", f"{name('last_error_detail')} = %s"]
        params += ["" if ok else error, "" if ok else error_detail, self.pk]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {', '.join(assignments)} WHERE {name('id')} = %s "
                f"RETURNING {count}, {status}",
                params,
            )
            return cursor.fetchone()

    @property
    def display_sql(self) -> str:
        """The SQL laid out for reading in its source's dialect; sql_query stays as written."""
        try:
            dialect = get_data_source(self.data_source).dialect
        except UnknownDataSource:
            dialect = None
        return pretty_sql(self.sql_query, dialect)

    @property
    def sql_preview(self) -> str:
        """The first lines of SQL, laid out for reading, for cards and lists."""
        lines = self.display_sql.strip().splitlines()
        preview = "\n".join(lines[:6])
        return preview + ("\n…" if len(lines) > 6 else "")


# Tags an artifact may carry: enough to file it under a few headings, few enough to read.
MAX_TAGS = 20


class TagQuerySet(models.QuerySet):
    def on(self, artifacts: models.QuerySet) -> TagQuerySet:
        """The tags on `artifacts`, each with `artifact_count`, the most used first."""
        # One pass over the links of the artifacts: the count uses the filter's join.
        return (
            self.filter(artifacts__in=artifacts.values("pk"))
            .annotate(artifact_count=models.Count("artifacts"))
            .order_by("-artifact_count", Lower("name"), "pk")
        )

    def named(self, names: Sequence[str]) -> list[Tag]:
        """The tags of these (cleaned) names, created when new; an existing tag keeps its
        spelling whatever the case typed."""
        if not names:
            return []
        lowered = {name.lower() for name in names}
        existing = {
            tag.name.lower(): tag
            for tag in self.annotate(lower=Lower("name")).filter(lower__in=lowered)
        }
        tags = []
        for name in names:
            tag = existing.get(name.lower())
            if tag is None:
                tag, _ = self.get_or_create(name__iexact=name, defaults={"name": name})
                existing[name.lower()] = tag
            tags.append(tag)
        return tags


def clean_tag_names(names: Sequence[Any]) -> list[str]:
    """Tag names as typed (a list, or text separated by commas), trimmed, without blanks or
    repeats (any case), each at most 50 characters, at most MAX_TAGS of them."""
    if isinstance(names, str):
        names = names.split(",")
    cleaned: list[str] = []
    seen: set[str] = set()
    errors = []
    for name in names:
        name = " ".join(str(name).split())
        if not name or name.lower() in seen:
            continue
        if len(name) > 50:
            errors.append(f"“{name[:20]}…” is longer than 50 characters.")
            continue
        seen.add(name.lower())
        cleaned.append(name)
    if len(cleaned) > MAX_TAGS:
        errors.append(f"An artifact carries at most {MAX_TAGS} tags ({len(cleaned)} given).")
    if errors:
        raise ValidationError({"tags": errors})
    return cleaned


class Tag(models.Model):
    """A word that groups artifacts in the library ("finance", "weekly"); one spelling per
    word whatever its case."""

    name = models.CharField(max_length=50)

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="tag_name_unique_any_case"),
        ]

    def __str__(self) -> str:
        return self.name


class ArtifactShare(Share):
    """An artifact shared with a group: its members see it, and edit it with can_edit."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="shares")

    class Meta:
        ordering = ["group__name"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "group"], name="artifactshare_unique")
        ]
        indexes = [models.Index(fields=["group", "artifact"], name="artifactshare_group")]

    def __str__(self) -> str:
        return f"{self.artifact} shared with {self.group} ({self.access})"


def chats_visible_to(user: Any) -> models.QuerySet:
    """The chats `user` may see, by the chat app's own rule (Chat.objects.visible_to).

    Reached through the foreign key's model: the chat app sits above this one and is never
    imported here. Every chat choice and chat filter of the artifacts goes through it, so a
    chat that exists but is not the user's is refused exactly like one that does not exist.
    """
    return Artifact.chat.field.related_model.objects.visible_to(user)


# Rows and bytes a run's snapshot keeps at most: enough for the page to open on a result,
# small enough that keeping it with the run costs little.
SNAPSHOT_MAX_ROWS = 100
SNAPSHOT_MAX_BYTES = 64 * 1024
# Runs of an artifact that keep their snapshot: the latest, and a few earlier ones so links
# to a run with other values still open on its result.
KEPT_SNAPSHOTS = 10


def result_snapshot(rows: Sequence[Sequence[Any]]) -> list[list]:
    """The first rows of a result as JSON, within SNAPSHOT_MAX_ROWS and SNAPSHOT_MAX_BYTES.

    Values that JSON has no type for (Decimal, dates, bytes) are kept as their text, which
    is what the result table shows of them.
    """
    head = rows[:SNAPSHOT_MAX_ROWS]
    fast = _plain_snapshot(head)
    if fast is not None:
        return fast
    kept: list[list] = []
    size = 2
    for row in head:
        values = [_snapshot_value(value) for value in row]
        size += len(json.dumps(values, ensure_ascii=False).encode("utf-8")) + 1
        if size > SNAPSHOT_MAX_BYTES:
            break
        kept.append(values)
    return kept


_PLAIN_TYPES = frozenset({type(None), bool, int, float, str})


def _plain_snapshot(head: Sequence[Sequence[Any]]) -> list[list] | None:
    """result_snapshot's answer in one document dump, when no value needs converting.

    Only when every value is JSON's own (no NaN or Infinity, integers within 64 bits,
    text without NUL or unpaired surrogates) and all the rows fit: the whole list's dump
    is at least the per-row count result_snapshot keeps, less two, so fitting it means
    every row is kept. Otherwise None, and the rows are converted one by one.
    """
    values = list(itertools.chain.from_iterable(head))
    if not set(map(type, values)) <= _PLAIN_TYPES:
        return None
    ints = [value for value in values if type(value) is int]
    if ints and (min(ints) < INT64_MIN or max(ints) > INT64_MAX):
        return None
    kept = [list(row) for row in head]
    try:
        document = json.dumps(kept, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return None
    if b"\\u0000" in document or len(document) + 2 > SNAPSHOT_MAX_BYTES:
        return None
    return kept


def _snapshot_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else str(value)
    # PostgreSQL's jsonb refuses NUL and unpaired surrogates, which text from a data source
    # may hold: kept as the replacement character.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _drop_old_snapshots(artifact: Artifact, database: str) -> None:
    # Written out: the ORM's filter/exclude/update built the same statement in about 1 ms
    # of Python on every good run (bench/api_execute.py), twice the INSERT of the run.
    connection = connections[database]
    name = connection.ops.quote_name
    table = name(ArtifactRun._meta.db_table)
    pk, artifact_id, snapshot = name("id"), name("artifact_id"), name("snapshot")
    with_snapshot = f"{artifact_id} = %s AND {snapshot} IS NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {snapshot} = NULL WHERE {with_snapshot} AND {pk} NOT IN "
            f"(SELECT {pk} FROM {table} WHERE {with_snapshot} "
            f"ORDER BY {name('started_at')} DESC, {pk} DESC LIMIT %s)",
            [artifact.pk, artifact.pk, KEPT_SNAPSHOTS],
        )


def sql_digest(sql: str) -> str:
    """A fingerprint of the SQL a run ran: its recorded columns only hold for that SQL."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def _column_dicts(columns: Sequence[Any]) -> list[dict]:
    out = []
    for column in columns:
        if isinstance(column, dict):
            out.append({"name": str(column["name"]), "type": str(column.get("type", "unknown"))})
        else:
            out.append({"name": str(column.name), "type": str(column.type)})
    return out


def undeclared_parameter_errors(used: list[str], declarations: Any) -> list[str]:
    """Messages for each `:name` in the SQL that no declaration covers."""
    declared = (
        {d.get("name") for d in declarations if isinstance(d, dict)}
        if isinstance(declarations, list)
        else set()
    )
    return [
        f"The SQL uses :{name}, which is not declared as a parameter. "
        f"Declare {name!r} or remove :{name} from the SQL."
        for name in used
        if name not in declared
    ]


class ArtifactRunQuerySet(models.QuerySet):
    def visible_to(self, user) -> ArtifactRunQuerySet:
        """Runs follow their artifact: whoever may see it sees its history (whoever ran it)."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(artifact__in=Artifact.objects.visible_to(user).values("pk"))

    def without_snapshot(self) -> ArtifactRunQuerySet:
        """Runs for a list: the kept first rows (up to 64 KB a run) stay in the database."""
        return self.defer("snapshot")


class ArtifactRun(models.Model):
    """One execution of an artifact, whatever its outcome."""

    Outcome = RunOutcome

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="runs")
    # The history outlives the account that ran it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifact_runs",
    )
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # What the user who ran it is told; safe for anyone who may see the artifact.
    error = models.TextField(blank=True)
    # For staff only (the admin's run log, staff on the page and API): the driver's text of
    # a failure of the data source's set-up, with the reference `error` gives the user.
    error_detail = models.TextField(blank=True)
    # The parameter values the run used, after coercion and defaults.
    params = models.JSONField(default=dict, blank=True)
    # Where it ran: the artifact's source may be changed later.
    data_source = models.CharField(max_length=64)
    # The result's columns ([{"name", "type"}]) of a successful run, which charts are checked
    # against; None for failed runs and runs recorded before columns were kept.
    columns = models.JSONField(null=True, blank=True)
    # sql_digest() of the SQL that ran, so columns are only trusted while the SQL is unchanged.
    sql_digest = models.CharField(max_length=64, blank=True)
    # The first rows of a successful run (result_snapshot()), so the artifact page opens on
    # the latest result without running the query; None for failed and older runs.
    snapshot = models.JSONField(null=True, blank=True, editable=False)

    objects = ArtifactRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["artifact", "-started_at"], name="artifactrun_artifact_started"),
            models.Index(fields=["user", "-started_at"], name="artifactrun_user_started"),
            models.Index(fields=["outcome"], name="artifactrun_outcome"),
            # The runs that still keep their first rows (at most KEPT_SNAPSHOTS + 1 an
            # artifact): every good run clears the older ones (_drop_old_snapshots), which
            # otherwise reads all the artifact's runs: 53 ms a run at 10,000 runs on SQLite.
            models.Index(
                fields=["artifact", "-started_at", "-id"],
                condition=Q(snapshot__isnull=False),
                name="artifactrun_with_snapshot",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=RunOutcome.values),
                name="artifactrun_outcome_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact_id} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"

    def error_for(self, user: Any) -> str:
        """The error as `user` may see it: staff also get the operators' detail."""
        return with_detail(self.error, self.error_detail, user)


class ArtifactJobQuerySet(models.QuerySet):
    def visible_to(self, user) -> ArtifactJobQuerySet:
        """A background run or export is its requester's (and staff's, who see everything),
        and only while they may still see its artifact: a share taken back takes the file
        with it. Everyone else gets a 404."""
        if not user.is_authenticated:
            return self.none()
        jobs = self.filter(artifact__in=Artifact.objects.visible_to(user).values("pk"))
        return jobs if user.is_staff else jobs.filter(job__requested_by=user)

    def expired(self, now: dt.datetime | None = None) -> ArtifactJobQuerySet:
        """Exports whose file is past its keeping time and still on disk."""
        return self.filter(expires_at__lt=now or timezone.now()).exclude(file_name="")


class ArtifactJob(models.Model):
    """A run or export of an artifact done by a worker (apps.jobs), and an export's file.

    The Job row says how the work goes (status, progress, error, cancel); this row says what
    it is for: which artifact, with which values, and for an export the file it wrote under
    settings.EXPORT_FILES_DIR, which is kept until `expires_at`
    (settings.EXPORT_FILE_KEEP_HOURS) and then deleted by the workers' periodic clean-up.
    """

    class Kind(models.TextChoices):
        RUN = "run", _("Run")
        EXPORT = "export", _("Export")

    # The job is the work itself; without it this row has nothing to say.
    job = models.OneToOneField(
        "jobs.Job", verbose_name=_("job"), on_delete=models.CASCADE, related_name="artifact_job"
    )
    artifact = models.ForeignKey(
        Artifact,
        verbose_name=_("artifact"),
        on_delete=models.CASCADE,
        related_name="background_jobs",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # A key of apps.datasources.exports.EXPORT_FORMATS; blank for a run.
    export_format = models.CharField(_("format"), max_length=8, blank=True)
    # The values as the form or API gave them (text): the job resolves them when it runs.
    params = models.JSONField(_("parameter values"), default=dict, blank=True)
    # Why it went to the background ("" when asked for): shown next to its progress.
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # The run the job recorded, once it did.
    run = models.ForeignKey(
        ArtifactRun,
        verbose_name=_("run"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The export's file, relative to settings.EXPORT_FILES_DIR; "" before it is written and
    # after it is deleted.
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    download_name = models.CharField(_("download name"), max_length=200, blank=True)
    file_size = models.BigIntegerField(_("file size (bytes)"), null=True, blank=True)
    rows_written = models.BigIntegerField(_("rows written"), default=0)
    # The COUNT(*) of the result when the export began; None when it could not be told.
    total_rows = models.BigIntegerField(_("rows in the result"), null=True, blank=True)
    expires_at = models.DateTimeField(_("file kept until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ArtifactJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("background run or export")
        verbose_name_plural = _("background runs and exports")
        indexes = [
            models.Index(fields=["artifact", "-created_at"], name="artifactjob_artifact_created"),
            models.Index(
                fields=["expires_at"],
                condition=~Q(file_name=""),
                name="artifactjob_file_expiry",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="run", export_format="") | Q(kind="export") & ~Q(export_format=""),
                name="artifactjob_format_for_exports",
            ),
        ]

    def __str__(self) -> str:
        what = self.export_format.upper() if self.kind == self.Kind.EXPORT else self.kind
        return f"{self.artifact_id}: {what} ({self.job.status})"

    def get_absolute_url(self) -> str:
        return reverse("llm_artifact:artifact_job", args=[self.artifact_id, self.job_id])

    @property
    def file_path(self):
        """Where the file is on disk, or None when there is none (not yet, or deleted)."""
        if not self.file_name:
            return None
        return settings.EXPORT_FILES_DIR / self.file_name

    @property
    def has_file(self) -> bool:
        path = self.file_path
        return path is not None and path.is_file()

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def percent(self) -> int:
        """Progress in whole percent, for the progress bar."""
        return round(self.job.progress * 100)

    def delete_file(self) -> bool:
        """Delete the export's file, once: of several workers cleaning up at once, only the
        one whose conditional UPDATE clears file_name unlinks it."""
        if not self.file_name:
            return False
        path = self.file_path
        cleared = ArtifactJob.objects.filter(pk=self.pk, file_name=self.file_name).update(
            file_name=""
        )
        self.file_name = ""
        if cleared and path is not None:
            path.unlink(missing_ok=True)
        return bool(cleared)
