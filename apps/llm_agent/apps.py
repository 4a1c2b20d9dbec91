import logging

from django.apps import AppConfig

# The HTTP clients under the provider SDKs log each request's URL (httpx at INFO, the SDKs at
# DEBUG), which may carry the credentials of an agent's base URL. A logger's filters see only
# the records logged to that very logger, so the modules that log are named one by one.
HTTP_CLIENT_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore.connection",
    "httpcore.http11",
    "openai._base_client",
    "anthropic._base_client",
)


class LlmAgentConfig(AppConfig):
    name = "apps.llm_agent"
    label = "llm_agent"
    verbose_name = "LLM agents"

    def ready(self) -> None:
        from apps.core.redact import MaskURLsFilter

        for name in HTTP_CLIENT_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, MaskURLsFilter) for f in logger.filters):
                logger.addFilter(MaskURLsFilter())
