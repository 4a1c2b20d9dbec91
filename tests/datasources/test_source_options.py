"""Per-source options on the data source URL: allow_functions and allow_privileged."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.datasources.executor import QueryFailed, execute
from apps.datasources.sources import check_configuration, parse_data_sources
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory


def test_allow_functions_takes_a_comma_separated_list_among_other_sources():
    sources = parse_data_sources(
        "shop=sqlite:///a.db?allow_functions=My_Score,app.rank_of&timeout=5,"
        "warehouse=postgresql://reader@db/dw?allow_functions=fuzzy,soundex&sslmode=require "
        "other=sqlite:///b.db"
    )
    assert set(sources) == {"shop", "warehouse", "other"}
    assert sources["shop"].allow_functions == frozenset({"my_score", "app.rank_of"})
    assert sources["shop"].timeout_seconds == 5
    assert sources["warehouse"].allow_functions == frozenset({"fuzzy", "soundex"})
    assert "allow_functions" not in sources["warehouse"].location
    assert sources["other"].allow_functions == frozenset()


def test_allow_privileged_is_off_unless_the_url_says_true():
    sources = parse_data_sources(
        "a=postgresql://u@db/x b=postgresql://u@db/x?allow_privileged=true "
        "c=postgresql://u@db/x?allow_privileged=false"
    )
    assert [sources[name].allow_privileged for name in "abc"] == [False, True, False]
    assert "allow_privileged" not in sources["b"].location


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a=sqlite:///a.db?allow_privileged=perhaps", "malformed allow_privileged"),
        ("a=sqlite:///a.db?allow_functions=x;drop", "malformed allow_functions"),
        ("a=sqlite:///a.db?allow_functions=a.b.c", "malformed allow_functions"),
    ],
)
def test_malformed_options_are_refused_with_a_clear_message(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_data_sources(value)


def test_allow_privileged_logs_a_warning_at_start_up(settings, caplog, tmp_path):
    path = sample.build_sqlite(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = (
        f"marketplace=sqlite:///{path} risky=postgresql://postgres@db/x?allow_privileged=true"
    )
    with caplog.at_level(logging.WARNING, logger="apps.datasources.sources"):
        check_configuration({})
    assert "'risky' has allow_privileged=true" in caplog.text
    assert "marketplace" not in caplog.text


@pytest.mark.django_db
def test_a_source_that_allows_a_function_accepts_it_everywhere(settings, tmp_path, owner):
    path = sample.build_sqlite(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = (
        f"plain=sqlite:///{path} extended=sqlite:///{path}?allow_functions=sqlite_source_id"
    )
    sql = "SELECT sqlite_source_id() IS NOT NULL AS known"
    with pytest.raises(QueryFailed, match=r"sqlite_source_id\(\) is not allowed"):
        execute("plain", sql)
    assert execute("extended", sql).rows == [(1,)]
    # Saving validates with the source's list too.
    ArtifactFactory.build(owner=owner, sql_query=sql, data_source="extended").full_clean()
