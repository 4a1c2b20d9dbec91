"""An artifact's card in a chat: which artifact, what the message did with it, and the
parameter values the message used, in a small run form prefilled with them.

The chat pages build one per link of a message (apps/llm_chat/views.py), the card's Run
(views.artifact_card_run) builds the one it answers with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from apps.llm_artifact.artifact_page import declarations_error_of
from apps.llm_artifact.forms import ArtifactRunForm
from apps.llm_artifact.models import Artifact

# What a card's key may be (the message's id): it ends up in element ids.
CARD_KEY_RE = re.compile(r"^[0-9]{1,20}$")


def card_key(value: object) -> str:
    """A posted card key, or "" when it is not one."""
    text = str(value or "")
    return text if CARD_KEY_RE.match(text) else ""


@dataclass
class ArtifactCard:
    artifact: Artifact
    action: str = ""
    # The values the message used ({name: value}); empty means the artifact's defaults.
    params: dict = field(default_factory=dict)
    # The message's id: one artifact may have a card in several messages of a page, so
    # element ids carry it.
    key: str = ""
    # A card answering a Run: the values as posted, with their errors.
    form_data: dict | None = None
    # The reader may not see this artifact (a shared chat, an artifact that is not): the
    # card only says that one is here.
    hidden: bool = False
    # Anyone but its owner may see it (the "shared" badge; the chat page asks for all its
    # cards at once).
    shared: bool = False

    @property
    def template(self) -> str:
        """The card's template: its type's (apps/llm_artifact/types); the hidden card is
        the SQL card's, which says only that an artifact is here."""
        if self.hidden:
            return "llm_artifact/artifact_card.html"
        return self.artifact.type_spec.card_template

    @property
    def dom_id(self) -> str:
        base = f"artifact-card-{self.artifact.pk}"
        return f"{base}-{self.key}" if self.key else base

    @property
    def run_dom_id(self) -> str:
        base = f"artifact-card-run-{self.artifact.pk}"
        return f"{base}-{self.key}" if self.key else base

    @cached_property
    def form(self) -> ArtifactRunForm | None:
        """The parameters as the card runs them; None without parameters or when their
        declarations are broken (the card says so when run)."""
        if not self.artifact.query_params or declarations_error_of(self.artifact):
            return None
        return ArtifactRunForm(
            self.artifact.query_params,
            self.form_data,
            values=self.params if isinstance(self.params, dict) else {},
            auto_id=f"{self.dom_id}-%s",
            data_source=self.artifact.data_source,
        )
