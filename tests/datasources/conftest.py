from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.datasources.schema import clear_schema_cache
from tests.datasources import sample
from tests.postgres import ShopDatabase, shop_database


@pytest.fixture(autouse=True)
def app_database(db):
    """Every run asks the app database what its source exposes (access.exposure_of)."""


@pytest.fixture
def shop_sqlite(tmp_path: Path, settings) -> Path:
    """The sample shop as a SQLite file, configured as the data source `shop`."""
    path = sample.build_sqlite(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"shop=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "shop"
    clear_schema_cache()
    return path


@pytest.fixture(scope="session")
def shop_postgres(postgres_url: str) -> Iterator[ShopDatabase]:
    """The sample shop in a throwaway PostgreSQL database with OWNER and READER roles."""
    with shop_database(postgres_url, sample.load_postgres) as database:
        yield database


@pytest.fixture
def postgres_sources(shop_postgres: ShopDatabase, settings) -> ShopDatabase:
    """Data sources `owner` and `reader` point at the shop through each role."""
    settings.DATA_SOURCES = f"owner={shop_postgres.owner_url} reader={shop_postgres.reader_url}"
    settings.DEFAULT_DATA_SOURCE = "owner"
    clear_schema_cache()
    return shop_postgres
