"""SQL the agent wrote on one line is laid out for reading on the pages; the stored text,
which runs and is edited, stays as written."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.core.highlight import pretty_sql
from tests.llm_artifact.factories import ArtifactFactory

ONE_LINE = (
    "SELECT c.name AS category, SUM(o.total) AS revenue FROM orders o JOIN customers c "
    "ON c.id = o.customer_id WHERE o.ordered_at >= :since GROUP BY c.name ORDER BY revenue DESC"
)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&gt;", ">").replace("&#x27;", "'")


def test_one_line_sql_is_laid_out_for_reading():
    shown = pretty_sql(ONE_LINE, "sqlite")
    lines = shown.splitlines()
    assert lines[:3] == ["SELECT", "  c.name AS category,", "  SUM(o.total) AS revenue"]
    assert "WHERE\n  o.ordered_at >= :since" in shown


def test_sql_a_person_laid_out_or_that_does_not_parse_is_shown_as_written():
    written = "SELECT id -- the order\nFROM orders\nWHERE total > 10"
    assert pretty_sql(written, "sqlite") == written
    broken = "SELEC " + "x, " * 50 + "FROM ((("
    assert pretty_sql(broken, "sqlite") == broken


def test_the_page_and_card_show_it_laid_out_and_keep_the_stored_text(owner_client, shop, owner):
    artifact = ArtifactFactory(owner=owner, sql_query=ONE_LINE)
    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    sql_block = page.split('class="card-body p-0 sql-full">', 1)[1].split("</section>", 1)[0]
    assert "FROM orders AS o\nJOIN customers AS c\n  ON c.id = o.customer_id" in text_of(sql_block)

    edit = owner_client.get(reverse("llm_artifact:artifact_edit", args=[artifact.pk]))
    assert edit.status_code == 200
    artifact.refresh_from_db()
    assert artifact.sql_query == ONE_LINE

    chat_card = artifact.sql_preview
    assert chat_card.splitlines()[0] == "SELECT"
    assert chat_card.endswith("…")
