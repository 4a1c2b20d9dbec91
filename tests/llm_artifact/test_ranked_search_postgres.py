"""The search index on PostgreSQL, from a run whose app database is SQLite: migrate a fresh
PostgreSQL database as the app's and search it in a child process (Django reads DATABASES
once). CI also runs the whole suite with the app database on PostgreSQL, where
test_ranked_search.py runs against the GIN index itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
from django.db import connection
from apps.llm_artifact.models import Artifact
from tests.llm_artifact.factories import ArtifactFactory
owner = ArtifactFactory().owner
ArtifactFactory(owner=owner, title="Revenue by category",
                sql_query="SELECT c.name, SUM(o.total) FROM orders o JOIN categories c ON 1 = 1")
ArtifactFactory(owner=owner, title="Orders", description="Where revenue stands.")
ArtifactFactory(owner=owner, title="Sellers", sql_query="SELECT 1 FROM sellers")
found = {q: [a.title for a in Artifact.objects.visible_to(owner).ranked_search(q)]
         for q in ["revenue", "o.total", "categ", "revenue orders", "'; --", "x:* & !y"]}
with connection.cursor() as cursor:
    cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'artifact_search_gin'")
    index = cursor.fetchone()[0]
print(json.dumps({"vendor": connection.vendor, "found": found, "index": index}))
"""


@pytest.mark.postgres
def test_ranked_search_on_a_postgresql_app_database(postgres_database):
    env = {
        **os.environ,
        "DATABASE_URL": postgres_database,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    out = subprocess.run(
        [*manage, "shell", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    assert "USING gin (search_vector)" in result["index"]
    found = result["found"]
    assert found["revenue"] == ["Revenue by category", "Orders"]  # the title ranks first
    assert found["o.total"] == ["Revenue by category"]
    assert found["categ"] == ["Revenue by category"]
    # Both: "orders" is in the first one's SQL and the second one's title.
    assert sorted(found["revenue orders"]) == ["Orders", "Revenue by category"]
    # Punctuation only: no word to search, every artifact (with the one made for the owner).
    assert len(found["'; --"]) == 4
    assert found["x:* & !y"] == []
