from django.apps import AppConfig


class LlmChatConfig(AppConfig):
    name = "apps.llm_chat"
    label = "llm_chat"
    verbose_name = "LLM chats"
