"""Import a bundle (docs/bundles.md) as a user.

    python manage.py import_artifacts bundle.json --user USERNAME [--dry-run]
                                      [--conflict skip|update|copy]

Every artifact is checked as if the user had typed it; the user owns what is created. The
plan (what is created, updated or skipped, and every problem) is printed; with problems,
or with --dry-run, nothing is written and a problem exits non-zero. Otherwise all of it is
written in one transaction. `-` reads the bundle from stdin.
"""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.llm_artifact.bundles import (
    BundleError,
    Conflict,
    ImportPlan,
    apply_import,
    load_bundle,
    plan_import,
)


class Command(BaseCommand):
    help = "Import artifacts from a bundle file as a user (a dry run first with --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bundle", help="The bundle file, or - for stdin.")
        parser.add_argument("--user", metavar="USERNAME", required=True, help="The importer.")
        parser.add_argument("--dry-run", action="store_true", help="Print the plan only.")
        parser.add_argument(
            "--conflict",
            choices=Conflict.values,
            default=Conflict.SKIP,
            help="What to do with an artifact whose uid exists already (default: skip).",
        )

    def handle(self, *args, bundle: str, conflict: str, dry_run: bool, **options) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"There is no user {options['user']!r}.")
        try:
            if bundle == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(bundle, "rb") as file:
                    raw = file.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {bundle}: {exc.strerror}.") from None
        try:
            plan = plan_import(load_bundle(raw), user, conflict)
        except BundleError as exc:
            raise CommandError(exc.message) from None
        self._print(plan)
        if not plan.ok:
            raise CommandError("The bundle has problems: nothing was imported.")
        if dry_run:
            self.stdout.write("Dry run: nothing was imported.")
            return
        try:
            apply_import(plan)
        except BundleError as exc:
            raise CommandError(exc.message) from None
        counts = plan.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported: {counts['create']} created, {counts['update']} updated, "
                f"{counts['skip']} skipped."
            )
        )

    def _print(self, plan: ImportPlan) -> None:
        for problem in plan.problems:
            self.stdout.write(f"problem: {problem}")
        for item in plan.items:
            self.stdout.write(f"{item.index + 1}. {item.action} {item.uid} {item.title}")
            for note in item.notes:
                self.stdout.write(f"   note: {note}")
            for problem in item.problems:
                self.stdout.write(f"   problem: {problem}")
