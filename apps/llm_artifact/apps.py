from django.apps import AppConfig


class LlmArtifactConfig(AppConfig):
    name = "apps.llm_artifact"
    label = "llm_artifact"
    verbose_name = "LLM artifacts"
