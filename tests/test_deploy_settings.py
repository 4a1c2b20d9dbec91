"""The production environment documented in the README passes `check --deploy`; without a secret
key outside the local demo the app refuses to start."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def documented_production_env() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```env\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md lost its ```env block of production settings"
    pairs = dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())
    assert "DJANGO_SECRET_KEY" in pairs
    pairs["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    return pairs


def run_manage(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # Nothing of the test run's own environment that could change the settings.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_documented_production_settings(tmp_path):
    result = run_manage(
        tmp_path, documented_production_env(), "check", "--deploy", "--fail-level", "DEBUG"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_settings_send_secure_cookies_and_hsts(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client, override_settings\n"
        # Pages link hashed static files, which need a collectstatic this test does not run.
        "override_settings(STORAGES={'staticfiles': {'BACKEND':"
        " 'django.contrib.staticfiles.storage.StaticFilesStorage'}}).enable()\n"
        "r = Client().get('/accounts/login/', secure=True, HTTP_HOST='artifacts.example.com')\n"
        "print(r.status_code, r['Strict-Transport-Security'], r.cookies['csrftoken']['secure'])\n"
        "r = Client().get('/accounts/login/', HTTP_HOST='artifacts.example.com')\n"
        "print(r.status_code, r['Location'])\n"
    )
    env = {**documented_production_env(), "DJANGO_SETTINGS_MODULE": "config.settings"}

    result = run_manage(tmp_path, env, "shell", "-c", script)

    assert result.returncode == 0, result.stderr
    secure, redirect = result.stdout.splitlines()[-2:]
    assert secure == "200 max-age=31536000; includeSubDomains; preload True"
    assert redirect == "301 https://artifacts.example.com/accounts/login/"


def test_refuses_to_start_without_a_secret_key_outside_the_local_demo(tmp_path):
    env = documented_production_env()
    del env["DJANGO_SECRET_KEY"]

    result = run_manage(tmp_path, env, "check")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "env",
    [{}, {"DJANGO_ALLOWED_HOSTS": "demo.example.com", "DJANGO_LOCAL_DEMO": "true"}],
    ids=["nothing set", "explicit local demo"],
)
def test_the_local_demo_starts_with_no_configuration(tmp_path, env):
    result = run_manage(tmp_path, env, "check")

    assert result.returncode == 0, result.stderr
