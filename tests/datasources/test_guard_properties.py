"""Property tests for the guard: whatever text comes in (random nesting, comments, quoting,
unicode, fragments of statements that write), the guard either refuses it with SQLRejected
or accepts a single statement that only reads. Never any other exception.

Bounded and derandomized, so they take seconds and fail the same way every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from apps.datasources.executor import QueryFailed, execute
from apps.datasources.guard import READ_ROOTS, SQLRejected, parse_checked
from tests.datasources import sample

PROPERTY_SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DIALECTS = st.sampled_from(["sqlite", "postgres"])

FRAGMENTS = [
    "SELECT",
    "FROM",
    "WHERE",
    "orders",
    "id",
    "total",
    "status",
    "1",
    "'x'",
    "*",
    ",",
    "(",
    ")",
    "[",
    "]",
    ";",
    "--",
    "/*",
    "*/",
    "'",
    '"',
    "$$",
    "$tag$",
    "E'\\''",
    ":p",
    "?",
    "$1",
    "@x",
    'U&"\\0070g_sleep"',
    "pg_sleep(1)",
    '"PG_SLEEP"(1)',
    "pg_catalog.",
    "::int",
    "DELETE FROM orders",
    "DROP TABLE orders",
    "INSERT INTO orders VALUES (1)",
    "UPDATE",
    "WITH x AS (",
    ")",
    "UNION",
    "SELECT 1",
    "FOR UPDATE",
    "INTO loot",
    "SET",
    "COPY",
    "NOT",
    "CASE WHEN",
    "THEN",
    "END",
    "\n",
    " ",
    "\t",
    "é",
    "🦆",
    "\u202e",
    "\x00",
    "ǅ",
    "ß",
    "load_extension('x')",
    "readfile('/etc/passwd')",
    "nextval('s')",
    "lo_import('/x')",
    "count(*)",
    "sum(total)",
    "OVER (ORDER BY id)",
    "GROUP BY",
    "ORDER BY",
    "LIMIT 5",
]


@st.composite
def nested(draw) -> str:
    """An expression nested to a random depth in brackets, calls, CASE, NOT and subqueries."""
    expression = draw(st.sampled_from(["1", "total", "'(x)'", ":p", "NULL", "id + 1"]))
    for _ in range(draw(st.integers(min_value=0, max_value=80))):
        wrapper = draw(
            st.sampled_from(
                [
                    "({})",
                    "abs({})",
                    "coalesce({}, 0)",
                    "(SELECT {})",
                    "NOT {}",
                    "- {}",
                    "CASE WHEN {} IS NULL THEN 0 ELSE 1 END",
                    "{} /* ( */",
                    "[{}]",
                ]
            )
        )
        expression = wrapper.format(expression)
    return f"SELECT {expression} FROM orders"


QUOTED = st.one_of(
    st.text(max_size=30).map(lambda text: "'" + text.replace("'", "''") + "'"),
    st.text(max_size=30).map(lambda text: '"' + text.replace('"', '""') + '"'),
    st.text(max_size=30).map(lambda text: f"/* {text} */"),
    st.text(max_size=30).map(lambda text: f"-- {text}\n"),
    st.text(max_size=30).filter(lambda text: "$q$" not in text).map(lambda t: f"$q${t}$q$"),
)
SQL = st.one_of(
    nested(),
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(" ".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), QUOTED), max_size=12).map(" ".join),
    st.builds(lambda a, b: f"SELECT {a}, {b} FROM orders", QUOTED, QUOTED),
    st.text(max_size=200),
)


def _check(sql: str, dialect: str):
    """The guard's verdict; any exception but SQLRejected fails the property."""
    try:
        return parse_checked(sql, dialect=dialect)
    except SQLRejected as exc:
        assert exc.message and isinstance(exc.message, str)
        return None


def _read_root(tree: exp.Expression) -> exp.Expression:
    while isinstance(tree, (exp.Subquery, exp.Paren)) and tree.this is not None:
        tree = tree.this
    return tree


@PROPERTY_SETTINGS
@given(sql=SQL, dialect=DIALECTS)
def test_the_guard_only_ever_refuses_or_accepts_a_single_read(sql: str, dialect: str) -> None:
    checked = _check(sql, dialect)
    if checked is None:
        return
    assert isinstance(_read_root(checked.tree), READ_ROOTS)
    if dialect == "postgres":
        # What PostgreSQL is sent is one statement that reads, bound only by $n.
        statements = [s for s in sqlglot.parse(checked.capped_statement, read="postgres") if s]
        assert len(statements) == 1
        assert isinstance(_read_root(statements[0]), READ_ROOTS)
        assert not any(
            isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop))
            for node in statements[0].walk()
        )


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    return sample.use_sqlite(tmp_path, settings, name="shop")


@PROPERTY_SETTINGS
@given(sql=SQL)
def test_what_the_guard_accepts_runs_on_sqlite_and_changes_nothing(shop: Path, sql: str) -> None:
    checked = _check(sql, "sqlite")
    if checked is None:
        return
    before = sample.sqlite_fingerprint(shop)
    try:
        execute("shop", sql, dict.fromkeys(checked.parameters, 1), timeout=2)
    except QueryFailed as exc:
        # The engine may still find an error (an unknown column); never a write.
        assert exc.outcome in {"error", "timeout", "rejected"}
    assert sample.sqlite_fingerprint(shop) == before
