"""Install the templates shipped with the app (apps/llm_artifact/library/templates.json).

    python manage.py install_templates [--bundle path.json]

Each template is matched by its `uid`: a missing one is created, one that differs from the
shipped version is brought up to date, the rest are left alone, so running it again (`make
setup` and seed_demo do) changes nothing. They belong to a system account, "library" (no
usable password, not staff), are visible to everyone and verified by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.accounts.sharing import Visibility
from apps.datasources.sources import all_data_sources
from apps.llm_artifact.bundles import FIELDS, BundleError, load_bundle, tags_named, upgrade
from apps.llm_artifact.models import Artifact

SHIPPED_TEMPLATES = Path(settings.BASE_DIR) / "apps" / "llm_artifact" / "library" / "templates.json"
LIBRARY_USERNAME = "library"


def library_user() -> Any:
    """The system account that owns the shipped templates (created when missing)."""
    user, created = get_user_model().objects.get_or_create(
        username=LIBRARY_USERNAME, defaults={"is_staff": False, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def install_templates(path: Path = SHIPPED_TEMPLATES) -> dict[str, list[str]]:
    """Create or update the templates of the bundle at `path`; returns the titles by what
    happened to them ("created", "updated", "unchanged", "skipped")."""
    # The bundle format's own reading and version check (apps.llm_artifact.bundles); the
    # templates are then written as the library account's, not re-checked as a user's import.
    try:
        bundle = upgrade(load_bundle(path.read_bytes()))
    except BundleError as exc:
        raise ValueError(exc.message) from None
    sources = all_data_sources()
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "skipped": []}
    owner = library_user()
    for item in bundle["artifacts"]:
        source = item.get("data_source")
        if source not in sources:
            source = settings.DEFAULT_DATA_SOURCE
        if source not in sources:
            outcome["skipped"].append(item["title"])
            continue
        artifact = Artifact.objects.filter(uid=item["uid"]).first()
        created = artifact is None
        if created:
            artifact = Artifact(uid=item["uid"], owner=owner)
        wanted = {field: item[key] for key, field in FIELDS.items() if key in item}
        wanted.pop("data_source", None)
        wanted |= {"data_source": source, "visibility": Visibility.EVERYONE}
        changed = [field for field, value in wanted.items() if getattr(artifact, field) != value]
        if changed:
            for field, value in wanted.items():
                setattr(artifact, field, value)
            try:
                artifact.full_clean()
            except ValidationError as exc:
                raise ValueError(f"Template {item['title']!r}: {exc.messages}") from None
            artifact.save()
        tags = tags_named(item.get("tags", []))
        if {tag.pk for tag in tags} - set(artifact.tags.values_list("pk", flat=True)):
            artifact.tags.add(*tags)
            changed.append("tags")
        if item.get("verified") and not artifact.is_verified:
            artifact.verify(owner)
            changed.append("verified")
        key = "created" if created else "updated" if changed else "unchanged"
        outcome[key].append(artifact.title)
    return outcome


class Command(BaseCommand):
    help = "Install (or bring up to date) the templates shipped with the app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bundle", type=Path, default=SHIPPED_TEMPLATES, help="Another bundle of templates."
        )

    def handle(self, *args, bundle: Path, **options) -> None:
        try:
            outcome = install_templates(bundle)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Could not install templates from {bundle}: {exc}") from None
        counts = ", ".join(f"{len(titles)} {what}" for what, titles in outcome.items() if titles)
        self.stdout.write(f"Templates: {counts or 'none in the bundle'}.")
        if outcome["skipped"]:
            self.stdout.write(
                "Skipped (no data source configured): " + ", ".join(outcome["skipped"])
            )
