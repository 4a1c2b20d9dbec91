from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from apps.datasources.sources import (
    Engine,
    check_configuration,
    get_data_source,
    parse_data_sources,
    points_at_app_database,
)


def test_parses_sqlite_and_postgresql_sources_with_limits(settings):
    sources = parse_data_sources(
        "shop=sqlite:///var/shop.sqlite3, "
        "warehouse=postgresql://reader:s3cret@db.internal:5433/dw?timeout=5&max_rows=50&sslmode=require"
    )
    shop, warehouse = sources["shop"], sources["warehouse"]
    assert shop.engine == Engine.SQLITE
    assert shop.location == str(settings.BASE_DIR / "var/shop.sqlite3")
    assert shop.dialect == "sqlite"
    assert shop.timeout_seconds == settings.DATA_SOURCE_TIMEOUT_SECONDS
    assert warehouse.engine == Engine.POSTGRESQL
    assert warehouse.dialect == "postgres"
    assert (warehouse.timeout_seconds, warehouse.max_rows) == (5.0, 50)
    # Our limits are taken off the URL; the driver's own options stay on it.
    assert "timeout" not in warehouse.location
    assert "sslmode=require" in warehouse.location
    # Operators may see where a source lives, never its password.
    assert "s3cret" not in warehouse.display_location
    assert warehouse.display_location == "postgresql://reader@db.internal:5433/dw"


def test_absolute_sqlite_paths_stay_absolute():
    assert parse_data_sources("a=sqlite:////tmp/a.db")["a"].location == "/tmp/a.db"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("shop", "must look like name=url"),
        ("shop=mysql://x/y", "scheme"),
        ("1shop=sqlite:///a.db", "must start with a letter"),
        ("a=sqlite:///a.db a=sqlite:///b.db", "configured twice"),
        ("a=sqlite:///a.db?timeout=soon", "malformed limit"),
        ("a=sqlite:///a.db?max_rows=0", "must be positive"),
    ],
)
def test_malformed_configuration_is_refused_with_a_clear_message(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_data_sources(value)


@pytest.mark.parametrize(
    ("app_database", "source_url"),
    [
        (
            {"ENGINE": "django.db.backends.sqlite3", "NAME": "{tmp}/app.sqlite3"},
            "sqlite:///{tmp}/app.sqlite3",
        ),
        (
            {"ENGINE": "django.db.backends.sqlite3", "NAME": "{tmp}/app.sqlite3"},
            "sqlite:///{tmp}/../{tmpname}/app.sqlite3",
        ),
        (
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "app",
                "HOST": "db",
                "PORT": "5432",
            },
            "postgresql://reader@db:5432/app",
        ),
    ],
)
def test_the_app_database_is_never_a_data_source(tmp_path, app_database, source_url):
    def fill(value):
        return value.format(tmp=tmp_path, tmpname=tmp_path.name)

    databases = {"default": {key: fill(value) for key, value in app_database.items()}}
    source = parse_data_sources(f"marketplace={fill(source_url)}")["marketplace"]
    assert points_at_app_database(source, databases)


def test_start_up_refuses_a_data_source_on_the_app_database(tmp_path):
    app_db = tmp_path / "app.sqlite3"
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(app_db)}}
    with (
        override_settings(DATA_SOURCES=f"marketplace=sqlite:///{app_db}"),
        pytest.raises(ImproperlyConfigured, match="app's own database"),
    ):
        check_configuration(databases)


def test_a_separate_database_is_accepted(tmp_path):
    source = parse_data_sources(f"m=sqlite:///{tmp_path}/marketplace.sqlite3")["m"]
    app_db = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{tmp_path}/app.db"}}
    assert not points_at_app_database(source, app_db)


def test_the_default_data_source_must_be_configured():
    with (
        override_settings(DATA_SOURCES="shop=sqlite:///shop.db", DEFAULT_DATA_SOURCE="marketplace"),
        pytest.raises(ImproperlyConfigured, match="DEFAULT_DATA_SOURCE"),
    ):
        check_configuration()


def test_unknown_source_lookup_names_the_configured_ones():
    with pytest.raises(LookupError, match="marketplace"):
        get_data_source("nope")
