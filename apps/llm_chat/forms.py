from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.llm_agent.models import Agent
from apps.llm_chat.models import MESSAGE_MAX_LENGTH, Message


class ChatStartForm(forms.Form):
    """A new chat: the agent and the first question (the chat is created with it).

    Only active agents `user` may use are offered and accepted (Agent.objects.usable_by); any
    other is refused like an unknown choice.
    """

    agent = forms.ModelChoiceField(
        queryset=Agent.objects.active(),
        label=_("Agent"),
        empty_label=_("Choose an agent…"),
        error_messages={"required": _("Choose the agent to talk to.")},
    )
    # Checked by the model's rules (Message.clean) in services.start_chat, as in MessageForm.
    content = forms.CharField(
        label=_("Your question"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MESSAGE_MAX_LENGTH}),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The agents are read once here: the select lists them, the page asks whether there
        # are any (has_agents) and shows the chosen one's example questions.
        agent = self.fields["agent"]
        agent.queryset = Agent.objects.active().usable_by(user)
        self.agents = list(agent.queryset)
        agent.choices = [
            ("", agent.empty_label),
            *((a.pk, agent.label_from_instance(a)) for a in self.agents),
        ]
        self.has_agents = bool(self.agents)

    def chosen_agent(self, pk: object = None) -> Agent | None:
        """The agent the page is for: ?agent=<id> if active, else the only or first one."""
        for candidate in self.agents:
            if str(candidate.pk) == str(pk):
                return candidate
        return self.agents[0] if self.agents else None


class MessageForm(forms.ModelForm):
    """The composer. Build it with `instance=Message(chat=chat, role=Message.Role.USER)`
    so the model's own rules (some content, at most MESSAGE_MAX_LENGTH characters) decide
    what is valid, with the same words as the API."""

    # Neither required nor limited here: both are the model's rules, checked by full_clean. A
    # form-level limit would also blank the content the model checks, adding "Write a message".
    content = forms.CharField(
        label=_("Message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": MESSAGE_MAX_LENGTH}),
    )

    class Meta:
        model = Message
        fields = ["content"]


class ArtifactChatForm(forms.Form):
    """A chat about an artifact: one of the agents that work on its data source, and the
    first question ("make it weekly")."""

    agent = forms.TypedChoiceField(
        label=_("Agent"), coerce=int, error_messages={"required": _("Choose the agent to talk to.")}
    )
    # Checked by the model's rules in services.start_chat, as in ChatStartForm.
    content = forms.CharField(
        label=_("Your question"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "maxlength": MESSAGE_MAX_LENGTH,
                "placeholder": _("e.g. Make it weekly, or add the seller's country"),
            }
        ),
    )

    def __init__(self, *args, agents: list[Agent], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.agents = {agent.pk: agent for agent in agents}
        self.fields["agent"].choices = [(agent.pk, agent.name) for agent in agents]

    def clean_agent(self) -> Agent:
        return self.agents[self.cleaned_data["agent"]]
