from rest_framework import viewsets

from apps.llm_chat.models import Chat


class ChatViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Chat.objects.all()
