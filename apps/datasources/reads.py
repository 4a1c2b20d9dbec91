"""What a statement reads, held against a data source's exposed tables (access.Exposure).

The guard (guard.py) asks here after its own checks, so every path to a data source (runs,
exports, previews, charts, the agent's tools) refuses the same SQL with the same words.
Nothing is checked when the source exposes everything.

A statement may read a table only if the source exposes it, and a column only if the table
does not hide it. The check reads the parsed tree as the engine would, erring towards a
refusal wherever the engine's reading is not certain:

- Every table reference counts, wherever it is: FROM and JOIN, subqueries, both sides of a
  UNION, CTE bodies. Names are normalised as the engine folds them (SQLite ignores case
  everywhere; PostgreSQL folds unquoted names) and qualified names are read with their
  schema: `main.orders` / `public.orders` is `orders`, `sales.orders` must be exposed as
  such, `temp.x`, `pg_catalog.x` and `information_schema.x` are other schemas. Views are
  table names like any other, and so are the system catalogs (sqlite_master, pg_class...):
  refused unless exposed. SQLite's pragma_* table-valued functions read the schema and are
  refused outright, and so are PostgreSQL user-defined types (casts) other than exposed
  tables' row types, which would show a hidden table's columns (`null::payouts`).
- A name is a CTE only where that CTE is in scope: a CTE called `payouts` is fine, but inside
  its own body (PostgreSQL without RECURSIVE), before it in the WITH list, or written with a
  schema, `payouts` is the real table.
- Hidden columns: a column reference is resolved to the tables it may come from (its
  qualifier, else every table of its query and the queries around it that it could see);
  if any of them hides it, it is refused. `SELECT *`, `t.*`, a bare table alias (a whole
  row on PostgreSQL), NATURAL JOIN and USING (a hidden column) are refused on a table that
  hides columns, naming the columns to list instead when they are known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from apps.datasources.access import Exposure

# Every refusal here says this, so callers (the agent's tools) can tell it apart.
NOT_AVAILABLE = "not available in this data source"
# The schema an unqualified name lives in, which a qualified name may spell out.
DEFAULT_SCHEMA = {"sqlite": "main", "postgres": "public"}
QUERY_NODES = (exp.Select, exp.SetOperation)


@dataclass(frozen=True)
class Source:
    """One item of a query's FROM: a real table (`table` is its exposed name), or a CTE,
    derived table or table function (`table` is empty)."""

    alias: str
    table: str = ""


def table_not_available(name: str) -> str:
    return f"The table `{name}` is {NOT_AVAILABLE}."


def exposure_problem(
    tree: exp.Expression,
    exposure: Exposure,
    *,
    dialect: str,
    columns_of: Callable[[str], list[str] | None] | None = None,
) -> str | None:
    """Why `tree` reads something `exposure` does not allow, or None.

    `columns_of(table)` may give a table's columns, to name the ones to list instead of `*`.
    """
    if not exposure.restricted:
        return None
    # On a copy: the caller's tree is what runs (rendered for PostgreSQL as written).
    tree = normalize_identifiers(tree.copy(), dialect=dialect)
    check = _Check(exposure, dialect, columns_of)
    return check.tables(tree) or check.columns(tree)


class _Check:
    def __init__(
        self,
        exposure: Exposure,
        dialect: str,
        columns_of: Callable[[str], list[str] | None] | None,
    ) -> None:
        self.exposure = exposure
        self.dialect = dialect
        self.columns_of = columns_of
        self.default_schema = DEFAULT_SCHEMA.get(dialect, "")

    # --- tables ----------------------------------------------------------------------

    def tables(self, tree: exp.Expression) -> str | None:
        for data_type in tree.find_all(exp.DataType):
            problem = self.type_problem(data_type)
            if problem:
                return problem
        for table in tree.find_all(exp.Table):
            function = table.this
            if isinstance(function, exp.Func):
                name = _function_name(function)
                if name.startswith("pragma_"):
                    return (
                        f"The function {name}() reads the database's schema, which is "
                        f"{NOT_AVAILABLE}."
                    )
                continue  # a table function: its arguments are checked like any expression
            if not isinstance(function, exp.Identifier):
                if table.args.get("rows_from") or function is None:
                    continue  # ROWS FROM (...): its functions are Tables of their own
                return "The SQL names a table in a way that cannot be checked; write it plainly."
            name = self.real_table(table)
            if name and not self.exposure.allows_table(name):
                return table_not_available(name)
        return None

    def type_problem(self, data_type: exp.DataType) -> str | None:
        """A user-defined type may be a table's row type (PostgreSQL), whose columns a cast
        such as null::payouts would show: only exposed tables' names may be used as types."""
        if self.dialect != "postgres" or data_type.this != exp.DataType.Type.USERDEFINED:
            return None  # SQLite takes any type name and has no row types
        kind = data_type.args.get("kind")
        parts = [part.name for part in (kind.flatten() if isinstance(kind, exp.Dot) else [kind])]
        if len(parts) > 1 and parts[-2] == self.default_schema:
            parts = parts[-1:]
        name = ".".join(parts)
        if name and not self.exposure.allows_table(name):
            return (
                f"The type `{name}` is {NOT_AVAILABLE}: only the row types of exposed "
                "tables may be named."
            )
        return None

    def real_table(self, table: exp.Table) -> str:
        """The exposed name `table` reads, or "" when it names a CTE in scope."""
        name = table.name
        schema = table.db
        if not schema and self.is_cte_reference(table):
            return ""
        if not schema or schema == self.default_schema:
            return name
        return f"{schema}.{name}"

    def is_cte_reference(self, table: exp.Table) -> bool:
        name = table.name
        node: exp.Expression = table
        while node.parent is not None:
            parent = node.parent
            if isinstance(parent, exp.With) and isinstance(node, exp.CTE):
                ctes = list(parent.expressions)
                index = next(i for i, cte in enumerate(ctes) if cte is node)
                # SQLite treats a CTE that names itself as recursive, RECURSIVE or not;
                # PostgreSQL only with RECURSIVE (else the name is the real table).
                own = parent.args.get("recursive") or self.dialect == "sqlite"
                visible = ctes[: index + 1] if own else ctes[:index]
                if any(cte.alias == name for cte in visible):
                    return True
                node = parent.parent  # the query that owns this WITH: its CTEs are done
                if node is None:
                    return False
                continue
            if isinstance(parent, QUERY_NODES) and node is not _with_of(parent):
                with_ = _with_of(parent)
                if with_ is not None and any(cte.alias == name for cte in with_.expressions):
                    return True
            node = parent
        return False

    # --- columns ---------------------------------------------------------------------

    def columns(self, tree: exp.Expression) -> str | None:
        if not any(self.exposure.tables.values()):
            return None  # no table hides a column
        everywhere = self.all_sources(tree)
        for select in tree.find_all(exp.Select):
            problem = self.joins_problem(select)
            if problem:
                return problem
        for star in tree.find_all(exp.Star):
            problem = self.star_problem(star, everywhere)
            if problem:
                return problem
        for column in tree.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                continue  # t.*: a star, checked above
            problem = self.column_problem(column, everywhere)
            if problem:
                return problem
        return None

    def sources(self, select: exp.Select) -> list[Source]:
        """The items of `select`'s own FROM and JOINs."""
        found: list[Source] = []
        items = []
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is not None:
            items.append(from_.this)
        items.extend(join.this for join in select.args.get("joins") or [])
        for item in items:
            found.extend(self._item_sources(item))
        return found

    def _item_sources(self, item: exp.Expression) -> list[Source]:
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            own = [Source(item.alias_or_name, self.real_table(item))]
            # (a JOIN b): the joined tables are this query's too.
            for join in item.args.get("joins") or []:
                own.extend(self._item_sources(join.this))
            return own
        if isinstance(item, exp.Subquery) and not isinstance(item.this, QUERY_NODES):
            inner = self._item_sources(item.this) if item.this is not None else []
            return [*inner, Source(item.alias)] if item.alias else inner
        return [Source(item.alias_or_name if isinstance(item, exp.Expression) else "")]

    def all_sources(self, tree: exp.Expression) -> list[Source]:
        """Every real table of the statement with its alias: where a qualifier cannot be
        placed in the query around it, any table it could name is asked."""
        return [
            Source(table.alias_or_name, name)
            for table in tree.find_all(exp.Table)
            if isinstance(table.this, exp.Identifier) and (name := self.real_table(table))
        ]

    def visible_sources(self, node: exp.Expression) -> list[Source]:
        """The FROM items a column at `node` may come from: its own query's, then those of
        the queries around it that it can see (not from a CTE or a plain FROM subquery into
        the query that holds it; a LATERAL one can)."""
        found: list[Source] = []
        in_cte = in_from = lateral = False
        own = True  # the first query up is the column's own: all of its FROM is in reach
        child, parent = node, node.parent
        while parent is not None:
            if isinstance(parent, exp.With):
                in_cte = True
            elif isinstance(parent, exp.From) or (
                isinstance(parent, exp.Join) and child.arg_key == "this"
            ):
                in_from = True
            elif isinstance(parent, exp.Lateral):
                lateral = True
            elif isinstance(parent, exp.Select):
                if own or (not in_cte and (not in_from or lateral)):
                    found.extend(self.sources(parent))
                own = in_cte = in_from = lateral = False
            child, parent = parent, parent.parent
        return found

    def hidden(self, source: Source) -> frozenset[str]:
        return self.exposure.hidden_columns(source.table) if source.table else frozenset()

    def list_instead(self, table: str) -> str:
        columns = self.columns_of(table) if self.columns_of else None
        hidden = self.exposure.hidden_columns(table)
        visible = [c for c in columns or [] if c.lower() not in hidden]
        if visible:
            return f"list the columns you need instead: {', '.join(visible)}"
        return "list the columns you need instead"

    def star_problem(self, star: exp.Star, everywhere: list[Source]) -> str | None:
        parent = star.parent
        if isinstance(parent, exp.Column):  # t.*
            for source in self.named(parent.table, star, everywhere):
                if self.hidden(source):
                    return self.star_message(source.table)
            return None
        if isinstance(parent, exp.Count):
            return None  # count(*) reads no column
        select = star.find_ancestor(exp.Select)
        if select is None or isinstance(select.parent, exp.Exists):
            return None  # EXISTS (SELECT * ...) reads no column either
        for source in self.sources(select):
            if self.hidden(source):
                return self.star_message(source.table)
        return None

    def star_message(self, table: str) -> str:
        return (
            f"Some columns of `{table}` are not available in this data source, so `*` cannot "
            f"read it; {self.list_instead(table)}."
        )

    def named(self, qualifier: str, node: exp.Expression, everywhere: list[Source]):
        """The sources `qualifier` may stand for at `node`: the nearest aliases of that
        name, else any table of the statement of that name or alias."""
        matches = [s for s in self.visible_sources(node) if s.alias == qualifier]
        return matches or [
            s for s in everywhere if qualifier in (s.alias, s.table, s.table.rsplit(".", 1)[-1])
        ]

    def column_problem(self, column: exp.Column, everywhere: list[Source]) -> str | None:
        name = column.name
        if column.table:
            for source in self.named(column.table, column, everywhere):
                if name in self.hidden(source):
                    return self.column_message(name, source.table)
            return None
        if self.is_output_alias(column):
            return None
        for source in self.visible_sources(column):
            hidden = self.hidden(source)
            if not hidden:
                continue
            if name in hidden:
                return self.column_message(name, source.table)
            if name == source.alias:
                # PostgreSQL reads a bare table alias as the whole row, hidden columns too.
                return (
                    f"`{name}` stands for whole rows of `{source.table}`, whose hidden "
                    f"columns are not available in this data source; "
                    f"{self.list_instead(source.table)}."
                )
        return None

    def is_output_alias(self, column: exp.Column) -> bool:
        # ORDER BY may name a result column by its alias; both engines prefer the alias.
        order = column.find_ancestor(exp.Order, exp.Select)
        if not isinstance(order, exp.Order) or not isinstance(order.parent, exp.Select):
            return False
        return column.name in {e.alias for e in order.parent.expressions if e.alias}

    def column_message(self, column: str, table: str) -> str:
        return f"The column `{column}` of `{table}` is {NOT_AVAILABLE}."

    def joins_problem(self, select: exp.Select) -> str | None:
        joins = select.args.get("joins") or []
        if not joins:
            return None
        sources = self.sources(select)
        for join in joins:
            if str(join.args.get("method") or "").upper() == "NATURAL":
                for source in sources:
                    if self.hidden(source):
                        return (
                            f"NATURAL JOIN compares every column of `{source.table}`, some of "
                            "which are not available in this data source; join with ON instead."
                        )
            for identifier in join.args.get("using") or []:
                name = identifier.name
                for source in sources:
                    if name in self.hidden(source):
                        return self.column_message(name, source.table)
        return None


def _with_of(query: exp.Expression) -> exp.With | None:
    return query.args.get("with_") or query.args.get("with")


def _function_name(function: exp.Func) -> str:
    if isinstance(function, exp.Anonymous):
        return str(function.name).lower()
    return function.sql_name().lower()
