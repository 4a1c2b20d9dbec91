"""The report's block syntax: what parse_report() finds and what it refuses."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.llm_artifact.reports.blocks import (
    BlockRef,
    parse_report,
    prose_numbers,
    validate_report_markdown,
)


def refs(markdown: str) -> list[BlockRef]:
    return parse_report(markdown).refs


def test_a_fenced_block_names_the_artifact_its_view_and_parameters():
    (ref,) = refs('```artifact 12 show=chart :start_date=2024-01-01 :status="new order"\n```')
    assert ref == BlockRef(
        "block",
        12,
        {"start_date": "2024-01-01", "status": "new order"},
        show="chart",
        line=1,
    )


def test_a_block_body_holds_more_options():
    (ref,) = refs("```artifact id=3\nshow=table rows=5\n:country=GB\n```")
    assert (ref.artifact_id, ref.show, ref.rows, ref.params) == (3, "table", 5, {"country": "GB"})


def test_an_inline_value_names_column_and_row():
    parsed = parse_report("Revenue was {{ value 7 column=total row=2 digits=1 :y=2024 }}.")
    (ref,) = parsed.refs
    assert (ref.kind, ref.artifact_id, ref.column, ref.row, ref.digits, ref.params) == (
        "value",
        7,
        "total",
        2,
        1,
        {"y": "2024"},
    )
    assert "{{" not in parsed.text and parsed.text.startswith("Revenue was REPORTREF")


def test_references_in_plain_code_are_left_as_written():
    markdown = "```\n{{ value 1 }}\n```\n\n    {{ value 2 }}\n"
    parsed = parse_report(markdown)
    assert parsed.refs == [] and parsed.text == markdown


def test_a_block_inside_a_list_keeps_its_indent():
    parsed = parse_report("- first\n\n  ```artifact 4\n  ```\n")
    assert parsed.text.startswith("- first\n\n  REPORTREF")


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("```artifact show=chart\n```", "say which artifact"),
        ("```artifact 1 show=pie\n```", "show must be chart or table"),
        ("```artifact 1 rows=500\n```", "rows must be a whole number from 1 to 100"),
        ("```artifact 1 colour=red\n```", "unknown option colour"),
        ("{{ value 1 row=0 }}", "row must be a whole number from 1 to 100"),
        ('{{ value 1 :x="open }}', "a quoted value is not closed"),
        ("{{ value 1 total }}", "“total” is not an option"),
        ("{{ value 1 show=chart }}", "unknown option show"),
    ],
)
def test_malformed_references_are_refused_with_their_line(markdown, message):
    with pytest.raises(ValidationError) as caught:
        validate_report_markdown("Intro\n\n" + markdown)
    (problem,) = caught.value.messages
    assert problem.startswith("Line 3: ") and message in problem


def test_too_many_blocks_are_refused():
    with pytest.raises(ValidationError, match="at most 50"):
        validate_report_markdown(" ".join("{{ value 1 }}" for _ in range(51)))


def test_prose_numbers_are_found_outside_blocks_and_values():
    parsed = parse_report(
        "Sales grew by 12% to {{ value 3 :start=2024-01-01 }}.\n\n```artifact 9 rows=20\n```"
    )
    assert prose_numbers(parsed) == ["12"]
    assert prose_numbers(parse_report("Sales were {{ value 3 }}.")) == []
    assert prose_numbers(parse_report("1. First\n2) Second\n> 3. Quoted\n")) == []
    assert prose_numbers(parse_report("1. Up 4 points")) == ["4"]


def test_a_block_inside_a_quote_stays_in_the_quote():
    parsed = parse_report("> Look:\n>\n> ```artifact 4\n> ```\n")
    assert parsed.text.startswith("> Look:\n>\n> REPORTREF")
