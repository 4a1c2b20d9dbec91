"""Building a pydantic-ai model from an Agent row, and the admin's connection check."""

from __future__ import annotations

import logging

import pytest
from pydantic_ai import (
    ModelAuthenticationError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelRequestTimeout,
)
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel

from apps.llm_agent.providers import (
    PUBLIC_CREDENTIALS_REFUSED,
    PUBLIC_MODEL_NOT_FOUND,
    PUBLIC_NOT_SET_UP,
    PUBLIC_RATE_LIMITED,
    PUBLIC_TIMEOUT,
    PUBLIC_UNEXPECTED,
    PUBLIC_UNREACHABLE,
    ProviderNotConfigured,
    build_model,
    check_connection,
    describe_error,
)
from tests.fakes.llm_server import FakeLLMServer, HTTPError, say
from tests.llm_agent.factories import AgentFactory

KEY = "sk-test-secret-value-42"


@pytest.fixture(autouse=True)
def no_ambient_keys(monkeypatch):
    for name in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "AGENT_KEY"]:
        monkeypatch.delenv(name, raising=False)


def test_openai_compatible_model_carries_the_agents_settings(db, settings):
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 42.0
    settings.LLM_MAX_RETRIES = 3
    agent = AgentFactory(
        base_url="http://127.0.0.1:11434/v1",
        model_name="qwen2.5-coder:7b",
        temperature="0.70",
        max_output_tokens=321,
    )
    model = build_model(agent)
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == "qwen2.5-coder:7b"
    assert str(model.client.base_url) == "http://127.0.0.1:11434/v1/"
    assert model.settings == {
        "temperature": 0.7,
        "max_tokens": 321,
        "timeout": 42.0,
        "max_retries": 3,
    }


def test_openai_compatible_never_sends_the_openai_key(db, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = build_model(AgentFactory(api_key_env=""))
    assert model.client.api_key != KEY


def test_openai_compatible_uses_a_named_key(db, monkeypatch):
    monkeypatch.setenv("AGENT_KEY", KEY)
    model = build_model(AgentFactory(api_key_env="AGENT_KEY"))
    assert model.client.api_key == KEY


def test_openai_compatible_with_a_named_but_missing_key_is_not_configured(db):
    with pytest.raises(ProviderNotConfigured, match="AGENT_KEY"):
        build_model(AgentFactory(api_key_env="AGENT_KEY"))


def test_openai_uses_the_key_from_the_named_variable(db, monkeypatch):
    monkeypatch.setenv("AGENT_KEY", KEY)
    agent = AgentFactory(
        provider="openai", base_url="", model_name="gpt-x", api_key_env="AGENT_KEY"
    )
    model = build_model(agent)
    assert isinstance(model, OpenAIChatModel)
    assert model.client.api_key == KEY
    assert str(model.client.base_url) == "https://api.openai.com/v1/"


@pytest.mark.parametrize(
    ("provider", "default_env"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")],
)
def test_missing_key_names_the_variable(db, provider, default_env):
    agent = AgentFactory(provider=provider, base_url="", api_key_env="")
    with pytest.raises(ProviderNotConfigured) as caught:
        build_model(agent)
    assert default_env in str(caught.value)
    assert "README" in str(caught.value)


def test_anthropic_model(db, monkeypatch):
    monkeypatch.setenv("AGENT_KEY", KEY)
    agent = AgentFactory(
        provider="anthropic", base_url="", model_name="claude-x", api_key_env="AGENT_KEY"
    )
    model = build_model(agent)
    assert isinstance(model, AnthropicModel)
    assert model.settings["max_tokens"] == agent.max_output_tokens


def test_openai_compatible_without_base_url_is_not_configured(db):
    with pytest.raises(ProviderNotConfigured, match="base URL"):
        build_model(AgentFactory(base_url=""))


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_check_connection_answers(db, monkeypatch, wire):
    monkeypatch.setenv("AGENT_KEY", KEY)
    with FakeLLMServer(wire, [say("OK")]) as server:
        agent = AgentFactory(
            provider="openai_compatible" if wire == "openai" else "anthropic",
            base_url=server.base_url,
            api_key_env="AGENT_KEY",
        )
        check = check_connection(agent)
    assert check.ok, check.detail
    assert check.detail.endswith("answered: OK")
    assert check.latency_ms > 0
    assert (
        server.requests[0]["json"]["max_tokens" if wire == "anthropic" else "max_completion_tokens"]
        == 16
    )


def test_check_connection_reports_an_unreachable_server(db):
    check = check_connection(AgentFactory(base_url="http://127.0.0.1:9/v1"))
    assert not check.ok
    assert check.detail.startswith("Could not reach the model server at http://127.0.0.1:9/v1")


def test_check_connection_never_shows_the_key(db, monkeypatch):
    monkeypatch.setenv("AGENT_KEY", KEY)
    with FakeLLMServer("openai", [HTTPError(401, f"Incorrect API key provided: {KEY}")]) as server:
        agent = AgentFactory(provider="openai", base_url=server.base_url, api_key_env="AGENT_KEY")
        check = check_connection(agent)
    assert not check.ok
    assert "rejected the API key from AGENT_KEY" in check.detail
    assert KEY not in check.detail


def test_check_connection_reports_an_unknown_model(db):
    with FakeLLMServer("openai", [HTTPError(404, "model 'nope' not found")]) as server:
        agent = AgentFactory(base_url=server.base_url, model_name="nope")
        check = check_connection(agent)
    assert not check.ok
    assert "does not know the model 'nope'" in check.detail
    assert "ollama pull nope" in check.detail


# --- Failures: plain words for the user, the detail for operators ---------------------------

SECRET_URL = "https://llmuser:hunter2@llm.example.com/v1?api_key=qs-token"


@pytest.mark.parametrize(
    ("error", "public", "detail"),
    [
        (
            ModelConnectionError("m", "Connection refused"),
            PUBLIC_UNREACHABLE,
            "Could not reach the model server at https://***@llm.example.com/v1?api_key=***",
        ),
        (ModelRequestTimeout("m", 5), PUBLIC_TIMEOUT, "LLM_REQUEST_TIMEOUT_SECONDS"),
        (ModelAuthenticationError("m", "bad key"), PUBLIC_CREDENTIALS_REFUSED, "AGENT_KEY"),
        (ModelRateLimitError("m", "slow down"), PUBLIC_RATE_LIMITED, "LLM_MAX_RETRIES"),
        (ModelNotFoundError("m", "no such model"), PUBLIC_MODEL_NOT_FOUND, "ollama pull"),
        (
            ProviderNotConfigured("Set the environment variable AGENT_KEY; see README."),
            PUBLIC_NOT_SET_UP,
            "AGENT_KEY",
        ),
        (ValueError(f"odd failure at {SECRET_URL}"), PUBLIC_UNEXPECTED, "ValueError"),
    ],
)
def test_a_failure_is_plain_words_for_the_user_and_detail_for_operators(
    db, monkeypatch, error, public, detail
):
    monkeypatch.setenv("AGENT_KEY", KEY)
    agent = AgentFactory(base_url=SECRET_URL, api_key_env="AGENT_KEY")

    failure = describe_error(error, agent)

    assert failure.public == public
    assert detail in failure.detail
    for secret in ("hunter2", "llmuser", "qs-token", KEY):
        assert secret not in failure.public and secret not in failure.detail
    for operators_only in ("llm.example.com", "README", "AGENT_KEY", "LLM_"):
        assert operators_only not in failure.public


def test_the_sdks_own_words_reach_operators_masked(db):
    agent = AgentFactory(base_url=SECRET_URL)
    error = ModelConnectionError("m", f"All connection attempts to {SECRET_URL} failed")

    detail = describe_error(error, agent).detail

    assert "ModelConnectionError: All connection attempts to https://***@llm.example.com" in detail
    assert "hunter2" not in detail and "qs-token" not in detail


def test_check_connection_masks_the_base_url(db):
    check = check_connection(AgentFactory(base_url="http://llmuser:hunter2@127.0.0.1:9/v1"))
    assert not check.ok
    assert check.detail.startswith("Could not reach the model server at http://***@127.0.0.1:9/v1")
    assert "hunter2" not in check.detail and "llmuser" not in check.detail


def test_http_client_log_lines_mask_the_base_url(db, caplog):
    with FakeLLMServer("openai", [say("OK")]) as server:
        secret_url = server.base_url.replace("http://", "http://llmuser:hunter2@")
        with caplog.at_level(logging.DEBUG):
            check = check_connection(AgentFactory(base_url=secret_url))
    assert check.ok, check.detail
    assert "HTTP Request: POST http://***@127.0.0.1" in caplog.text
    for secret in ("llmuser", "hunter2"):
        assert secret not in caplog.text


def test_a_server_echoing_the_secret_in_its_error_is_scrubbed(db):
    with FakeLLMServer("openai") as server:
        agent = AgentFactory(base_url=f"{server.base_url}?api_key=qs-token-77")
        check = check_connection(agent)  # the path the SDK builds is unknown: a 404 echoing it
    assert not check.ok
    assert "no route" in check.detail
    assert "qs-token-77" not in check.detail
