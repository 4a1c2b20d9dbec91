"""The artifacts' background work (apps/jobs runs it)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.jobs.runner import JobContext, job
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.services import run_artifact


@job(time_limit=3600, max_attempts=3)
def run_artifact_in_background(
    ctx: JobContext, artifact_id: int, user_id: int, raw_params: dict
) -> dict:
    """Run an artifact as `user_id` (who must still be allowed to run it) and record the run.

    Running twice (a worker died after recording) records two runs, which is what a user who
    pressed Run twice would see too; nothing is sent or changed elsewhere.
    """
    user = get_user_model().objects.get(pk=user_id, is_active=True)
    artifact = Artifact.objects.visible_to(user).get(pk=artifact_id)
    if not user.has_perm("artifacts.run", artifact):
        raise PermissionError("This user may no longer run this artifact.")
    ctx.progress(0.0, text="Running the query")
    outcome = run_artifact(artifact, user=user, raw_params=raw_params)
    return {"run": outcome.run.pk, "outcome": outcome.run.outcome}
