"""One rule for data source names (apps.datasources.sources.validate_data_source): every
face that takes a name refuses an unknown one with the same words."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.datasources.sources import validate_data_source
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory, admin_form_data
from tests.llm_artifact.test_admin import change_url

pytestmark = pytest.mark.django_db

MESSAGE = "Unknown data source 'nowhere'. Configured: marketplace."


def test_the_rule_names_the_configured_sources():
    validate_data_source("marketplace")
    with pytest.raises(ValidationError) as caught:
        validate_data_source("nowhere")
    assert caught.value.messages == [MESSAGE]


def test_agent_and_artifact_models_use_it(owner):
    agent = AgentFactory.build(data_source="nowhere")
    artifact = ArtifactFactory.build(owner=owner, data_source="nowhere")
    for instance in (agent, artifact):
        with pytest.raises(ValidationError) as caught:
            instance.full_clean()
        assert caught.value.message_dict["data_source"] == [MESSAGE]


def test_the_api_faces_use_it(owner_api):
    check = owner_api.post(
        reverse("api:sql-validate"), {"sql": "SELECT 1", "data_source": "nowhere"}, format="json"
    )
    create = owner_api.post(
        reverse("api:artifact-list"),
        {"title": "T", "sql_query": "SELECT 1", "data_source": "nowhere"},
        format="json",
    )
    assert check.status_code == create.status_code == 400
    assert check.json()["data_source"] == create.json()["data_source"] == [MESSAGE]


def test_the_admin_uses_it(client, staff, owner):
    client.force_login(staff)
    artifact = ArtifactFactory(owner=owner)
    response = client.post(change_url(artifact), admin_form_data(artifact, data_source="nowhere"))
    assert response.status_code == 200
    assert MESSAGE.replace("'", "&#x27;") in response.content.decode()
