"""Tests marked `redis` run jobs through RQ on the Redis server named by TEST_REDIS_URL (start
one with `bash .ci/redis.sh start`). Without it they skip locally and fail under CI=true, like
the PostgreSQL tests, so CI can never pass by skipping them."""

from __future__ import annotations

import os

import pytest


def redis_url_or_skip() -> str:
    url = os.environ.get("TEST_REDIS_URL", "")
    if url:
        return url
    message = "TEST_REDIS_URL is not set (start a server with `bash .ci/redis.sh start`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must run the Redis tests.")
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("redis"):
        redis_url_or_skip()
