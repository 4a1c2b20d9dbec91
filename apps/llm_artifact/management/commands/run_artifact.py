"""Run an artifact from the terminal and print its result.

    python manage.py run_artifact ID [--param name=value ...] [--format table|csv|json]
                                     [--user USERNAME]

The run is recorded like any other (statistics, status, history). CSV and JSON go to
stdout alone, so they can be piped; the summary line goes to stderr.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasources.executor import ColumnType, QueryResult
from apps.datasources.exports import csv_chunks, json_chunks
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact

NUMERIC_TYPES = {ColumnType.INTEGER, ColumnType.NUMBER}
MAX_CELL_WIDTH = 60


class Command(BaseCommand):
    help = "Run an artifact's SQL read-only, record the run and print the rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("artifact_id", type=int, metavar="ID")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A parameter value; repeat for each parameter.",
        )
        parser.add_argument(
            "--format", dest="output_format", choices=["table", "csv", "json"], default="table"
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Run as this user: the artifact must be visible to them, and the run is "
            "recorded under their name.",
        )

    def handle(
        self, *args, artifact_id: int, param: list[str], output_format: str, **options
    ) -> None:
        user = self._user(options.get("user"))
        artifacts = Artifact.objects.visible_to(user) if user else Artifact.objects.all()
        artifact = artifacts.filter(pk=artifact_id).first()
        if artifact is None:
            whose = f" visible to {user.get_username()}" if user else ""
            raise CommandError(f"There is no artifact {artifact_id}{whose}.")
        try:
            run, result = run_artifact(artifact, user=user, raw_params=self._params(param))
        except ValidationError as exc:
            details = "; ".join(
                message for messages in exc.message_dict.values() for message in messages
            )
            raise CommandError(f"Bad parameters: {details}") from None
        if run.outcome != ArtifactRun.Outcome.OK:
            # The terminal is the operators': the set-up's detail too, when there is one.
            detail = f"\n{run.error_detail}" if run.error_detail else ""
            outcome = run.get_outcome_display().lower()
            raise CommandError(f"The run failed ({outcome}): {run.error}{detail}")
        if output_format == "csv":
            self._write_bytes(csv_chunks(result.columns, [result.rows]))
        elif output_format == "json":
            self._write_bytes(json_chunks(result.columns, [result.rows]))
        else:
            self.stdout.write(render_table(result))
        summary = f"{result.row_count} row{'s' if result.row_count != 1 else ''}"
        if result.truncated:
            summary += f" (cut at the display limit of {result.row_count})"
        self.stderr.write(f"{summary} in {result.duration_ms:.0f} ms, run #{run.pk}.")

    def _user(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user {username!r}.")
        return user

    def _params(self, pairs: list[str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise CommandError(f"--param {pair!r} must look like name=value.")
            values[name.strip()] = value
        return values

    def _write_bytes(self, chunks) -> None:
        self.stdout.write(b"".join(chunks).decode(), ending="")


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL_WIDTH else text[: MAX_CELL_WIDTH - 1] + "…"


def render_table(result: QueryResult) -> str:
    """Rows as an aligned text table; numbers right-aligned, NULL spelled out."""
    headers = [column.name for column in result.columns]
    cells = [[_cell(value) for value in row] for row in result.rows]
    widths = [
        max([len(header), *(len(row[index]) for row in cells)])
        for index, header in enumerate(headers)
    ]
    numeric = [column.type in NUMERIC_TYPES for column in result.columns]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(headers), "  ".join("-" * width for width in widths)]
    lines.extend(line(row) for row in cells)
    return "\n".join(lines)
