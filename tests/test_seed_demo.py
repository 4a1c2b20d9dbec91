"""The demo marketplace dataset and `manage.py seed_demo` / `demo_credentials`."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.accounts.models import Profile
from apps.datasources import demo
from apps.datasources.executor import execute
from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import resolve_values
from apps.llm_chat.demo import (
    ARTIFACTS,
    CHATS,
    DEMO_AGENT_NAME,
    DEMO_RU_USERNAME,
    DEMO_USERNAME,
    RU_CHAT_TITLE,
    SYSTEM_PROMPT,
    TEMPLATE_EXAMPLES,
    demo_password,
    last_month,
)
from apps.llm_chat.models import Chat, Message

AS_OF = dt.date(2025, 11, 26)
SCALE = 0.01


@pytest.fixture(scope="module")
def small_dataset() -> demo.Dataset:
    return demo.build_dataset(SCALE, today=AS_OF)


@pytest.fixture(scope="module")
def small_db(small_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "marketplace.sqlite3"
    demo.write_sqlite(small_dataset, path)
    return path


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with connect_ro(path) as conn:
        for table in [*demo.TABLE_NAMES, demo.INFO_TABLE]:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def scalar(conn, sql: str, params=()):
    return conn.execute(sql, params).fetchone()[0]


# --- the dataset -----------------------------------------------------------------------------


def test_builds_every_table_with_counts_that_follow_the_scale(small_db):
    bigger = demo.build_dataset(SCALE * 2, today=AS_OF)
    with connect_ro(small_db) as conn:
        counts = {
            table: scalar(conn, f"SELECT COUNT(*) FROM {table}") for table in demo.TABLE_NAMES
        }
    assert counts["orders"] == 1_000
    assert counts["customers"] == 400
    assert counts["products"] == 50
    assert counts["sellers"] == 5
    assert counts["categories"] == len(bigger.rows["categories"]) > 30
    assert len(bigger.rows["orders"]) == 2_000
    assert len(bigger.rows["customers"]) == 800
    # Items and reviews follow the orders.
    assert counts["order_items"] > counts["orders"]
    assert len(bigger.rows["order_items"]) > 1.7 * counts["order_items"]
    assert 0 < counts["reviews"] < counts["order_items"]


def test_default_scale_has_about_100000_orders():
    assert demo.scaled_counts(1.0)["orders"] == 100_000


def test_two_builds_for_the_same_day_are_identical(small_dataset, small_db, tmp_path):
    again = tmp_path / "again.sqlite3"
    demo.write_sqlite(demo.build_dataset(SCALE, today=AS_OF), again)
    assert checksum(again) == checksum(small_db)
    other_day = tmp_path / "other_day.sqlite3"
    demo.write_sqlite(demo.build_dataset(SCALE, today=AS_OF + dt.timedelta(days=1)), other_day)
    assert checksum(other_day) != checksum(small_db)


# The rows of build_dataset(SCALE, today=AS_OF). A change to the generator (or to Faker's
# name lists) changes it: bump demo.SCHEMA_VERSION so existing demo databases are rebuilt,
# then update this digest.
DATASET_DIGEST = "53f03d33e6342986052a553681e5775bd5266d98bc59a277904a09e48208cb94"


def test_the_dataset_for_a_seed_and_day_stays_the_same(small_dataset):
    digest = hashlib.sha256()
    for table in demo.TABLE_NAMES:
        for row in small_dataset.rows[table]:
            digest.update(repr(row).encode())
    assert digest.hexdigest() == DATASET_DIGEST


def test_a_streamed_build_writes_the_same_database(small_dataset, small_db, tmp_path):
    # seed_demo generates the rows while it writes them, so memory does not grow with
    # the scale (bench/seed_memory.py): the file must be the very same.
    streamed = demo.stream_dataset(SCALE, today=AS_OF)
    path = tmp_path / "streamed.sqlite3"
    demo.write_sqlite(streamed, path)
    assert path.read_bytes() == small_db.read_bytes()
    assert streamed.counts == small_dataset.counts


def test_a_streamed_table_must_be_read_before_the_next(tmp_path):
    tables = demo.stream_dataset(SCALE, today=AS_OF).tables()
    next(tables)
    with pytest.raises(RuntimeError, match="categories were not all read"):
        next(tables)


def test_order_totals_equal_the_sum_of_their_items(small_db):
    with connect_ro(small_db) as conn:
        mismatches = scalar(
            conn,
            """
            SELECT COUNT(*) FROM orders AS o
            WHERE ABS(o.total - (SELECT SUM(quantity * unit_price) FROM order_items
                                 WHERE order_id = o.id)) > 0.005
               OR NOT EXISTS (SELECT 1 FROM order_items WHERE order_id = o.id)
            """,
        )
    assert mismatches == 0


def test_foreign_keys_point_at_existing_rows(small_db):
    with connect_ro(small_db) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = scalar(
            conn,
            """
            SELECT
                (SELECT COUNT(*) FROM orders
                 WHERE customer_id NOT IN (SELECT id FROM customers))
              + (SELECT COUNT(*) FROM order_items
                 WHERE product_id NOT IN (SELECT id FROM products))
              + (SELECT COUNT(*) FROM products
                 WHERE category_id NOT IN (SELECT id FROM categories WHERE parent_id IS NOT NULL))
              + (SELECT COUNT(*) FROM reviews
                 WHERE customer_id NOT IN (SELECT id FROM customers))
            """,
        )
    assert orphans == 0


def test_events_happen_in_a_possible_order(small_db):
    with connect_ro(small_db) as conn:
        impossible = scalar(
            conn,
            """
            SELECT (SELECT COUNT(*) FROM orders AS o JOIN customers AS c ON c.id = o.customer_id
                    WHERE o.ordered_at < c.signed_up_at)
                 + (SELECT COUNT(*) FROM order_items AS oi JOIN orders AS o ON o.id = oi.order_id
                    JOIN products AS p ON p.id = oi.product_id WHERE o.ordered_at < p.created_at)
                 + (SELECT COUNT(*) FROM products AS p JOIN sellers AS s ON s.id = p.seller_id
                    WHERE date(p.created_at) < s.joined_at)
            """,
        )
        # Every review comes from a customer who received that product before writing it.
        unbought = scalar(
            conn,
            """
            SELECT COUNT(*) FROM reviews AS r WHERE NOT EXISTS (
                SELECT 1 FROM orders AS o JOIN order_items AS oi ON oi.order_id = o.id
                WHERE o.customer_id = r.customer_id AND oi.product_id = r.product_id
                  AND o.status IN ('delivered', 'returned') AND o.ordered_at < r.created_at)
            """,
        )
    assert impossible == 0
    assert unbought == 0


def test_statuses_are_the_six_allowed_and_follow_the_order_age(small_db):
    with connect_ro(small_db) as conn:
        statuses = {status for (status,) in conn.execute("SELECT DISTINCT status FROM orders")}
        fresh_old = scalar(
            conn,
            "SELECT COUNT(*) FROM orders WHERE status IN ('new', 'paid') AND ordered_at < ?",
            [(AS_OF - dt.timedelta(days=14)).isoformat()],
        )
    writable = sqlite3.connect(small_db)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        writable.execute("INSERT INTO orders VALUES (999999, 1, 'lost', '2025-01-01', 0)")
    writable.rollback()
    writable.close()
    assert statuses == set(demo.ORDER_STATUSES)
    assert fresh_old == 0


def test_dates_cover_two_years_up_to_the_build_day(small_db):
    start, end = last_month(AS_OF)
    with connect_ro(small_db) as conn:
        first, last = conn.execute("SELECT MIN(ordered_at), MAX(ordered_at) FROM orders").fetchone()
        in_last_month = scalar(
            conn,
            "SELECT COUNT(*) FROM orders WHERE ordered_at >= ? AND ordered_at < ?",
            [start.isoformat(), end.isoformat()],
        )
        info = dict(conn.execute(f"SELECT key, value FROM {demo.INFO_TABLE}").fetchall())
    assert first >= (AS_OF - dt.timedelta(days=demo.HISTORY_DAYS)).isoformat()
    assert (AS_OF - dt.timedelta(days=3)).isoformat() <= last < AS_OF.isoformat()
    assert in_last_month > 10
    assert info == {
        "schema_version": str(demo.SCHEMA_VERSION),
        "seed": str(demo.SEED),
        "scale": repr(SCALE),
        "as_of": AS_OF.isoformat(),
    }


def test_has_indexes_for_the_usual_filters(small_db):
    with connect_ro(small_db) as conn:
        indexed = {
            (table, column)
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for index in conn.execute(f"PRAGMA index_list({table})").fetchall()
            for (_seq, _cid, column) in conn.execute(f"PRAGMA index_info({index[1]})")
        }
    for expected in [
        ("orders", "ordered_at"),
        ("orders", "customer_id"),
        ("order_items", "order_id"),
        ("order_items", "product_id"),
        ("products", "category_id"),
        ("reviews", "product_id"),
    ]:
        assert expected in indexed


def test_a_failed_build_leaves_the_previous_file_and_no_temporary_file(small_db, tmp_path):
    path = tmp_path / "marketplace.sqlite3"
    good = demo.build_dataset(SCALE, today=AS_OF)
    demo.write_sqlite(good, path)
    before = checksum(path)
    broken = demo.build_dataset(SCALE, today=AS_OF)
    broken.rows["orders"].append(broken.rows["orders"][0])  # duplicate primary key
    with pytest.raises(sqlite3.IntegrityError):
        demo.write_sqlite(broken, path)
    assert checksum(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marketplace.sqlite3"]


@pytest.mark.parametrize("scale", [0, -1, 11, float("nan")])
def test_rejects_a_scale_out_of_range(scale):
    with pytest.raises(ValueError, match="Scale must be"):
        demo.build_dataset(scale, today=AS_OF)


# --- the demo artifacts' SQL ------------------------------------------------------------------


def bound_defaults(declarations: list[dict]) -> dict:
    # Relative defaults evaluated on the day the test dataset ends.
    return resolve_values(declarations, {}, today=AS_OF)


def test_every_demo_sql_runs_on_the_sqlite_dataset_with_its_defaults(small_db):
    with connect_ro(small_db) as conn:
        for key, spec in ARTIFACTS.items():
            cursor = conn.execute(spec.sql, bound_defaults(spec.params))
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            assert rows, f"{key} returned no rows with its defaults"
            assert set(chart_fields(spec.visualization)) <= set(columns), key


def chart_fields(spec: dict) -> list[str]:
    fields = []
    for channel in spec.get("encoding", {}).values():
        for item in channel if isinstance(channel, list) else [channel]:
            fields.append(item["field"])
    return fields


def test_demo_sql_uses_exactly_its_declared_parameters():
    for key, spec in ARTIFACTS.items():
        used = set(re.findall(r"(?<!:):([A-Za-z_]\w*)", spec.sql))
        declared = {d["name"] for d in spec.params}
        assert used == declared, key


def test_the_last_month_artifact_defaults_to_last_month_on_any_day(small_db):
    declarations = ARTIFACTS["revenue_by_category"].params
    defaults = {d["name"]: d["default"] for d in declarations}
    assert defaults == {"start_date": "start_of_month -1 month", "end_date": "start_of_month"}
    start, end = last_month(AS_OF)
    assert bound_defaults(declarations) == {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }
    assert (start, end) == (dt.date(2025, 10, 1), dt.date(2025, 11, 1))
    # A year boundary: in January, last month is December of the year before.
    assert resolve_values(declarations, {}, today=dt.date(2026, 1, 31)) == {
        "start_date": "2025-12-01",
        "end_date": "2026-01-01",
    }


def test_charts_are_vega_lite_specs_over_the_results():
    charted = [spec for spec in ARTIFACTS.values() if spec.visualization]
    assert len(charted) >= 3
    for spec in charted:
        assert spec.visualization["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
        assert spec.visualization["data"] == {"name": "results"}


# --- seed_demo -------------------------------------------------------------------------------


@pytest.fixture
def demo_target(settings, tmp_path) -> Path:
    """Point the marketplace data source at a temporary file for the command to build."""
    path = tmp_path / "marketplace.sqlite3"
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    return path


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", str(SCALE), *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_creates_the_dataset_user_agent_chats_and_artifacts(demo_target):
    output = seed()
    assert "Built the demo dataset" in output
    assert demo.sqlite_build_info(demo_target).is_current(scale=SCALE, today=dt.date.today())

    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert user.check_password(settings.DEMO_PASSWORD)
    assert user.is_staff and user.is_superuser

    agent = Agent.objects.get(name=DEMO_AGENT_NAME)
    assert agent.provider == Agent.Provider.OPENAI_COMPATIBLE
    assert agent.base_url == settings.LLM_BASE_URL
    assert agent.model_name == settings.LLM_MODEL
    assert agent.data_source == "marketplace"
    assert agent.system_prompt == SYSTEM_PROMPT
    assert "order_items" in agent.system_prompt

    chats = Chat.objects.filter(owner=user)
    assert sorted(chats.values_list("title", flat=True)) == sorted(CHATS)
    # The chats' artifacts, and each shipped template filled in for the marketplace.
    assert Artifact.objects.filter(owner=user, template=None).count() == len(ARTIFACTS)
    made = Artifact.objects.filter(owner=user).exclude(template=None)
    assert sorted(made.values_list("title", flat=True)) == sorted(
        title for title, _, _ in TEMPLATE_EXAMPLES.values()
    )
    assert {str(a.template.uid) for a in made} == set(TEMPLATE_EXAMPLES)
    actions = set(
        Message.objects.filter(chat__owner=user)
        .exclude(artifact=None)
        .values_list("artifact_action", flat=True)
    )
    assert actions == {"created", "updated", "referenced"}
    for message in Message.objects.filter(chat__owner=user):
        message.full_clean()
        assert message.status == Message.Status.COMPLETE
    # Each artifact belongs to the chat whose message created it.
    for message in Message.objects.filter(artifact_action="created"):
        assert message.artifact.chat_id == message.chat_id
        assert message.artifact.agent_id == agent.pk
    assert Artifact.objects.exclude(query_params=[]).count() >= 5
    assert Artifact.objects.exclude(visualization_config={}).count() >= 3


@pytest.mark.django_db
def test_demo_replies_quote_the_real_results_of_their_artifacts(demo_target):
    seed()
    quoting = Message.objects.filter(
        chat__owner__username="demo", content__contains="| --- |"
    ).select_related("artifact")
    # One reply per artifact shows its final results; earlier versions' replies do not.
    assert sorted(m.artifact.title for m in quoting) == sorted(a.title for a in ARTIFACTS.values())
    with connect_ro(demo_target) as conn:
        for message in quoting:
            artifact = message.artifact
            # The dataset was built as of today, and the defaults evaluated today.
            cursor = conn.execute(artifact.sql_query, resolve_values(artifact.query_params, {}))
            header = " | ".join(d[0] for d in cursor.description)
            first_value = cursor.fetchone()[0]
            assert f"| {header} |" in message.content
            expected = f"{first_value:,}" if isinstance(first_value, int) else first_value
            assert f"| {expected} |" in message.content
    revenue = ARTIFACTS["revenue_by_category"].title
    created = Message.objects.get(artifact__title=revenue, artifact_action="created")
    assert "| --- |" not in created.content


@pytest.mark.django_db
def test_every_demo_link_is_recorded_for_the_chat_cards(demo_target):
    seed()
    linked = Message.objects.filter(chat__owner__username=DEMO_USERNAME).exclude(artifact=None)
    assert linked.count() == sum(1 for turns in CHATS.values() for t in turns if t.artifact)
    for message in linked:
        link = message.artifact_links.get()
        assert (link.artifact_id, link.action) == (message.artifact_id, message.artifact_action)


@pytest.mark.django_db
def test_seed_demo_twice_creates_no_duplicates_and_skips_the_rebuild(demo_target):
    seed()
    counts = (Chat.objects.count(), Message.objects.count(), Artifact.objects.count())
    mtime = demo_target.stat().st_mtime_ns
    output = seed()
    assert "up to date" in output
    assert "already in place" in output
    assert demo_target.stat().st_mtime_ns == mtime
    assert (Chat.objects.count(), Message.objects.count(), Artifact.objects.count()) == counts
    assert get_user_model().objects.filter(username=DEMO_USERNAME).count() == 1
    assert Agent.objects.filter(name=DEMO_AGENT_NAME).count() == 1


@pytest.mark.django_db
def test_seed_demo_keeps_what_people_changed(demo_target):
    seed()
    artifact = Artifact.objects.get(title=ARTIFACTS["orders_by_status"].title)
    artifact.comment = "Checked by finance"
    artifact.save(update_fields=["comment"])
    Chat.objects.get(title="Best rated sellers").delete()
    seed()
    artifact.refresh_from_db()
    assert artifact.comment == "Checked by finance"
    # The deleted chat comes back; artifacts it shares with others are not duplicated.
    assert Chat.objects.filter(title="Best rated sellers").count() == 1
    assert Artifact.objects.filter(
        owner__username=DEMO_USERNAME, template=None, template_slots=[]
    ).count() == len(ARTIFACTS)


@pytest.mark.django_db
def test_seed_demo_follows_the_llm_settings_and_demo_password(demo_target, settings):
    seed()
    settings.LLM_MODEL = "llama3.1:8b"
    settings.DEMO_PASSWORD = "another-long-password"
    seed()
    assert Agent.objects.get(name=DEMO_AGENT_NAME).model_name == "llama3.1:8b"
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert user.check_password("another-long-password")


@pytest.mark.django_db
def test_seed_demo_rebuilds_for_another_scale_or_with_force(demo_target):
    seed()
    first = demo.sqlite_build_info(demo_target)
    mtime = demo_target.stat().st_mtime_ns
    seed("--force")
    assert demo_target.stat().st_mtime_ns != mtime
    call_command("seed_demo", "--scale", "0.02", stdout=StringIO())
    assert demo.sqlite_build_info(demo_target).scale == 0.02
    with connect_ro(demo_target) as conn:
        assert scalar(conn, "SELECT COUNT(*) FROM orders") == 2_000
    assert first.scale == SCALE


@pytest.mark.django_db
def test_every_seeded_artifact_runs_on_the_built_database(demo_target):
    seed()
    # The chats' artifacts (the Russian chat's one too) and those made from the shipped
    # templates (not the templates).
    artifacts = list(Artifact.objects.filter(template_slots=[]))
    assert len(artifacts) == len(ARTIFACTS) + len(TEMPLATE_EXAMPLES) + 1
    with connect_ro(demo_target) as conn:
        for artifact in artifacts:
            cursor = conn.execute(artifact.sql_query, bound_defaults(artifact.query_params))
            columns = [d[0] for d in cursor.description]
            assert cursor.fetchall(), artifact.title
            assert set(chart_fields(artifact.visualization_config)) <= set(columns)


@pytest.mark.django_db
def test_seed_demo_refuses_to_replace_a_database_it_did_not_create(demo_target):
    with sqlite3.connect(demo_target) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, 'real data')")
    conn.close()
    with pytest.raises(CommandError, match="did not create"):
        seed("--force")
    with sqlite3.connect(demo_target) as conn:
        assert conn.execute("SELECT note FROM orders").fetchall() == [("real data",)]
    conn.close()


@pytest.mark.django_db
def test_seed_demo_rejects_a_bad_scale_or_url(demo_target):
    with pytest.raises(CommandError, match="Scale must be"):
        call_command("seed_demo", "--scale", "0")
    with pytest.raises(CommandError, match="scheme"):
        call_command("seed_demo", "--database-url", "mysql://somewhere/db")
    assert not demo_target.exists()


@pytest.mark.django_db
def test_seed_demo_refuses_an_empty_demo_password(demo_target, settings):
    settings.DEMO_PASSWORD = ""
    with pytest.raises(CommandError, match="DEMO_PASSWORD"):
        seed()
    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()


def test_seed_demo_says_when_postgresql_cannot_be_reached():
    with pytest.raises(CommandError, match="Cannot reach"):
        call_command(
            "seed_demo",
            "--scale",
            str(SCALE),
            "--database-url",
            "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2",
        )


def test_seed_demo_never_writes_into_the_app_database(tmp_path):
    """Run as a real process so the app database is a file, as in production."""
    app_db = tmp_path / "app.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{app_db}",
        "DATA_SOURCES": f"marketplace=sqlite:///{tmp_path / 'marketplace.sqlite3'}",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=settings.BASE_DIR)
    before = hashlib.sha256(app_db.read_bytes()).hexdigest()
    result = subprocess.run(
        [*manage, "seed_demo", "--scale", "0.01", "--database-url", f"sqlite:///{app_db}"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "app's own database" in result.stderr
    assert hashlib.sha256(app_db.read_bytes()).hexdigest() == before


# --- demo_credentials --------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_credentials_prints_the_url_and_a_working_login(demo_target, client):
    seed()
    out = StringIO()
    call_command("demo_credentials", "--port", "8123", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8123/" in text
    username = re.search(r"Username: (\S+)", text).group(1)
    password = re.search(r"Password: (\S+)", text).group(1)
    assert client.login(username=username, password=password)


@pytest.mark.django_db
def test_demo_credentials_says_to_seed_first_when_there_is_no_demo_user():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_credentials")


# --- PostgreSQL --------------------------------------------------------------------------------


def to_psycopg(sql: str) -> str:
    return re.sub(r"(?<!:):([A-Za-z_]\w*)", r"%(\1)s", sql)


@pytest.mark.postgres
def test_loads_the_same_dataset_into_postgresql(postgres_database, small_dataset, small_db):
    call_command("seed_demo", "--scale", str(SCALE), "--database-url", postgres_database)
    info = demo.postgresql_build_info(postgres_database)
    assert info.scale == SCALE
    assert info.as_of == dt.date.today()
    # Reload the fixed-day dataset so the rows can be compared with the SQLite build.
    demo.write_postgresql(small_dataset, postgres_database)
    with psycopg.connect(postgres_database) as conn, connect_ro(small_db) as lite:
        for table in demo.TABLE_NAMES:
            assert scalar(conn, f"SELECT COUNT(*) FROM {table}") == scalar(
                lite, f"SELECT COUNT(*) FROM {table}"
            )
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'orders'"
            ).fetchall()
        )
        assert types["ordered_at"] == "timestamp without time zone"
        assert types["total"] == "numeric"
        assert (
            scalar(
                conn,
                "SELECT COUNT(*) FROM orders AS o WHERE o.total <> "
                "(SELECT SUM(quantity * unit_price) FROM order_items WHERE order_id = o.id)",
            )
            == 0
        )
        assert scalar(conn, "SELECT SUM(total) FROM orders") == Decimal(
            str(round(scalar(lite, "SELECT SUM(total) FROM orders"), 2))
        )
        for key, spec in ARTIFACTS.items():
            rows = conn.execute(to_psycopg(spec.sql), bound_defaults(spec.params)).fetchall()
            lite_rows = lite.execute(spec.sql, bound_defaults(spec.params)).fetchall()
            assert len(rows) == len(lite_rows), key


@pytest.mark.postgres
@pytest.mark.django_db  # the executor reads the sources' exposed tables
def test_demo_artifacts_give_the_same_results_on_both_engines_through_the_executor(
    postgres_database, small_dataset, small_db, settings
):
    demo.write_postgresql(small_dataset, postgres_database)
    # The throwaway database belongs to the test server's superuser, which the executor
    # refuses unless told otherwise.
    settings.DATA_SOURCES = (
        f"lite=sqlite:///{small_db} pg={postgres_database}?allow_privileged=true"
    )
    for key, spec in ARTIFACTS.items():
        params = bound_defaults(spec.params)
        lite = execute("lite", spec.sql, params)
        pg = execute("pg", spec.sql, params)
        assert [c.name for c in pg.columns] == [c.name for c in lite.columns], key
        assert pg.row_count == lite.row_count > 0, key
        # Money is exact numeric on PostgreSQL and a float on SQLite: compare to the cent.
        for pg_row, lite_row in zip(pg.rows, lite.rows, strict=True):
            for pg_value, lite_value in zip(pg_row, lite_row, strict=True):
                if isinstance(lite_value, float):
                    assert pg_value == pytest.approx(lite_value, abs=0.01), key
                else:
                    assert str(pg_value)[:19] == str(lite_value)[:19], key


@pytest.mark.postgres
def test_postgresql_load_is_skipped_when_current_and_refuses_foreign_tables(postgres_database):
    call_command("seed_demo", "--scale", str(SCALE), "--database-url", postgres_database)
    out = StringIO()
    call_command(
        "seed_demo", "--scale", str(SCALE), "--database-url", postgres_database, stdout=out
    )
    assert "up to date" in out.getvalue()
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("DROP TABLE dataset_info")
    with pytest.raises(CommandError, match="did not create"):
        call_command("seed_demo", "--scale", str(SCALE), "--database-url", postgres_database)


@pytest.mark.django_db
def test_the_month_before_card_runs_with_the_month_before() -> None:
    # The demo's "And the month before?" reply names other dates than the artifact's defaults:
    # its card must carry them, not repeat the card above it.
    from apps.llm_chat.demo import last_month, seed_app_demo
    from apps.llm_chat.models import Message

    as_of = dt.date(2026, 3, 15)
    seed_app_demo(as_of=as_of)
    question = Message.objects.get(content="And the month before?")
    reply = Message.objects.filter(chat=question.chat, pk__gt=question.pk).order_by("pk").first()
    link = reply.artifact_links.get()
    start, end = last_month(last_month(as_of)[0])
    assert (start, end) == (dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    assert link.params == {"start_date": "2026-01-01", "end_date": "2026-02-01"}


# --- demo_ru -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_ru_has_one_russian_chat_seeded_once(demo_target, client):
    seed()
    counts = (Chat.objects.count(), Message.objects.count(), Artifact.objects.count())
    seed()
    assert (Chat.objects.count(), Message.objects.count(), Artifact.objects.count()) == counts
    user = get_user_model().objects.get(username=DEMO_RU_USERNAME)
    assert Profile.language_of(user) == "ru"
    chat = Chat.objects.get(owner=user)
    assert (chat.title, chat.language) == (RU_CHAT_TITLE, "ru")
    question, reply = chat.messages.order_by("pk")
    assert question.content.startswith("Какие категории принесли больше всего выручки")
    assert reply.content.startswith("Я сложил")
    # The results preview in Russian, its numbers with Russian separators (2 710,08).
    assert "при параметрах по умолчанию:" in reply.content
    assert re.search(r"\| \d{1,3}(\xa0\d{3})*,\d\d \|", reply.content)
    assert reply.artifact.title == "Выручка по категориям за прошлый месяц"
    assert reply.artifact_links.get().artifact == reply.artifact
    # Signed in with the demo password, the chat opens in Russian with its artifact card.
    client.post(reverse("login"), {"username": DEMO_RU_USERNAME, "password": demo_password()})
    page = client.get(chat.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="ru">' in text
    assert "Выручка по категориям за прошлый месяц" in text
    assert "Отправить" in text


@pytest.mark.django_db
def test_demo_credentials_names_both_demo_users(demo_target):
    seed()
    out = StringIO()
    call_command("demo_credentials", stdout=out)
    assert f"Username: {DEMO_USERNAME}" in out.getvalue()
    assert f"Username: {DEMO_RU_USERNAME}" in out.getvalue()
