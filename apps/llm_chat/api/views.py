from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import api_validation_error
from apps.llm_chat.agent import (
    TurnOutcome,
    TurnRefused,
    retry_turn,
    retry_turn_sync,
    run_turn,
    run_turn_sync,
)
from apps.llm_chat.api.serializers import ChatSerializer, MessageSerializer
from apps.llm_chat.lookups import check_can_post, get_chat_for_user, get_rw_chat_for_user
from apps.llm_chat.models import Chat, Message
from apps.llm_chat.services import post_user_message
from apps.llm_chat.streams import EVENT_STREAM, event_stream_response, wants_event_stream

EVENTS_DESCRIPTION = (
    "With `Accept: text/event-stream` the turn streams as Server-Sent Events instead, one per "
    "step: `start` {user_message_id, message_id}; any number of `text` {text} (Markdown, "
    "unsanitised), `tool` {call_id, tool, label, state: started|done|failed} and `artifact` "
    "{artifact_id, action: created|updated, title}; then exactly one `done` {message_id, "
    "input_tokens, output_tokens}, `error` {message_id, reason} or `stopped` {message_id} (the "
    "owner pressed Stop on the chat page: the reply keeps what was written, status stopped). "
    "Every event's data is JSON with its `type`. A client that disconnects ends the turn: the "
    "reply keeps what arrived and is marked error."
)
EVENTS_EXAMPLE = (
    'event: start\ndata: {"type": "start", "user_message_id": 41, "message_id": 42}\n\n'
    'event: tool\ndata: {"type": "tool", "call_id": "call_1", "tool": "run_sql", '
    '"label": "Running SQL", "state": "started"}\n\n'
    'event: text\ndata: {"type": "text", "text": "Games lead"}\n\n'
    'event: done\ndata: {"type": "done", "message_id": 42, "input_tokens": 812, '
    '"output_tokens": 64}\n\n'
)
EVENT_STREAM_RESPONSE = OpenApiResponse(
    OpenApiTypes.STR,
    description="With Accept: text/event-stream, the turn as Server-Sent Events.",
    examples=[
        OpenApiExample(
            "A short turn",
            value=EVENTS_EXAMPLE,
            media_type=EVENT_STREAM,
            status_codes=["200"],
            response_only=True,
        )
    ],
)

NOT_YOURS_RESPONSE = OpenApiResponse(description="Not your chat to post in (staff read only).")

# The question and the reply: two messages, not a page of them (a ListSerializer here would
# be documented as the paginated list). The Message component comes from the GET.
MESSAGE_PAIR = {
    "type": "array",
    "items": {"$ref": "#/components/schemas/Message"},
    "minItems": 2,
    "maxItems": 2,
}


class TurnConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This message already has a reply."
    default_code = "turn_refused"


class TurnNegotiation(DefaultContentNegotiation):
    """A client asking for `text/event-stream` gets the stream the view returns itself; its
    errors (400, 403, 404, 409) come as JSON, where DRF would refuse the request (406)."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        if wants_event_stream(request):
            renderer = next((r for r in renderers if isinstance(r, JSONRenderer)), renderers[0])
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)


class ChatViewSet(viewsets.ModelViewSet):
    """Your chats (staff: everyone's), newest activity first; anyone else's is a 404."""

    serializer_class = ChatSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Chat]:
        chats = Chat.objects.visible_to(self.request.user).select_related("agent", "owner")
        return chats.with_counts()

    def get_object(self) -> Chat:
        chat = super().get_object()
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            # Renaming and deleting are writes: the owner's only (staff read, 403).
            check_can_post(chat, self.request.user)
        return chat

    def perform_create(self, serializer: ChatSerializer) -> None:
        chat = serializer.save(owner=self.request.user)
        # Re-read with the counts the response shows.
        serializer.instance = self.get_queryset().get(pk=chat.pk)

    @extend_schema(
        methods=["GET"],
        summary="List a chat's messages, oldest first",
        description="Each message carries a short summary of its main artifact, if any, and "
        "what it did with it (artifact_action), and the list of every artifact it created or "
        "updated (artifacts).",
        responses=MessageSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Ask the agent: post a user message and run its turn",
        description="Saves the message (role user) before anything else, runs the agent's "
        "turn and answers 201 with both new messages, the question and the assistant reply "
        "(with links to the artifacts it created or updated). If the provider fails (not "
        "reachable, an error, a timeout), the answer is still 201: the question is saved and "
        "the reply has status `error` and the reason in `error`; retry it with "
        "/messages/{message_id}/retry/. Staff can read any chat's messages but post only in "
        f"their own chats.\n\n{EVENTS_DESCRIPTION}",
        request=MessageSerializer,
        responses={
            (201, "application/json"): OpenApiResponse(
                MESSAGE_PAIR,
                description="The question and the agent's reply, in that order.",
            ),
            (200, EVENT_STREAM): EVENT_STREAM_RESPONSE,
            400: OpenApiResponse(description="No content (field-level errors)."),
            403: NOT_YOURS_RESPONSE,
            409: OpenApiResponse(description="The message already has a reply."),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="messages",
        serializer_class=MessageSerializer,
        content_negotiation_class=TurnNegotiation,
    )
    def messages(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "POST":
            return self._post_message(request, get_rw_chat_for_user(request.user, pk))
        chat = get_chat_for_user(request.user, pk)
        messages = chat.messages.with_artifacts()
        page = self.paginate_queryset(messages)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def _post_message(self, request: Request, chat: Chat) -> Response | StreamingHttpResponse:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = post_user_message(chat, content=serializer.validated_data["content"])
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        if wants_event_stream(request):
            return event_stream_response(run_turn(chat, message))
        return self._turn(lambda: run_turn_sync(chat, message), status.HTTP_201_CREATED)

    def _turn(self, run: Callable[[], TurnOutcome], status_code: int) -> Response:
        try:
            outcome = run()
        except TurnRefused as refused:
            raise TurnConflict(str(refused)) from refused
        both = Message.objects.filter(pk__in=[outcome.user_message.pk, outcome.reply.pk])
        both = both.with_artifacts().order_by("id")
        return Response(
            MessageSerializer(both, many=True, context=self.get_serializer_context()).data,
            status=status_code,
        )

    @extend_schema(
        summary="Run a failed turn again",
        description="Retries the turn of a question whose reply failed (or never came): "
        "`message_id` is the failed assistant reply or the user message it answers. The "
        "failed reply row is reused (same id), cleared and written again; artifacts the "
        "failed attempt saved stay linked to it. Answers 200 with the question and the "
        "reply, which may have failed again (status `error`).\n\n" + EVENTS_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "message_id",
                OpenApiTypes.INT,
                OpenApiParameter.PATH,
                description="The failed reply, or its question.",
            )
        ],
        request=None,
        responses={
            (200, "application/json"): OpenApiResponse(
                MESSAGE_PAIR,
                description="The question and the reply, in that order.",
            ),
            (200, EVENT_STREAM): EVENT_STREAM_RESPONSE,
            403: NOT_YOURS_RESPONSE,
            404: OpenApiResponse(description="No such message in this chat."),
            409: OpenApiResponse(
                description="Nothing to retry: the reply is complete or still being written, "
                "or it does not name its question."
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"messages/(?P<message_id>\d+)/retry",
        serializer_class=MessageSerializer,
        content_negotiation_class=TurnNegotiation,
    )
    def retry(
        self, request: Request, pk: str | None = None, message_id: str | None = None
    ) -> Response | StreamingHttpResponse:
        chat = get_rw_chat_for_user(request.user, pk)
        target = get_object_or_404(
            chat.messages.filter(role__in=[Message.Role.USER, Message.Role.ASSISTANT]),
            pk=message_id,
        )
        question = target if target.role == Message.Role.USER else target.reply_to
        if question is None:
            raise TurnConflict("This reply does not name its question, so it cannot be retried.")
        if wants_event_stream(request):
            # The stream's headers leave before the turn starts, so refuse here, not in it.
            reply = question.latest_reply()
            if reply is not None and not reply.is_retryable:
                raise TurnConflict(reply.refusal)
            return event_stream_response(retry_turn(chat, question))
        return self._turn(lambda: retry_turn_sync(chat, question), status.HTTP_200_OK)
