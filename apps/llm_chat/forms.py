from __future__ import annotations

from django import forms

from apps.llm_agent.models import Agent
from apps.llm_chat.models import MESSAGE_MAX_LENGTH, Chat, Message


class ChatCreateForm(forms.ModelForm):
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.active(),
        empty_label="Choose an agent…",
        error_messages={"required": "Choose the agent to talk to."},
    )

    class Meta:
        model = Chat
        fields = ["agent", "title"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A title is optional here: the chat is named after its agent until the user renames it.
        self.fields["title"].required = False
        self.fields["title"].widget.attrs["placeholder"] = "Optional title"
        # The agents are read once here: the select lists them and the page asks whether
        # there are any (has_agents) without a query of its own.
        agent = self.fields["agent"]
        agents = list(agent.queryset)
        agent.choices = [
            ("", agent.empty_label),
            *((a.pk, agent.label_from_instance(a)) for a in agents),
        ]
        self.has_agents = bool(agents)

    def clean(self) -> dict:
        cleaned = super().clean()
        agent = cleaned.get("agent")
        if agent and not cleaned.get("title"):
            cleaned["title"] = f"Chat with {agent.name}"
        return cleaned


class MessageForm(forms.ModelForm):
    """The composer. Build it with `instance=Message(chat=chat, role=Message.Role.USER)`
    so the model's own rules (some content, at most MESSAGE_MAX_LENGTH characters) decide
    what is valid, with the same words as the API."""

    # Neither required nor limited here: both are the model's rules, checked by full_clean. A
    # form-level limit would also blank the content the model checks, adding "Write a message".
    content = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": MESSAGE_MAX_LENGTH}),
    )

    class Meta:
        model = Message
        fields = ["content"]
