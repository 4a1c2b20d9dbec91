"""Artifact bundles: one JSON format (docs/bundles.md, docs/bundle.schema.json) to move
artifacts between sites, used by the page, the API, the admin and the commands alike.

export_bundle() writes what defines an artifact and nothing about who made or ran it.
plan_import() reads a bundle as if the importing user had typed every artifact in it: each
item is checked by the model's own rules (full_clean: the guard, the chart, the parameter
declarations, the known tables and columns), by the data-source grants and exposed tables,
and by the conflict policy on `uid`; the plan says per item what would happen and every
problem. apply_import() writes a plan without problems, all or nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.core import json as strict_json
from apps.datasources.access import may_use_source
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.models import Artifact, ArtifactStatus, Tag

FORMAT = "llm-artifacts-bundle"
VERSION = 1
SCHEMA_PATH = Path(settings.BASE_DIR) / "docs" / "bundle.schema.json"


class Conflict(models.TextChoices):
    """What an import does with an artifact whose uid already exists."""

    SKIP = "skip", "Skip them (keep what is here)"
    UPDATE = "update", "Update them (those you may edit)"
    COPY = "copy", "Import them as copies (new uids)"


class Action(models.TextChoices):
    """What importing one artifact does."""

    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    SKIP = "skip", "Skip"


class BundleError(Exception):
    """The bundle as a whole cannot be imported (not JSON, too big, another format or a
    newer version); `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Bundle keys and the artifact fields they hold, in the order a bundle lists them.
FIELDS = {
    "title": "title",
    "type": "artifact_type",
    "status": "status",
    "sql": "sql_query",
    "parameters": "query_params",
    "chart": "visualization_config",
    "description": "description",
    "comment": "comment",
    "question": "question",
    "template_slots": "template_slots",
    "data_source": "data_source",
}
# The content of a type that is not SQL (its registry entry exports and checks it).
DOCUMENT_KEY = "document"
BUNDLE_KEY = {model_field: key for key, model_field in FIELDS.items()} | {"document": "document"}


# --- export ---------------------------------------------------------------------------------


def export_bundle(artifacts: Iterable[Artifact]) -> dict:
    """The bundle of `artifacts` (already limited to what the exporting user may see)."""
    if hasattr(artifacts, "prefetch_related"):
        artifacts = artifacts.prefetch_related("tags").order_by("created_at", "id")
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "artifacts": [artifact_entry(artifact) for artifact in artifacts],
    }


def artifact_entry(artifact: Artifact) -> dict:
    entry: dict[str, Any] = {"uid": str(artifact.uid)}
    for key, model_field in FIELDS.items():
        entry[key] = getattr(artifact, model_field)
    spec = artifact_types.of(artifact)
    if not spec.uses_sql:
        entry[DOCUMENT_KEY] = spec.export_document(artifact)
    entry["tags"] = sorted((tag.name for tag in artifact.tags.all()), key=str.lower)
    entry["verified"] = artifact.is_verified
    return entry


def dumps(bundle: dict) -> str:
    return json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"


# --- reading and upgrading ------------------------------------------------------------------


def load_bundle(raw: bytes | str) -> dict:
    """Parse a bundle file's text; BundleError when it is too big or not JSON."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > settings.BUNDLE_MAX_BYTES:
        raise BundleError(
            f"The bundle is {size:,} bytes; the limit is {settings.BUNDLE_MAX_BYTES:,} bytes. "
            "Export fewer artifacts at a time."
        )
    try:
        # The API's strict parse: no NaN, no nesting deep enough to exhaust the stack.
        return strict_json.loads(raw)
    except strict_json.JSONRefused as exc:
        raise BundleError(
            gettext("The bundle cannot be read: %(problem)s") % {"problem": exc.message}
        ) from None


# Upgrades from version n to n + 1, applied in turn to an older bundle. Version 1 is the
# first: a new version adds its upgrade here (say 1: _v1_to_v2) and bumps VERSION.
UPGRADES: dict[int, Callable[[dict], dict]] = {}


def upgrade(bundle: Any) -> dict:
    """`bundle` in the current version; BundleError when it cannot be."""
    if not isinstance(bundle, dict):
        raise BundleError(gettext("A bundle is a JSON object with format, version and artifacts."))
    if "format" not in bundle:
        raise BundleError(
            gettext(
                'This is not an LLM Artifacts bundle of a supported version: it has no "format". '
                "Files from before version 1 cannot be imported; export the artifacts again."
            )
        )
    if bundle["format"] != FORMAT:
        raise BundleError(
            gettext('The format is %(given)r, not "%(expected)s".')
            % {"given": bundle["format"], "expected": FORMAT}
        )
    version = bundle.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(
            gettext("The version must be a whole number from 1: got %(version)r.")
            % {"version": version}
        )
    if version > VERSION:
        raise BundleError(
            gettext(
                "The bundle is of version %(version)s, newer than this site reads (version "
                "%(ours)s). Update this site, or export from the other site in version %(ours)s."
            )
            % {"version": version, "ours": VERSION}
        )
    while version < VERSION:
        bundle = UPGRADES[version](bundle)
        version = bundle["version"]
    return bundle


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    # The types are the registry's: the file lists those known when it was written.
    artifact = schema["$defs"]["artifact"]
    artifact["properties"]["type"]["enum"] = artifact_types.names()
    artifact["allOf"] = [
        {
            "if": {"properties": {"type": {"enum": artifact_types.sql_names()}}},
            "then": {"required": ["sql"]},
        }
    ]
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(bundle: dict) -> tuple[list[str], dict[int, list[str]]]:
    """What docs/bundle.schema.json finds wrong: bundle-wide, and per artifact index."""
    overall: list[str] = []
    per_item: dict[int, list[str]] = {}
    for error in sorted(_validator().iter_errors(bundle), key=lambda e: list(map(str, e.path))):
        path = list(error.path)
        # jsonschema quotes the offending value whole: a page of SQL in a message helps no one.
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        if len(path) >= 2 and path[0] == "artifacts" and isinstance(path[1], int):
            where = ".".join(str(p) for p in path[2:])
            per_item.setdefault(path[1], []).append(f"{where}: {message}" if where else message)
        else:
            where = ".".join(str(p) for p in path)
            overall.append(f"{where}: {message}" if where else message)
    return overall, per_item


# --- the plan -------------------------------------------------------------------------------


@dataclass
class ImportItem:
    """One artifact of a bundle and what importing it would do."""

    index: int
    uid: str
    title: str
    action: str = Action.CREATE
    problems: list[str] = field(default_factory=list)
    # Why it is skipped, or what else a user should know (a failed status made active).
    notes: list[str] = field(default_factory=list)
    artifact: Artifact | None = None
    tags: list[str] = field(default_factory=list)
    verified: bool = False

    def as_dict(self) -> dict:
        existing = self.artifact.pk if self.artifact is not None else None
        return {
            "index": self.index,
            "uid": self.uid,
            "title": self.title,
            "action": self.action,
            "artifact_id": existing if self.action != Action.CREATE else None,
            "problems": self.problems,
            "notes": self.notes,
        }


@dataclass
class ImportPlan:
    """What importing a bundle would do, item by item; `ok` when nothing stands in the way."""

    user: Any
    conflict: str
    items: list[ImportItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(item.problems for item in self.items)

    def count(self, action: str) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in Action.values}

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "conflict": self.conflict,
            "counts": self.counts,
            "problems": self.problems,
            "items": [item.as_dict() for item in self.items],
        }


def plan_import(bundle: Any, user: Any, conflict: str = Conflict.SKIP) -> ImportPlan:
    """What importing `bundle` as `user` would do, every problem included; writes nothing."""
    plan = ImportPlan(user=user, conflict=conflict)
    if conflict not in Conflict.values:
        plan.problems.append(
            f"Unknown conflict policy {conflict!r}: use one of {', '.join(Conflict.values)}."
        )
        return plan
    try:
        bundle = upgrade(bundle)
    except BundleError as exc:
        plan.problems.append(exc.message)
        return plan
    entries = bundle.get("artifacts")
    if isinstance(entries, list) and len(entries) > settings.BUNDLE_MAX_ARTIFACTS:
        plan.problems.append(
            f"The bundle holds {len(entries):,} artifacts; the limit is "
            f"{settings.BUNDLE_MAX_ARTIFACTS:,}. Export fewer artifacts at a time."
        )
        return plan
    overall, per_item = schema_errors(bundle)
    plan.problems.extend(overall)
    if not isinstance(entries, list):
        return plan
    seen: set[str] = set()
    bundle_uids = {str(e.get("uid")) for e in entries if isinstance(e, dict)}
    for index, entry in enumerate(entries):
        item = _plan_item(index, entry, user, conflict, per_item.get(index, []), bundle_uids)
        if item.uid and item.uid in seen and item.action != Action.SKIP:
            item.problems.append(f"The uid {item.uid} is listed twice in the bundle.")
        seen.add(item.uid)
        plan.items.append(item)
    return plan


def _plan_item(
    index: int, entry: Any, user: Any, conflict: str, problems: list[str], bundle_uids: set[str]
) -> ImportItem:
    entry = entry if isinstance(entry, dict) else {}
    uid = _parse_uid(entry.get("uid"))
    title = entry.get("title") if isinstance(entry.get("title"), str) else ""
    item = ImportItem(index=index, uid=str(uid) if uid else "", title=title, problems=problems)
    if problems:
        return item  # The shape is wrong: the model's checks would only repeat it.
    existing = Artifact.objects.filter(uid=uid).first()
    if existing is not None:
        if conflict == Conflict.SKIP:
            item.action = Action.SKIP
            # Its id only for one the user may see: the plan must not point at another's.
            if existing.is_visible_to(user):
                item.artifact = existing
            item.notes.append("An artifact with this uid exists already.")
            return item
        if conflict == Conflict.UPDATE:
            if not Artifact.objects.editable_by(user).filter(pk=existing.pk).exists():
                item.problems.append(
                    "An artifact with this uid exists and you may not edit it: import with "
                    'conflict "copy" to make your own copy, or "skip".'
                )
                return item
            item.action = Action.UPDATE
        else:
            uid, existing = uuid.uuid4(), None
            item.notes.append(f"Imported as a copy with the new uid {uid}.")
    artifact = existing or Artifact(uid=uid, owner=user)
    item.artifact = artifact
    item.tags = list(entry.get("tags", []))
    item.verified = bool(entry.get("verified", False))
    _fill(artifact, entry, item)
    item.problems.extend(check_as_typed_by(artifact, user))
    spec = artifact_types.of(artifact)
    if not spec.uses_sql:
        problems = spec.import_problems(artifact.document, bundle_uids)
        item.problems.extend(f"{DOCUMENT_KEY}: {problem}" for problem in problems)
    return item


def _parse_uid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _fill(artifact: Artifact, entry: dict, item: ImportItem) -> None:
    defaults = {
        "status": ArtifactStatus.ACTIVE,
        "parameters": [],
        "chart": {},
        "description": "",
        "comment": "",
        "question": "",
        "template_slots": [],
        "sql": "",
    }
    for key, model_field in FIELDS.items():
        setattr(artifact, model_field, entry.get(key, defaults.get(key)))
    artifact.document = entry.get(DOCUMENT_KEY, {})
    if artifact.status == ArtifactStatus.FAILED:
        # Runs set "failed"; the importing site has none, so the artifact starts active.
        artifact.status = ArtifactStatus.ACTIVE
        item.notes.append('Its status "failed" is set by runs: imported as "active".')


def check_as_typed_by(artifact: Artifact, user: Any) -> list[str]:
    """Every reason `user` could not save `artifact` as it stands, as bundle keys say it."""
    problems: list[str] = []
    source = artifact.data_source
    if not (user.is_authenticated and (user.is_staff or may_use_source(user, source))):
        return [f"data_source: you may not use the data source {source!r}."]
    try:
        artifact.full_clean(exclude=["owner", "chat", "agent", "template", "verified_by"])
    except ValidationError as exc:
        for model_field, messages in exc.message_dict.items():
            key = BUNDLE_KEY.get(model_field, model_field)
            problems.extend(f"{key}: {message}" for message in messages)
    # The model's check holds the SQL to the source's exposed tables (Artifact._sql_errors),
    # for everyone: the guard refuses hidden tables to staff's runs too.
    return problems


# --- applying -------------------------------------------------------------------------------


def apply_import(plan: ImportPlan) -> list[Artifact]:
    """Write `plan` in one transaction: every artifact or none. Returns those written.

    BundleError when the plan has problems, or the database refuses a row (a uid taken
    since the plan was made).
    """
    if not plan.ok:
        raise BundleError(gettext("The bundle has problems: nothing was imported."))
    written: list[Artifact] = []
    tags: dict[str, Tag] = {}
    try:
        with transaction.atomic():
            for item in plan.items:
                if item.action == Action.SKIP:
                    continue
                written.append(_write(item, plan.user, tags))
    except IntegrityError as exc:
        message = f"The database refused an artifact, nothing was imported: {exc}."
        raise BundleError(message) from None
    return written


def _write(item: ImportItem, user: Any, tags: dict[str, Tag]) -> Artifact:
    artifact = item.artifact
    # Re-checked at write time: the right to edit may have gone since the plan.
    editable = Artifact.objects.editable_by(user).filter(pk=artifact.pk)
    if item.action == Action.UPDATE and not editable.exists():
        raise BundleError(
            gettext("You may no longer edit the artifact %(uid)s: nothing was imported.")
            % {"uid": item.uid}
        )
    if item.verified and artifact.is_verified:
        artifact.keep_verified = True  # The mark stays with whoever gave it.
    elif item.verified:
        # The importer vouches for it now, as an editor who marks it on the page would.
        artifact.verified_by, artifact.verified_at = user, timezone.now()
        artifact.keep_verified = True
    else:
        artifact.verified_by, artifact.verified_at = None, None
    artifact.save()
    artifact.tags.set(tags_named(item.tags, tags))
    return artifact


def tags_named(names: Iterable[str], known: dict[str, Tag] | None = None) -> list[Tag]:
    """The tags of these names, created when missing; the existing spelling wins.

    `known` (lower-cased name -> tag) carries the tags found so far across calls, so an
    import of many artifacts with the same few tags looks each up once.
    """
    known = {} if known is None else known
    tags = []
    for name in {name.strip(): None for name in names if name.strip()}:
        key = name.lower()
        if key not in known:
            tag = Tag.objects.filter(name__iexact=name).first()
            known[key] = tag or Tag.objects.create(name=name)
        tags.append(known[key])
    return tags
