"""Who may do what with a chat, as `user.has_perm(name, chat)`; the same rule as
ChatQuerySet.visible_to (apps.accounts.sharing). Chats are shared read-only."""

import rules

from apps.accounts.rules import can_manage, can_see


@rules.predicate
def can_post(user, chat) -> bool:
    return chat is not None and chat.can_post(user)


rules.add_perm("chats.view", can_see)
rules.add_perm("chats.post", can_post)
# Deleting a chat is its owner's alone, as posting in it is: staff remove chats in the admin.
rules.add_perm("chats.delete", can_post)
rules.add_perm("chats.share", can_manage)
