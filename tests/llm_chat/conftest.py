"""Fixtures for the agent's turn: a small data source and a chat on the fake provider."""

from __future__ import annotations

import pytest

from tests.fakes.datasource import build_shop
from tests.llm_chat.factories import ChatFactory


@pytest.fixture
def shop(tmp_path, settings):
    path = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    # Fast failures: a short wait for a silent server (tests/conftest.py turns retries off).
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 5
    return path


@pytest.fixture
def chat(owner, shop, server):
    """A chat whose agent talks to the fake OpenAI-compatible server over loopback."""
    chat = ChatFactory(owner=owner)
    chat.agent.base_url = server.base_url
    chat.agent.save()
    return chat
