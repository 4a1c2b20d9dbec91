from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import ModelCleanSerializer
from apps.llm_agent.models import Agent


class AgentSerializer(ModelCleanSerializer):
    """An LLM configuration that chats talk to.

    The API key is never stored or returned: `api_key_env` names the environment variable
    that holds it on the server, and `api_key_is_set` says whether that variable has a value.
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
        extra_kwargs = {"temperature": {"coerce_to_string": False}}
