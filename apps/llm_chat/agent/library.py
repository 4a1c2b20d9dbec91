"""What the agent learns from the library: the saved artifacts most relevant to a question.

One ranking serves both uses, so they never disagree: the verified examples put in the
instructions before each turn (`verified_examples`) and the `search_artifacts` tool
(`relevant_artifacts`). Both see only what the chat's owner may see
(`Artifact.objects.visible_to`), on the agent's data source, active artifacts only.

The rank is a word overlap, the same on SQLite and PostgreSQL: the question's content words
(stop words dropped, a plural cut to its stem) found in the title or the question an
artifact answers count three, in its description or SQL one; ties go to verified artifacts,
then to the most run. `_rank` is the one place to switch to the library's full-text rank
(`ArtifactQuerySet.ranked_search`) once it is on main: it takes every-word-must-match
queries, so a question would be reduced to its content words first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db.models import Q

from apps.llm_artifact.models import Artifact

# The examples given to the model before a turn: a few, so the prompt stays short.
EXAMPLES_LIMIT = 3
# How many candidates the word filter hands to the rank; enough for any real library page.
CANDIDATES_LIMIT = 200
MAX_WORDS = 12

STOP_WORDS = frozenset(
    """
    the and for with from that this what which who whom whose when where why how are was were
    been being have has had does did doing can could should would will shall may might must
    our ours your yours their theirs them they its it's his her she him you all any each
    per into over under than then there these those about above below between during before
    after not nor only own same too very just also give show list tell find get much many
    most more some such one two three top me my mine please want need let lets us
    """.split()  # noqa: SIM905 (a paragraph of words reads better than a list literal)
)


def content_words(text: str) -> list[str]:
    """The words that say what a question is about, as stems for a substring match."""
    words: list[str] = []
    for word in re.findall(r"[a-z0-9_]+", text.lower()):
        if len(word) < 3 or word in STOP_WORDS:
            continue
        if word.endswith("ies") and len(word) > 4:
            word = word[:-3]  # categories -> categor (matches category)
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
        if word not in words:
            words.append(word)
    return words[:MAX_WORDS]


def _in_reach(owner, data_source: str, *, verified_only: bool):
    artifacts = Artifact.objects.visible_to(owner).filter(
        status=Artifact.Status.ACTIVE, data_source=data_source
    )
    if verified_only:
        artifacts = artifacts.filter(verified_at__isnull=False)
    return artifacts


def _score(artifact: Artifact, words: Sequence[str]) -> int:
    strong = f"{artifact.title}\n{artifact.question}".lower()
    weak = f"{artifact.description}\n{artifact.sql_query}".lower()
    return sum(3 if word in strong else 1 if word in weak else 0 for word in words)


def _rank(artifacts, text: str, limit: int) -> list[Artifact]:
    words = content_words(text)
    if not words:
        return list(artifacts.order_by("-verified_at", "-execution_count", "-created_at")[:limit])
    match = Q()
    for word in words:
        for field in ("title", "question", "description", "sql_query"):
            match |= Q(**{f"{field}__icontains": word})
    found = artifacts.filter(match).order_by("-execution_count", "-pk")
    candidates = list(found[:CANDIDATES_LIMIT])
    scored = [(artifact, _score(artifact, words)) for artifact in candidates]
    scored.sort(
        key=lambda pair: (-pair[1], not pair[0].is_verified, -pair[0].execution_count, -pair[0].pk)
    )
    return [artifact for artifact, score in scored if score > 0][:limit]


def relevant_artifacts(owner, data_source: str, text: str, *, limit: int) -> list[Artifact]:
    """The artifacts `owner` may see on `data_source` that best match `text`, best first."""
    return _rank(_in_reach(owner, data_source, verified_only=False), text, limit)


def verified_examples(
    owner, data_source: str, question: str, *, limit: int = EXAMPLES_LIMIT
) -> list[Artifact]:
    """The verified artifacts most relevant to `question`: the examples of a turn."""
    return _rank(_in_reach(owner, data_source, verified_only=True), question, limit)


def example_record(artifacts: Sequence[Artifact]) -> list[dict]:
    """What the model-call log keeps of the examples a turn was given."""
    return [{"id": artifact.pk, "title": artifact.title} for artifact in artifacts]
