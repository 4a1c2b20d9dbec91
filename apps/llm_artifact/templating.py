"""Templates: artifacts whose SQL has identifier slots besides `:name` value parameters.

A template declares its slots in `Artifact.template_slots`:

    [{"name": "table", "kind": "table", "label": "Table"},
     {"name": "day", "kind": "date_column", "table": "table", "label": "Date column"}]

Kinds: `table`, and columns of a table slot (named by "table"): `column` (any),
`date_column` (a date or time type), `measure_column` (numeric) and `dimension_column` (any
column to group by).

In the SQL a slot is written as an identifier `__name__` (two underscores either side): a
plain identifier that sqlglot parses on SQLite and PostgreSQL alike wherever a table or
column name may stand (`FROM __table__`, `t.__day__`), and that never collides with the
`:name` value parameters. Rendering parses the SQL in the target source's dialect, replaces
each slot identifier IN THE TREE with a quoted identifier (never pasted as text), writes
the tree back and hands the result to the guard. The values offered, and the only values
accepted, are the source's tables and columns that its exposure allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from sqlglot import exp
from sqlglot.errors import SqlglotError

from apps.datasources.access import Exposure, exposure_of
from apps.datasources.guard import SQLRejected, parse_checked
from apps.datasources.schema import TableInfo, list_tables
from apps.datasources.sources import DataSource

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# How a slot is written in the SQL: __name__.
SLOT_IDENTIFIER_RE = re.compile(r"^__([a-z][a-z0-9_]{0,40})__$")
SLOT_KEYS = {"name", "kind", "label", "table"}
MAX_SLOTS = 20
MAX_LABEL_LENGTH = 200


class SlotKind(models.TextChoices):
    TABLE = "table", "Table"
    COLUMN = "column", "Column"
    DATE_COLUMN = "date_column", "Date column"
    MEASURE_COLUMN = "measure_column", "Measure (numeric column)"
    DIMENSION_COLUMN = "dimension_column", "Dimension (column to group by)"


COLUMN_KINDS = frozenset(SlotKind.values) - {SlotKind.TABLE}

# Declared types, as both engines and SQLite's affinities spell them.
DATE_TYPE_RE = re.compile(r"date|time", re.IGNORECASE)
NUMERIC_TYPE_RE = re.compile(
    r"\b(int|integer|smallint|bigint|tinyint|mediumint|int2|int4|int8|real|numeric|decimal|"
    r"double|float|float4|float8|money)\b",
    re.IGNORECASE,
)


def slot_marker(name: str) -> str:
    """How the slot `name` is written in a template's SQL."""
    return f"__{name}__"


def validate_slots(slots: Any) -> None:
    """Raise ValidationError (messages naming the slot) unless `slots` is a valid list of
    slot declarations."""
    if not isinstance(slots, list):
        raise ValidationError(_("Template slots must be a list of slot declarations."))
    if len(slots) > MAX_SLOTS:
        raise ValidationError(
            _("A template has at most %(max)s slots; found %(count)s.")
            % {"max": MAX_SLOTS, "count": len(slots)}
        )
    errors: list[str] = []
    kinds: dict[str, str] = {}
    for index, slot in enumerate(slots, start=1):
        if not isinstance(slot, dict):
            errors.append(f"Slot {index} must be an object with a name and a kind.")
            continue
        name = slot.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(
                f"Slot {index}: the name must be lower-case letters, digits and _ "
                "(starting with a letter, at most 41 characters)."
            )
            continue
        label = f'Slot "{name}"'
        if name in kinds:
            errors.append(f"{label} is declared twice.")
            continue
        unknown = sorted(set(slot) - SLOT_KEYS)
        if unknown:
            errors.append(f"{label}: unknown keys {', '.join(unknown)}.")
        kind = slot.get("kind")
        if kind not in SlotKind.values:
            errors.append(f"{label}: the kind must be one of {', '.join(SlotKind.values)}.")
            continue
        text = slot.get("label", "")
        if not isinstance(text, str) or len(text) > MAX_LABEL_LENGTH:
            errors.append(f"{label}: the label must be text of at most {MAX_LABEL_LENGTH}.")
        kinds[name] = kind
    for slot in slots:
        if not isinstance(slot, dict) or slot.get("name") not in kinds:
            continue
        errors.extend(_table_link_problems(slot, kinds))
    if errors:
        raise ValidationError(errors)


def _table_link_problems(slot: dict, kinds: dict[str, str]) -> list[str]:
    label = f'Slot "{slot["name"]}"'
    table = slot.get("table")
    if slot["kind"] == SlotKind.TABLE:
        return [f"{label} is a table: it names no table slot."] if "table" in slot else []
    if not isinstance(table, str) or not table:
        return [f'{label} is a column: name the table slot it belongs to ("table").']
    if kinds.get(table) != SlotKind.TABLE:
        return [f'{label}: "{table}" is not a table slot of this template.']
    return []


def slots_used(sql: str, dialect: str, allow_functions: frozenset[str] = frozenset()) -> list[str]:
    """The slot names `sql` writes as __name__ identifiers, in order of first use.

    Raises SQLRejected when the SQL cannot be parsed.
    """
    tree = _parse(sql, dialect, allow_functions)
    used: list[str] = []
    for identifier in tree.find_all(exp.Identifier):
        name = _slot_name(identifier)
        if name and name not in used:
            used.append(name)
    return used


def sql_slot_problems(
    sql: str, dialect: str, slots: list[dict], allow_functions: frozenset[str] = frozenset()
) -> list[str]:
    """What is wrong between a template's SQL and its slots: a __name__ not declared, a
    declared slot never used. [] when the SQL does not parse (the guard says so)."""
    try:
        used = slots_used(sql, dialect, allow_functions)
    except SQLRejected:
        return []
    declared = [slot["name"] for slot in slots]
    problems = [
        f'The SQL uses {slot_marker(name)}, but no slot "{name}" is declared.'
        for name in used
        if name not in declared
    ]
    problems += [
        f'Slot "{name}" is declared but the SQL never uses {slot_marker(name)}.'
        for name in declared
        if name not in used
    ]
    return problems


@dataclass(frozen=True)
class SlotField:
    """One slot as a form shows it: its declaration, the values it may take (empty for a
    column slot until its table is chosen) and the value chosen so far."""

    name: str
    kind: str
    label: str
    table_slot: str
    choices: list[str]
    value: str = ""

    @property
    def kind_label(self) -> str:
        return SlotKind(self.kind).label


def slot_fields(slots: list[dict], source: str, values: dict[str, str]) -> list[SlotField]:
    """The slots of a template on `source`, each with the names it may take: the exposed
    tables, and for a column slot the exposed columns of the table chosen for its table slot
    (of the right type). Raises QueryFailed when the schema cannot be read."""
    tables = _exposed_tables(source)
    fields = []
    for slot in slots:
        value = values.get(slot["name"]) or ""
        if slot["kind"] == SlotKind.TABLE:
            choices = sorted(tables)
        else:
            table = tables.get(values.get(slot["table"]) or "")
            choices = _column_choices(table, slot["kind"], exposure_of(source)) if table else []
        fields.append(
            SlotField(
                name=slot["name"],
                kind=slot["kind"],
                label=slot.get("label") or slot["name"].replace("_", " ").capitalize(),
                table_slot=slot.get("table", ""),
                choices=choices,
                value=value if value in choices else "",
            )
        )
    return fields


def fill_slots(slots: list[dict], source: str, values: Any) -> dict[str, TableInfo | str]:
    """The slot values checked against the source's exposed schema: a TableInfo for each
    table slot, a column name for each column slot.

    Raises ValidationError({slot name: message}) for a missing value or one the schema does
    not offer (anything else, quotes and semicolons included, never reaches the SQL).
    Raises QueryFailed when the schema cannot be read.
    """
    if not isinstance(values, dict):
        raise ValidationError({"slots": "Slot values must be an object of slot name: value."})
    tables = _exposed_tables(source)
    exposure = exposure_of(source)
    errors: dict[str, str] = {}
    filled: dict[str, TableInfo | str] = {}
    unknown = sorted(set(values) - {slot["name"] for slot in slots})
    for name in unknown:
        errors[str(name)[:50]] = "This template has no such slot."
    for slot in slots:
        name, value = slot["name"], values.get(slot["name"])
        if value in (None, ""):
            errors[name] = "Choose a value."
            continue
        if slot["kind"] == SlotKind.TABLE:
            if not isinstance(value, str) or value not in tables:
                errors[name] = f"{_shown(value)} is not a table of this data source."
            else:
                filled[name] = tables[value]
            continue
        table = filled.get(slot["table"])
        if not isinstance(table, TableInfo):
            errors[name] = "Choose its table first."
            continue
        choices = _column_choices(table, slot["kind"], exposure)
        if not isinstance(value, str) or value not in choices:
            kind = SlotKind(slot["kind"]).label.lower()
            errors[name] = f"{_shown(value)} is not a {kind} of {table.name}."
        else:
            filled[name] = value
    if errors:
        raise ValidationError(errors)
    return filled


def render(sql: str, filled: dict[str, TableInfo | str], source: DataSource) -> str:
    """The template's SQL with each __slot__ replaced, in sqlglot's tree, by a quoted
    identifier, written back in the source's dialect (`:name` parameters kept) and checked
    by the guard. Raises SQLRejected when the result may not run."""
    tree = _parse(sql, source.dialect, source.allow_functions)

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            table = filled.get(_slot_name(node.this) or "")
            if isinstance(table, TableInfo):
                node = node.copy()
                node.set("this", exp.to_identifier(table.bare_name or table.name, quoted=True))
                if table.schema:
                    node.set("db", exp.to_identifier(table.schema, quoted=True))
                return node
        if isinstance(node, exp.Identifier):
            value = filled.get(_slot_name(node) or "")
            if isinstance(value, TableInfo):
                # The table as a qualifier (__table__.column): its bare name.
                return exp.to_identifier(value.bare_name or value.name, quoted=True)
            if isinstance(value, str):
                return exp.to_identifier(value, quoted=True)
        if isinstance(node, exp.Placeholder) and node.name and node.name != "?":
            # PostgreSQL's generator writes :name as %(name)s; artifacts keep :name.
            return exp.Var(this=f":{node.name}")
        return node

    try:
        rendered = tree.transform(replace).sql(dialect=source.dialect, pretty=True)
    except SqlglotError as exc:
        raise SQLRejected(f"The template could not be written for this source: {exc}.") from None
    left = slots_used(rendered, source.dialect, source.allow_functions)
    if left:
        raise SQLRejected(f"The SQL uses {slot_marker(left[0])}, which no slot fills.")
    parse_checked(
        rendered,
        dialect=source.dialect,
        allow_functions=source.allow_functions,
        exposure=exposure_of(source.name),
    )
    return rendered


def _parse(sql: str, dialect: str, allow_functions: frozenset[str]) -> exp.Expression:
    # The guard's own parse: its limits (length, nesting), its refusals and its messages.
    checked = parse_checked(sql, dialect=dialect, allow_functions=allow_functions)
    return checked.tree.copy()


def _slot_name(identifier: exp.Identifier) -> str | None:
    if identifier.quoted:
        return None
    match = SLOT_IDENTIFIER_RE.match(identifier.name)
    return match.group(1) if match else None


def _exposed_tables(source: str) -> dict[str, TableInfo]:
    exposure = exposure_of(source)
    return {info.name: info for info in list_tables(source) if exposure.allows_table(info.name)}


def _column_choices(table: TableInfo, kind: str, exposure: Exposure) -> list[str]:
    return [
        column.name
        for column in table.columns
        if exposure.allows_column(table.name, column.name) and _fits(kind, column.type)
    ]


def _fits(kind: str, declared_type: str) -> bool:
    if kind == SlotKind.DATE_COLUMN:
        return bool(DATE_TYPE_RE.search(declared_type or ""))
    if kind == SlotKind.MEASURE_COLUMN:
        return bool(NUMERIC_TYPE_RE.search(declared_type or ""))
    return True


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "…"
