"""Execution accuracy: does the agent's SQL return the rows the known correct SQL returns?

Rows are compared as multisets (order ignored: a question that needs an order asks for the
top N, and the N rows are what count). The agent's columns may come in another order and
extra columns are tolerated: each gold column is matched to an agent column holding the same
values (else one of the same name). Values are compared after normalising: numbers as floats
rounded to 2 decimals (SQLite REAL and PostgreSQL numeric alike), booleans as 0/1, dates
as ISO text, text stripped.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from apps.llm_agent.models import EvalAnswer

Verdict = EvalAnswer.Verdict

# Different mappings of gold columns to agent columns tried before giving up; a handful of
# columns with identical values (two zero counts) is all this ever meets.
MAX_MAPPINGS = 64


@dataclass(frozen=True)
class Result:
    """Rows as a query returned them, with the names of their columns."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Score:
    verdict: str
    detail: str = ""

    @property
    def correct(self) -> bool:
        return self.verdict == Verdict.CORRECT


def normalise(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | decimal.Decimal):
        number = round(float(value), 2)
        return 0.0 if number == 0 else number  # -0.0 and 0.0 alike
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    text = str(value).strip()
    try:  # a number the driver returned as text (e.g. a numeric cast) compares as a number
        return normalise(float(text)) if text and text[0] in "-+0123456789." else text
    except ValueError:
        return text


def _column(rows: list[tuple], index: int) -> Counter:
    return Counter(row[index] for row in rows)


def _candidates(gold: Result, gold_rows: list[tuple], agent: Result, agent_rows: list[tuple]):
    """For each gold column, the agent columns that may stand for it, likeliest first."""
    names = [name.lower() for name in agent.columns]
    options = []
    for index, name in enumerate(gold.columns):
        values = _column(gold_rows, index)
        same_values = [j for j in range(len(agent.columns)) if _column(agent_rows, j) == values]
        same_name = [j for j, other in enumerate(names) if other == name.lower()]
        overlap = sorted(
            range(len(agent.columns)),
            key=lambda j: -sum((_column(agent_rows, j) & values).values()),
        )
        ordered = list(dict.fromkeys([*same_values, *same_name, *overlap]))
        options.append(ordered)
    return options


def score(gold: Result, agent: Result | None, *, error: str = "") -> Score:
    """The verdict on the agent's result (None: it gave no SQL; `error`: its SQL failed)."""
    if error:
        return Score(Verdict.ERROR, error)
    if agent is None:
        return Score(Verdict.NO_SQL, "The agent gave no SQL.")
    gold_rows = [tuple(normalise(v) for v in row) for row in gold.rows]
    agent_rows = [tuple(normalise(v) for v in row) for row in agent.rows]
    if not agent_rows:
        if not gold_rows:
            return Score(Verdict.CORRECT)
        return Score(Verdict.EMPTY, f"No rows; expected {len(gold_rows)}.")
    if len(agent.columns) < len(gold.columns):
        return Score(
            Verdict.DIFFERENT_VALUES,
            f"{len(agent.columns)} column(s); the answer needs {len(gold.columns)}: "
            + ", ".join(gold.columns),
        )
    expected = Counter(gold_rows)
    best: Counter | None = None
    options = _candidates(gold, gold_rows, agent, agent_rows)
    for mapping in itertools.islice(itertools.product(*options), MAX_MAPPINGS):
        if len(set(mapping)) != len(mapping):
            continue  # one agent column cannot stand for two gold columns
        got = Counter(tuple(row[j] for j in mapping) for row in agent_rows)
        if got == expected:
            return Score(Verdict.CORRECT)
        if best is None:
            best = got  # the likeliest mapping says what went wrong
    if best is None:
        return Score(Verdict.DIFFERENT_VALUES, "No column of the result matches the answer's.")
    missing, extra = expected - best, best - expected
    if missing and not extra:
        return Score(
            Verdict.MISSING_ROWS, f"{sum(missing.values())} of {len(gold_rows)} rows missing."
        )
    if extra and not missing:
        return Score(Verdict.EXTRA_ROWS, f"{sum(extra.values())} rows more than the answer.")
    example = next(iter(missing))
    return Score(
        Verdict.DIFFERENT_VALUES,
        f"{sum(missing.values())} of {len(gold_rows)} rows differ, e.g. expected {example!r}.",
    )
