from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.sharing import (
    SCOPE_PARAMETER,
    HasObjectPermission,
    TransferSerializer,
    list_scope,
    transfer,
)
from apps.core.parsers import JSONParser
from apps.core.serializers import api_validation_error
from apps.llm_artifact.models import Artifact
from apps.llm_chat import live
from apps.llm_chat.agent import (
    TurnOutcome,
    TurnRefused,
    retry_turn_sync,
    run_turn_sync,
)
from apps.llm_chat.api.filters import ChatFilter
from apps.llm_chat.api.serializers import ChatSerializer, MessageSerializer
from apps.llm_chat.lookups import get_chat_for_user, get_rw_chat_for_user
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
    "Every event's data is JSON with its `type`. A client that disconnects ends only its "
    "reading: the turn goes on and its reply is saved; the chat page's stream endpoint "
    "follows it again from where it is."
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
    default_detail = _("This message already has a reply.")
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


@extend_schema_view(list=extend_schema(parameters=[SCOPE_PARAMETER]))
class ChatViewSet(viewsets.ModelViewSet):
    """Your chats and those shared with you (staff: everyone's), newest activity first; any
    other is a 404. Shared chats are read-only: only the owner posts in or renames a chat;
    the owner and staff delete it, change who reads it or hand it over."""

    serializer_class = ChatSerializer
    permission_classes = [HasObjectPermission]
    # Asked about the chat at each request (apps.llm_chat.rules). Posting and retrying look
    # the chat up themselves (apps.llm_chat.lookups, Chat.can_post, as the pages do).
    object_permissions = {
        "retrieve": "chats.view",
        # Renaming is a write in the chat: the owner's only (staff read, 403).
        "update": "chats.post",
        "partial_update": "chats.post",
        "destroy": "chats.delete",
        "transfer": "chats.share",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = ChatFilter

    def get_queryset(self) -> QuerySet[Chat]:
        user = self.request.user
        if self.action == "list":
            chats = Chat.objects.in_scope(user, list_scope(self.request))
        else:
            chats = Chat.objects.visible_to(user)
        return chats.select_related("agent", "owner").with_counts().with_shares()

    def perform_create(self, serializer: ChatSerializer) -> None:
        # The request's language (the user's choice, else Accept-Language), as on the page.
        chat = serializer.save(owner=self.request.user, language=Chat.language_now())
        # Re-read with the counts the response shows.
        serializer.instance = self.get_queryset().get(pk=chat.pk)

    def _message_context(self, messages: list[Message]) -> dict:
        """The serializer context, with the linked artifacts the reader may see (one query):
        a shared chat shows the others only as there, not what they are."""
        ids = {m.artifact_id for m in messages if m.artifact_id}
        ids |= {link.artifact_id for m in messages for link in m.links}
        visible = Artifact.objects.visible_to(self.request.user).filter(pk__in=ids)
        return {
            **self.get_serializer_context(),
            "visible_artifact_ids": set(visible.values_list("pk", flat=True)) if ids else set(),
        }

    @extend_schema(
        summary="Hand the chat to another owner",
        description="Only the owner (and staff) may. The new owner must be allowed to use "
        "the chat's agent. The change is recorded in the sharing history; the chat keeps "
        "its visibility and shares.",
        request=TransferSerializer,
        responses={200: ChatSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        serializer_class=TransferSerializer,
        parser_classes=[JSONParser],
    )
    def transfer(self, request: Request, pk: str | None = None) -> Response:
        chat = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new_owner = serializer.validated_data["owner"]
        if not new_owner.has_perm("agents.use", chat.agent):
            raise ValidationError({"owner": [f"{new_owner} may not use the agent {chat.agent}."]})
        transfer(chat, to=new_owner, actor=request.user)
        chat = self.get_queryset().filter(pk=chat.pk).first() or chat
        return Response(ChatSerializer(chat, context=self.get_serializer_context()).data)

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
        filter_backends=[],
        serializer_class=MessageSerializer,
        content_negotiation_class=TurnNegotiation,
    )
    def messages(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "POST":
            return self._post_message(request, get_rw_chat_for_user(request.user, pk))
        chat = get_chat_for_user(request.user, pk)
        messages = chat.messages.with_artifacts()
        page = self.paginate_queryset(messages)
        serializer = MessageSerializer(page, many=True, context=self._message_context(page))
        return self.get_paginated_response(serializer.data)

    def _post_message(self, request: Request, chat: Chat) -> Response | StreamingHttpResponse:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = post_user_message(chat, content=serializer.validated_data["content"])
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        if wants_event_stream(request):
            return event_stream_response(live.follow(chat, message))
        return self._turn(lambda: run_turn_sync(chat, message), status.HTTP_201_CREATED)

    def _turn(self, run: Callable[[], TurnOutcome], status_code: int) -> Response:
        try:
            outcome = run()
        except TurnRefused as refused:
            raise TurnConflict(str(refused)) from refused
        both = Message.objects.filter(pk__in=[outcome.user_message.pk, outcome.reply.pk])
        both = list(both.with_artifacts().order_by("id"))
        return Response(
            MessageSerializer(both, many=True, context=self._message_context(both)).data,
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
        filter_backends=[],
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
            raise TurnConflict(_("This reply does not name its question, so it cannot be retried."))
        if wants_event_stream(request):
            # The stream's headers leave before the turn starts, so refuse here, not in it.
            reply = question.latest_reply()
            if reply is not None and not reply.is_retryable:
                raise TurnConflict(reply.refusal)
            return event_stream_response(live.follow(chat, question, retry=True))
        return self._turn(lambda: retry_turn_sync(chat, question), status.HTTP_200_OK)
