"""'Ask the agent about this artifact': a new chat whose agent has the artifact as context
(Chat.subject_artifact; apps.llm_chat.agent.prompts.subject_context) and may update it
through update_artifact when the user may edit it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.http import HtmxHttpRequest
from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact
from apps.llm_chat.forms import ArtifactChatForm
from apps.llm_chat.services import start_chat


def agents_for(user, artifact: Artifact) -> list[Agent]:
    """The agents `user` may use that work on the artifact's data source, the artifact's
    own agent first: its SQL is written for that source."""
    agents = list(
        Agent.objects.usable_by(user)
        .active()
        .filter(data_source=artifact.data_source)
        .order_by("name", "pk")
    )
    agents.sort(key=lambda agent: agent.pk != artifact.agent_id)
    return agents


@login_required
@require_http_methods(["GET", "POST"])
def chat_about_artifact(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: the first question about the artifact; POST: start the chat with it. Nothing is
    saved until the question is sent, as for any new chat."""
    artifact = get_object_or_404(Artifact.objects.visible_to(request.user), pk=pk)
    agents = agents_for(request.user, artifact)
    initial = {"agent": agents[0].pk} if agents else {}
    if request.method == "GET":
        form = ArtifactChatForm(initial=initial, agents=agents)
        return _render(request, artifact, form)
    form = ArtifactChatForm(request.POST, agents=agents)
    if form.is_valid():
        try:
            chat, _ = start_chat(
                request.user,
                form.cleaned_data["agent"],
                question=form.cleaned_data["content"],
                subject_artifact=artifact,
            )
        except ValidationError as exc:
            form.add_error("content", exc.message_dict.get("content", exc.messages))
        else:
            return redirect(chat)
    return _render(request, artifact, form, status=422)


def _render(
    request: HtmxHttpRequest, artifact: Artifact, form: ArtifactChatForm, status: int = 200
) -> HttpResponse:
    context = {
        "artifact": artifact,
        "form": form,
        "can_edit": artifact.is_editable_by(request.user),
    }
    return render(request, "llm_chat/chat_about_artifact.html", context, status=status)
