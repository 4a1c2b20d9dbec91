"""Build the demo marketplace database and the demo user, agent, chats and artifacts.

    python manage.py seed_demo [--scale 1.0] [--force] [--database-url postgresql://...]

By default the dataset goes to the `marketplace` data source (a SQLite file under var/ unless
DATA_SOURCES says otherwise) and is rebuilt only when missing, of another scale, or from an
earlier month. With --database-url it loads the dataset into that database and stops there:
the app's demo objects are not touched.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasources import demo as dataset
from apps.datasources.sources import (
    DataSource,
    Engine,
    all_data_sources,
    parse_data_source,
    points_at_app_database,
)
from apps.llm_artifact.management.commands.install_templates import install_templates
from apps.llm_chat.demo import DEMO_DATA_SOURCE, seed_app_demo


class Command(BaseCommand):
    help = "Build the demo marketplace dataset and the demo user, agent, chats and artifacts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="Dataset size relative to the default of 100,000 orders (e.g. 0.01 or 2).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Rebuild the dataset even when an up-to-date one is in place.",
        )
        parser.add_argument(
            "--database-url",
            help="Load the dataset into this database (sqlite:///path or postgresql://...) "
            "instead of the marketplace data source, and skip the app's demo objects.",
        )

    def handle(self, *args, scale: float, force: bool, database_url: str | None, **options):
        try:
            dataset.validate_scale(scale)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not database_url and not settings.DEMO_PASSWORD:
            raise CommandError("DEMO_PASSWORD is empty: set a password for the demo user.")

        if database_url:
            target = self._parse_target(database_url)
        else:
            target = all_data_sources().get(DEMO_DATA_SOURCE)
            if target is None:
                self.stdout.write(
                    f"DATA_SOURCES has no {DEMO_DATA_SOURCE!r} source: no demo to build."
                )
                return
        if points_at_app_database(target):
            raise CommandError(
                f"{target.display_location} is the app's own database; the demo dataset must "
                "go to a separate database."
            )

        as_of = self._build_dataset(target, scale=scale, force=force)
        if database_url:
            return

        # The shipped templates first: the demo fills each in for the marketplace.
        install_templates()
        summary = seed_app_demo(as_of=as_of)
        created = [
            "user demo" if summary.user_created else "",
            "agent" if summary.agent_created else "",
            f"{len(summary.chats_created)} chats" if summary.chats_created else "",
            f"{len(summary.artifacts_created)} artifacts" if summary.artifacts_created else "",
        ]
        created = [part for part in created if part]
        self.stdout.write(
            f"Demo objects: created {', '.join(created)}."
            if created
            else "Demo objects: already in place."
        )

    def _parse_target(self, url: str) -> DataSource:
        try:
            return parse_data_source("target", url)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

    def _build_dataset(self, target: DataSource, *, scale: float, force: bool) -> dt.date:
        """Build (or keep) the dataset in `target` and return the day it runs up to."""
        today = dt.date.today()
        try:
            info = self._read_info(target)
        except dataset.DemoTargetError as exc:
            raise CommandError(str(exc)) from None
        if info is not None and info.is_current(scale=scale, today=today) and not force:
            self.stdout.write(
                f"Demo dataset in {target.display_location} is up to date "
                f"(scale {info.scale:g}, as of {info.as_of}); --force rebuilds it."
            )
            return info.as_of

        started = time.monotonic()
        # Generated while it is written: memory stays flat whatever the scale.
        data = dataset.stream_dataset(scale, today=today)
        try:
            if target.engine == Engine.SQLITE:
                dataset.write_sqlite(data, Path(target.location))
            else:
                dataset.write_postgresql(data, target.location)
        except dataset.DemoTargetError as exc:
            raise CommandError(str(exc)) from None
        except psycopg.Error as exc:
            raise CommandError(
                f"Loading the dataset into {target.display_location} failed: {exc}"
            ) from None
        counts = ", ".join(f"{count:,} {name}" for name, count in data.counts.items())
        self.stdout.write(
            f"Built the demo dataset in {target.display_location} in "
            f"{time.monotonic() - started:.1f} s: {counts}."
        )
        return data.as_of

    def _read_info(self, target: DataSource) -> dataset.BuildInfo | None:
        if target.engine == Engine.SQLITE:
            return dataset.sqlite_build_info(Path(target.location))
        try:
            return dataset.postgresql_build_info(target.location)
        except psycopg.Error as exc:
            raise CommandError(f"Cannot reach {target.display_location}: {exc}") from None
