from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.llm_artifact.models import Artifact


class ArtifactFactory(DjangoModelFactory):
    class Meta:
        model = Artifact

    title = factory.Sequence(lambda n: f"Orders by status {n}")
    sql_query = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status ORDER BY 2 DESC"
    data_source = "marketplace"
    owner = factory.SubFactory("tests.conftest.UserFactory")
    description = "How many orders sit in each status."
