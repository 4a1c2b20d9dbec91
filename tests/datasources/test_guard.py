"""Layer 1 on its own: the guard refuses every statement class that writes or changes state,
and lets analytics SQL through."""

from __future__ import annotations

import pytest
from sqlglot import exp

from apps.datasources.functions import REFUSAL_REASONS, function_policy
from apps.datasources.guard import (
    MAX_NESTING_DEPTH,
    SQLRejected,
    check_sql,
    parse_checked,
    referenced_parameters,
)
from tests.datasources.sample import ANALYTICS_BOTH, ANALYTICS_POSTGRES, ANALYTICS_SQLITE

# Refused in both dialects.
WRITES = {
    "insert": "INSERT INTO orders (id, status) VALUES (99, 'new')",
    "insert_select": "INSERT INTO orders SELECT * FROM orders",
    "update": "UPDATE orders SET total = 0",
    "delete": "DELETE FROM orders",
    "create_table": "CREATE TABLE loot (a int)",
    "create_table_as": "CREATE TABLE loot AS SELECT * FROM orders",
    "create_view": "CREATE VIEW v AS SELECT 1",
    "create_index": "CREATE INDEX orders_total ON orders (total)",
    "drop_table": "DROP TABLE orders",
    "drop_view": "DROP VIEW paid_orders",
    "alter_table": "ALTER TABLE orders ADD COLUMN note text",
    "alter_rename": "ALTER TABLE orders RENAME TO orders_old",
    "select_into": "SELECT * INTO loot FROM orders",
    "begin": "BEGIN",
    "commit": "COMMIT",
    "rollback": "ROLLBACK",
    "vacuum": "VACUUM",
    "analyze": "ANALYZE orders",
    "reindex": "REINDEX orders",
    "second_statement": "SELECT 1; DELETE FROM orders",
    "write_after_comment": "SELECT 1 -- harmless\n; DROP TABLE orders",
    "positional_parameter": "SELECT * FROM orders WHERE id = ?",
}

POSTGRES_ONLY = {
    "cte_delete": "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
    "cte_update": "WITH x AS (UPDATE orders SET total = 0 RETURNING id) SELECT count(*) FROM x",
    "cte_insert": "WITH x AS (INSERT INTO orders (id) VALUES (1) RETURNING id) SELECT 1",
    "nested_cte_delete": (
        "SELECT * FROM (WITH gone AS (DELETE FROM orders RETURNING id) SELECT id FROM gone) s"
    ),
    "for_update": "SELECT * FROM orders FOR UPDATE",
    "for_share": "SELECT * FROM orders FOR SHARE",
    "for_no_key_update": "SELECT * FROM orders FOR NO KEY UPDATE",
    "for_key_share": "SELECT * FROM orders FOR KEY SHARE",
    "for_update_skip_locked": "SELECT id FROM orders FOR UPDATE SKIP LOCKED",
    "subquery_for_update": "SELECT * FROM (SELECT * FROM orders FOR UPDATE) AS o",
    "set": "SET statement_timeout = 0",
    "set_local": "SET LOCAL statement_timeout = 0",
    "set_role": "SET ROLE postgres",
    "set_session_characteristics": "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "reset": "RESET ALL",
    "copy_to_program": "COPY orders TO PROGRAM 'rm -rf /'",
    "copy_from_file": "COPY orders FROM '/tmp/orders.csv'",
    "copy_query_to_stdout": "COPY (SELECT * FROM orders) TO STDOUT",
    "call": "CALL refresh_everything()",
    "do_block": "DO $$ BEGIN DELETE FROM orders; END $$",
    "execute": "EXECUTE wipe",
    "prepare": "PREPARE wipe AS DELETE FROM orders",
    "deallocate": "DEALLOCATE wipe",
    "lock": "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
    "grant": "GRANT ALL ON orders TO PUBLIC",
    "revoke": "REVOKE SELECT ON orders FROM PUBLIC",
    "truncate": "TRUNCATE orders",
    "merge": "MERGE INTO orders o USING customers c ON o.id = c.id WHEN MATCHED THEN DELETE",
    "start_transaction": "START TRANSACTION READ WRITE",
    "savepoint": "SAVEPOINT s1",
    "release_savepoint": "RELEASE SAVEPOINT s1",
    "end": "END",
    "abort": "ABORT",
    "comment_on": "COMMENT ON TABLE orders IS 'pwned'",
    "refresh_materialized_view": "REFRESH MATERIALIZED VIEW sales",
    "cluster": "CLUSTER orders",
    "checkpoint": "CHECKPOINT",
    "listen": "LISTEN channel",
    "notify": "NOTIFY channel, 'hi'",
    "discard": "DISCARD ALL",
    "load": "LOAD 'auto_explain'",
    "alter_system": "ALTER SYSTEM SET fsync = off",
    "security_label": "SECURITY LABEL ON TABLE orders IS 'x'",
    "create_function": (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM orders RETURNING 1 $$"
    ),
    "create_extension": "CREATE EXTENSION dblink",
    "explain_analyze": "EXPLAIN ANALYZE DELETE FROM orders",
    "show": "SHOW search_path",
    "dollar_parameter": "SELECT * FROM orders WHERE id = $1",
}

POSTGRES_FUNCTIONS = {
    "pg_sleep": "SELECT pg_sleep(10)",
    "pg_sleep_for": "SELECT pg_sleep_for('10 seconds')",
    "pg_sleep_until": "SELECT pg_sleep_until(now() + interval '1 hour')",
    "pg_sleep_qualified": "SELECT pg_catalog.pg_sleep(10)",
    "pg_sleep_quoted": 'SELECT "pg_sleep"(10)',
    "pg_sleep_upper_case": "SELECT PG_SLEEP(10)",
    "pg_sleep_in_from": "SELECT * FROM pg_sleep(10)",
    "pg_sleep_in_where": "SELECT id FROM orders WHERE pg_sleep(1) IS NOT NULL",
    "pg_sleep_in_cte": "WITH s AS (SELECT pg_sleep(1)) SELECT * FROM s",
    "pg_sleep_in_subquery": "SELECT (SELECT pg_sleep(1)) AS x",
    "pg_read_file": "SELECT pg_read_file('/etc/passwd')",
    "pg_read_binary_file": "SELECT pg_read_binary_file('/etc/passwd')",
    "pg_ls_dir": "SELECT pg_ls_dir('.')",
    "pg_stat_file": "SELECT pg_stat_file('postgresql.conf')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "lo_export": "SELECT lo_export(16400, '/tmp/x')",
    "lo_unlink": "SELECT lo_unlink(16400)",
    "dblink": "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)",
    "dblink_exec": "SELECT dblink_exec('dbname=shop', 'DELETE FROM orders')",
    "dblink_connect": "SELECT dblink_connect('c', 'dbname=shop')",
    "set_config": "SELECT set_config('default_transaction_read_only', 'off', false)",
    "pg_terminate_backend": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "pg_cancel_backend": "SELECT pg_cancel_backend(1234)",
    "nextval": "SELECT nextval('orders_id_seq')",
    "setval": "SELECT setval('orders_id_seq', 1)",
    "pg_advisory_lock": "SELECT pg_advisory_lock(1)",
    "pg_advisory_xact_lock": "SELECT pg_advisory_xact_lock(1)",
    "pg_try_advisory_lock": "SELECT pg_try_advisory_lock(1)",
    "pg_stat_reset": "SELECT pg_stat_reset()",
    "pg_stat_reset_shared": "SELECT pg_stat_reset_shared('bgwriter')",
    "pg_logical_emit_message": "SELECT pg_logical_emit_message(true, 'x', 'y')",
    "query_to_xml": "SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')",
    "query_to_xmlschema": "SELECT query_to_xmlschema('SELECT 1', true, false, '')",
    "query_to_xml_and_xmlschema": (
        "SELECT query_to_xml_and_xmlschema('SELECT 1', true, false, '')"
    ),
    "table_to_xml": "SELECT table_to_xml('orders', true, false, '')",
    "cursor_to_xml": "SELECT cursor_to_xml('c', 1, true, false, '')",
    "schema_to_xml": "SELECT schema_to_xml('public', true, false, '')",
    "database_to_xml": "SELECT database_to_xml(true, false, '')",
    "ts_stat": "SELECT * FROM ts_stat('DELETE FROM orders RETURNING 1')",
    "pg_reload_conf": "SELECT pg_reload_conf()",
    "unicode_escaped_name": 'SELECT U&"\\0070g_sleep"(10)',
    "unicode_escaped_name_lower_case": 'SELECT u&"\\0070g_terminate_backend"(1)',
}

SQLITE_ONLY = {
    "pragma_write": "PRAGMA writable_schema = 1",
    "pragma_user_version": "PRAGMA user_version = 7",
    "pragma_read": "PRAGMA table_info(orders)",
    "pragma_query_only_off": "PRAGMA query_only = OFF",
    "attach": "ATTACH DATABASE '/tmp/loot.db' AS loot",
    "detach": "DETACH DATABASE main",
    "vacuum_into": "VACUUM INTO '/tmp/copy.db'",
    "replace": "REPLACE INTO orders (id) VALUES (1)",
    "insert_or_replace": "INSERT OR REPLACE INTO orders (id) VALUES (1)",
    "update_or_ignore": "UPDATE OR IGNORE orders SET total = 0",
    "create_temp_table": "CREATE TEMP TABLE t (a)",
    "create_trigger": ("CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM customers; END"),
    "end_transaction": "END TRANSACTION",
    "savepoint": "SAVEPOINT s1",
    "load_extension": "SELECT load_extension('/tmp/evil.so')",
    "readfile": "SELECT readfile('/etc/passwd')",
    "writefile": "SELECT writefile('/tmp/x', 'data')",
    "fts3_tokenizer": "SELECT fts3_tokenizer('simple')",
    "load_extension_nested": "SELECT * FROM orders WHERE load_extension('x') IS NULL",
    "dollar_parameter": "SELECT * FROM orders WHERE id = $id",
    "at_parameter": "SELECT * FROM orders WHERE id = @id",
}


def _cases(dialect: str, *groups: dict[str, str]) -> list:
    return [
        pytest.param(dialect, sql, id=f"{dialect}-{name}")
        for group in groups
        for name, sql in group.items()
    ]


@pytest.mark.parametrize(
    ("dialect", "sql"),
    _cases("postgres", WRITES, POSTGRES_ONLY, POSTGRES_FUNCTIONS)
    + _cases("sqlite", WRITES, SQLITE_ONLY),
)
def test_rejects_statements_that_write_or_change_state(dialect: str, sql: str) -> None:
    with pytest.raises(SQLRejected) as caught:
        check_sql(sql, dialect=dialect)
    assert caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    ("dialect", "sql"),
    _cases("postgres", ANALYTICS_BOTH, ANALYTICS_POSTGRES)
    + _cases("sqlite", ANALYTICS_BOTH, ANALYTICS_SQLITE),
)
def test_accepts_analytics_sql(dialect: str, sql: str) -> None:
    check_sql(sql, dialect=dialect)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DELETE FROM orders", "this statement is DELETE"),
        ("VACUUM", "this statement is VACUUM"),
        ("SELECT 1; SELECT 2", "Only one statement"),
        ("SELECT * FROM orders FOR UPDATE", "FOR UPDATE"),
        ("SELECT * INTO loot FROM orders", "SELECT ... INTO"),
        ("WITH x AS (DELETE FROM orders RETURNING 1) SELECT 1", "DELETE"),
        ("SELECT pg_sleep(5)", "pg_sleep()"),
        ("SELECT nextval('s')", "it changes a sequence"),
    ],
)
def test_rejection_says_why_in_plain_words(sql: str, expected: str) -> None:
    with pytest.raises(SQLRejected, match=expected.replace("(", r"\(").replace(")", r"\)")):
        check_sql(sql, dialect="postgres")


def test_unparseable_sql_is_rejected_with_the_parser_message() -> None:
    with pytest.raises(SQLRejected) as caught:
        check_sql("SELECT FROM WHERE (", dialect="sqlite")
    message = caught.value.message
    assert message.startswith("The SQL could not be parsed:")
    assert "line 1" in message
    assert "\x1b" not in message  # no terminal colour codes in what users read


def test_unterminated_string_is_rejected() -> None:
    with pytest.raises(SQLRejected, match="could not be parsed"):
        check_sql("SELECT 'oops", dialect="postgres")


@pytest.mark.parametrize("sql", ["", "   \n\t", ";", "-- just a comment"])
def test_empty_sql_is_rejected(sql: str) -> None:
    with pytest.raises(SQLRejected):
        check_sql(sql, dialect="sqlite")


def test_sql_longer_than_the_limit_is_rejected(settings) -> None:
    settings.SQL_MAX_LENGTH = 40
    check_sql("SELECT 1", dialect="sqlite")
    with pytest.raises(SQLRejected, match="the limit is 40"):
        check_sql("SELECT " + " + ".join(["1"] * 20), dialect="sqlite")


def test_referenced_parameters_are_in_order_of_first_use_and_unique() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM orders WHERE ordered_at >= :since) "
        "SELECT * FROM recent WHERE status = :status AND total > :minimum OR status = :status"
    )
    assert referenced_parameters(sql, dialect="sqlite") == ["since", "status", "minimum"]
    assert referenced_parameters(sql, dialect="postgres") == ["since", "status", "minimum"]


def test_colons_in_strings_and_casts_are_not_parameters() -> None:
    sql = "SELECT ':fake' AS a, total::int, 'x::y' FROM orders WHERE id = :real"
    assert referenced_parameters(sql, dialect="postgres") == ["real"]
    assert referenced_parameters("SELECT ':fake', :real", dialect="sqlite") == ["real"]


def test_referenced_parameters_of_rejected_sql_raise() -> None:
    with pytest.raises(SQLRejected):
        referenced_parameters("DELETE FROM orders WHERE id = :id", dialect="sqlite")


def test_sqlite_runs_the_original_text() -> None:
    sql = "SELECT ':a' AS literal /* note */ FROM orders WHERE id = :a"
    assert parse_checked(sql, dialect="sqlite").statement == sql


def test_postgres_rendering_binds_positionally_and_keeps_literals() -> None:
    checked = parse_checked(
        "SELECT :b AS b, ':a' AS literal, '50%' AS pct, total::int /* note */ "
        "FROM orders WHERE status = :a AND id > :b",
        dialect="postgres",
    )
    rendered, order = checked.statement, checked.parameters
    assert order == ("b", "a")
    assert "$1 AS b" in rendered and "status = $2" in rendered and "id > $1" in rendered
    assert "':a'" in rendered and "'50%'" in rendered
    assert ":b" not in rendered.replace("':a'", "")
    assert "note" not in rendered  # comments are not sent
    assert checked.capped_statement == f"SELECT * FROM ({rendered}) AS artifact_result LIMIT $3"


def test_postgres_rendering_cannot_be_tricked_by_comment_text() -> None:
    checked = parse_checked("SELECT 1 -- */ ; DELETE FROM orders; /*", dialect="postgres")
    rendered = checked.statement
    assert "DELETE" not in rendered
    check_sql(rendered, dialect="postgres")


# --- functions by allow-list ---------------------------------------------------------------

UNKNOWN_FUNCTIONS = {
    # Functions the old deny-list had never heard of: refused because they are not listed.
    "extension_reset": ("postgres", "SELECT pg_stat_statements_reset()", "statements_reset"),
    "user_defined": ("postgres", "SELECT wipe_everything(1)", "wipe_everything"),
    "in_from": ("postgres", "SELECT * FROM wipe_everything()", "wipe_everything"),
    "other_schema": ("postgres", "SELECT public.count(id) FROM orders", "public.count"),
    "other_schema_in_from": (
        "postgres",
        "SELECT * FROM evil.generate_series(1, 2)",
        "evil.generate_series",
    ),
    "deep_qualification": ("postgres", "SELECT a.b.upper('x')", "a.b.upper"),
    "quoted_upper_case": ("postgres", 'SELECT "PG_SLEEP"(1)', "PG_SLEEP"),
    "quoted_schema_upper_case": ("postgres", "SELECT \"PG_CATALOG\".upper('x')", "PG_CATALOG"),
    "mixed_case": ("postgres", "SELECT Pg_Sleep(1)", "pg_sleep"),
    "qualified_quoted": ("postgres", 'SELECT "pg_catalog"."pg_sleep"(1)', "pg_catalog.pg_sleep"),
    "setseed": ("postgres", "SELECT setseed(0.5)", "setseed"),
    "txid_current": ("postgres", "SELECT txid_current()", "txid_current"),
    "sqlite_unknown": ("sqlite", "SELECT mystery(total) FROM orders", "mystery"),
    "sqlite_upper_case": ("sqlite", "SELECT LOAD_EXTENSION('x')", "load_extension"),
    "sqlite_quoted": ("sqlite", "SELECT \"load_extension\"('x')", "load_extension"),
    "sqlite_qualified": ("sqlite", "SELECT main.abs(1)", "main.abs"),
}


@pytest.mark.parametrize(
    ("dialect", "sql", "name"),
    [pytest.param(*case, id=key) for key, case in UNKNOWN_FUNCTIONS.items()],
)
def test_a_function_off_the_allow_list_is_refused_by_name(dialect, sql, name) -> None:
    with pytest.raises(SQLRejected) as caught:
        check_sql(sql, dialect=dialect)
    assert f"{name}" in caught.value.message
    assert "is not allowed" in caught.value.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_catalog.count(*) FROM orders",
        'SELECT "pg_catalog"."upper"(\'x\')',
        "SELECT \"upper\"('x')",
        "SELECT * FROM pg_catalog.generate_series(1, 3)",
        "SELECT COUNT(*), Sum(total), STDDEV(total) FROM orders",
    ],
)
def test_listed_functions_pass_in_any_case_and_qualified_by_pg_catalog(sql: str) -> None:
    check_sql(sql, dialect="postgres")


@pytest.mark.parametrize(
    ("dialect", "name"),
    [(dialect, name) for dialect, reasons in REFUSAL_REASONS.items() for name in reasons],
)
def test_every_known_dangerous_function_is_refused_with_its_reason(dialect: str, name: str) -> None:
    # Called with a few argument lists, so a typed node sqlglot builds for any of them
    # cannot slip through either.
    for arguments in ("", "1", "1, 2", "'x', 'y', 3"):
        with pytest.raises(SQLRejected) as caught:
            check_sql(f"SELECT {name}({arguments})", dialect=dialect)
        assert REFUSAL_REASONS[dialect][name] in caught.value.message


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_typed_nodes_are_allowed_only_when_a_listed_name_builds_them(dialect: str) -> None:
    allowed = function_policy(dialect).typed_nodes
    # Typed nodes sqlglot has for functions that are not read-only.
    for name in ("NextValueFor", "Sleep", "ReadCSV", "ReadParquet", "Anonymous"):
        if hasattr(exp, name):
            assert getattr(exp, name) not in allowed, name
    assert exp.Sum in allowed and exp.Count in allowed


def test_a_source_can_extend_the_allow_list() -> None:
    sql = "SELECT my_score(total), app.my_rank(id) FROM orders"
    with pytest.raises(SQLRejected, match=r"my_score\(\)"):
        check_sql(sql, dialect="postgres")
    with pytest.raises(SQLRejected, match=r"app\.my_rank\(\)"):
        check_sql(sql, dialect="postgres", allow_functions=frozenset({"my_score"}))
    check_sql(sql, dialect="postgres", allow_functions=frozenset({"my_score", "app.my_rank"}))
    # An unqualified entry does not allow the name in some other schema.
    with pytest.raises(SQLRejected, match=r"evil\.my_score\(\)"):
        check_sql("SELECT evil.my_score(1)", dialect="postgres", allow_functions={"my_score"})


def test_the_refusal_tells_the_operator_how_to_allow_a_safe_function() -> None:
    with pytest.raises(SQLRejected) as caught:
        check_sql("SELECT my_score(1)", dialect="postgres")
    assert "?allow_functions=my_score" in caught.value.message


# --- nesting ---------------------------------------------------------------------------------


def _nested(depth: int, inner: str = "1") -> str:
    return "SELECT " + "(" * depth + inner + ")" * depth


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_nesting_up_to_the_limit_passes(dialect: str) -> None:
    check_sql(_nested(MAX_NESTING_DEPTH), dialect=dialect)
    check_sql(
        "SELECT " + "abs(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH, dialect=dialect
    )


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
@pytest.mark.parametrize(
    "sql",
    [
        _nested(MAX_NESTING_DEPTH + 1),
        _nested(5000),
        "SELECT " + "(" * 200,  # unbalanced: refused for depth before the parser sees it
        "SELECT * FROM " + "(SELECT * FROM " * 40 + "orders" + ") s" * 40,
        "SELECT " + "coalesce(" * 60 + "1" + ")" * 60,
    ],
    ids=["one_too_many", "thousands", "unbalanced", "subqueries", "functions"],
)
def test_deeper_nesting_is_refused_with_a_clear_message(dialect: str, sql: str) -> None:
    with pytest.raises(SQLRejected) as caught:
        check_sql(sql, dialect=dialect)
    assert f"the limit is {MAX_NESTING_DEPTH} levels" in caught.value.message


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "NOT " * 2000 + "1",
        "SELECT " + "CASE WHEN 1 = 1 THEN " * 400 + "1" + " END" * 400,
        "SELECT " + "- " * 3000 + "1",
    ],
    ids=["not_chain", "case_in_case", "unary_minus"],
)
def test_deep_nesting_without_brackets_is_a_refusal_not_a_crash(dialect: str, sql: str) -> None:
    with pytest.raises(SQLRejected, match="nested too deeply"):
        check_sql(sql, dialect=dialect)


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    parens = "(" * 100
    sql = f"SELECT '{parens}' AS a /* {parens} */ -- {parens}\n"
    check_sql(sql, dialect="sqlite")
    check_sql(sql + ", $${parens}$$ AS b".replace("{parens}", parens), dialect="postgres")
