"""The registry of artifact types (apps/llm_artifact/types): SQL query is its first entry,
and the model, the database and the bundle format follow it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.bundles import _validator
from apps.llm_artifact.models import Artifact
from tests.llm_artifact.factories import ArtifactFactory


def test_sql_query_is_the_first_type_and_the_default():
    assert artifact_types.names()[0] == "sql_query"
    spec = artifact_types.get("sql_query")
    assert spec.uses_sql and spec.label == "SQL query"
    assert Artifact._meta.get_field("artifact_type").default == "sql_query"


def test_unknown_type_is_a_lookup_error():
    with pytest.raises(artifact_types.UnknownArtifactType):
        artifact_types.get("spreadsheet")


def test_field_choices_are_the_registry():
    field = Artifact._meta.get_field("artifact_type")
    assert [value for value, _ in field.choices] == artifact_types.names()


def test_database_constraint_lists_the_registered_types():
    constraint = next(c for c in Artifact._meta.constraints if c.name == "artifact_type_known")
    (lookup, values), *_ = constraint.condition.children
    assert lookup == "artifact_type__in" and list(values) == artifact_types.names()


@pytest.mark.django_db
def test_database_refuses_an_unregistered_type(owner):
    artifact = ArtifactFactory(owner=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        Artifact.objects.filter(pk=artifact.pk).update(artifact_type="spreadsheet")


@pytest.mark.django_db
def test_sql_checks_run_through_the_registry(owner, shop):
    artifact = ArtifactFactory.build(owner=owner, sql_query="   ")
    errors = artifact_types.of(artifact).clean(artifact, {})
    assert errors == {"sql_query": ["An SQL query artifact needs its SQL."]}
    artifact.sql_query = "SELECT nope FROM orders"
    assert "nope" in " ".join(artifact_types.of(artifact).clean(artifact, {})["sql_query"])


def test_bundle_schema_takes_the_types_from_the_registry():
    schema = _validator().schema["$defs"]["artifact"]
    assert schema["properties"]["type"]["enum"] == artifact_types.names()


def test_every_registered_type_declares_its_templates():
    for spec in artifact_types.all_types():
        assert spec.page_template and spec.card_template, spec
        assert isinstance(spec.agent_tools, tuple)


def test_agent_tools_include_each_types_tools():
    from apps.llm_chat.agent.tools import turn_tools

    names = {tool.name for tool in turn_tools()}
    assert {"save_artifact", "update_artifact", "set_visualization"} <= names
    assert {"list_tables", "run_sql", "search_artifacts", "run_artifact"} <= names
