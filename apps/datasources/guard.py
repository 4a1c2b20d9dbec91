"""The SQL guard: the first of three layers that keep artifact SQL read-only.

Artifact SQL is written by an LLM that prompt injection can steer, so the guard does not
look for bad keywords: it parses the statement with sqlglot in the data source's dialect
and accepts it only when the whole tree reads. Exactly one statement; its root must be a
SELECT, a set operation (UNION / INTERSECT / EXCEPT), WITH ... SELECT or VALUES; and no
node anywhere in it (CTEs and subqueries included) may write, lock or change settings.
Functions are checked against an allow-list of read-only ones (functions.py): a function
the guard has never heard of is refused by name, not let through.

Brackets nested deeper than MAX_NESTING_DEPTH are refused before parsing, and any
recursion overflow while parsing is a refusal too, never a server error.

The connection layer (executor.py) enforces read-only again on its own, so a gap here is
not a hole; but a rejection here gives the user a clear reason before anything runs.

Parameters are written `:name`. `referenced_parameters()` lists them; the executor binds
values through the driver and never pastes them into SQL text.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import TokenType

from apps.core.translation import lazy_message
from apps.datasources.access import EVERYTHING, Exposure
from apps.datasources.functions import FunctionPolicy, function_policy
from apps.datasources.reads import exposure_problem

# Deeper nesting of brackets is refused before parsing: sqlglot recurses once per level
# (about 20 Python frames each), and a few dozen levels would exhaust Python's stack.
# Real analytics SQL rarely nests more than ten.
MAX_NESTING_DEPTH = 30
OPENING_BRACKETS = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
CLOSING_BRACKETS = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})


class SQLRejected(ValueError):
    """The SQL may not run; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        # A message may be lazy (rejections are cached across requests in other languages):
        # it is read here, in the language of the request that is refused.
        message = str(message)
        super().__init__(message)
        self.message = message


# Statement roots that only read. A parenthesised query is unwrapped first.
READ_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values)


def _node_types(*names: str) -> tuple[type[exp.Expression], ...]:
    # sqlglot renames or adds node classes between releases; look each one up so an
    # upgrade that drops a name does not break the import (the root check still holds).
    return tuple(getattr(exp, name) for name in names if hasattr(exp, name))


# Nodes that write, change state or control transactions: refused anywhere in the tree.
# The human word for each is what the user sees.
STATE_CHANGING_NODES: dict[type[exp.Expression], str] = {
    node_type: word
    for names, word in [
        (("Insert",), "INSERT"),
        (("Update",), "UPDATE"),
        (("Delete",), "DELETE"),
        (("Merge",), "MERGE"),
        (("Create",), "CREATE"),
        (("Drop",), "DROP"),
        (("Alter", "AlterTable", "AlterColumn"), "ALTER"),
        (("TruncateTable",), "TRUNCATE"),
        (("Copy", "LoadData", "Export"), "COPY"),
        (("Set", "SetItem"), "SET"),
        (("Pragma",), "PRAGMA"),
        (("Attach",), "ATTACH"),
        (("Detach",), "DETACH"),
        (("Transaction",), "BEGIN (transaction control)"),
        (("Commit",), "COMMIT (transaction control)"),
        (("Rollback",), "ROLLBACK (transaction control)"),
        (("Grant",), "GRANT"),
        (("Revoke",), "REVOKE"),
        (("Comment",), "COMMENT"),
        (("Analyze",), "ANALYZE"),
        (("Cache", "Uncache", "Refresh"), "a cache or refresh statement"),
        (("Kill",), "KILL"),
        (("Use",), "USE"),
        (("Declare",), "DECLARE"),
        (("Execute",), "EXECUTE"),
        (("Install",), "INSTALL"),
        (("Put", "Get"), "a file transfer statement"),
        (("Into",), "SELECT ... INTO (it creates a table)"),
        (("Lock",), "a locking clause (FOR UPDATE / FOR SHARE)"),
        (("DML", "DDL"), "a statement that changes data or schema"),
    ]
    for node_type in _node_types(*names)
}


@dataclass(frozen=True)
class CheckedSQL:
    """A statement the guard accepted.

    `parameters` are the `:name` parameters it uses, in text order. `statement` is the text
    the executor sends: the original SQL for SQLite; for PostgreSQL, sqlglot's rendering
    of the checked tree with `$1`, `$2`, ... standing for `parameters` in that order.
    `capped_statement` (PostgreSQL only) wraps it in `LIMIT $n+1`, the row cap bound as one
    more parameter, so a plain cursor never receives more rows than it asked for.
    """

    tree: exp.Expression
    parameters: tuple[str, ...]
    dialect: str
    statement: str
    capped_statement: str = ""


def check_sql(
    sql: str,
    *,
    dialect: str,
    allow_functions: frozenset[str] = frozenset(),
    exposure: Exposure = EVERYTHING,
) -> None:
    """Raise SQLRejected unless `sql` is a single read-only statement.

    `allow_functions` are the names a data source adds to its dialect's allow-list
    (`DataSource.allow_functions`); `exposure` is what of the source SQL may read
    (`access.exposure_of(source)`; everything by default).
    """
    parse_checked(sql, dialect=dialect, allow_functions=allow_functions, exposure=exposure)


def referenced_parameters(
    sql: str,
    *,
    dialect: str,
    allow_functions: frozenset[str] = frozenset(),
    exposure: Exposure = EVERYTHING,
) -> list[str]:
    """The `:name` parameters that `sql` uses, in order of first use, each once.

    Raises SQLRejected like check_sql: parameters of SQL that may not run mean nothing.
    """
    checked = parse_checked(
        sql, dialect=dialect, allow_functions=allow_functions, exposure=exposure
    )
    return list(checked.parameters)


def parse_checked(
    sql: str,
    *,
    dialect: str,
    allow_functions: frozenset[str] = frozenset(),
    exposure: Exposure = EVERYTHING,
    columns_of: Callable[[str], list[str] | None] | None = None,
) -> CheckedSQL:
    """Parse and check `sql`; the executor runs what this returns.

    With a restricted `exposure`, SQL that reads a table the source does not expose, or a
    hidden column, is refused by name (reads.py); `columns_of(table)` may give a table's
    columns, for a refused `*` to say which to list instead.
    """
    if not sql or not sql.strip():
        raise SQLRejected(gettext("The SQL is empty."))
    limit = settings.SQL_MAX_LENGTH
    if len(sql) > limit:
        raise SQLRejected(
            gettext("The SQL is %(length)s characters long; the limit is %(limit)s.")
            % {
                "length": number_format(len(sql), force_grouping=True),
                "limit": number_format(limit, force_grouping=True),
            }
        )
    outcome = _parse_and_check(sql, dialect, frozenset(allow_functions))
    if not isinstance(outcome, CheckedSQL):
        raise SQLRejected(outcome)
    problem = exposure_problem(outcome.tree, exposure, dialect=dialect, columns_of=columns_of)
    if problem:
        raise SQLRejected(problem)
    return outcome


@functools.lru_cache(maxsize=256)
def _parse_and_check(sql: str, dialect: str, allow_functions: frozenset[str]) -> CheckedSQL | str:
    # Cached because one run checks the same SQL several times (model validation, the
    # service, the executor). A rejection is cached as its message.
    try:
        return _parse_and_check_uncached(sql, function_policy(dialect, allow_functions))
    except RecursionError:
        # The parser and the generator recurse once per nested expression. The depth limit
        # below catches nesting by brackets before parsing; this catches the rest (long
        # chains of NOT, CASE inside CASE), whatever the caller's own stack depth.
        return _(
            "The SQL is nested too deeply to check (expressions inside expressions, such as "
            "a long chain of NOT or CASE inside CASE). Simplify it, for example with a CTE."
        )


def too_deep_message() -> str:
    return gettext(
        "The SQL is nested too deeply to check; the limit is %(depth)s levels of "
        "brackets. Flatten it, for example with a CTE (WITH ...)."
    ) % {"depth": MAX_NESTING_DEPTH}


def nesting_depth(tokens: list) -> int:
    """The deepest nesting of brackets ( [ { among `tokens`, strings and comments aside."""
    depth = deepest = 0
    for token in tokens:
        if token.token_type in OPENING_BRACKETS:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type in CLOSING_BRACKETS:
            depth -= 1
    return deepest


def _parse_and_check_uncached(sql: str, functions: FunctionPolicy) -> CheckedSQL | str:
    dialect = functions.dialect
    engine = Dialect.get_or_raise(dialect)
    try:
        # The tokenizer does not recurse: count the nesting on its tokens before the
        # parser, which does, sees the statement.
        tokens = engine.tokenize(sql)
        if nesting_depth(tokens) > MAX_NESTING_DEPTH:
            return too_deep_message()
        statements = [
            statement
            for statement in engine.parser().parse(tokens, sql)
            # A trailing semicolon or a comment after the last one parses as an empty
            # statement; nothing runs there.
            if statement is not None and not isinstance(statement, exp.Semicolon)
        ]
    except ParseError as exc:
        return _parse_error_message(exc)
    except SqlglotError as exc:
        return lazy_message(_("The SQL could not be parsed: %(error)s."), {"error": exc})
    if not statements:
        return _("The SQL has no statement.")
    if len(statements) > 1:
        return lazy_message(
            _(
                "Only one statement can run at a time; found %(count)s. "
                "Remove the extra statements."
            ),
            {"count": len(statements)},
        )
    tree = statements[0]
    problem = _problem_with(tree, sql=sql, functions=functions, positional_ok=False)
    if problem:
        return problem
    if dialect == "postgres" and _has_unicode_identifier(tokens):
        # PostgreSQL reads U&"\0070g_sleep" as pg_sleep; sqlglot reads `U & "..."`.
        return _('Unicode-escaped identifiers (U&"...") are not supported; write the name plainly.')
    placeholders = {node.name for node in tree.find_all(exp.Placeholder)}
    parameters = tuple(_in_text_order(tokens, placeholders))
    if dialect != "postgres":
        return CheckedSQL(tree=tree, parameters=parameters, dialect=dialect, statement=sql)
    try:
        statement = _render_for_postgres(tree, parameters, functions)
        # The subquery keeps its ORDER BY: PostgreSQL never flattens a sorted subquery,
        # and LIMIT passes rows on in the order it gets them.
        capped = f"SELECT * FROM ({statement}) AS artifact_result LIMIT ${len(parameters) + 1}"
        _recheck_postgres(capped, functions)
    except SQLRejected as exc:
        return exc.message
    return CheckedSQL(
        tree=tree,
        parameters=parameters,
        dialect=dialect,
        statement=statement,
        capped_statement=capped,
    )


def _parse_error_message(exc: ParseError) -> str:
    if not exc.errors:
        return lazy_message(_("The SQL could not be parsed: %(error)s."), {"error": exc})
    error = exc.errors[0]
    description = error.get("description") or "syntax error"
    highlight = error.get("highlight") or ""
    column = error.get("col")
    if isinstance(column, int) and highlight and "\n" not in highlight:
        # sqlglot gives the column of the token's last character; people look for its first.
        column = max(1, column - len(highlight) + 1)
    near = highlight.strip()
    values = {"error": description, "line": error.get("line"), "column": column, "near": repr(near)}
    if near:
        return lazy_message(
            _(
                "The SQL could not be parsed: %(error)s at line %(line)s, column %(column)s "
                "near %(near)s."
            ),
            values,
        )
    return lazy_message(
        _("The SQL could not be parsed: %(error)s at line %(line)s, column %(column)s."), values
    )


def _statement_word(tree: exp.Expression, sql: str) -> str:
    if isinstance(tree, exp.Command):
        return str(tree.this).upper()
    for node_type, word in STATE_CHANGING_NODES.items():
        if isinstance(tree, node_type):
            return word
    # sqlglot reads some statements it does not know (START TRANSACTION, CHECKPOINT) as a
    # bare column or alias; name them by their first word.
    first_word = sql.strip().split(None, 1)[0] if sql.strip() else ""
    return first_word.upper() or type(tree).__name__.upper()


def _problem_with(
    tree: exp.Expression, *, sql: str, functions: FunctionPolicy, positional_ok: bool
) -> str | None:
    dialect = functions.dialect
    root = tree
    while isinstance(root, (exp.Subquery, exp.Paren)) and root.this is not None:
        root = root.this
    if not isinstance(root, READ_ROOTS):
        return lazy_message(
            _(
                "Only queries that read are allowed (SELECT, WITH ... SELECT, UNION / "
                "INTERSECT / EXCEPT, VALUES); this statement is %(statement)s."
            ),
            {"statement": _statement_word(root, sql)},
        )
    for node in tree.walk():
        if isinstance(node, exp.Command):
            return lazy_message(
                _("%(statement)s is not allowed: queries may only read."),
                {"statement": str(node.this).upper()},
            )
        for node_type, word in STATE_CHANGING_NODES.items():
            if isinstance(node, node_type):
                # Also inside CTEs: PostgreSQL runs `WITH x AS (DELETE ...) SELECT ...`.
                return lazy_message(
                    _("Not allowed anywhere in a query (CTEs included): %(statement)s."),
                    {"statement": word},
                )
        if isinstance(node, exp.Func):
            problem = functions.problem(node)
            if problem:
                return problem
        if isinstance(node, exp.Placeholder) and (not node.name or node.name == "?"):
            return _("Use named parameters like :name; positional ? parameters are not supported.")
        if isinstance(node, (exp.Parameter, exp.SessionParameter)) and not positional_ok:
            return lazy_message(
                _("Use named parameters like :name; %(parameter)s is not supported."),
                {"parameter": node.sql(dialect=dialect)},
            )
        if isinstance(node, exp.Identifier) and not node.quoted and node.name.startswith("$"):
            # SQLite would bind $name as a parameter the guard cannot see.
            return lazy_message(
                _("Use named parameters like :name; %(parameter)s is not supported."),
                {"parameter": node.name},
            )
    return None


def _has_unicode_identifier(tokens: list) -> bool:
    return any(
        u.text in ("U", "u")
        and amp.token_type == TokenType.AMP
        and quoted.token_type == TokenType.IDENTIFIER
        and amp.start == u.end + 1
        and quoted.start == amp.end + 1
        for u, amp, quoted in zip(tokens, tokens[1:], tokens[2:], strict=False)
    )


def _in_text_order(tokens: list, names: set[str]) -> list[str]:
    if not names:
        return []
    # The tree does not keep source positions, so order the parameters by scanning the
    # tokens for ":" directly followed by one of the names the parser found.
    ordered: list[str] = []
    for colon, following in itertools.pairwise(tokens):
        if (
            colon.token_type == TokenType.COLON
            and following.start == colon.end + 1
            and following.text in names
            and following.text not in ordered
        ):
            ordered.append(following.text)
    # Anything the scan missed (it should not happen) still counts, after the rest.
    ordered.extend(sorted(names - set(ordered)))
    return ordered


def _render_for_postgres(
    tree: exp.Expression, parameters: tuple[str, ...], functions: FunctionPolicy
) -> str:
    """The SQL that PostgreSQL runs, with `:name` replaced by `$1`, `$2`, ...

    The server runs sqlglot's rendering of the checked tree, never the original text:
    what was checked is exactly what runs, even where sqlglot and PostgreSQL would read
    the original text differently. Comments are dropped. The rendering is parsed and
    checked again, so a generator slip cannot smuggle in a second statement.
    """
    position = {name: index + 1 for index, name in enumerate(parameters)}

    def to_positional(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return exp.Parameter(this=exp.Literal.number(position[node.name]))
        return node

    rendered = tree.transform(to_positional).sql(
        dialect="postgres", comments=False, normalize_functions=False
    )
    _recheck_postgres(rendered, functions)
    return rendered


def _recheck_postgres(rendered: str, functions: FunctionPolicy) -> None:
    try:
        statements = [s for s in sqlglot.parse(rendered, read="postgres") if s is not None]
    except SqlglotError as exc:
        raise SQLRejected(
            lazy_message(
                _("The SQL could not be prepared for PostgreSQL: %(error)s."), {"error": exc}
            )
        ) from None
    problem = (
        _("The SQL could not be prepared for PostgreSQL.")
        if len(statements) != 1
        else _problem_with(statements[0], sql=rendered, functions=functions, positional_ok=True)
    )
    if problem:
        raise SQLRejected(problem)
