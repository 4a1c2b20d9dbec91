from __future__ import annotations

from rest_framework import serializers

from apps.core.redact import mask_url
from apps.core.serializers import ModelCleanSerializer
from apps.llm_agent.models import Agent


class UsableAgentField(serializers.PrimaryKeyRelatedField):
    """An active agent the requesting user may use (Agent.objects.usable_by), by id; any
    other id is refused like one that does not exist."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("queryset", Agent.objects.active())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Agent.objects.none()
        return Agent.objects.active().usable_by(request.user)


class AgentSerializer(ModelCleanSerializer):
    """An LLM configuration that chats talk to.

    The API key is never stored or returned: `api_key_env` names the environment variable
    that holds it on the server (staff only: it is set-up detail, left out for other users),
    and `api_key_is_set` says whether that variable has a value. `base_url` is shown with any
    credentials masked (`https://***@host/v1`, `?api_key=***`); sending the masked value back
    keeps the stored one.
    """

    url = serializers.HyperlinkedIdentityField(view_name="api:agent-detail")
    # Whether the variable named by api_key_env holds a value on this server; the value
    # itself is never read into a response.
    api_key_is_set = serializers.BooleanField(read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "url",
            "name",
            "description",
            "provider",
            "model_name",
            "base_url",
            "api_key_env",
            "api_key_is_set",
            "system_prompt",
            "temperature",
            "max_output_tokens",
            "data_source",
            "is_active",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "temperature": {"coerce_to_string": False},
            "base_url": {
                "help_text": "Required for OpenAI-compatible servers, e.g. "
                "http://127.0.0.1:11434/v1. Shown with credentials masked (***); sending the "
                "masked value back keeps the stored one."
            },
            "api_key_env": {
                "help_text": "Name of the environment variable that holds the API key, e.g. "
                "OPENAI_API_KEY. Staff only: left out of the response for other users."
            },
        }

    def validate_base_url(self, value: str) -> str:
        # A client that read the agent and sends it back (PUT) must not replace the stored
        # credentials with the mask it was shown.
        stored = self.instance.base_url if self.instance else ""
        if stored and value != stored and value == mask_url(stored):
            return stored
        return value

    def to_representation(self, agent: Agent) -> dict:
        data = super().to_representation(agent)
        data["base_url"] = mask_url(data["base_url"])
        request = self.context.get("request")
        if not (request and request.user.is_staff):
            data.pop("api_key_env", None)
        return data
