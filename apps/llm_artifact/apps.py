from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def repair_search_index(using: str = "default", **kwargs) -> None:
    """SQLite drops a table's triggers when a migration rebuilds it: put back the search
    index's (apps/llm_artifact/search.py) after every migrate."""
    from apps.llm_artifact.search import repair_sqlite_triggers

    repair_sqlite_triggers(connections[using])


class LlmArtifactConfig(AppConfig):
    name = "apps.llm_artifact"
    label = "llm_artifact"
    verbose_name = "LLM artifacts"

    def ready(self) -> None:
        post_migrate.connect(repair_search_index, sender=self)
