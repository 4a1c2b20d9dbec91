from django.apps import AppConfig


class LlmAgentConfig(AppConfig):
    name = "apps.llm_agent"
    label = "llm_agent"
    verbose_name = "LLM agents"
