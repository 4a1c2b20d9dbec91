"""Full-text search over artifacts, indexed on both engines the app database may use.

SQLite: an external-content FTS5 table over the searched columns, kept in step by triggers.
PostgreSQL: a stored, generated tsvector column with a GIN index. Both see the same words:
runs of letters and digits (punctuation and underscores separate them, so `o.total` and
`start_date` are two words each), without stemming, so a search behaves alike on both.

ArtifactQuerySet.ranked_search() (models.py) is the one place that queries them; this module
knows the SQL that creates them and turns what a user typed into each engine's query syntax,
quoting every word so input never reaches MATCH or to_tsquery as syntax.
"""

from __future__ import annotations

import re

from django.utils.text import smart_split, unescape_string_literal

ARTIFACT_TABLE = "llm_artifact_artifact"
FTS_TABLE = "llm_artifact_artifact_fts"
# The searched columns, by weight (a word in the title counts most).
INDEXED_COLUMNS = ("title", "question", "description", "comment", "sql_query")
SQLITE_WEIGHTS = (10.0, 5.0, 2.0, 1.0, 1.0)
POSTGRES_WEIGHTS = {"title": "A", "question": "B", "description": "C", "comment": "D"}
# A search reads at most this many words: enough for any question, bounded for the engine.
MAX_WORDS = 32

WORD_RE = re.compile(r"[^\W_]+")


def search_terms(q: str) -> list[str]:
    """The terms of a search; "quoted words" stay one term (as in the admin)."""
    terms = []
    for term in smart_split(q.strip()):
        if len(term) > 1 and term[0] in "\"'" and term[-1] == term[0]:
            term = unescape_string_literal(term)
        if term:
            terms.append(term)
    return terms


def search_phrases(q: str) -> list[list[str]]:
    """Each term of `q` as its words, lower case: every term must match, the words of one
    term next to each other ("o.total" is the phrase o total)."""
    phrases: list[list[str]] = []
    budget = MAX_WORDS
    for term in search_terms(q):
        words = [word.lower() for word in WORD_RE.findall(term)][:budget]
        if words:
            phrases.append(words)
            budget -= len(words)
        if budget <= 0:
            break
    return phrases


def sqlite_match(phrases: list[list[str]]) -> str:
    """An FTS5 MATCH expression: every phrase quoted, joined by AND; the last word may be
    the beginning of a word (prefix query)."""
    parts = ['"' + " ".join(words).replace('"', '""') + '"' for words in phrases]
    parts[-1] += "*"
    return " AND ".join(parts)


def sqlite_match_any(words: list[str]) -> str:
    """An FTS5 MATCH expression for rows with any of `words`, each the start of a word."""
    return " OR ".join('"' + word.replace('"', '""') + '"*' for word in words)


def postgres_tsquery_any(words: list[str]) -> str:
    """A to_tsquery() text for rows with any of `words`, each the start of a lexeme."""
    return " | ".join(_lexeme(word) + ":*" for word in words)


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def postgres_tsquery(phrases: list[list[str]]) -> str:
    """A to_tsquery() text: every word quoted as a lexeme, a phrase's words joined by <->,
    phrases by &; the last word may be a prefix (:*)."""

    parts = [" <-> ".join(_lexeme(word) for word in words) for words in phrases]
    parts[-1] += ":*"
    return " & ".join(f"({part})" for part in parts)


# --- SQLite -------------------------------------------------------------------------------

_SQLITE_COLUMNS = ", ".join(INDEXED_COLUMNS)
_NEW_VALUES = ", ".join(f"new.{column}" for column in INDEXED_COLUMNS)
_OLD_VALUES = ", ".join(f"old.{column}" for column in INDEXED_COLUMNS)

SQLITE_CREATE = [
    # remove_diacritics 0: words keep their accents, as PostgreSQL's 'simple' keeps them.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({_SQLITE_COLUMNS}, "
    f"content='{ARTIFACT_TABLE}', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
]
# Only changes of the searched columns touch the index (a run's statistics do not).
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON {ARTIFACT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, {_SQLITE_COLUMNS}) VALUES (new.id, {_NEW_VALUES}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON {ARTIFACT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_SQLITE_COLUMNS}) "
    f"VALUES ('delete', old.id, {_OLD_VALUES}); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF {_SQLITE_COLUMNS} "
    f"ON {ARTIFACT_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_SQLITE_COLUMNS}) "
    f"VALUES ('delete', old.id, {_OLD_VALUES}); "
    f"INSERT INTO {FTS_TABLE}(rowid, {_SQLITE_COLUMNS}) VALUES (new.id, {_NEW_VALUES}); END",
]
SQLITE_REBUILD = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"
SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}" for suffix in ("ai", "ad", "au")),
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]

# --- PostgreSQL ---------------------------------------------------------------------------


def _postgres_vector() -> str:
    # Punctuation becomes spaces first: the 'simple' parser would otherwise read o.total
    # as one host name and start_date as one word with its underscore.
    parts = []
    for column in INDEXED_COLUMNS:
        text = f"regexp_replace(coalesce({column}, ''), '[^[:alnum:]]+', ' ', 'g')"
        vector = f"to_tsvector('simple'::regconfig, {text})"
        weight = POSTGRES_WEIGHTS.get(column)
        parts.append(f"setweight({vector}, '{weight}')" if weight else vector)
    return " || ".join(parts)


POSTGRES_COLUMN = "search_vector"
POSTGRES_CREATE = [
    f"ALTER TABLE {ARTIFACT_TABLE} ADD COLUMN IF NOT EXISTS {POSTGRES_COLUMN} tsvector "
    f"GENERATED ALWAYS AS ({_postgres_vector()}) STORED",
    f"CREATE INDEX IF NOT EXISTS artifact_search_gin ON {ARTIFACT_TABLE} "
    f"USING gin ({POSTGRES_COLUMN})",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS artifact_search_gin",
    f"ALTER TABLE {ARTIFACT_TABLE} DROP COLUMN IF EXISTS {POSTGRES_COLUMN}",
]


def install(connection) -> None:
    """Create the index on `connection`'s engine (the migration calls this)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for statement in [*SQLITE_CREATE, *SQLITE_TRIGGERS, SQLITE_REBUILD]:
                cursor.execute(statement)
        elif connection.vendor == "postgresql":
            for statement in POSTGRES_CREATE:
                cursor.execute(statement)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}
        for statement in statements.get(connection.vendor, []):
            cursor.execute(statement)


def repair_sqlite_triggers(connection) -> bool:
    """Put back the triggers a later migration dropped, and rebuild the index.

    SQLite's schema editor alters a table by copying it into a new one and dropping the
    old, which drops its triggers: after any migration that alters the artifact table the
    index would silently stop following changes. Run after every migrate (post_migrate).
    Returns whether it had to repair.
    """
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE]
        )
        if not cursor.fetchone()[0]:
            return False  # not migrated that far (or unmigrated)
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s "
            "AND name LIKE %s",
            [ARTIFACT_TABLE, f"{FTS_TABLE}_%"],
        )
        if cursor.fetchone()[0] == len(SQLITE_TRIGGERS):
            return False
        for statement in [*SQLITE_TRIGGERS, SQLITE_REBUILD]:
            cursor.execute(statement)
    return True
