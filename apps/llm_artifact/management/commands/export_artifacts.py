"""Write artifacts as a bundle (docs/bundles.md) to stdout.

    python manage.py export_artifacts [--tag TAG ...] [--data-source NAME ...]
                                      [--user USERNAME] > bundle.json

Without --user every artifact is exported (an operator's command); with it, only those the
user may see. Tags and data sources narrow the selection (any of the tags, any of the
sources).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from apps.llm_artifact.bundles import dumps, export_bundle
from apps.llm_artifact.models import Artifact


class Command(BaseCommand):
    help = "Export artifacts as a bundle (JSON) to stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tag", action="append", default=[], help="Only artifacts with this tag; repeatable."
        )
        parser.add_argument(
            "--data-source",
            action="append",
            default=[],
            dest="data_sources",
            help="Only artifacts on this data source; repeatable.",
        )
        parser.add_argument(
            "--user", metavar="USERNAME", help="Only the artifacts this user may see."
        )

    def handle(self, *args, tag: list[str], data_sources: list[str], **options) -> None:
        artifacts = Artifact.objects.all()
        if options.get("user"):
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
            artifacts = Artifact.objects.visible_to(user)
        if tag:
            any_tag = Q()
            for name in tag:
                any_tag |= Q(tags__name__iexact=name)
            artifacts = artifacts.filter(pk__in=Artifact.objects.filter(any_tag).values("pk"))
        if data_sources:
            artifacts = artifacts.filter(data_source__in=data_sources)
        bundle = export_bundle(artifacts)
        self.stdout.write(dumps(bundle), ending="")
        self.stderr.write(f"Exported {len(bundle['artifacts'])} artifacts.")
