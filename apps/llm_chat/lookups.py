"""Finding a chat for a user, the one way the pages and the API do it.

In the manner of healthchecks' `_get_check_for_user` / `_get_rw_check_for_user`: a read lookup
that 404s for a chat the user may not see, and a write lookup that also 403s for a chat they
may see but not post in (Chat.can_post). Django's Http404 and PermissionDenied become the same
404 / 403 in a page and in DRF.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import aget_object_or_404, get_object_or_404

from apps.llm_chat.models import Chat

NOT_YOURS_TO_POST = "Only the chat's owner can post in it."
NOT_YOURS_TO_SHARE = "Only the chat's owner can change its sharing or hand it to someone else."


def _visible_chats(user):
    return Chat.objects.visible_to(user).select_related("agent", "owner")


def _chat_id(pk: object) -> int:
    # The API's URLs take any text as the id: a word is a missing chat, not a server error.
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise Http404("No chat has this id.") from None


def check_can_post(chat: Chat, user) -> Chat:
    """The chat if `user` may write in it (Chat.can_post), else 403."""
    if not chat.can_post(user):
        raise PermissionDenied(NOT_YOURS_TO_POST)
    return chat


def get_chat_for_user(user, pk: object) -> Chat:
    """The chat if `user` may read it, else 404."""
    return get_object_or_404(_visible_chats(user), pk=_chat_id(pk))


def get_rw_chat_for_user(user, pk: object) -> Chat:
    """The chat if `user` may post in it: 404 if they cannot see it, 403 if only read it."""
    return check_can_post(get_chat_for_user(user, pk), user)


def get_managed_chat_for_user(user, pk: object) -> Chat:
    """The chat if `user` may change its sharing (chats.share: its owner, staff): 404 if they
    cannot see it, 403 if they only read it."""
    chat = get_chat_for_user(user, pk)
    if not user.has_perm("chats.share", chat):
        raise PermissionDenied(NOT_YOURS_TO_SHARE)
    return chat


async def aget_rw_chat_for_user(user, pk: object) -> Chat:
    """get_rw_chat_for_user for async views."""
    chat = await aget_object_or_404(_visible_chats(user), pk=_chat_id(pk))
    return check_can_post(chat, user)
