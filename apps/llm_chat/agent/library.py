"""What the agent learns from the library: the saved artifacts most relevant to a question.

One ranking serves both uses, so they never disagree: the verified examples put in the
instructions before each turn (`verified_examples`) and the `search_artifacts` tool
(`relevant_artifacts`). Both see only what the chat's owner may see
(`Artifact.objects.visible_to`), on the agent's data source, active artifacts only.

The rank is the library's full-text rank (the FTS5 or tsvector index, as on the library page),
asked for any of the question's content words (stop words dropped, a plural cut to its stem,
each matched as the start of a word); ties go to verified artifacts, then to the most run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apps.llm_artifact import types as artifact_types
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
        status=Artifact.Status.ACTIVE,
        data_source=data_source,
        # Saved queries: what the agent reads as examples and runs (apps/llm_artifact/types).
        artifact_type__in=artifact_types.sql_names(),
    )
    if verified_only:
        artifacts = artifacts.filter(verified_at__isnull=False)
    return artifacts


def _rank(artifacts, text: str, limit: int) -> list[Artifact]:
    words = content_words(text)
    if not words:
        return list(artifacts.order_by("-verified_at", "-execution_count", "-created_at")[:limit])
    # The library's full-text rank (ArtifactQuerySet.ranked_by_words: any of the words, each
    # the start of a word, weighted by field as the library page's search is); ties go to
    # verified artifacts, then to the most run.
    candidates = list(artifacts.ranked_by_words(words)[:CANDIDATES_LIMIT])
    candidates.sort(key=lambda a: (-a.search_rank, not a.is_verified, -a.execution_count, -a.pk))
    return candidates[:limit]


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
