from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import api_validation_error
from apps.llm_chat.api.serializers import ChatSerializer, MessageSerializer
from apps.llm_chat.models import Chat
from apps.llm_chat.services import post_user_message


class ChatViewSet(viewsets.ModelViewSet):
    """Your chats (staff: everyone's), newest activity first; anyone else's is a 404."""

    serializer_class = ChatSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Chat]:
        chats = Chat.objects.visible_to(self.request.user).select_related("agent", "owner")
        # The messages endpoint needs only the chat itself, not its counts.
        return chats if self.action == "messages" else chats.with_counts()

    def perform_create(self, serializer: ChatSerializer) -> None:
        chat = serializer.save(owner=self.request.user)
        # Re-read with the counts the response shows.
        serializer.instance = self.get_queryset().get(pk=chat.pk)

    @extend_schema(
        methods=["GET"],
        summary="List a chat's messages, oldest first",
        description="Each message carries a short summary of the artifact it links, if any, "
        "and what it did with it (artifact_action).",
        responses=MessageSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Post a user message to your chat",
        description="Saves the message (role user, status complete) and returns it. Staff "
        "can read any chat's messages but post only in their own chats.",
        request=MessageSerializer,
        responses={201: MessageSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="messages",
        serializer_class=MessageSerializer,
    )
    def messages(self, request: Request, pk: str | None = None) -> Response:
        chat = self.get_object()
        if request.method == "POST":
            return self._post_message(request, chat)
        messages = chat.messages.with_artifact()
        page = self.paginate_queryset(messages)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def _post_message(self, request: Request, chat: Chat) -> Response:
        # Staff may read any chat, but a message always speaks for the chat's owner.
        if chat.owner_id != request.user.pk:
            raise PermissionDenied("Only the chat's owner can post in it.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = post_user_message(chat, content=serializer.validated_data["content"])
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)
