"""`manage.py schedules list|pause <id>|resume <id>`: the operators' view of the schedules."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.schedules.models import Schedule


class Command(BaseCommand):
    help = "List, pause or resume the schedules that refresh artifacts."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="List schedules with their last outcome.")
        listing.add_argument("--paused", action="store_true", help="Only paused schedules.")
        pause = actions.add_parser("pause", help="Pause a schedule.")
        pause.add_argument("id", type=int)
        pause.add_argument("--reason", default="Paused by an operator (manage.py schedules).")
        resume = actions.add_parser("resume", help="Resume a paused schedule.")
        resume.add_argument("id", type=int)

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            self.list(paused_only=options["paused"])
            return
        schedule = Schedule.objects.select_related("artifact").filter(pk=options["id"]).first()
        if schedule is None:
            raise CommandError(f"No schedule with id {options['id']}.")
        if action == "pause":
            if not schedule.pause(options["reason"]):
                raise CommandError(f"Schedule {schedule.pk} is already paused.")
            self.stdout.write(f"Paused schedule {schedule.pk} ({schedule}).")
        else:
            schedule.resume()
            self.stdout.write(
                f"Resumed schedule {schedule.pk} ({schedule}); next run "
                f"{schedule.next_run_at:%Y-%m-%d %H:%M %Z}."
            )

    def list(self, *, paused_only: bool) -> None:
        schedules = Schedule.objects.select_related("artifact", "owner").order_by("pk")
        if paused_only:
            schedules = schedules.filter(enabled=False)
        header = ("ID", "ARTIFACT", "TIMETABLE", "OWNER", "STATE", "NEXT RUN", "LAST OUTCOME")
        rows = [header]
        for s in schedules:
            state = "active" if s.enabled else f"paused: {s.paused_reason}"
            last = s.get_last_outcome_display()
            if s.last_run_at:
                last = f"{last} at {s.last_run_at:%Y-%m-%d %H:%M}"
            if s.consecutive_failures:
                last += f" ({s.consecutive_failures} failures in a row)"
            next_run = f"{s.next_run_at:%Y-%m-%d %H:%M}" if s.next_run_at else "-"
            rows.append(
                (
                    str(s.pk),
                    s.artifact.title,
                    s.describe(),
                    s.owner.get_username(),
                    state,
                    next_run,
                    last,
                )
            )
        if len(rows) == 1:
            self.stdout.write("No schedules.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
