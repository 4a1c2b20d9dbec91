"""Credentials out of URLs before they are shown (apps/core/redact.py)."""

from __future__ import annotations

import pytest

from apps.core.redact import mask_url, mask_urls, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@host/v1", "https://***@host/v1"),
        ("https://token@host:8443/v1", "https://***@host:8443/v1"),
        ("https://host/v1?api_key=k1&x=1", "https://host/v1?api_key=***&x=1"),
        (
            "https://host/v1?X-Amz-Signature=s&Token=t&page=2",
            "https://host/v1?X-Amz-Signature=***&Token=***&page=2",
        ),
        (
            "https://host/v1?client_secret=s&sort=name",
            "https://host/v1?client_secret=***&sort=name",
        ),
        ("https://host/cb#access_token=t", "https://host/cb#***"),
        ("http://u:p@host:notaport/v1", "http://***@host:notaport/v1"),
        ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
        ("", ""),
    ],
)
def test_credentials_are_masked_and_the_rest_kept(url, shown):
    assert mask_url(url) == shown


def test_urls_inside_text_are_masked_and_the_prose_kept():
    text = "Could not reach http://u:pw@h:9/v1. Try (https://h/x?token=abc), then retry."
    assert mask_urls(text) == (
        "Could not reach http://***@h:9/v1. Try (https://h/x?token=***), then retry."
    )


def test_text_without_urls_is_unchanged():
    assert mask_urls("user@example.com wrote: key=value") == "user@example.com wrote: key=value"


def test_url_secrets_lists_the_parts_worth_scrubbing():
    url = "https://llmuser:hunter2@host/v1?api_key=qs-token&x=1&sig=ab"
    assert url_secrets(url) == ["qs-token", "hunter2", "llmuser"]
    assert url_secrets("http://127.0.0.1:11434/v1") == []
