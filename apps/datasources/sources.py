"""Named data sources: the databases that artifact SQL may read.

They are configured by the `DATA_SOURCES` setting as `name=url` pairs, for example
`marketplace=sqlite:///var/marketplace.sqlite3 warehouse=postgresql://reader@db/shop`.
Limits and options can be set per source on the URL's query string
(`?timeout=5&background_timeout=600&max_rows=500&allow_functions=my_func&allow_privileged=true`);
the rest of the URL is handed to the driver. `timeout` bounds a query run from a page or the
API; `background_timeout` a query run by a worker (a background run or export), which nobody
waits on, so it may be much larger.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from apps.datasources.functions import parse_function_names

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# Query-string keys that are ours; anything else stays on the URL for the driver.
LIMIT_KEYS = {"timeout", "background_timeout", "max_rows", "export_max_rows"}
OPTION_KEYS = LIMIT_KEYS | {"allow_functions", "allow_privileged"}
BOOLEAN_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
FUNCTION_NAME_RE = re.compile(r"^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$")
# DATA_SOURCES pairs are separated by spaces, or by a comma that starts the next `name=`
# (a comma inside a URL, as in allow_functions=a,b, belongs to that URL).
PAIR_SEPARATOR_RE = re.compile(r"\s+|,(?=\s*[A-Za-z_][A-Za-z0-9_-]*=)|,\s*$")


class Engine:
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class DataSource:
    name: str
    engine: str
    # For SQLite the database file; for PostgreSQL a libpq connection URL.
    location: str
    timeout_seconds: float
    max_rows: int
    export_max_rows: int
    # The limit of a query a worker runs (background runs and exports): never below
    # timeout_seconds.
    background_timeout_seconds: float = 0.0
    # Functions this source adds to the guard's allow-list (`?allow_functions=a,s.b`).
    allow_functions: frozenset[str] = frozenset()
    # PostgreSQL: run even when the role is a superuser or may read server files
    # (`?allow_privileged=true`); refused otherwise.
    allow_privileged: bool = False

    @property
    def dialect(self) -> str:
        """The sqlglot dialect that parses this source's SQL."""
        return "postgres" if self.engine == Engine.POSTGRESQL else "sqlite"

    @property
    def display_location(self) -> str:
        """Where the source lives, with any password masked, for operators' eyes."""
        if self.engine == Engine.SQLITE:
            return self.location
        parts = urlsplit(self.location)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class UnknownDataSource(LookupError):
    pass


def parse_data_source(name: str, url: str) -> DataSource:
    if not NAME_RE.match(name):
        raise ImproperlyConfigured(
            f"Data source name {name!r} must start with a letter and use only letters, "
            "digits, '-' and '_'."
        )
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    limits = {key: query.pop(key) for key in list(query) if key in OPTION_KEYS}
    try:
        timeout = float(limits.get("timeout", settings.DATA_SOURCE_TIMEOUT_SECONDS))
        background_timeout = float(
            limits.get("background_timeout", settings.DATA_SOURCE_BACKGROUND_TIMEOUT_SECONDS)
        )
        max_rows = int(limits.get("max_rows", settings.DATA_SOURCE_MAX_ROWS))
        export_max_rows = int(limits.get("export_max_rows", settings.EXPORT_MAX_ROWS))
    except ValueError as exc:
        raise ImproperlyConfigured(f"Data source {name!r} has a malformed limit: {exc}") from exc
    if timeout <= 0 or background_timeout <= 0 or max_rows <= 0 or export_max_rows <= 0:
        raise ImproperlyConfigured(f"Data source {name!r} limits must be positive.")
    allow_functions = parse_function_names(limits.get("allow_functions", ""))
    malformed = sorted(f for f in allow_functions if not FUNCTION_NAME_RE.match(f))
    if malformed:
        raise ImproperlyConfigured(
            f"Data source {name!r} has a malformed allow_functions entry: {malformed[0]!r} "
            "(use name or schema.name, separated by commas)."
        )
    allow_privileged = BOOLEAN_VALUES.get(limits.get("allow_privileged", "false").lower())
    if allow_privileged is None:
        raise ImproperlyConfigured(
            f"Data source {name!r} has a malformed allow_privileged: use true or false."
        )

    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # As in DATABASE_URL: sqlite:///relative/to/project, sqlite:////absolute/path.
        path = Path(unquote(parts.path)[1:])
        if not path.is_absolute():
            path = settings.BASE_DIR / path
        location = str(path)
        engine = Engine.SQLITE
    elif scheme in {"postgres", "postgresql"}:
        location = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query), ""))
        engine = Engine.POSTGRESQL
    else:
        raise ImproperlyConfigured(
            f"Data source {name!r} uses {scheme or 'no'} scheme; "
            "use sqlite:///path or postgresql://user@host/db."
        )
    return DataSource(
        name=name,
        engine=engine,
        location=location,
        timeout_seconds=timeout,
        # A background limit below the interactive one would make sending a run to the
        # background pointless: it gets at least as long.
        background_timeout_seconds=max(background_timeout, timeout),
        max_rows=max_rows,
        export_max_rows=export_max_rows,
        allow_functions=allow_functions,
        allow_privileged=allow_privileged,
    )


def parse_data_sources(value: str) -> dict[str, DataSource]:
    sources: dict[str, DataSource] = {}
    for pair in PAIR_SEPARATOR_RE.split(value.strip()):
        pair = pair.strip()
        if not pair:
            continue
        name, sep, url = pair.partition("=")
        if not sep or not url:
            raise ImproperlyConfigured(f"DATA_SOURCES entry {pair!r} must look like name=url.")
        if name in sources:
            raise ImproperlyConfigured(f"Data source {name!r} is configured twice.")
        sources[name] = parse_data_source(name, url)
    return sources


@cache
def _configured(value: str) -> dict[str, DataSource]:
    return parse_data_sources(value)


def all_data_sources() -> dict[str, DataSource]:
    # Keyed on the setting's value so tests that override DATA_SOURCES see their own.
    return _configured(settings.DATA_SOURCES)


def data_source_names() -> list[str]:
    return sorted(all_data_sources())


def _unknown_message(name: str) -> str:
    return f"Unknown data source {name!r}. Configured: {', '.join(data_source_names()) or 'none'}."


def get_data_source(name: str) -> DataSource:
    try:
        return all_data_sources()[name]
    except KeyError:
        raise UnknownDataSource(_unknown_message(name)) from None


def validate_data_source(value: str) -> None:
    """The field validator for a data source name: the one rule every face uses.

    Models (agents, artifacts) declare it on their field, so their forms and admin get it;
    serializers without a model call it too (DRF turns the ValidationError into a 400).
    """
    if value not in all_data_sources():
        raise ValidationError(_unknown_message(value), code="unknown_data_source")


def default_data_source_name() -> str:
    return settings.DEFAULT_DATA_SOURCE


def _same_sqlite_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def points_at_app_database(source: DataSource, databases: dict | None = None) -> bool:
    for db in (settings.DATABASES if databases is None else databases).values():
        vendor_engine = db.get("ENGINE", "")
        if (
            source.engine == Engine.SQLITE
            and vendor_engine.endswith("sqlite3")
            and _same_sqlite_file(source.location, str(db.get("NAME", "")))
        ):
            return True
        if source.engine == Engine.POSTGRESQL and "postgresql" in vendor_engine:
            parts = urlsplit(source.location)
            same_host = (parts.hostname or "localhost") in {db.get("HOST") or "localhost"}
            same_port = str(parts.port or 5432) == str(db.get("PORT") or 5432)
            same_db = parts.path.lstrip("/") == db.get("NAME")
            if same_host and same_port and same_db:
                return True
    return False


def check_configuration(databases: dict | None = None) -> None:
    sources = all_data_sources()
    for source in sources.values():
        if points_at_app_database(source, databases):
            raise ImproperlyConfigured(
                f"Data source {source.name!r} points at the app's own database "
                f"({source.display_location}). Artifact SQL must never reach it: point "
                "DATA_SOURCES at a separate database."
            )
    for source in sources.values():
        if source.allow_privileged and source.engine == Engine.POSTGRESQL:
            logger.warning(
                "Data source %r has allow_privileged=true: it runs even when its role is a "
                "superuser or may read or write server files, so the read-only transaction "
                "is its last line of defence. Prefer a read-only role (README, "
                '"Read-only PostgreSQL data source").',
                source.name,
            )
    if settings.DEFAULT_DATA_SOURCE not in sources:
        raise ImproperlyConfigured(
            f"DEFAULT_DATA_SOURCE {settings.DEFAULT_DATA_SOURCE!r} is not among DATA_SOURCES "
            f"({', '.join(sorted(sources)) or 'none'})."
        )
