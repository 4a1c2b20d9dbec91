"""The report's Markdown syntax for live blocks: where a report shows an SQL artifact's result.

A report is CommonMark (with tables and strikethrough, as in chat replies) plus two forms that
name an SQL artifact by its id and give its parameter values:

A block, a fenced code block whose info string starts with ``artifact``::

    ```artifact 12 show=chart :start_date=2026-01-01 :status="shipped"
    ```

An inline value, one cell of the result inside a sentence::

    Revenue was {{ value 12 column=total row=1 :start_date=2026-01-01 }} last month.

Options are ``key=value`` words (quote a value with spaces: ``:country="New Zealand"``):

- the artifact's id, as the first word (``12``) or ``id=12``, or its stable uid
  (``uid=6f1c...``, what an exported bundle writes, so the report finds its artifacts on
  another site); one of them is required;
- ``:name=value`` a parameter value, written as on the artifact's page (relative dates such as
  ``"start_of_month -1 month"`` included); parameters not given take their defaults;
- blocks: ``show=chart`` or ``show=table`` (default: the chart when the artifact has one),
  ``rows=N`` rows a table shows (1 to 100, default 10);
- values: ``column=NAME`` (default the first column), ``row=N`` (from 1, default 1),
  ``digits=N`` decimals for a number (0 to 6; default: 0 for whole numbers, else 2).

A fenced block's body may hold more options (on one or several lines), for long parameter
lists. An inline value inside a plain code block or fence is left as written (so a report can
show the syntax); inside an inline code span it is still replaced.

parse_report() finds the blocks and values and replaces each with a placeholder word the
Markdown renderer leaves alone; apps/llm_artifact/reports/render.py puts the live HTML there.
"""

from __future__ import annotations

import re
import secrets
import shlex
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

BLOCK_INFO = "artifact"
SHOW_CHOICES = ("chart", "table")
MAX_TABLE_ROWS = 100
DEFAULT_TABLE_ROWS = 10
MAX_DIGITS = 6
# A report this size is a long document already; more blocks would make its page slow.
MAX_BLOCKS = 50
MAX_MARKDOWN_CHARS = 100_000

INLINE_VALUE = re.compile(r"\{\{\s*value\b(?P<args>[^{}]*)\}\}")


@dataclass(frozen=True)
class BlockRef:
    """One reference to an artifact: a block (chart or table) or an inline value."""

    kind: Literal["block", "value"]
    # The artifact by id, or (0 and) by uid.
    artifact_id: int
    params: dict[str, str] = field(default_factory=dict)
    # Blocks: "chart", "table" or "" (the chart when there is one).
    show: str = ""
    rows: int = DEFAULT_TABLE_ROWS
    # Values: the column ("" for the first), the row (from 1), the decimals (None: automatic).
    column: str = ""
    row: int = 1
    digits: int | None = None
    # Where it is, for messages ("line 4").
    line: int = 0
    uid: str = ""


@dataclass
class ParsedReport:
    """The Markdown with a placeholder word for each reference, and what each stands for:
    a BlockRef, or the message saying why it is malformed."""

    text: str
    slots: dict[str, BlockRef | str]

    @property
    def refs(self) -> list[BlockRef]:
        return [slot for slot in self.slots.values() if isinstance(slot, BlockRef)]

    @property
    def problems(self) -> list[str]:
        return [slot for slot in self.slots.values() if isinstance(slot, str)]

    @property
    def artifact_ids(self) -> list[int]:
        return sorted({ref.artifact_id for ref in self.refs if ref.artifact_id})

    @property
    def artifact_uids(self) -> list[str]:
        return sorted({ref.uid for ref in self.refs if ref.uid})


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def parse_report(markdown: str) -> ParsedReport:
    """The references of a report and its text with a placeholder word for each.

    A malformed reference keeps its place with the message saying why (the report's
    validation refuses it; a page shows the message in its place)."""
    lines = markdown.split("\n")
    nonce = secrets.token_hex(4)
    tokens = _parser().parse(markdown)
    slots: dict[str, BlockRef | str] = {}
    code_lines = {
        number
        for token in tokens
        if token.type in ("fence", "code_block") and token.map
        for number in range(*token.map)
    }
    for number, line in enumerate(lines):
        if number not in code_lines:
            lines[number] = INLINE_VALUE.sub(
                lambda match, n=number: _inline(match, n, nonce, slots), line
            )
    # Back to front, so replacing a fence's lines leaves earlier line numbers alone.
    for token in reversed(tokens):
        info = token.info.strip()
        if token.type != "fence" or not token.map or info.split(" ")[0] != BLOCK_INFO:
            continue
        start, end = token.map
        words = info[len(BLOCK_INFO) :] + " " + token.content.replace("\n", " ")
        # What stands before the fence (an indent, a list item's or a quote's marker) stays.
        opening = lines[start]
        prefix = opening[: opening.find(token.markup)]
        word = _placeholder(nonce, start)
        lines[start:end] = [prefix + word]
        slots[word] = _reference("block", words, start + 1)
    return ParsedReport("\n".join(lines), slots)


def _inline(match: re.Match, number: int, nonce: str, slots: dict) -> str:
    word = _placeholder(nonce, f"{number}V{len(slots)}")
    slots[word] = _reference("value", match.group("args"), number + 1)
    return word


def _placeholder(nonce: str, number: int | str) -> str:
    # Letters and digits only: Markdown leaves such a word as it is, and nh3 keeps it.
    return f"REPORTREF{nonce}N{number}X"


def _reference(kind: str, words: str, line: int) -> BlockRef | str:
    try:
        return _parse_words(kind, words, line)
    except ValueError as exc:
        return _("Line %(line)s: %(problem)s") % {"line": line, "problem": exc}


def _parse_words(kind: str, words: str, line: int) -> BlockRef:
    try:
        tokens = shlex.split(words)
    except ValueError:
        raise ValueError(_("a quoted value is not closed.")) from None
    options: dict[str, str] = {}
    params: dict[str, str] = {}
    for position, token in enumerate(tokens):
        if position == 0 and token.isdigit():
            options["id"] = token
            continue
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ValueError(
                _("“%(word)s” is not an option; write key=value or :parameter=value.")
                % {"word": token}
            )
        if key.startswith(":"):
            if not key[1:]:
                raise ValueError(_("a parameter needs a name after the colon."))
            params[key[1:]] = value
        elif key in options:
            raise ValueError(_("the option %(key)s is given twice.") % {"key": key})
        else:
            options[key] = value
    return _ref_from_options(kind, options, params, line)


BLOCK_OPTIONS = {"id", "uid", "show", "rows"}
VALUE_OPTIONS = {"id", "uid", "column", "row", "digits"}


def _ref_from_options(kind: str, options: dict, params: dict, line: int) -> BlockRef:
    allowed = BLOCK_OPTIONS if kind == "block" else VALUE_OPTIONS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            _("unknown option %(name)s (options: %(allowed)s; parameters start with a colon).")
            % {"name": unknown[0], "allowed": ", ".join(sorted(allowed))}
        )
    if ("id" in options) == ("uid" in options):
        raise ValueError(_("say which artifact, by its id (for example `artifact 12`)."))
    artifact_id = _whole(options["id"], "id", 1, None) if "id" in options else 0
    uid = _uid(options["uid"]) if "uid" in options else ""
    if kind == "block":
        show = options.get("show", "")
        if show and show not in SHOW_CHOICES:
            raise ValueError(_("show must be chart or table, not “%(show)s”.") % {"show": show})
        rows = _whole(options.get("rows", str(DEFAULT_TABLE_ROWS)), "rows", 1, MAX_TABLE_ROWS)
        return BlockRef("block", artifact_id, params, show=show, rows=rows, line=line, uid=uid)
    row = _whole(options.get("row", "1"), "row", 1, MAX_TABLE_ROWS)
    digits = _whole(options["digits"], "digits", 0, MAX_DIGITS) if "digits" in options else None
    return BlockRef(
        "value",
        artifact_id,
        params,
        column=options.get("column", ""),
        row=row,
        digits=digits,
        line=line,
        uid=uid,
    )


def _uid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(_("“%(text)s” is not an artifact uid.") % {"text": text}) from None


def _whole(text: str, name: str, low: int, high: int | None) -> int:
    if not text.isdigit() or not (low <= int(text) and (high is None or int(text) <= high)):
        bound = _("from %(low)s to %(high)s") if high else _("from %(low)s")
        raise ValueError(
            _("%(name)s must be a whole number %(bound)s, not “%(text)s”.")
            % {"name": name, "bound": bound % {"low": low, "high": high}, "text": text}
        )
    return int(text)


def validate_report_markdown(markdown: object) -> ParsedReport:
    """The parsed report, or ValidationError with a message for each malformed reference."""
    if not isinstance(markdown, str):
        raise ValidationError(_("A report's text must be a string."), code="not_text")
    if len(markdown) > MAX_MARKDOWN_CHARS:
        raise ValidationError(
            _("A report holds at most %(max)s characters.") % {"max": f"{MAX_MARKDOWN_CHARS:,}"},
            code="too_long",
        )
    parsed = parse_report(markdown)
    if parsed.problems:
        raise ValidationError(
            [ValidationError(problem, code="bad_block") for problem in parsed.problems]
        )
    if len(parsed.refs) > MAX_BLOCKS:
        raise ValidationError(
            _("A report embeds at most %(max)s blocks and values (%(count)s given).")
            % {"max": MAX_BLOCKS, "count": len(parsed.refs)},
            code="too_many_blocks",
        )
    return parsed


# Digits in a report's own words (outside its blocks and values): what an agent may not write.
PROSE_NUMBER = re.compile(r"\d[\d,.]*")


# An ordered list's item numbers are Markdown, not figures.
LIST_MARKER = re.compile(r"^(\s*(?:>\s*)*)\d{1,9}[.)](?=\s|$)", re.MULTILINE)


def prose_numbers(parsed: ParsedReport) -> list[str]:
    """The numbers written in a report's prose, outside its blocks and inline values (and
    not counting an ordered list's item numbers)."""
    text = LIST_MARKER.sub(r"\1", parsed.text)
    for word in parsed.slots:
        text = text.replace(word, " ")
    return PROSE_NUMBER.findall(text)


# The id at the start of a reference's words: "12" or "id=12".
_ID_WORD = re.compile(r"^(?P<lead>\s*)(?:id=)?(?P<id>\d+)(?=\s|$)")


def rewrite_ids(markdown: str, uid_of: Callable[[int], str | None]) -> str:
    """The report with each reference by id written by uid instead (`uid_of(id)`; None
    leaves it as it is): what a bundle carries, as ids differ from one site to another."""

    def rewritten(words: str) -> str:
        match = _ID_WORD.match(words)
        uid = uid_of(int(match.group("id"))) if match else None
        if uid is None:
            return words
        return f"{match.group('lead')}uid={uid}{words[match.end() :]}"

    lines = markdown.split("\n")
    tokens = _parser().parse(markdown)
    code_lines = set()
    for token in tokens:
        if token.type not in ("fence", "code_block") or not token.map:
            continue
        code_lines.update(range(*token.map))
        if token.type == "fence" and token.info.strip().split(" ")[0] == BLOCK_INFO:
            line = lines[token.map[0]]
            head, _sep, info = line.partition(BLOCK_INFO)
            lines[token.map[0]] = head + BLOCK_INFO + rewritten(info)
    for number, line in enumerate(lines):
        if number not in code_lines:
            lines[number] = INLINE_VALUE.sub(
                lambda m: m.group(0).replace(m.group("args"), rewritten(m.group("args")), 1),
                line,
            )
    return "\n".join(lines)
