"""`manage.py check_translations`: every marked string has a translation in every language.

It first brings locale/<lang>/LC_MESSAGES/django.po and djangojs.po up to date with the code
(`makemessages`, which needs GNU gettext: CI installs it), then fails listing each entry that is
new, empty or fuzzy. Run it after marking strings; translate what it lists; run it again.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# Not our code, or not user-facing: third-party packages, build output, tests and benchmarks.
IGNORED = [".venv/*", "node_modules/*", "build/*", "var/*", "tests/*", "bench/*", "docs/*"]
JS_IGNORED = [*IGNORED, "static/vendor/*"]


def untranslated(path: Path) -> list[str]:
    with path.open("rb") as file:
        catalog = read_po(file)
    missing = []
    if catalog.fuzzy:
        # Compilers skip a catalogue whose header is fuzzy: none of it would be used.
        missing.append(f"{path.name}: the header is marked fuzzy (remove '#, fuzzy' above it)")
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            msgid = message.id[0] if isinstance(message.id, tuple) else message.id
            where = ", ".join(f"{file}:{line}" for file, line in message.locations[:2])
            missing.append(f"{path.name}: {msgid!r} ({where})")
    return missing


class Command(BaseCommand):
    help = "Update the translation catalogues from the code and fail on untranslated entries."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-update",
            action="store_true",
            help="Only check the catalogues as they are (no makemessages, no gettext needed).",
        )

    def handle(self, *, no_update: bool, **options) -> None:
        languages = [code for code, _name in settings.LANGUAGES if code != "en"]
        if not no_update:
            call_command("makemessages", locale=languages, ignore_patterns=IGNORED, verbosity=0)
            call_command(
                "makemessages",
                locale=languages,
                domain="djangojs",
                ignore_patterns=JS_IGNORED,
                verbosity=0,
            )
        missing = []
        for language in languages:
            folder = Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES"
            for path in sorted(folder.glob("*.po")):
                missing.extend(f"{language}/{line}" for line in untranslated(path))
        if missing:
            raise CommandError(
                f"{len(missing)} strings have no translation:\n" + "\n".join(missing)
            )
        self.stdout.write(self.style.SUCCESS("Every string is translated."))
