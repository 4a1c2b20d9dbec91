"""Build a pydantic-ai model from an Agent row, explain provider failures, test a connection.

Three kinds of provider are supported:

- `openai`: OpenAI's Chat Completions API (`OpenAIChatModel` + `OpenAIProvider`).
- `anthropic`: Anthropic's Messages API (`AnthropicModel` + `AnthropicProvider`).
- `openai_compatible`: any server that speaks Chat Completions at `base_url` (Ollama, vLLM,
  llama.cpp server, LM Studio, OpenRouter). It uses `OpenAICompatibleProvider`, which pydantic-ai
  recommends over `OpenAIProvider` for services that are not OpenAI: it never falls back to
  `OPENAI_API_KEY` (so an OpenAI key is not sent to a third party) and it does not assume
  OpenAI-only request features.

The API key is read from the environment variable the agent names (`api_key_env`), or the
provider's conventional one when the agent names none. It is never stored, logged or shown: the
error texts below name the variable, not its value. A failure is described twice
(ProviderFailure): plain words for the chat's user, and the detail (masked base URL, variable,
README pointer, SDK text) for operators.
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx2
from asgiref.sync import async_to_sync
from django.conf import settings
from pydantic_ai import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRequest,
    ModelRequestTimeout,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.direct import model_request
from pydantic_ai.models import Model, create_async_httpx2_client
from pydantic_ai.settings import ModelSettings

from apps.core.redact import MASK, mask_url, mask_urls, url_secrets
from apps.llm_agent.models import Agent

DEFAULT_BASE_URL = {
    Agent.Provider.OPENAI: "https://api.openai.com/v1",
    Agent.Provider.ANTHROPIC: "https://api.anthropic.com",
}
# The name recorded on responses from OpenAI-compatible servers (pydantic-ai keys history
# replay on it, so it must stay stable).
OPENAI_COMPATIBLE_PROVIDER_NAME = "openai-compatible"
README_HINT = "see README 'LLM providers'"


class ProviderNotConfigured(Exception):
    """The agent cannot reach its provider until an operator configures it.

    The message says what to set; it never contains a key.
    """


def provider_base_url(agent: Agent) -> str:
    return agent.base_url or DEFAULT_BASE_URL.get(agent.provider, "")


def read_api_key(agent: Agent) -> str | None:
    """The key from the environment (Agent.api_key_env_name); never stored, never rendered."""
    env_name = agent.api_key_env_name
    if not env_name:
        return None
    return os.environ.get(env_name) or None


def model_settings(agent: Agent) -> ModelSettings:
    return ModelSettings(
        temperature=float(agent.temperature),
        max_tokens=agent.max_output_tokens,
        # Per attempt, and for a stream the longest wait for the next chunk.
        timeout=settings.LLM_REQUEST_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
    )


@cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs 30-100 ms of CPU. Every new HTTP client would do it again,
    # on the event loop, stalling every other streaming chat; once per process is enough.
    return httpx2.create_ssl_context()


def new_http_client(base_url: str) -> httpx2.AsyncClient:
    """An HTTP client for one turn: pydantic-ai's defaults, the process's TLS context, and the
    environment's proxy (HTTPS_PROXY / NO_PROXY) for this URL."""
    host = urlsplit(base_url).hostname or ""
    proxy = None
    if host and not urllib.request.proxy_bypass(host):
        proxy = urllib.request.getproxies().get(urlsplit(base_url).scheme)
    transport = httpx2.AsyncHTTPTransport(verify=_tls_context(), proxy=proxy)
    return create_async_httpx2_client(transport=transport)


@asynccontextmanager
async def open_model(agent: Agent) -> AsyncIterator[Model]:
    """build_model with an HTTP client that is closed when the block ends."""
    client = new_http_client(provider_base_url(agent))
    try:
        yield build_model(agent, http_client=client)
    finally:
        await client.aclose()


def build_model(agent: Agent, *, http_client: httpx2.AsyncClient | None = None) -> Model:
    """The pydantic-ai model for an agent row, with its temperature and token limit applied.

    Without `http_client` the provider makes (and owns) its own. Raises ProviderNotConfigured
    when a needed key or URL is missing.
    """
    key = read_api_key(agent)
    env_name = agent.api_key_env_name
    if agent.provider == Agent.Provider.OPENAI:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        if not key:
            raise ProviderNotConfigured(_missing_key_message(agent, env_name))
        provider = OpenAIProvider(
            base_url=agent.base_url or None, api_key=key, http_client=http_client
        )
        return OpenAIChatModel(agent.model_name, provider=provider, settings=model_settings(agent))
    if agent.provider == Agent.Provider.ANTHROPIC:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        if not key:
            raise ProviderNotConfigured(_missing_key_message(agent, env_name))
        provider = AnthropicProvider(
            api_key=key, base_url=agent.base_url or None, http_client=http_client
        )
        return AnthropicModel(agent.model_name, provider=provider, settings=model_settings(agent))
    if agent.provider == Agent.Provider.OPENAI_COMPATIBLE:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

        if not agent.base_url:
            raise ProviderNotConfigured(
                f"Agent {agent.name!r} is OpenAI-compatible but has no base URL. Set it in the "
                f"admin (e.g. http://127.0.0.1:11434/v1 for Ollama); {README_HINT}."
            )
        if agent.api_key_env and not key:
            # The operator asked for a key; sending none would fail later with a vaguer error.
            raise ProviderNotConfigured(_missing_key_message(agent, env_name))
        provider = OpenAICompatibleProvider(
            OPENAI_COMPATIBLE_PROVIDER_NAME,
            base_url=agent.base_url,
            api_key=key,
            http_client=http_client,
        )
        return OpenAIChatModel(agent.model_name, provider=provider, settings=model_settings(agent))
    raise ProviderNotConfigured(
        f"Agent {agent.name!r} has an unknown provider {agent.provider!r}; {README_HINT}."
    )


def _missing_key_message(agent: Agent, env_name: str) -> str:
    return (
        f"Agent {agent.name!r} needs an API key for {agent.get_provider_display()}: set the "
        f"environment variable {env_name} and restart the server; {README_HINT}."
    )


# What end users read when a model call fails: plain words, no URL, variable or README (those
# are for operators, in the model-call log and the server log; see ProviderFailure).
PUBLIC_NOT_SET_UP = "The assistant is not set up to answer yet; ask an operator."
PUBLIC_UNREACHABLE = (
    "The assistant is not reachable right now; try again, or ask an operator if it keeps failing."
)
PUBLIC_BROKE_OFF = "The connection to the assistant broke off during the reply; try again."
PUBLIC_TIMEOUT = (
    "The assistant did not answer in time; try again, or ask an operator if it keeps happening."
)
PUBLIC_CREDENTIALS_REFUSED = (
    "The assistant's provider refused its credentials; ask an operator to check them."
)
PUBLIC_MODEL_NOT_FOUND = "The assistant's model is not available; ask an operator."
PUBLIC_RATE_LIMITED = (
    "The assistant is getting more requests than its provider allows; wait a moment and try again."
)
PUBLIC_PROVIDER_FAILED = "The assistant's provider had a problem answering; try again in a moment."
PUBLIC_REQUEST_REFUSED = (
    "The assistant's provider refused the request; try again, or ask an operator if it keeps "
    "failing."
)
PUBLIC_TOO_MANY_REQUESTS = (
    "The assistant gave up: answering needed too many model requests. Try asking in smaller steps."
)
PUBLIC_UNUSABLE_REPLY = "The model sent a reply that could not be used; try again."
PUBLIC_UNEXPECTED = (
    "Something went wrong while talking to the assistant; try again, or ask an operator if it "
    "keeps failing."
)


@dataclass(frozen=True)
class ProviderFailure:
    """Why a model call failed, said twice.

    `public` is for the chat's user (the chat page, the API's message `error`, the stream's
    `error` event): plain words, nothing about how the server is set up. `detail` is for
    operators (the model-call log, the server log, the admin's "Test connection"): the
    provider's base URL with credentials masked, the environment variable, the README, the
    SDK's own words. Neither ever holds the API key.
    """

    public: str
    detail: str


def describe_error(exc: BaseException, agent: Agent) -> ProviderFailure:
    """A failed model call in plain words for the user and in detail for operators."""
    url = mask_url(provider_base_url(agent))
    public, detail = _describe(exc, agent, url)
    sdk_text = _short(str(exc))
    if not isinstance(exc, ProviderNotConfigured) and sdk_text and sdk_text not in detail:
        detail = f"{detail} [{type(exc).__name__}: {sdk_text}]"
    return ProviderFailure(public=public, detail=scrub(detail, agent))


def scrub(text: str, agent: Agent) -> str:
    """Operator text with URL credentials masked, and the agent's key and the secret parts of
    its base URL removed wherever they appear (providers mask keys themselves, servers may
    echo a request's path: this relies on neither)."""
    text = mask_urls(text)
    for secret in [read_api_key(agent) or "", *url_secrets(agent.base_url)]:
        if secret:
            text = text.replace(secret, MASK)
    return text


def _describe(exc: BaseException, agent: Agent, url: str) -> tuple[str, str]:
    """(public, detail) for one failure; `url` is already masked."""
    if isinstance(exc, ProviderNotConfigured):
        return PUBLIC_NOT_SET_UP, str(exc)
    if isinstance(exc, ModelRequestTimeout | ModelTimeoutError):
        return PUBLIC_TIMEOUT, (
            f"The model server at {url} did not answer in time "
            f"(LLM_REQUEST_TIMEOUT_SECONDS={settings.LLM_REQUEST_TIMEOUT_SECONDS:g}). "
            "It may be overloaded or still loading the model."
        )
    if isinstance(exc, ModelConnectionError):
        if exc.phase == "read" or exc.in_stream:
            return PUBLIC_BROKE_OFF, (
                f"The connection to the model server at {url} broke off during the reply."
            )
        if agent.provider == Agent.Provider.OPENAI_COMPATIBLE:
            return PUBLIC_UNREACHABLE, (
                f"Could not reach the model server at {url} — is Ollama (or your server) "
                "running? Set LLM_BASE_URL/LLM_MODEL or configure a provider for this agent; "
                f"{README_HINT}."
            )
        provider = agent.get_provider_display()
        return PUBLIC_UNREACHABLE, (
            f"Could not reach {provider} at {url}: check the network; {README_HINT}."
        )
    if isinstance(exc, ModelAuthenticationError):
        return PUBLIC_CREDENTIALS_REFUSED, (
            f"{agent.get_provider_display()} rejected the API key from "
            f"{agent.api_key_env_name or 'the environment'}; check the key and its access to "
            f"model {agent.model_name!r}."
        )
    if isinstance(exc, ModelNotFoundError):
        hint = (
            f" For Ollama, run `ollama pull {agent.model_name}`."
            if agent.provider == Agent.Provider.OPENAI_COMPATIBLE
            else ""
        )
        return PUBLIC_MODEL_NOT_FOUND, (
            f"The model server at {url} does not know the model {agent.model_name!r} "
            f"(or the base URL is wrong).{hint}"
        )
    if isinstance(exc, ModelRateLimitError):
        return PUBLIC_RATE_LIMITED, (
            f"{agent.get_provider_display()} at {url} is rate-limiting requests and retries "
            f"(LLM_MAX_RETRIES={settings.LLM_MAX_RETRIES}) did not help."
        )
    if isinstance(exc, ModelServerError | ModelUnavailableError):
        status = f" (HTTP {exc.status_code})" if isinstance(exc, ModelHTTPError) else ""
        return PUBLIC_PROVIDER_FAILED, f"The model server at {url} failed{status}."
    if isinstance(exc, ModelHTTPError):
        return PUBLIC_REQUEST_REFUSED, (
            f"The model server at {url} refused the request (HTTP {exc.status_code}): "
            f"{_short(exc.message)}"
        )
    if isinstance(exc, ModelAPIError):
        return PUBLIC_UNREACHABLE, f"The model server at {url} failed: {_short(exc.message)}"
    if isinstance(exc, UsageLimitExceeded):
        return PUBLIC_TOO_MANY_REQUESTS, (
            f"The agent gave up: it used too many model requests in one turn ({exc})."
        )
    if isinstance(exc, UnexpectedModelBehavior):
        if "exceeded max retries" in exc.message:
            tool = exc.message.split("'")[1] if "'" in exc.message else "a tool"
            # About the model, not the set-up: the user may well rephrase the question.
            text = (
                f"The model kept sending arguments for the tool {tool} that could not be used, "
                "even after being told what was wrong."
            )
            return text, text
        return PUBLIC_UNUSABLE_REPLY, (
            f"The model sent a reply that could not be used: {_short(exc.message)}"
        )
    return PUBLIC_UNEXPECTED, (
        f"Unexpected error while talking to the model at {url} ({type(exc).__name__})."
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    latency_ms: float
    detail: str


async def acheck_connection(agent: Agent) -> ConnectionCheck:
    """One short request to the agent's provider: does it answer, and how fast."""
    started = time.perf_counter()
    try:
        async with open_model(agent) as model:
            response = await model_request(
                model,
                [ModelRequest.user_text_prompt("Reply with the single word: OK")],
                model_settings=ModelSettings(max_tokens=16, max_retries=0),
            )
    except Exception as exc:  # every failure becomes a message for the operator
        return ConnectionCheck(False, _elapsed_ms(started), describe_error(exc, agent).detail)
    text = _short(response.text or "", 80)
    return ConnectionCheck(
        True,
        _elapsed_ms(started),
        f"{response.model_name or agent.model_name} answered: {text or '(no text)'}",
    )


def check_connection(agent: Agent) -> ConnectionCheck:
    """Sync wrapper for the admin action."""
    return async_to_sync(acheck_connection)(agent)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
