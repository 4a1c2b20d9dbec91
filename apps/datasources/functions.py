"""Which functions artifact SQL may call: an allow-list per dialect, not a deny-list.

A deny-list lets through every function it has never heard of (an extension's reset
function, a user-defined function that writes). So the guard accepts only functions known
to read and have no side effects: aggregates, window functions, string, math, date/time,
JSON, array, conditional and type-cast functions. Anything else is refused by name. A data
source can add names for its own safe functions (`?allow_functions=name1,schema.name2`).

Names are matched as the engine resolves them: an unquoted name in any case (`PG_SLEEP` is
`pg_sleep`), a quoted one exactly on PostgreSQL (`"PG_SLEEP"` is another function, which
is not on the list), and on PostgreSQL only the `pg_catalog` schema may qualify a listed
name. sqlglot turns many known names into typed nodes (`date_trunc` into TimestampTrunc,
`strftime` into TimeToStr); a typed node is allowed when an allowed name parses into it,
so the allow-list of names is the only list to maintain.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from django.utils.translation import gettext_lazy as _
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from apps.core.translation import lazy_message

_AGGREGATES_AND_WINDOWS = """
    avg count max min sum
    row_number rank dense_rank percent_rank cume_dist ntile lag lead
    first_value last_value nth_value
"""
_MATH = """
    abs acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln
    log log10 mod pi pow power radians round sign sin sinh sqrt tan tanh trunc random
"""

POSTGRES_FUNCTIONS = f"""
    {_AGGREGATES_AND_WINDOWS} {_MATH}
    array_agg string_agg bool_and bool_or every bit_and bit_or bit_xor any_value
    json_agg jsonb_agg json_object_agg jsonb_object_agg range_agg range_intersect_agg
    stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp
    regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy
    regr_syy percentile_cont percentile_disc mode
    cbrt div factorial gcd lcm log2 min_scale scale trim_scale width_bucket cot acosd asind
    atand atan2d cosd cotd sind tand greatest least coalesce nullif num_nonnulls num_nulls
    ascii bit_length btrim char_length character_length chr concat concat_ws format initcap
    left length lower lpad ltrim md5 normalize octet_length overlay position quote_ident
    quote_literal quote_nullable regexp_count regexp_instr regexp_like regexp_match
    regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr
    repeat replace reverse right rpad rtrim split_part starts_with string_to_array
    string_to_table strpos substr substring to_hex translate trim upper encode decode
    sha224 sha256 sha384 sha512 unistr to_char to_date to_number to_timestamp
    age clock_timestamp current_date current_time current_timestamp date_bin date_part
    date_trunc extract isfinite justify_days justify_hours justify_interval localtime
    localtimestamp make_date make_interval make_time make_timestamp make_timestamptz now
    statement_timestamp timeofday transaction_timestamp date_add date_subtract timezone
    to_json to_jsonb array_to_json row_to_json json_build_array json_build_object
    jsonb_build_array jsonb_build_object json_object jsonb_object json_array_elements
    jsonb_array_elements json_array_elements_text jsonb_array_elements_text
    json_array_length jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text
    json_extract_path jsonb_extract_path json_extract_path_text jsonb_extract_path_text
    json_object_keys jsonb_object_keys json_typeof jsonb_typeof json_strip_nulls
    jsonb_strip_nulls jsonb_pretty jsonb_set jsonb_set_lax jsonb_insert jsonb_path_exists
    jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
    json_populate_record jsonb_populate_record json_populate_recordset
    jsonb_populate_recordset json_to_record jsonb_to_record json_to_recordset
    jsonb_to_recordset json_scalar json_exists json_value json_query
    array_append array_cat array_dims array_fill array_length array_lower array_ndims
    array_position array_positions array_prepend array_remove array_replace
    array_to_string array_upper cardinality unnest trim_array
    generate_series generate_subscripts
    isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange
    tsrange tstzrange daterange
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline
    pg_typeof current_setting current_user session_user current_schema current_schemas
    current_database version gen_random_uuid pg_size_pretty
    date text int2 int4 int8 float4 float8 numeric bool varchar timestamp timestamptz
"""

SQLITE_FUNCTIONS = f"""
    {_AGGREGATES_AND_WINDOWS} {_MATH}
    group_concat string_agg total
    char coalesce concat concat_ws format glob hex ifnull iif if instr length like likelihood
    likely lower ltrim nullif octet_length printf quote randomblob replace rtrim sign substr
    substring trim typeof unhex unicode unlikely upper zeroblob log2 sqlite_version
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    json jsonb json_array jsonb_array json_array_length json_error_position json_extract
    jsonb_extract json_insert jsonb_insert json_object jsonb_object json_patch jsonb_patch
    json_pretty json_remove jsonb_remove json_replace jsonb_replace json_set jsonb_set
    json_type json_valid json_quote json_group_array jsonb_group_array json_group_object
    jsonb_group_object
"""
# Not json_each / json_tree: first use of these table-valued functions asks the authorizer
# to update sqlite_master, which the read-only connection refuses.

ALLOWED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(POSTGRES_FUNCTIONS.split()),
    "sqlite": frozenset(SQLITE_FUNCTIONS.split()),
}
DIALECT_NAMES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}

# Typed nodes that stand for SQL syntax rather than a call by name: CAST(x AS t) and
# x::t, CASE ... WHEN, EXTRACT(... FROM ...), EXISTS (subquery), array literals.
SYNTAX_NODES: frozenset[type[exp.Expression]] = frozenset(
    getattr(exp, name)
    for name in ("Cast", "TryCast", "Case", "If", "Extract", "Exists", "Array", "Struct")
    if hasattr(exp, name)
)

# Arguments that make each name build the node it builds in real SQL: some builders need
# a number of arguments, some look at a literal unit (date_trunc('month', ...)).
_PROBE_ARGUMENTS: tuple[tuple[str, ...], ...] = (
    (),
    ("a",),
    ("a", "b"),
    ("a", "b", "c"),
    ("'month'", "a"),
    ("a", "'month'"),
)
# For names with their own syntax, or that the parser reads as keywords.
_PROBE_SQL = ("()", "(a)", "(a, b)", "('month', a)", "(a FROM b)", "(a IN b)")

# Why some well-known functions are refused, for a message that says more than "not on
# the list". The SQLite authorizer refuses SQLite's at the connection as well.
REFUSAL_REASONS: dict[str, dict[str, str]] = {
    "postgres": {
        **dict.fromkeys(
            ["pg_sleep", "pg_sleep_for", "pg_sleep_until"], "it only waits and ties up a connection"
        ),
        **dict.fromkeys(
            [
                "pg_read_file",
                "pg_read_binary_file",
                "pg_ls_dir",
                "pg_stat_file",
                "lo_import",
                "lo_export",
                "lo_from_bytea",
                "lo_create",
                "lo_unlink",
                "lo_put",
            ],
            "it reads or writes files or large objects on the database server",
        ),
        **dict.fromkeys(
            ["dblink", "dblink_exec", "dblink_connect", "query_to_xml", "ts_stat"],
            "it runs SQL from a string or reaches another server, which cannot be checked",
        ),
        **dict.fromkeys(["set_config", "pg_reload_conf"], "it changes server settings"),
        **dict.fromkeys(
            ["pg_terminate_backend", "pg_cancel_backend"], "it controls other sessions"
        ),
        **dict.fromkeys(["nextval", "setval"], "it changes a sequence"),
        **dict.fromkeys(
            ["pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock"],
            "it takes locks",
        ),
        **dict.fromkeys(["pg_stat_reset", "pg_stat_reset_shared"], "it resets server statistics"),
    },
    "sqlite": {
        "load_extension": "it loads native code into the database",
        "fts3_tokenizer": "it loads native code into the database",
        "readfile": "it reads or writes files",
        "writefile": "it reads or writes files",
        "edit": "it reads or writes files",
    },
}


def sqlite_function_refused(name: str) -> bool:
    """For the SQLite authorizer: SQLite functions that must never run, whatever the guard said.

    The authorizer also sees functions SQLite calls for operators (`->>` is one), so it
    refuses the known dangerous ones rather than everything off the allow-list.
    """
    return name.lower() in REFUSAL_REASONS["sqlite"]


def parse_function_names(value: str) -> frozenset[str]:
    """`name1,schema.name2` from a data source URL, as the guard matches them."""
    return frozenset(name.strip().lower() for name in value.split(",") if name.strip())


@dataclass(frozen=True)
class FunctionPolicy:
    """The functions one data source allows: its dialect's list plus the source's own."""

    dialect: str
    extra: frozenset[str] = frozenset()

    @functools.cached_property
    def names(self) -> frozenset[str]:
        return ALLOWED_FUNCTIONS.get(self.dialect, frozenset()) | {
            name for name in self.extra if "." not in name
        }

    @functools.cached_property
    def typed_nodes(self) -> frozenset[type[exp.Expression]]:
        return SYNTAX_NODES | _typed_nodes(self.dialect, self.names)

    def problem(self, node: exp.Func) -> str | None:
        """Why the call `node` may not run, or None when it may."""
        if isinstance(node, (exp.Binary, exp.Unary)):
            # sqlglot files some operators under functions (AND, ->>, @>, COLLATE).
            return None
        schema = _schema_of(node, self.dialect)
        named = _is_named_call(node)
        # A typed node does not keep the name it was written with; it is named as it
        # renders, which is only worth doing when the name is needed.
        name = _identifier_name(node.this, self.dialect) if named else None
        if schema is not None:
            name = name or _typed_name(node, self.dialect)
            if f"{schema}.{name}" in self.extra:
                return None
        # pg_catalog holds the built-ins that the unqualified names resolve to; any other
        # schema holds functions someone created, which the source must list itself.
        builtin = schema is None or (self.dialect == "postgres" and schema == "pg_catalog")
        if builtin and (name in self.names if named else type(node) in self.typed_nodes):
            return None
        name = name or _typed_name(node, self.dialect)
        written = f"{schema}.{name}" if schema is not None else name
        reason = REFUSAL_REASONS.get(self.dialect, {}).get(name)
        if reason:
            return lazy_message(
                _("The function %(function)s() is not allowed: %(reason)s."),
                {"function": written, "reason": reason},
            )
        engine = DIALECT_NAMES.get(self.dialect, self.dialect)
        return lazy_message(
            _(
                "The function %(function)s() is not allowed: it is not on the list of read-only "
                "functions for %(engine)s. If it is safe, an operator can add it to the data "
                "source's URL with ?allow_functions=%(function)s."
            ),
            {"function": written, "engine": engine},
        )


@functools.cache
def function_policy(dialect: str, extra: frozenset[str] = frozenset()) -> FunctionPolicy:
    return FunctionPolicy(dialect, frozenset(extra))


def _identifier_name(value: exp.Expression | str, dialect: str) -> str:
    if isinstance(value, exp.Column) and not value.table:
        value = value.this
    if isinstance(value, exp.Identifier):
        # PostgreSQL folds unquoted names to lower case and keeps quoted ones as written;
        # SQLite ignores case in function names either way.
        if value.quoted and dialect == "postgres":
            return value.this
        return value.this.lower()
    if isinstance(value, exp.Expression):
        # A deeper qualification (db.schema.function): never on the list.
        return value.sql(dialect=dialect)
    return str(value).lower()


def _typed_name(node: exp.Func, dialect: str) -> str:
    rendered = node.sql(dialect=dialect).split("(", 1)[0].strip()
    return rendered.lower() if rendered.isidentifier() else node.sql_name().lower()


def _schema_of(node: exp.Func, dialect: str) -> str | None:
    """The schema that qualifies the call, as the engine reads it, or None."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return _identifier_name(parent.this, dialect)
    if isinstance(parent, exp.Table) and parent.this is node and parent.args.get("db"):
        qualifier = parent.args["db"]
        if parent.args.get("catalog"):
            qualifier = exp.Dot(this=parent.args["catalog"], expression=qualifier)
        return _identifier_name(qualifier, dialect)
    return None


def _is_named_call(node: exp.Func) -> bool:
    return isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc))


@functools.cache
def _typed_nodes(dialect: str, names: frozenset[str]) -> frozenset[type[exp.Expression]]:
    """The typed nodes that sqlglot builds from `names` in `dialect`.

    Found by asking the dialect's parser: its builder for each name, called with a few
    argument lists (some builders need a number of arguments, some look at a literal unit
    such as date_trunc('month', ...)); names with their own syntax (TRIM, SUBSTRING ...
    FROM ...) are parsed; names without brackets (CURRENT_DATE) map to their node.
    """
    engine = Dialect.get_or_raise(dialect)
    parser = engine.parser_class
    nodes: set[type[exp.Expression]] = set()

    def add(tree: exp.Expression) -> None:
        nodes.update(
            type(node)
            for node in tree.walk()
            if isinstance(node, exp.Func) and not _is_named_call(node)
        )

    probes = [[exp.maybe_parse(value) for value in values] for values in _PROBE_ARGUMENTS]
    keywords = engine.tokenizer_class.KEYWORDS
    for name in names:
        builder = parser.FUNCTIONS.get(name.upper())
        if builder is not None:
            code = getattr(builder, "__code__", None)
            takes_dialect = "dialect" in getattr(code, "co_varnames", ())
            for probe in probes:
                values = [value.copy() for value in probe]
                try:
                    add(builder(values, dialect=engine) if takes_dialect else builder(values))
                except Exception:  # a probe with the wrong arguments: the builder says no
                    continue
        if name.upper() in parser.FUNCTION_PARSERS or name.upper() in keywords:
            for arguments in _PROBE_SQL:
                try:
                    add(sqlglot.parse_one(f"SELECT {name}{arguments}", read=dialect))
                except SqlglotError:
                    continue
    for token_type, node_type in parser.NO_PAREN_FUNCTIONS.items():
        if token_type.name.lower() in names:
            nodes.add(node_type)
    return frozenset(nodes)
