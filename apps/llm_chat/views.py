from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import aget_object_or_404, get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from apps.accounts.sharing import Scope
from apps.core.http import HtmxHttpRequest, is_partial
from apps.core.markdown import render_markdown
from apps.llm_artifact.cards import ArtifactCard
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.share_dialog import share_dialog
from apps.llm_chat import live
from apps.llm_chat.agent import (
    ArtifactSaved,
    TextDelta,
    TextSoFar,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnRefused,
    TurnStarted,
    TurnStopped,
    retry_turn,
    run_turn_sync,
)
from apps.llm_chat.forms import ChatStartForm, MessageForm
from apps.llm_chat.lookups import (
    aget_rw_chat_for_user,
    get_chat_for_user,
    get_managed_chat_for_user,
    get_rw_chat_for_user,
)
from apps.llm_chat.models import Chat, Message, MessageArtifact
from apps.llm_chat.services import post_user_message, start_chat
from apps.llm_chat.streams import event_stream_response, sse, wants_event_stream

CHATS_PER_PAGE = 25
# A chat page shows this many of the latest messages; "Load earlier messages" adds the page
# before, so a long chat costs what a short one does.
MESSAGES_PER_PAGE = 50
# While a reply streams, the page shows the raw text as it arrives and, this often, the
# server's sanitised Markdown of everything so far (tables, lists), never the browser's own.
MARKDOWN_REFRESH_SECONDS = 0.5


def _render_chat_list(
    request: HtmxHttpRequest, form: ChatStartForm, *, status: int = 200
) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    scopes = chat_scopes(request.user)
    # A scope the user may not ask for (staff's "all") is the default, as a missing one.
    scope = request.GET.get("scope", "")
    scope = scope if scope in scopes else Scope.VISIBLE
    chats = Chat.objects.in_scope(request.user, scope).search(query)
    # The shares ride along for the "shared" badge: one query for the page's rows.
    chats = chats.with_counts().select_related("agent", "owner").with_shares()
    page = Paginator(chats, CHATS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page,
        "form": form,
        "agent": form.chosen_agent(),
        "query": query,
        "scope": scope,
        "scope_tabs": [(value, label, value == scope) for value, label in scopes.items()],
    }
    if is_partial(request) and not request.htmx.boosted and request.htmx.target == "chat-results":
        return render(request, "llm_chat/chat_list.html#results", context, status=status)
    return render(request, "llm_chat/chat_list.html", context, status=status)


def chat_scopes(user) -> dict[str, str]:
    """The chat list's scopes this user may choose: staff may also see every chat."""
    return {value: label for value, label in Scope.choices if value != Scope.ALL or user.is_staff}


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def chat_list(request: HtmxHttpRequest) -> HttpResponse:
    return _render_chat_list(request, ChatStartForm(user=request.user))


def _render_chat_new(request: HtmxHttpRequest, form: ChatStartForm, *, status: int = 200):
    chosen = form.data.get("agent") if form.is_bound else request.GET.get("agent")
    context = {"form": form, "agent": form.chosen_agent(chosen)}
    return render(request, "llm_chat/chat_new.html", context, status=status)


@login_required
@require_GET
def chat_new(request: HtmxHttpRequest) -> HttpResponse:
    """The new-chat page: pick an agent, ask the first question (or one of its examples).
    Nothing is saved until the question is sent."""
    return _render_chat_new(request, ChatStartForm(user=request.user))


@login_required
@require_POST
def chat_create(request: HtmxHttpRequest) -> HttpResponse:
    """Start a chat with its first question; the chat page then streams the reply (or, without
    JavaScript, offers to get it)."""
    data = request.POST.copy()
    if not data.get("content", "").strip() and data.get("example"):
        data["content"] = data["example"]  # an example question's button
    form = ChatStartForm(data, user=request.user)
    if form.is_valid():
        try:
            chat, _ = start_chat(
                request.user, form.cleaned_data["agent"], question=form.cleaned_data["content"]
            )
        except ValidationError as exc:
            form.add_error("content", exc.message_dict.get("content", exc.messages))
        else:
            return redirect(chat)
    return _render_chat_new(request, form, status=422)


@login_required
@require_POST
def chat_rename(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chat = get_rw_chat_for_user(request.user, pk)
    error = ""
    try:
        chat.rename(request.POST.get("title", ""))
    except ValidationError as exc:
        error = " ".join(exc.message_dict.get("title", exc.messages))
        chat.refresh_from_db(fields=["title"])
    if is_partial(request):
        context = {
            "chat": chat,
            "can_post": True,
            "can_share": request.user.has_perm("chats.share", chat),
            "rename_error": error,
        }
        return render(
            request, "llm_chat/chat_detail.html#chat_header", context, status=422 if error else 200
        )
    if error:
        messages.error(request, error)
    return redirect(chat)


@login_required
def chat_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes the chat (its artifacts stay, unlinked)."""
    chat = get_rw_chat_for_user(request.user, pk)
    if request.method == "POST":
        title = chat.title
        chat.delete()
        messages.success(request, gettext("Deleted the chat “%(title)s”.") % {"title": title})
        return redirect("llm_chat:chat_list")
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return render(request, "llm_chat/chat_delete.html", {"chat": chat})


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def chat_share(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The Share dialog of a chat: read-only for groups or everyone (to show how an answer
    was reached), or handed to another user. Only its owner (and staff), asked again on
    the POST; the artifacts in it keep their own sharing."""
    chat = get_managed_chat_for_user(request.user, pk)
    return share_dialog(
        request,
        chat,
        with_edit=False,
        share_url=reverse("llm_chat:chat_share", args=[chat.pk]),
        list_url=reverse("llm_chat:chat_list"),
    )


def _with_cards(chat_messages: list[Message], user) -> list[Message]:
    """Give each message `cards`, one ArtifactCard per link (one message may create, update
    or run several artifacts), with the parameter values it used; and `retryable` for the
    Retry button.

    Without links the message's main artifact gets the card, so a message rendered on its
    own still has it. A card of an artifact `user` may not see (a chat shared with them,
    an artifact that is not) says only that an artifact is there: which ones they may see
    is asked once for the page, in one query.
    """
    for message in chat_messages:
        key = str(message.pk)
        message.cards = [
            ArtifactCard(link.artifact, link.action, link.params, key) for link in message.links
        ]
        if not message.cards and message.artifact is not None:
            message.cards = [ArtifactCard(message.artifact, message.artifact_action or "", {}, key)]
        message.retryable = (
            message.role == Message.Role.ASSISTANT
            and message.reply_to_id is not None
            and message.is_retryable
        )
    cards = [card for message in chat_messages for card in message.cards]
    if cards:
        # With their shares, for the cards' "shared" badge (Artifact.is_shared).
        visible = {
            artifact.pk: artifact
            for artifact in Artifact.objects.visible_to(user)
            .filter(pk__in={card.artifact.pk for card in cards})
            .only("pk", "visibility")
            .with_shares()
        }
        for card in cards:
            shown = visible.get(card.artifact.pk)
            card.hidden = shown is None
            card.shared = shown is not None and shown.is_shared
    return chat_messages


def _chat_messages(chat: Chat, user, before: Message | None = None) -> tuple[list[Message], bool]:
    """The latest page of the chat's messages (or the page before `before`) in order, with
    their artifacts and stored HTML, and which of those `user` may see (and which are
    shared), in five queries however long the chat; and whether there are earlier ones."""
    page, has_earlier = chat.messages.with_artifacts().latest_page(MESSAGES_PER_PAGE, before=before)
    for message in page:
        # A reply whose writer died is shown interrupted, with Retry, rather than "Writing…".
        message.interrupt_if_lapsed()
    Message.fill_html(page)  # replies from before the HTML was stored: once, then kept
    return _with_cards(page, user), has_earlier


def _before(request: HtmxHttpRequest, chat: Chat) -> Message | None:
    """The message named by ?before=<id>: the page shows the messages before it."""
    raw = request.GET.get("before")
    if not raw:
        return None
    try:
        pk = int(raw)
    except ValueError:
        raise BadRequest("?before= takes a message id.") from None
    return get_object_or_404(Message.objects.filter(chat=chat).only("pk", "created_at"), pk=pk)


def _chat_context(
    request: HtmxHttpRequest, chat: Chat, form: MessageForm, *, before: Message | None = None
) -> dict:
    # Named chat_messages: "messages" belongs to django.contrib.messages in the base template.
    chat_messages, has_earlier = _chat_messages(chat, request.user, before)
    can_post = chat.can_post(request.user)
    return {
        "chat": chat,
        "can_post": can_post,
        # The owner who lost the agent (its groups or its data source) reads on but is told
        # why the chat cannot go on, instead of a composer whose every message is refused.
        "post_refused": chat.agent.unusable_reason(request.user) if can_post else None,
        "can_share": request.user.has_perm("chats.share", chat),
        "show_owner": chat.owner_id != request.user.pk,
        "chat_messages": chat_messages,
        "has_earlier": has_earlier,
        "before": before,
        "form": form,
        # Only the latest page ends where a reply may be awaited.
        "awaiting": None if before else _awaiting_reply(chat_messages),
        "subject": _subject_of(request, chat),
    }


def _subject_of(request: HtmxHttpRequest, chat: Chat) -> Artifact | None:
    """The artifact the chat is about, when this reader may see it (a link to a 404, or a
    title they may not read, helps nobody); no query for an ordinary chat."""
    if chat.subject_artifact_id is None:
        return None
    artifact = Artifact.objects.visible_to(request.user).filter(pk=chat.subject_artifact_id)
    return artifact.only("pk", "title").first()


def _awaiting_reply(chat_messages: list[Message]) -> Message | None:
    """The user message at the end of the chat, still without a reply: its turn is to run."""
    if chat_messages and chat_messages[-1].role == Message.Role.USER:
        return chat_messages[-1]
    return None


@login_required
@require_GET
@vary_on_headers("HX-Request")
def chat_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chat = get_chat_for_user(request.user, pk)
    before = _before(request, chat)
    context = _chat_context(request, chat, _new_message_form(chat), before=before)
    if is_partial(request) and before is not None:
        # "Load earlier messages": the page before, swapped in above what is shown.
        return render(request, "llm_chat/chat_detail.html#earlier_page", context)
    return render(request, "llm_chat/chat_detail.html", context)


def _new_message_form(chat: Chat, data: dict | None = None) -> MessageForm:
    return MessageForm(data, instance=Message(chat=chat, role=Message.Role.USER))


@login_required
@require_POST
def message_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    chat = get_rw_chat_for_user(request.user, pk)
    form = _new_message_form(chat, request.POST)
    if not form.is_valid():
        if is_partial(request):
            # Show the errors in the composer itself, keeping what was typed.
            response = render(
                request,
                "llm_chat/chat_detail.html#composer",
                {"chat": chat, "can_post": True, "form": form},
                status=422,
            )
            return reswap(retarget(response, "#composer"), "outerHTML")
        context = _chat_context(request, chat, form)
        return render(request, "llm_chat/chat_detail.html", context, status=422)

    # Saved before the model is asked anything, so the question is never lost.
    message = post_user_message(chat, content=form.cleaned_data["content"])
    if not is_partial(request):
        # Without JavaScript the turn runs here, and the page after the redirect shows how it
        # went (slow, but it works). A new message cannot be refused: it has no reply yet.
        outcome = run_turn_sync(chat, message)
        return redirect(f"{chat.get_absolute_url()}#message-{outcome.reply.pk}")
    # The question is appended with a placeholder for the reply, which chat.js fills from the
    # message's event stream; a fresh composer rides along out of band.
    return render(
        request,
        "llm_chat/chat_detail.html#message_posted",
        {
            "chat": chat,
            "can_post": True,
            "message": message,
            "awaiting": message,
            "form": _new_message_form(chat),
            "oob": True,
        },
    )


# --- The reply, streamed -----------------------------------------------------------------------


async def _owned_chat_and_question(request: HtmxHttpRequest, pk: int, message_pk: int):
    user = await request.auser()
    # Django renders the 403/404 pages of an async view in a thread of its own; with the user
    # resolved here they (and the templates below) need no query for it.
    request.user = user
    chat = await aget_rw_chat_for_user(user, pk)
    question = await aget_object_or_404(
        Message.objects.filter(chat=chat, role=Message.Role.USER), pk=message_pk
    )
    return chat, question


def _render_message(request: HtmxHttpRequest, chat: Chat, message_pk: int) -> str:
    message = _with_cards([Message.objects.with_artifacts().get(pk=message_pk)], request.user)[0]
    return render_to_string(
        "llm_chat/chat_detail.html#message",
        {"chat": chat, "can_post": chat.can_post(request.user), "message": message},
        request=request,
    )


def _render_card(
    request: HtmxHttpRequest, artifact_id: int, action: str, message_id: int | None
) -> str:
    artifact = Artifact.objects.visible_to(request.user).with_related().filter(pk=artifact_id)
    found = artifact.first()
    if found is None:  # deleted meanwhile: the final message shows what is left
        return ""
    # The values the reply ran it with, when it did (run_artifact).
    link = MessageArtifact.objects.filter(message_id=message_id, artifact=found).first()
    card = ArtifactCard(
        found, action, link.params if link else {}, str(message_id) if message_id else ""
    )
    return render_to_string(card.template, {"card": card}, request=request)


def _page_extra(request: HtmxHttpRequest, chat: Chat) -> Callable[[TurnEvent], Awaitable]:
    """Server-rendered HTML for the page's events: the card of a saved artifact, the whole
    message when the turn ends, and now and then the sanitised Markdown of the text so far."""
    text: list[str] = []
    last_render = time.monotonic()
    reply_id: int | None = None

    async def extra(event: TurnEvent) -> dict | None:
        nonlocal last_render, reply_id
        if isinstance(event, TurnStarted):
            text.clear()
            reply_id = event.message_id
        elif isinstance(event, TextDelta):
            if isinstance(event, TextSoFar):  # a reader joining: everything so far, rendered
                text.clear()
            text.append(event.text)
            if (
                isinstance(event, TextSoFar)
                or time.monotonic() - last_render >= MARKDOWN_REFRESH_SECONDS
            ):
                last_render = time.monotonic()
                return {"html": str(render_markdown("".join(text)))}
        elif isinstance(event, ArtifactSaved):
            html = await sync_to_async(_render_card)(
                request, event.artifact_id, event.action, reply_id
            )
            return {"html": html}
        elif isinstance(event, TurnDone | TurnFailed | TurnStopped):
            return {"html": await sync_to_async(_render_message)(request, chat, event.message_id)}
        return None

    return extra


def _page_refusal(request: HtmxHttpRequest, chat: Chat, question: Message):
    """When the question already has a reply (another window answered it), show that reply."""

    async def on_refused(refused: TurnRefused) -> str:
        reply = await question.alatest_reply()
        html = await sync_to_async(_render_message)(request, chat, reply.pk) if reply else ""
        return sse("refused", {"type": "refused", "reason": str(refused), "html": html})

    return on_refused


@login_required
@require_GET
async def message_stream(request: HtmxHttpRequest, pk: int, message_pk: int) -> HttpResponse:
    """Follow the reply to a saved question as Server-Sent Events (GET: EventSource and fetch
    alike).

    The turn starts, detached from this request, if the question has no reply yet; a reply
    being written (here or in another process) is followed from where it is, so a reopened
    page resumes it. A final reply comes as one `refused` event with the reply, rendered.
    Closing the stream ends only the reading: the turn goes on.
    """
    chat, question = await _owned_chat_and_question(request, pk, message_pk)
    return event_stream_response(
        live.follow(chat, question),
        extra=_page_extra(request, chat),
        on_refused=_page_refusal(request, chat, question),
    )


@login_required
@require_POST
async def message_reply(request: HtmxHttpRequest, pk: int, message_pk: int) -> HttpResponse:
    """Run the turn of a question again (Retry), or for the first time if it has no reply.

    The failed reply row is reused. Asked for `text/event-stream` (chat.js) the turn runs
    detached and streams like message_stream; a plain form post (no JavaScript) waits for the
    turn and redirects.
    """
    chat, question = await _owned_chat_and_question(request, pk, message_pk)
    if wants_event_stream(request):
        return event_stream_response(
            live.follow(chat, question, retry=True),
            extra=_page_extra(request, chat),
            on_refused=_page_refusal(request, chat, question),
        )
    events = retry_turn(chat, question)
    reply_pk = None
    try:
        async for event in events:
            if isinstance(event, TurnStarted):
                reply_pk = event.message_id
    except TurnRefused as refused:
        messages.info(request, str(refused))
        reply = await question.alatest_reply()
        reply_pk = reply.pk if reply else question.pk
    return redirect(f"{chat.get_absolute_url()}#message-{reply_pk}")


@login_required
@require_POST
async def message_stop(request: HtmxHttpRequest, pk: int, message_pk: int) -> HttpResponse:
    """Stop a reply that is being written, keeping what was written, marked `stopped`: its
    turn, in this process or another, saves it and its streams carry the final message
    ("stopping"); a reply whose writer died is marked stopped here."""
    user = await request.auser()
    request.user = user
    chat = await aget_rw_chat_for_user(user, pk)
    reply = await aget_object_or_404(
        Message.objects.filter(chat=chat, role=Message.Role.ASSISTANT), pk=message_pk
    )
    status = await sync_to_async(live.stop)(reply)
    if is_partial(request) or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"id": reply.pk, "status": status})
    return redirect(f"{chat.get_absolute_url()}#message-{reply.pk}")
