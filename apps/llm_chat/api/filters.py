from __future__ import annotations

from django_filters import rest_framework as filters

from apps.llm_chat.models import Chat


class ChatFilter(filters.FilterSet):
    owner = filters.CharFilter(
        field_name="owner__username", help_text="Only chats of the user with this username."
    )

    class Meta:
        model = Chat
        fields = ["owner"]
