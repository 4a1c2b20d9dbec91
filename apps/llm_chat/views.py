from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from apps.core.http import HtmxHttpRequest
from apps.llm_chat.forms import ChatCreateForm, MessageForm
from apps.llm_chat.models import Chat, Message, MessageArtifact
from apps.llm_chat.services import post_user_message

CHATS_PER_PAGE = 25


def _visible_chat(request: HtmxHttpRequest, pk: int) -> Chat:
    return get_object_or_404(
        Chat.objects.visible_to(request.user).select_related("agent", "owner"), pk=pk
    )


def _render_chat_list(
    request: HtmxHttpRequest, form: ChatCreateForm, *, status: int = 200
) -> HttpResponse:
    chats = Chat.objects.visible_to(request.user).with_counts().select_related("agent", "owner")
    page = Paginator(chats, CHATS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page_obj": page, "form": form, "show_owner": request.user.is_staff}
    return render(request, "llm_chat/chat_list.html", context, status=status)


@login_required
@require_GET
def chat_list(request: HtmxHttpRequest) -> HttpResponse:
    return _render_chat_list(request, ChatCreateForm())


@login_required
@require_POST
def chat_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ChatCreateForm(request.POST, instance=Chat(owner=request.user))
    if not form.is_valid():
        return _render_chat_list(request, form, status=422)
    chat = form.save()
    return redirect(chat)


def _chat_messages(chat: Chat) -> list[Message]:
    """The chat's messages in order, with their artifacts, in two queries however many.

    Each message gets `cards`: the (artifact, action) pairs of its links, since one message
    may create or update several artifacts. Without links the template shows the message's
    main artifact, so a message rendered on its own (as the composer does) still has its card.
    """
    links = Prefetch("artifact_links", queryset=MessageArtifact.objects.select_related("artifact"))
    chat_messages = list(chat.messages.with_artifact().prefetch_related(links))
    for message in chat_messages:
        message.cards = [(link.artifact, link.action) for link in message.artifact_links.all()]
    return chat_messages


def _chat_context(chat: Chat, form: MessageForm) -> dict:
    # Named chat_messages: "messages" belongs to django.contrib.messages in the base template.
    chat_messages = _chat_messages(chat)
    return {
        "chat": chat,
        "chat_messages": chat_messages,
        "form": form,
        "awaiting_reply": _awaiting_reply(chat_messages),
    }


def _awaiting_reply(messages: list[Message]) -> bool:
    """A user message with nothing after it is waiting for the agent's turn."""
    return bool(messages) and messages[-1].role == Message.Role.USER


@login_required
@require_GET
def chat_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chat = _visible_chat(request, pk)
    return render(
        request, "llm_chat/chat_detail.html", _chat_context(chat, _new_message_form(chat))
    )


def _new_message_form(chat: Chat, data: dict | None = None) -> MessageForm:
    return MessageForm(data, instance=Message(chat=chat, role=Message.Role.USER))


@login_required
@require_POST
def message_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chat = _visible_chat(request, pk)
    # Staff may read any chat, but a message always speaks for the chat's owner (as in the API).
    if chat.owner_id != request.user.pk:
        raise PermissionDenied("Only the chat's owner can post in it.")
    form = _new_message_form(chat, request.POST)
    if not form.is_valid():
        if request.htmx:
            # Show the errors in the composer itself, keeping what was typed.
            response = render(
                request,
                "llm_chat/chat_detail.html#composer",
                {"chat": chat, "form": form},
                status=422,
            )
            return reswap(retarget(response, "#composer"), "outerHTML")
        return render(request, "llm_chat/chat_detail.html", _chat_context(chat, form), status=422)

    message = post_user_message(chat, content=form.cleaned_data["content"])
    if not request.htmx:
        return redirect(f"{chat.get_absolute_url()}#message-{message.pk}")
    # The new message is appended to the list; the waiting notice and a fresh composer ride
    # along as out-of-band swaps.
    return render(
        request,
        "llm_chat/chat_detail.html#message_posted",
        {
            "chat": chat,
            "message": message,
            "form": _new_message_form(chat),
            "awaiting_reply": True,
            "oob": True,
        },
    )
