"""Print where the demo is served and how to sign in: `make run` calls it before serving."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.llm_chat.demo import DEMO_RU_USERNAME, DEMO_USERNAME, demo_password


class Command(BaseCommand):
    help = "Print the demo's URL and the demo users' credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            raise CommandError("There is no demo user yet: run `python manage.py seed_demo`.")
        password = demo_password()
        if not user.check_password(password):
            raise CommandError(
                "The demo user's password is not DEMO_PASSWORD any more: run "
                "`python manage.py seed_demo` to reset it."
            )
        url = f"http://{host}:{port}/"
        width = max(len(url), len(password)) + 14
        lines = [
            "LLM Artifacts demo",
            f"  Open:     {url}",
            f"  Username: {DEMO_USERNAME}  (English)",
            f"  Username: {DEMO_RU_USERNAME}  (Russian, its own Russian chat)",
            f"  Password: {password}  (both users)",
            f"  Admin:    {url}admin/  (the demo user is a superuser)",
            f"  API:      {url}api/  and  {url}api/docs/",
        ]
        rule = "-" * max(width, *(len(line) for line in lines))
        self.stdout.write("\n".join([rule, *lines, rule]))
