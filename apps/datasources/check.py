"""Checking SQL as it is written: the one home of what the editor marks while typing, what
`POST /api/sql/validate/` answers, what saving an artifact refuses and what the agent's save
and update tools are told.

On top of the guard's verdict (guard.py) it finds:
- parse errors, with the line, column and character range of the offending token;
- references to tables or columns that do not exist in the data source, with a "did you
  mean" suggestion from the schema (`no column `totl` in `orders`; did you mean `total`?`);
- the `:name` parameters the SQL uses, with their positions, and, given the declarations,
  the ones used but not declared and the ones declared but no longer used.

Names are resolved through aliases, CTEs and subqueries with sqlglot's scopes. The check is
conservative: a reference is only flagged when every source it could come from is known
(a table of the schema, or a CTE / subquery whose output columns are all named). A star, a
table function, a schema-qualified or system table, or anything else it cannot follow makes
it stay silent rather than raise a false alarm. Nothing here runs user SQL; the schema comes
from schema.list_tables (cached for a minute), and when it cannot be read the reference
check is skipped.
"""

from __future__ import annotations

import difflib
import itertools
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlglot
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from apps.datasources import schema
from apps.datasources.access import EVERYTHING, Exposure
from apps.datasources.executor import QueryFailed
from apps.datasources.guard import (
    MAX_NESTING_DEPTH,
    SQLRejected,
    nesting_depth,
    parse_checked,
    too_deep_message,
)
from apps.datasources.sources import DataSource

# Columns every table has without declaring them.
IMPLICIT_COLUMNS = {
    "sqlite": {"rowid", "oid", "_rowid_"},
    "postgres": {"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"},
}
# Tables the schema listing leaves out but the database knows.
SYSTEM_TABLE_PREFIXES = {"sqlite": ("sqlite_", "pragma_"), "postgres": ("pg_",)}
# As the guard words it: a chain of NOT or CASE inside CASE nests without brackets.
NESTED_TOO_DEEPLY = _(
    "The SQL is nested too deeply to format (expressions inside expressions, such as a long "
    "chain of NOT or CASE inside CASE). Simplify it, for example with a CTE."
)


@dataclass
class Diagnostic:
    """One problem in the SQL. Positions are 0-based character offsets (`end` exclusive)
    with the 1-based line and column of `start`; all None when the problem has no place."""

    code: str  # parse_error, rejected, unknown_table, unknown_column, undeclared/unused_parameter
    severity: str  # "error" blocks running and saving; "warning" does not
    message: str
    start: int | None = None
    end: int | None = None
    line: int | None = None
    column: int | None = None
    suggestion: str | None = None


@dataclass
class ParameterUse:
    name: str
    start: int
    end: int
    line: int
    column: int


@dataclass
class SQLCheck:
    valid: bool  # the guard's verdict: whether the SQL may run at all
    error: str | None  # the guard's reason when not
    parameters: list[str] = field(default_factory=list)  # in order of first use
    parameter_uses: list[ParameterUse] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    # A guess of each used parameter's type (string, integer, number, boolean, date,
    # datetime) from its use: a cast, LIMIT, the column it is compared with, its name.
    parameter_types: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(
    sql: str, source: DataSource, declarations: Any = None, *, exposure: Exposure | None = None
) -> SQLCheck:
    """Everything the editor shows about `sql` on `source`.

    `declarations` (a list of {"name": ...} dicts, as an artifact's query_params) adds the
    undeclared and unused parameter lists and their diagnostics; None leaves them empty.
    `exposure` limits the schema to what the user may see (see Exposure).
    """
    try:
        checked = parse_checked(
            sql,
            dialect=source.dialect,
            allow_functions=source.allow_functions,
            exposure=exposure or EVERYTHING,
        )
    except SQLRejected as exc:
        rejection = _rejection(sql, source, exc)
        return SQLCheck(valid=False, error=rejection.message, diagnostics=[rejection])
    uses = parameter_uses(sql, source.dialect)
    problems, types = _analyse(checked.tree, sql, source, exposure)
    result = SQLCheck(
        valid=True,
        error=None,
        parameters=list(checked.parameters),
        parameter_uses=uses,
        diagnostics=problems,
        parameter_types={
            name: types.get(name, _type_from_name(name)) for name in checked.parameters
        },
    )
    if declarations is not None:
        _compare_declarations(result, declarations)
    return result


def reference_messages(
    sql: str, source: DataSource, *, exposure: Exposure | None = None
) -> list[str]:
    """The messages for unknown tables and columns in `sql`, for saving an artifact.

    [] when the guard rejects the SQL (it reports that itself) or the schema is unreadable.
    """
    try:
        checked = parse_checked(
            sql,
            dialect=source.dialect,
            allow_functions=source.allow_functions,
            exposure=exposure or EVERYTHING,
        )
    except SQLRejected:
        return []
    return [
        _sentence(d)
        for d in reference_problems(checked.tree, sql, source, exposure)
        if d.code in ("unknown_table", "unknown_column")
    ]


def format_sql(sql: str, dialect: str) -> str:
    """`sql` pretty-printed by sqlglot in `dialect`, `:name` parameters kept as written.

    Raises SQLRejected when it cannot be parsed (with the guard's wording and position), is
    longer than the guard allows or nested deeper than it parses.
    """
    if len(sql) > settings.SQL_MAX_LENGTH:
        raise SQLRejected(
            gettext("The SQL is %(length)s characters long; the limit is %(limit)s.")
            % {
                "length": number_format(len(sql), force_grouping=True),
                "limit": number_format(settings.SQL_MAX_LENGTH, force_grouping=True),
            }
        )
    try:
        if nesting_depth(sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)) > MAX_NESTING_DEPTH:
            raise SQLRejected(too_deep_message())
        statements = [
            s
            for s in sqlglot.parse(sql, read=dialect)
            if s is not None and not isinstance(s, exp.Semicolon)
        ]
    except ParseError as exc:
        raise SQLRejected(_parse_error(sql, exc).message) from None
    except SqlglotError as exc:
        raise SQLRejected(
            gettext("The SQL could not be parsed: %(error)s.") % {"error": exc}
        ) from None
    except RecursionError:
        raise SQLRejected(NESTED_TOO_DEEPLY) from None

    def keep_parameter(node: exp.Expression) -> exp.Expression:
        # PostgreSQL's generator writes :name as %(name)s; the artifact keeps :name.
        if isinstance(node, exp.Placeholder) and node.name and node.name != "?":
            return exp.Var(this=f":{node.name}")
        return node

    try:
        return ";\n\n".join(
            s.transform(keep_parameter).sql(dialect=dialect, pretty=True) for s in statements
        )
    except SqlglotError as exc:
        raise SQLRejected(
            gettext("The SQL could not be formatted: %(error)s.") % {"error": exc}
        ) from None
    except RecursionError:
        raise SQLRejected(NESTED_TOO_DEEPLY) from None


def parameter_uses(sql: str, dialect: str) -> list[ParameterUse]:
    """Every `:name` in the text, with its place (strings and comments aside)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError:
        return []
    uses = []
    for colon, following in itertools.pairwise(tokens):
        if (
            colon.token_type == sqlglot.TokenType.COLON
            and following.start == colon.end + 1
            and following.token_type == sqlglot.TokenType.VAR
            # `a::int` is a cast: the colon before is another colon.
            and sql[colon.start - 1 : colon.start] != ":"
        ):
            line, column = _line_and_column(sql, colon.start)
            uses.append(ParameterUse(following.text, colon.start, following.end + 1, line, column))
    return uses


# --- unknown tables and columns ---------------------------------------------------------


@dataclass
class _KnownTable:
    name: str  # as the schema spells it
    columns: dict[str, str]  # lower-cased name -> as spelled
    types: dict[str, str] = field(default_factory=dict)  # lower-cased name -> declared type


class _Unsure(Exception):
    """A source whose columns cannot be known: references through it are not checked."""


def reference_problems(
    tree: exp.Expression, sql: str, source: DataSource, exposure: Exposure | None = None
) -> list[Diagnostic]:
    """Unknown tables and columns in the checked `tree` of `sql`; [] when unsure."""
    return _analyse(tree, sql, source, exposure)[0]


# Sources whose schema could not be read, until when not to try again: the check runs on
# every pause in typing, and an unreachable server would hold each request for its timeout.
UNREADABLE_RETRY_SECONDS = 30.0
_unreadable: dict[tuple[str, str], float] = {}


def _schema_tables(source: DataSource, exposure: Exposure | None) -> dict[str, _KnownTable] | None:
    key = (source.name, source.location)
    if _unreadable.get(key, 0.0) > time.monotonic():
        return None
    try:
        infos = schema.list_tables(source.name)
    except (QueryFailed, LookupError):
        _unreadable[key] = time.monotonic() + UNREADABLE_RETRY_SECONDS
        return None
    tables = {}
    for info in infos:
        if exposure is not None and not exposure.allows_table(info.name):
            continue  # as if it did not exist: never named, never suggested
        columns = [
            c for c in info.columns if exposure is None or exposure.allows_column(info.name, c.name)
        ]
        tables[info.name.lower()] = _KnownTable(
            info.name,
            {c.name.lower(): c.name for c in columns},
            {c.name.lower(): c.type for c in columns},
        )
    return tables


def _analyse(
    tree: exp.Expression, sql: str, source: DataSource, exposure: Exposure | None = None
) -> tuple[list[Diagnostic], dict[str, str]]:
    """The unknown references (none when the schema cannot be read) and the parameters'
    guessed types."""
    tables = _schema_tables(source, exposure)
    try:
        scopes = traverse_scope(tree)
    except (SqlglotError, RecursionError):
        return [], {}
    finder = _ReferenceFinder(sql, source, tables or {})
    problems: list[Diagnostic] = []
    types: dict[str, str] = {}
    for scope in scopes:
        if tables is not None:
            problems.extend(finder.in_scope(scope))
        for placeholder in scope.expression.find_all(exp.Placeholder):
            owner = placeholder.find_ancestor(exp.Select, exp.SetOperation)
            if placeholder.name and placeholder.name not in types and owner is scope.expression:
                types[placeholder.name] = finder.guess_type(scope, placeholder)
    # The same table can be named in several scopes: report each place once.
    unique = {(d.start, d.end, d.message): d for d in problems}
    return sorted(unique.values(), key=lambda d: d.start or 0), types


class _ReferenceFinder:
    def __init__(self, sql: str, source: DataSource, tables: dict[str, _KnownTable]) -> None:
        self.sql = sql
        self.source = source
        self.dialect = source.dialect
        self.tables = tables

    def in_scope(self, scope: Scope) -> Iterable[Diagnostic]:
        for node in scope.sources.values():
            if isinstance(node, exp.Table):
                problem = self._unknown_table(node)
                if problem:
                    yield problem
        for column in scope.columns:
            # sqlglot also lists a correlated subquery's outer references in the enclosing
            # scope; each column is judged once, in the scope that contains it.
            if column.find_ancestor(exp.Select, exp.SetOperation) is not scope.expression:
                continue
            problem = self._unknown_column(scope, column)
            if problem:
                yield problem

    # Tables --------------------------------------------------------------------------

    def _plain_table_name(self, table: exp.Table) -> str | None:
        """The table's name when it is a plain, unqualified table name; None otherwise."""
        if not isinstance(table.this, exp.Identifier) or table.args.get("db"):
            return None
        if table.args.get("catalog"):
            return None
        name = table.name
        if name.lower().startswith(SYSTEM_TABLE_PREFIXES.get(self.dialect, ())):
            return None
        return name

    def _unknown_table(self, table: exp.Table) -> Diagnostic | None:
        name = self._plain_table_name(table)
        if name is None or name.lower() in self.tables:
            return None
        guess = _closest(name, [t.name for t in self.tables.values()])
        message = gettext("no table `%(table)s` in %(source)s") % {
            "table": name,
            "source": self.source.name,
        }
        return self._at(table.this, "unknown_table", message, guess)

    def _known(self, table: exp.Table) -> _KnownTable:
        name = self._plain_table_name(table)
        if name is None or name.lower() not in self.tables:
            raise _Unsure
        return self.tables[name.lower()]

    # Columns -------------------------------------------------------------------------

    def _columns_of(self, node: Any) -> tuple[str, set[str]]:
        """The label and lower-cased output column names of a scope source; _Unsure if not all
        of them are known."""
        if isinstance(node, exp.Table):
            known = self._known(node)
            return known.name, set(known.columns)
        if isinstance(node, Scope):
            expression = node.expression
            if not isinstance(expression, (exp.Select, exp.SetOperation)):
                raise _Unsure
            selects = expression.selects
            if any(isinstance(s, exp.Star) or s.find(exp.Star) for s in selects):
                raise _Unsure
            names = expression.named_selects
            if len(names) != len(selects) or any(not n for n in names):
                raise _Unsure
            # Columns listed after a CTE's or derived table's alias rename its outputs (for
            # a recursive CTE, the scope is a branch of the set operation under it).
            holder = expression.parent
            while isinstance(holder, exp.SetOperation):
                holder = holder.parent
            columns = holder.args.get("alias") if holder is not None else None
            if isinstance(columns, exp.TableAlias) and columns.columns:
                names = [c.name for c in columns.columns]
            return "", {n.lower() for n in names}
        raise _Unsure

    def _unknown_column(self, scope: Scope, column: exp.Column) -> Diagnostic | None:
        if not isinstance(column.this, exp.Identifier):
            return None  # a star, or something sqlglot reads as a column but is not one
        name = column.name
        lowered = name.lower()
        if lowered in IMPLICIT_COLUMNS.get(self.dialect, set()):
            return None
        if column.args.get("db") or column.args.get("catalog"):
            return None
        try:
            if column.table:
                return self._qualified(scope, column, lowered)
            return self._unqualified(scope, column, lowered)
        except _Unsure:
            return None

    def _qualified(self, scope: Scope, column: exp.Column, lowered: str) -> Diagnostic | None:
        qualifier = column.table
        current: Scope | None = scope
        while current is not None:
            node = _source_named(current, qualifier)
            if node is not None:
                label, names = self._columns_of(node)
                if lowered in names:
                    return None
                table = label or qualifier
                guess = _closest(column.name, self._spelled(node, names))
                message = gettext("no column `%(column)s` in `%(table)s`") % {
                    "column": column.name,
                    "table": table,
                }
                return self._at(column.this, "unknown_column", message, guess)
            current = current.parent
        return None  # an alias it cannot see (a lateral join, say): not ours to judge

    def _unqualified(self, scope: Scope, column: exp.Column, lowered: str) -> Diagnostic | None:
        if self.dialect == "sqlite" and column.this.quoted:
            # SQLite reads an unknown "name" as the string 'name' (a documented misfeature):
            # the SQL runs, so it is not flagged here.
            return None
        labels: list[str] = []
        candidates: list[str] = []
        current: Scope | None = scope
        while current is not None:
            if _is_output_alias(current, lowered):
                return None
            if any(alias.lower() == lowered for alias in current.sources):
                return None  # a whole row, as in PostgreSQL's to_jsonb(o)
            if any(not isinstance(n, (exp.Table, Scope)) for n in current.sources.values()):
                raise _Unsure
            for alias, node in current.sources.items():
                label, names = self._columns_of(node)
                if lowered in names:
                    return None
                labels.append(label or alias)
                candidates.extend(self._spelled(node, names))
            current = current.parent
        if not labels:
            return None  # SELECT without FROM: a name there is not a column of a table
        where = gettext(" or ").join(f"`{label}`" for label in dict.fromkeys(labels))
        guess = _closest(column.name, candidates)
        message = gettext("no column `%(column)s` in %(tables)s") % {
            "column": column.name,
            "tables": where,
        }
        return self._at(column.this, "unknown_column", message, guess)

    def _spelled(self, node: Any, names: set[str]) -> list[str]:
        if isinstance(node, exp.Table):
            return sorted(self._known(node).columns.values())
        return sorted(names)

    # Parameter types ----------------------------------------------------------------

    def guess_type(self, scope: Scope, placeholder: exp.Placeholder) -> str:
        by_name = _type_from_name(placeholder.name)
        node: exp.Expression = placeholder
        parent = placeholder.parent
        while isinstance(parent, (exp.Paren, exp.Neg)):
            node, parent = parent, parent.parent
        if isinstance(parent, exp.Cast):
            return _type_from_sql_type(parent.to.sql(dialect=self.dialect)) or by_name
        if placeholder.find_ancestor(exp.Limit, exp.Offset):
            return "integer"
        other = None
        if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            other = parent.left if parent.right is node else parent.right
        elif isinstance(parent, (exp.Between, exp.In)):
            other = parent.this
        if isinstance(other, exp.Column) and isinstance(other.this, exp.Identifier):
            declared = self._column_type(scope, other)
            if declared is not None:
                guessed = _type_from_sql_type(declared)
                if guessed == "integer" and _type_from_name(other.name) == "boolean":
                    return "boolean"  # SQLite's flags: is_vip INTEGER
                if guessed == "datetime" and by_name == "date":
                    return "date"  # `ordered_at >= :since`: a day is what people pick
                if guessed and guessed != "string":
                    return guessed
                # SQLite keeps dates as text: the names say more than the type.
                if by_name != "string":
                    return by_name
                return _type_from_name(other.name) if guessed else by_name
        return by_name

    def _column_type(self, scope: Scope, column: exp.Column) -> str | None:
        lowered = column.name.lower()
        current: Scope | None = scope
        while current is not None:
            sources = (
                [_source_named(current, column.table)]
                if column.table
                else list(current.sources.values())
            )
            for node in sources:
                if isinstance(node, exp.Table):
                    try:
                        known = self._known(node)
                    except _Unsure:
                        continue
                    if lowered in known.types:
                        return known.types[lowered]
            current = current.parent
        return None

    def _at(self, node: exp.Expression, code: str, message: str, guess: str | None) -> Diagnostic:
        meta = node.meta if isinstance(node, exp.Identifier) else {}
        start, end = meta.get("start"), meta.get("end")
        line = column = None
        if start is not None and end is not None:
            end += 1
            if node.quoted and self.sql[start - 1 : start] in '"`[':
                start, end = start - 1, end + 1
            line, column = _line_and_column(self.sql, start)
        text = (
            gettext("%(problem)s; did you mean `%(guess)s`?") % {"problem": message, "guess": guess}
            if guess
            else gettext("%(problem)s.") % {"problem": message}
        )
        return Diagnostic(code, "error", text, start, end, line, column, guess)


def _source_named(scope: Scope, qualifier: str) -> Any:
    if qualifier in scope.sources:
        return scope.sources[qualifier]
    lowered = qualifier.lower()
    for alias, node in scope.sources.items():
        if alias.lower() == lowered:
            return node
    return None


def _is_output_alias(scope: Scope, lowered: str) -> bool:
    """Whether a SELECT output of the scope is named `lowered` (ORDER BY, GROUP BY, HAVING
    and, in SQLite, WHERE may use it)."""
    expression = scope.expression
    if not isinstance(expression, exp.Select):
        return False
    return any(isinstance(s, exp.Alias) and s.alias.lower() == lowered for s in expression.selects)


DATE_WORDS = ("since", "until", "start", "end", "from", "day", "date", "month", "week")


def _type_from_name(name: str) -> str:
    """A parameter's likely type from its name: `since` a date, `is_vip` a boolean..."""
    lowered = name.lower()
    words = lowered.split("_")
    if lowered.endswith("_at") or "datetime" in words or "timestamp" in words:
        return "datetime"
    if any(word in DATE_WORDS for word in words):
        return "date"
    if words[0] in ("is", "has", "include", "only"):
        return "boolean"
    if lowered in ("n", "limit", "top") or words[0] in ("min", "max", "top", "num"):
        return "number"
    if words[-1] in ("count", "limit", "id"):
        return "integer"
    return "string"


def _type_from_sql_type(declared: str) -> str | None:
    """The parameter type for a column or cast of SQL type `declared`; None if unknown."""
    lowered = declared.lower()
    if "interval" in lowered:
        return None
    if "bool" in lowered:
        return "boolean"
    if "int" in lowered:
        return "integer"
    if any(word in lowered for word in ("real", "floa", "doub", "numeric", "decimal", "money")):
        return "number"
    if "timestamp" in lowered or "datetime" in lowered:
        return "datetime"
    if "date" in lowered:
        return "date"
    if any(word in lowered for word in ("char", "text", "clob", "string")):
        return "string"
    return None


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    by_lower = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


# --- the guard's verdict, parameters, positions ------------------------------------------


def _rejection(sql: str, source: DataSource, exc: SQLRejected) -> Diagnostic:
    # The guard's message is in the request's language, as is this prefix.
    parse_prefix = gettext("The SQL could not be parsed: %(error)s.").partition("%(error)s")[0]
    if exc.message.startswith(parse_prefix):
        try:
            sqlglot.parse(sql, read=source.dialect)
        except ParseError as parse_error:
            return _parse_error(sql, parse_error)
        except (SqlglotError, RecursionError):
            pass
    return Diagnostic("rejected", "error", exc.message)


def _parse_error(sql: str, exc: ParseError) -> Diagnostic:
    error = exc.errors[0] if exc.errors else {}
    line, col = error.get("line"), error.get("col")
    description = error.get("description") or "syntax error"
    highlight = error.get("highlight") or ""
    if not line or not col:
        message = gettext("The SQL could not be parsed: %(error)s.") % {"error": description}
        return Diagnostic("parse_error", "error", message)
    # sqlglot reports the line and column of the offending token's last character.
    line_start = _line_start(sql, line)
    end = min(len(sql), line_start + col)
    start = max(line_start, end - len(highlight)) if highlight else max(0, end - 1)
    at_line, at_column = _line_and_column(sql, start)
    values = {
        "error": description,
        "line": at_line,
        "column": at_column,
        "near": repr(highlight.strip()),
    }
    if highlight.strip():
        message = (
            gettext(
                "The SQL could not be parsed: %(error)s at line %(line)s, column %(column)s "
                "near %(near)s."
            )
            % values
        )
    else:
        message = (
            gettext("The SQL could not be parsed: %(error)s at line %(line)s, column %(column)s.")
            % values
        )
    return Diagnostic("parse_error", "error", message, start, end, at_line, at_column)


def _compare_declarations(result: SQLCheck, declarations: Any) -> None:
    declared = [
        d["name"]
        for d in (declarations if isinstance(declarations, list) else [])
        if isinstance(d, dict) and isinstance(d.get("name"), str)
    ]
    result.undeclared = [name for name in result.parameters if name not in declared]
    result.unused = [name for name in declared if name not in result.parameters]
    for use in result.parameter_uses:
        if use.name in result.undeclared:
            result.diagnostics.append(
                Diagnostic(
                    "undeclared_parameter",
                    "error",
                    gettext("The SQL uses :%(name)s, which is not declared as a parameter.")
                    % {"name": use.name},
                    use.start,
                    use.end,
                    use.line,
                    use.column,
                )
            )
    for name in result.unused:
        result.diagnostics.append(
            Diagnostic(
                "unused_parameter",
                "warning",
                gettext(
                    "The parameter %(quoted)s is declared but the SQL no longer uses :%(name)s."
                )
                % {"quoted": repr(name), "name": name},
            )
        )


def _sentence(diagnostic: Diagnostic) -> str:
    if diagnostic.line is None:
        return diagnostic.message
    return gettext("Line %(line)s, column %(column)s: %(message)s") % {
        "line": diagnostic.line,
        "column": diagnostic.column,
        "message": diagnostic.message,
    }


def _line_start(sql: str, line: int) -> int:
    offset = 0
    for _line in range(line - 1):
        found = sql.find("\n", offset)
        if found < 0:
            return len(sql)
        offset = found + 1
    return offset


def _line_and_column(sql: str, offset: int) -> tuple[int, int]:
    before = sql[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
