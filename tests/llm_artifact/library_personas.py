"""Sharing an artifact with a group, for the library tests (the group personas are in
tests/llm_artifact/conftest.py)."""

from __future__ import annotations

from apps.accounts.sharing import Visibility
from apps.llm_artifact.models import ArtifactShare


def share_with(artifact, group, *, can_edit: bool = False) -> None:
    artifact.visibility = Visibility.GROUPS
    artifact.save(update_fields=["visibility"])
    ArtifactShare.objects.create(artifact=artifact, group=group, can_edit=can_edit)
