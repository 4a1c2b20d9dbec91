"""The schema browser pages: /data-sources/ and /data-sources/<name>/."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from django.urls import reverse

from apps.datasources import schema
from apps.datasources.schema import clear_schema_cache

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
LIST_URL = reverse("datasources:data_source_list")
SHOP_URL = reverse("datasources:data_source_detail", args=["shop"])


def table_names(content: str) -> list[str]:
    return re.findall(
        r'<span class="fw-semibold font-monospace schema-table-name">(.*?)</span>', content
    )


@pytest.fixture
def sources(shop_sqlite: Path, settings) -> Path:
    """`shop` (SQLite, the default) and `warehouse`, a PostgreSQL URL with a password."""
    settings.DATA_SOURCES = (
        f"shop=sqlite:///{shop_sqlite} "
        "warehouse=postgresql://reader:s3cret-pass@db.internal:5433/shop?timeout=5&max_rows=500"
    )
    clear_schema_cache()
    return shop_sqlite


@pytest.mark.parametrize("url", [LIST_URL, SHOP_URL])
def test_anonymous_is_sent_to_sign_in(client, sources, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["owner", "other_user", "staff"])
def test_every_signed_in_user_sees_the_sources(client, sources, persona, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(LIST_URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert f'href="{SHOP_URL}">shop</a>' in content
    assert 'href="/data-sources/warehouse/">warehouse</a>' in content
    assert "PostgreSQL" in content and "SQLite" in content
    assert ">default</span>" in content
    assert "500" in content  # the warehouse's display cap
    # Passwords never show; where a source lives is for staff only.
    assert "s3cret-pass" not in content
    assert ("db.internal" in content) is (persona == "staff")


def test_list_shows_a_message_without_sources(owner_client, settings):
    settings.DATA_SOURCES = ""
    settings.DEFAULT_DATA_SOURCE = ""
    assert "No data sources are configured" in owner_client.get(LIST_URL).content.decode()


@pytest.mark.parametrize("persona", ["owner", "other_user", "staff"])
def test_schema_page_lists_tables_with_columns_types_and_nullability(
    client, sources, persona, request
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(SHOP_URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert table_names(content) == ["categories", "customers", "orders", "paid_orders"]
    assert "4 tables, 21 columns" in content
    customers = content.split(">customers</span>", 1)[1].split("</details>", 1)[0]
    assert "6 columns" in customers
    # A nullable column gets the NULL badge, a NOT NULL one says so; types as declared.
    assert re.search(
        r'<td class="font-monospace">email</td>\s*<td[^>]*>TEXT</td>\s*'
        r'<td class="small"><span class="null-badge">NULL</span></td>',
        customers,
    )
    assert re.search(
        r'<td class="font-monospace">name</td>\s*<td[^>]*>TEXT</td>\s*'
        r'<td class="small"><span class="text-body-secondary">NOT NULL</span></td>',
        customers,
    )
    # Tables are collapsible, and closed until a filter picks them out.
    assert '<details class="schema-table card shadow-sm mb-2" id="table-customers">' in content
    assert 'role="search"' in content


def test_unknown_source_is_404(owner_client, sources):
    response = owner_client.get(reverse("datasources:data_source_detail", args=["nope"]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("q", "tables", "note"),
    [
        ("customers", ["customers"], "1 of 4 tables match “customers”"),
        ("vip", ["customers"], "1 of 4 tables match “vip”"),
        ("CUSTOMER_ID", ["orders", "paid_orders"], "2 of 4 tables match"),
        ("parent", ["categories"], "1 of 4 tables"),
        ("zzz", [], "No table or column matches “zzz”."),
    ],
)
def test_filter_by_table_or_column_name(owner_client, sources, q, tables, note):
    content = owner_client.get(SHOP_URL, {"q": q}).content.decode()
    assert table_names(content) == tables
    assert note in content
    if tables:
        assert " open>" in content  # matches are shown opened


def test_filter_marks_the_matching_columns(owner_client, sources):
    content = owner_client.get(SHOP_URL, {"q": "customer_id"}).content.decode()
    assert content.count('<tr class="schema-match">') == 2  # orders and paid_orders


def test_filter_with_htmx_returns_only_the_tables(owner_client, sources):
    response = owner_client.get(SHOP_URL, {"q": "orders"}, headers=HTMX)
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="schema-tables"')
    assert "<html" not in content
    assert table_names(content) == ["orders", "paid_orders"]
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_whole_page(owner_client, sources):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    response = owner_client.get(SHOP_URL, {"q": "orders"}, headers=headers)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response.headers["Vary"]


def test_filter_is_wired_for_htmx_and_plain_get(owner_client, sources):
    content = owner_client.get(SHOP_URL, {"q": "orders"}).content.decode()
    assert f'method="get" action="{SHOP_URL}"' in content
    assert 'hx-trigger="input changed delay:250ms, search"' in content
    assert 'hx-push-url="true"' in content
    assert 'value="orders"' in content


def test_filter_input_is_escaped(owner_client, sources):
    content = owner_client.get(SHOP_URL, {"q": "<script>x</script>"}).content.decode()
    assert "<script>x</script>" not in content
    assert "&lt;script&gt;x&lt;/script&gt;" in content


def test_an_unreachable_source_says_why(owner_client, sources, tmp_path, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{tmp_path / 'missing' / 'gone.sqlite3'}"
    clear_schema_cache()
    response = owner_client.get(SHOP_URL)
    assert response.status_code == 503
    content = response.content.decode()
    assert "The schema of shop cannot be read right now." in content
    assert "is not reachable right now. Reference: " in content
    assert "gone.sqlite3" not in content  # where the file lives is for operators


def test_navbar_links_to_the_data_sources(owner_client, sources):
    content = owner_client.get(SHOP_URL).content.decode()
    assert re.search(rf'<a class="nav-link active" aria-current="page" href="{LIST_URL}">', content)
    other_page = owner_client.get(reverse("llm_artifact:artifact_list")).content.decode()
    assert re.search(rf'<a class="nav-link"\s+href="{LIST_URL}">', other_page)


def test_pages_query_only_the_session_and_user(
    owner_client, sources, django_assert_max_num_queries
):
    # The schema comes from the data source, not the app's database: session and user, and
    # the access rule (the grants; the source's exposed tables, then cached).
    with django_assert_max_num_queries(4):
        assert owner_client.get(SHOP_URL).status_code == 200
    with django_assert_max_num_queries(3):
        assert owner_client.get(SHOP_URL).status_code == 200
    with django_assert_max_num_queries(3):
        assert owner_client.get(LIST_URL).status_code == 200


@pytest.mark.postgres
def test_staff_see_a_warning_badge_on_a_source_that_allows_a_privileged_role(
    client, owner, staff, postgres_sources, settings
):
    settings.DATA_SOURCES = (
        f"risky={postgres_sources.admin_url}?allow_privileged=true "
        f"reader={postgres_sources.reader_url}"
    )
    clear_schema_cache()
    risky = reverse("datasources:data_source_detail", args=["risky"])
    reader = reverse("datasources:data_source_detail", args=["reader"])

    client.force_login(staff)
    response = client.get(risky)
    assert response.status_code == 200
    assert "privileged role allowed" in response.content.decode()
    assert "orders" in table_names(response.content.decode())
    assert "privileged role allowed" not in client.get(reader).content.decode()

    client.force_login(owner)
    response = client.get(risky)
    assert response.status_code == 200
    assert "privileged role allowed" not in response.content.decode()


@pytest.mark.postgres
def test_a_superuser_source_page_says_why_it_is_refused(client, staff, postgres_sources, settings):
    settings.DATA_SOURCES = f"admin={postgres_sources.admin_url}"
    clear_schema_cache()
    client.force_login(staff)

    response = client.get(reverse("datasources:data_source_detail", args=["admin"]))

    assert response.status_code == 503
    content = response.content.decode()
    assert "is a superuser" in content and "Read-only PostgreSQL data source" in content


# --- foreign keys, row counts and sample rows ----------------------------------------------


def table_section(content: str, name: str) -> str:
    return content.split(f'id="table-{name}"', 1)[1].split("</details>\n    <details", 1)[0]


@pytest.mark.parametrize("persona", ["owner", "other_user", "staff"])
def test_schema_page_links_foreign_keys_to_the_referenced_table(client, sources, persona, request):
    client.force_login(request.getfixturevalue(persona))
    content = client.get(SHOP_URL).content.decode()
    orders = table_section(content, "orders")
    assert re.search(
        rf'<td class="font-monospace">customer_id</td>.*?<a [^>]*href="{SHOP_URL}#table-customers"'
        r"[^>]*>.*?customers\.id</a>",
        orders,
        re.S,
    )
    assert re.search(
        rf'href="{SHOP_URL}#table-categories"[^>]*>.*?categories\.id</a>', orders, re.S
    )
    # The referenced table says who points at it.
    customers = table_section(content, "customers")
    assert "Referenced by" in customers
    assert f'href="{SHOP_URL}#table-orders">orders.customer_id</a>' in customers
    assert "Referenced by" not in table_section(content, "paid_orders")


def test_schema_page_shows_approximate_row_counts(owner_client, sources):
    content = owner_client.get(SHOP_URL).content.decode()
    assert '<span class="schema-rows">≈ 10 rows</span>' in table_section(content, "orders")
    assert '<span class="schema-rows">≈ 5 rows</span>' in table_section(content, "customers")
    paid = table_section(content, "paid_orders")
    assert '<span class="schema-rows">rows unknown</span>' in paid and ">view</span>" in paid


def test_schema_page_shows_thousands_from_statistics(owner_client, sources):
    with sqlite3.connect(sources) as connection:
        connection.execute("ANALYZE")
        connection.execute("UPDATE sqlite_stat1 SET stat = '100000 1' WHERE tbl = 'orders'")
    clear_schema_cache()
    content = owner_client.get(SHOP_URL).content.decode()
    assert "≈ 100,000 rows" in table_section(content, "orders")


def test_schema_page_has_a_collapsible_sample_per_table(owner_client, sources):
    content = owner_client.get(SHOP_URL).content.decode()
    customers = table_section(content, "customers")
    assert '<details class="schema-sample border-top">' in customers  # closed until opened
    assert "Sample rows (5)" in customers
    assert '<th scope="col" class="font-monospace text-nowrap">email</th>' in customers
    assert "Ada Lovelace" in customers and "grace@example.com" in customers
    # Barbara has no email: NULL shows as the badge, not as "None".
    assert '<td class="text-nowrap"><span class="null-badge">NULL</span></td>' in customers


def test_sample_values_are_escaped(owner_client, sources):
    with sqlite3.connect(sources) as connection:
        connection.execute("UPDATE customers SET name = '<b>bold</b>' WHERE id = 1")
    clear_schema_cache()
    content = owner_client.get(SHOP_URL).content.decode()
    assert "<b>bold</b>" not in content and "&lt;b&gt;bold&lt;/b&gt;" in content


def test_samples_wait_for_a_filter_on_a_big_schema(owner_client, sources, monkeypatch):
    monkeypatch.setattr(schema, "SAMPLE_TABLES_MAX", 2)
    content = owner_client.get(SHOP_URL).content.decode()
    assert "Filter to 2 tables or fewer to see sample rows." in content
    assert "Sample rows (" not in content
    filtered = owner_client.get(SHOP_URL, {"q": "customers"}).content.decode()
    assert "Sample rows (5)" in filtered


def test_htmx_filter_keeps_the_links_and_samples(owner_client, sources):
    content = owner_client.get(SHOP_URL, {"q": "orders"}, headers=HTMX).content.decode()
    assert f'href="{SHOP_URL}#table-customers"' in content
    assert "Sample rows (" in content


@pytest.mark.postgres
def test_postgres_schema_page_shows_keys_counts_and_samples(owner_client, postgres_sources):
    url = reverse("datasources:data_source_detail", args=["reader"])
    response = owner_client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    orders = table_section(content, "orders")
    assert f'href="{url}#table-customers"' in orders
    assert '<span class="schema-rows">≈ 10 rows</span>' in orders
    assert "Sample rows (5)" in orders


def test_a_key_of_several_columns_is_spelled_out(owner_client, tmp_path, settings):
    path = tmp_path / "keys.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE parents (a INTEGER, b INTEGER, PRIMARY KEY (a, b));"
            "CREATE TABLE kids (id INTEGER PRIMARY KEY, pa INTEGER, pb INTEGER,"
            " FOREIGN KEY (pa, pb) REFERENCES parents (a, b));"
        )
    settings.DATA_SOURCES = f"keys=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "keys"
    clear_schema_cache()
    url = reverse("datasources:data_source_detail", args=["keys"])
    content = owner_client.get(url).content.decode()
    kids = table_section(content, "kids")
    assert re.search(
        r'Key <span class="font-monospace">\(pa, pb\)</span> joins '
        rf'<a [^>]*href="{url}#table-parents">parents\(a, b\)</a>',
        kids,
    )
    assert "Referenced by" in table_section(content, "parents")


def test_a_table_with_nothing_to_list_has_no_empty_joins_box(owner_client, sources):
    content = owner_client.get(SHOP_URL).content.decode()
    assert "schema-joins" not in table_section(content, "orders")  # keys show in the rows
    assert "schema-joins" in table_section(content, "customers")  # referenced by orders
