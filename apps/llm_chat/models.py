from __future__ import annotations

import datetime as dt
import os
import re
import socket
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models, transaction
from django.db.models import Count, Prefetch, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from apps.accounts.sharing import Share, Shared, SharedQuerySet, Visibility
from apps.core.markdown import RENDERER_VERSION, render_markdown
from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact

# Long enough for a pasted query or error log, short enough to keep one message readable.
MESSAGE_MAX_LENGTH = 10_000
# Replies from before leases (no lease_expires_at): longer than any agent turn can run (a
# bounded number of model requests, each bounded by the request timeout), so one still pending
# after this was orphaned by a crash.
STALE_PENDING_AFTER = dt.timedelta(hours=1)
# The writer of a pending reply holds a lease on it for this long and renews it every
# LEASE_RENEW_SECONDS (apps/llm_chat/agent/runner.py). A writer that died (SIGKILL, a lost
# machine) stops renewing; once its lease has lapsed the reply is marked interrupted, with what
# was written, and Retry works. Long enough for a busy database to be slow, short enough that
# "within seconds" holds.
LEASE_SECONDS = 10
LEASE_RENEW_SECONDS = 3
# A title made from the first question: long enough to tell chats apart in the list.
TITLE_FROM_QUESTION_LENGTH = 60


def title_from_question(question: str) -> str:
    """A short title for a chat from its first question, without asking a model: the first
    sentence, cut at a word boundary to TITLE_FROM_QUESTION_LENGTH characters."""
    text = " ".join(question.split())
    sentence = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]
    if len(sentence) <= TITLE_FROM_QUESTION_LENGTH:
        return sentence or "New chat"
    cut = sentence[: TITLE_FROM_QUESTION_LENGTH - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


# What an interrupted reply says (the process writing it stopped: a crash, a restart).
INTERRUPTED = gettext_noop(
    "The reply was interrupted before it finished (the server writing it stopped). "
    "Retry to run the turn again."
)


def _host() -> str:
    """This machine's name, and its process-id namespace where there is one: two containers
    may share a host name (host networking) but not their processes."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:")
    except OSError:  # not Linux: the host name alone
        namespace = ""
    return f"{socket.gethostname()[:50]}{namespace}"


# Where this process runs, as lease owners name it (no ":" in it: the owner's separator).
HOST = _host().replace(":", "-")


def new_lease_owner() -> str:
    """A writer's id, one per turn: which host and process, and which turn there."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def writer_process_gone(lease_owner: str) -> bool:
    """Whether the writer named by `lease_owner` ran on this host in a process that no longer
    exists (killed, crashed): then its lease need not lapse to know it is dead. A writer on
    another host, or whose process lives, is judged by its lease alone."""
    host, _, rest = lease_owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, someone else's
        return False
    return False


class TurnRefused(Exception):
    """The turn cannot start: the question already has a reply, or it is not a user message."""


class ChatQuerySet(SharedQuerySet):
    # visible_to(user) is the sharing rule (apps.accounts.sharing); a chat is shared
    # read-only, so only its owner (and staff) edit it.

    def editable_by(self, user) -> ChatQuerySet:
        if user.is_authenticated and user.is_staff:
            return self
        return self.owned_by(user)

    def with_shares(self) -> ChatQuerySet:
        return self.prefetch_related(
            models.Prefetch("shares", queryset=ChatShare.objects.select_related("group"))
        )

    def search(self, query: str) -> ChatQuerySet:
        """Chats whose title contains every word of `query` (case-insensitive)."""
        chats = self
        for word in query.split()[:10]:
            chats = chats.filter(title__icontains=word)
        return chats

    def with_counts(self) -> ChatQuerySet:
        # Subqueries rather than two joined Counts, which would multiply each other.
        message_count = (
            Message.objects.filter(chat=models.OuterRef("pk"))
            .order_by()
            .values("chat")
            .annotate(n=Count("pk"))
            .values("n")
        )
        artifact_count = (
            Artifact.objects.filter(chat=models.OuterRef("pk"))
            .order_by()
            .values("chat")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(
            message_count=models.functions.Coalesce(models.Subquery(message_count), 0),
            artifact_count=models.functions.Coalesce(models.Subquery(artifact_count), 0),
        )


class Chat(Shared):
    title = models.CharField(max_length=200)
    # An agent with chats is history: deactivate it rather than delete it.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="chats")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats"
    )
    # The artifact the chat was opened about ("Ask the agent about this artifact"): the
    # agent gets it as context and may update it when the owner may edit it. A deleted
    # artifact leaves the chat as an ordinary one.
    subject_artifact = models.ForeignKey(
        Artifact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subject_of_chats",
    )
    # The language the agent writes the chat's artifacts in (its answers follow each
    # question): the page's language when the chat began (Chat.language_now()).
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChatQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="chat_owner_updated"),
            models.Index(fields=["visibility", "-updated_at"], name="chat_visibility_updated"),
        ]
        constraints = [
            # The list's branches (private, groups, everyone) are all there is.
            models.CheckConstraint(
                condition=Q(visibility__in=Visibility.values), name="chat_visibility_known"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("llm_chat:chat_detail", args=[self.pk])

    @staticmethod
    def language_now() -> str:
        """The active language as one of settings.LANGUAGES ("en" when none is active)."""
        code = translation.get_language() or settings.LANGUAGE_CODE
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            return settings.LANGUAGE_CODE

    def is_editable_by(self, user) -> bool:
        # Shares of a chat are read-only.
        return user.is_authenticated and (user.is_staff or self.is_owned_by(user))

    def can_post(self, user) -> bool:
        """Whether `user` may write in this chat (post a question, retry a reply).

        Only the owner: staff may read any chat, but a message always speaks for the chat's
        owner. Every face asks here (lookups.get_rw_chat_for_user, the page's `can_post`), so
        sharing extends this one rule.
        """
        return user.is_authenticated and self.owner_id == user.pk

    def rename(self, title: str) -> None:
        """A new title, checked by the model's rules (not blank, at most 200 characters)."""
        self.title = title.strip()
        self.full_clean(validate_unique=False, validate_constraints=False)
        self.save(update_fields=["title", "updated_at"])

    def touch(self) -> None:
        """Mark activity now: the chat list is ordered by it. One UPDATE, no other field."""
        self.updated_at = timezone.now()
        Chat.objects.filter(pk=self.pk).update(updated_at=self.updated_at)


class ChatShare(Share):
    """A chat shown read-only to a group's members, to show how an answer was reached."""

    # A chat is shared to be read, never edited.
    can_edit = None
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="shares")

    class Meta:
        ordering = ["group__name"]
        constraints = [models.UniqueConstraint(fields=["chat", "group"], name="chatshare_unique")]
        indexes = [models.Index(fields=["group", "chat"], name="chatshare_group")]

    def __str__(self) -> str:
        return f"{self.chat} shared with {self.group}"


def unlink_artifact(collector, field, sub_objs, using) -> None:
    """on_delete for Message.artifact: clear the link and its action together.

    The artifact is updated first so the one-way database constraint (an artifact needs an
    action) holds between the two UPDATE statements Django issues.
    """
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(field.model._meta.get_field("artifact_action"), None, sub_objs)


class MessageQuerySet(models.QuerySet):
    def with_artifact(self) -> MessageQuerySet:
        return self.select_related("artifact")

    def with_artifacts(self) -> MessageQuerySet:
        """The main artifact and every linked one (with its artifact), in two queries for any
        number of messages: what the chat page's cards and the API's `artifacts` show.

        The links land in a plain list (Message.links): read through the related manager
        (`artifact_links.all()`), each message would clone the prefetch queryset, a deepcopy
        that cost more than the rest of a long chat's page.
        """
        links = Prefetch(
            "artifact_links",
            queryset=MessageArtifact.objects.select_related("artifact"),
            to_attr="prefetched_links",
        )
        return self.with_artifact().prefetch_related(links)

    def lapsed(self) -> MessageQuerySet:
        """Pending replies whose writer stopped renewing its lease: it died."""
        now = timezone.now()
        return self.filter(role=Role.ASSISTANT, status=Status.PENDING).filter(
            Q(lease_expires_at__lt=now)
            | Q(lease_expires_at__isnull=True, created_at__lt=now - STALE_PENDING_AFTER)
        )

    def interrupt_lapsed(self, limit: int = 200) -> int:
        """Mark the replies of dead writers interrupted, keeping what was written (the sweep
        each web process runs, apps/llm_chat/live.py): lapsed leases, and at once those of
        writers on this host whose process is gone (a server restarted after a crash need not
        wait for their leases). Returns how many were marked."""
        found = {reply.pk: reply for reply in self.lapsed().order_by("pk")[:limit]}
        here = self.filter(role=Role.ASSISTANT, status=Status.PENDING)
        for reply in here.filter(lease_owner__startswith=f"{HOST}:")[:limit]:
            if writer_process_gone(reply.lease_owner):
                found.setdefault(reply.pk, reply)
        return sum(reply.interrupt_if_lapsed() for reply in found.values())

    def latest_page(self, size: int, *, before: Message | None = None) -> tuple[list, bool]:
        """The last `size` messages (of those before `before`, if given), oldest first, and
        whether older ones exist: one query, however long the chat. Keyset on the ordering
        (created_at, id), so the index on (chat, created_at) serves every page."""
        rows = self.order_by("-created_at", "-id")
        if before is not None:
            rows = rows.filter(
                Q(created_at__lt=before.created_at)
                | Q(created_at=before.created_at, id__lt=before.pk)
            )
        found = list(rows[: size + 1])
        return found[:size][::-1], len(found) > size


# Choices live at module level so Meta's constraints can be built from them (a nested class
# is out of Meta's scope); the model exposes them as Message.Role and so on.
class Role(models.TextChoices):
    SYSTEM = "system", _("System")
    USER = "user", _("User")
    ASSISTANT = "assistant", _("Assistant")
    TOOL = "tool", _("Tool")


class Status(models.TextChoices):
    COMPLETE = "complete", _("Complete")
    PENDING = "pending", _("Pending")
    ERROR = "error", _("Error")
    # The owner pressed Stop: what was written is kept, and Retry asks again.
    STOPPED = "stopped", _("Stopped")


class ArtifactAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    EXECUTED = "executed", _("Executed")
    REFERENCED = "referenced", _("Referenced")


class Message(models.Model):
    Role = Role
    Status = Status
    ArtifactAction = ArtifactAction

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True)
    artifact = models.ForeignKey(
        Artifact,
        null=True,
        blank=True,
        # Messages stay when an artifact is deleted; only the link and its action go.
        on_delete=unlink_artifact,
        related_name="messages",
    )
    # NULL, not "", means "no artifact": the API and the constraint below read it that way.
    artifact_action = models.CharField(  # noqa: DJ001
        max_length=16, choices=ArtifactAction.choices, null=True, blank=True
    )
    # The provider-level messages of this turn, kept for exact replay on later turns.
    model_messages = models.JSONField(default=list, blank=True)
    # A final reply's Markdown, rendered and sanitised once (apps/core/markdown.py), and the
    # renderer version that wrote it: 0 for none yet, older than RENDERER_VERSION for HTML to
    # render again when next shown (Message.fill_html).
    content_html = models.TextField(blank=True, default="", db_default="", editable=False)
    content_html_version = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)
    # Who writes a pending reply (one id per turn: host, process, random) and until when; the
    # writer renews it while the turn runs (see LEASE_SECONDS). Every write of the turn is
    # conditional on the owner, so a writer that lost its lease (taken for dead) writes nothing.
    lease_owner = models.CharField(max_length=100, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The owner pressed Stop; the writer, in whatever process, checks it every second.
    stop_requested = models.BooleanField(default=False, editable=False)
    # An assistant reply points at the user message it answers: the turn is retried from there.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["chat", "created_at"], name="message_chat_created"),
            # The sweep every web process runs every few seconds (MessageQuerySet.lapsed):
            # only the few pending replies, not the whole table.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="pending"),
                name="message_pending_lease",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=Role.values),
                name="message_role_known",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values),
                name="message_status_known",
            ),
            # Deleting an artifact clears the link and then the action in two UPDATEs, so
            # the database holds one direction; clean() holds both.
            models.CheckConstraint(
                condition=Q(artifact__isnull=True)
                | (Q(artifact_action__isnull=False) & Q(artifact_action__in=ArtifactAction.values)),
                name="message_artifact_has_action",
                violation_error_message=_("A message that links an artifact must say what it did."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    def clean(self) -> None:
        super().clean()
        if self.artifact_id and not self.artifact_action:
            raise ValidationError(
                {"artifact_action": _("Say what the message did with the artifact.")}
            )
        if self.artifact_action and not self.artifact_id:
            raise ValidationError({"artifact": _("An artifact action needs an artifact.")})
        if self.role == self.Role.USER:
            self._clean_user_content()
            if self._state.adding and self.chat_id:
                # Access may have changed since the chat began: it stays readable, but its
                # agent answers only those who may use it (and its data source).
                refused = self.chat.agent.unusable_reason(self.chat.owner)
                if refused:
                    raise ValidationError({"content": refused})

    def _clean_user_content(self) -> None:
        """What a user may send: some text, at most MESSAGE_MAX_LENGTH characters. Replies are
        the model's and are not limited; they may start empty while they stream."""
        if not self.content.strip():
            raise ValidationError({"content": _("Write a message before sending it.")})
        try:
            MaxLengthValidator(MESSAGE_MAX_LENGTH)(self.content)
        except ValidationError as exc:
            raise ValidationError({"content": exc.error_list}) from None

    @property
    def links(self) -> list[MessageArtifact]:
        """The message's artifact links with their artifacts: prefetched by with_artifacts(),
        else read now."""
        prefetched = getattr(self, "prefetched_links", None)
        if prefetched is not None:
            return prefetched
        return list(self.artifact_links.select_related("artifact"))

    # --- A reply's HTML, rendered once it is final -------------------------------------------

    @property
    def has_final_html(self) -> bool:
        """Whether the stored HTML is the current renderer's rendering of the final text."""
        return self.status != Status.PENDING and self.content_html_version == RENDERER_VERSION

    @property
    def html(self) -> SafeString:
        """The reply's sanitised HTML: stored once the reply is final, rendered while it
        streams (or if the stored HTML is stale and was not filled)."""
        if self.has_final_html:
            # Safe: written by render_markdown (nh3's allow-list), never by hand.
            return mark_safe(self.content_html)
        return render_markdown(self.content)

    def render_html(self) -> None:
        """Render and keep this reply's HTML (not saved: the caller's update_fields say so)."""
        final = self.role == Role.ASSISTANT and self.status != Status.PENDING
        self.content_html = str(render_markdown(self.content)) if final else ""
        self.content_html_version = RENDERER_VERSION if final else 0

    HTML_FIELDS = ["content_html", "content_html_version"]

    @classmethod
    def fill_html(cls, messages: list[Message]) -> None:
        """Render and store the HTML of final replies that have none or a stale one (rows from
        before this field, or a newer renderer): one UPDATE per stale reply, once ever."""
        stale = [
            m
            for m in messages
            if m.role == Role.ASSISTANT and m.status != Status.PENDING and not m.has_final_html
        ]
        for message in stale:
            message.render_html()
        if stale:
            cls.objects.bulk_update(stale, cls.HTML_FIELDS, batch_size=100)

    # --- An assistant reply's life: started (or restarted), then finished or failed ---------

    # What a turn writes on its reply, so every transition saves the same fields.
    TURN_FIELDS = ["content", "status", "error", "model_messages", "input_tokens", "output_tokens"]

    # Why a question's latest reply cannot be (re)started, by the reply's status.
    REFUSALS = {
        Status.PENDING: _("This message is being answered."),
        Status.COMPLETE: _("This message already has a reply."),
        Status.ERROR: _("This reply failed; retry it instead."),
        Status.STOPPED: _("This reply was stopped; retry it instead."),
    }

    @property
    def is_retryable(self) -> bool:
        """Whether Retry applies: the reply failed or was stopped, or its writer died (its
        lease lapsed: a cancelled turn marks itself `error`, a killed one cannot)."""
        if self.status in (Status.ERROR, Status.STOPPED):
            return True
        return self.is_lapsed

    @property
    def is_lapsed(self) -> bool:
        """A pending reply whose writer is dead: it stopped renewing its lease
        (MessageQuerySet.lapsed), or its process on this host is gone."""
        if self.status != Status.PENDING or self.role != Role.ASSISTANT:
            return False
        now = timezone.now()
        if self.lease_expires_at is None:
            return self.created_at < now - STALE_PENDING_AFTER
        return self.lease_expires_at < now or writer_process_gone(self.lease_owner)

    def interrupt_if_lapsed(self) -> bool:
        """If the writer of this pending reply died, mark the reply interrupted with what it
        wrote, so the page shows it and Retry works. Conditional on the lease it read, so a
        writer that renewed meanwhile (or a Retry that took the reply) is left alone."""
        if not self.is_lapsed:
            return False
        self.refresh_from_db(
            fields=["content", "status", "lease_owner", "lease_expires_at", "stop_requested"]
        )
        if not self.is_lapsed:
            return False
        if self.stop_requested:  # its owner had pressed Stop: that is what happened
            self.status, self.error = Status.STOPPED, ""
        else:
            self.status, self.error = Status.ERROR, gettext(INTERRUPTED)
        self.render_html()
        updated = Message.objects.filter(
            pk=self.pk,
            status=Status.PENDING,
            lease_owner=self.lease_owner,
            lease_expires_at=self.lease_expires_at,
        ).update(
            status=self.status,
            error=self.error,
            content_html=self.content_html,
            content_html_version=self.content_html_version,
        )
        if not updated:
            self.refresh_from_db()
        return bool(updated)

    def heartbeat(self, *, renew: bool) -> str:
        """The writer's check, every second: "stop" when the owner pressed Stop (in any
        process), "lost" when the reply is no longer this writer's (taken for dead and marked
        interrupted, or retried), else "ok"; with `renew`, the lease is extended too."""
        rows = Message.objects.filter(
            pk=self.pk, lease_owner=self.lease_owner, status=Status.PENDING
        )
        if renew:
            expires = timezone.now() + dt.timedelta(seconds=LEASE_SECONDS)
            if not rows.update(lease_expires_at=expires):
                return "lost"
            self.lease_expires_at = expires
        state = rows.values_list("stop_requested", flat=True).first()
        if state is None:
            return "lost"
        return "stop" if state else "ok"

    def request_stop(self) -> bool:
        """Ask the writer of this pending reply, wherever it runs, to stop (it keeps what it
        wrote). False if the reply is no longer pending."""
        return bool(
            Message.objects.filter(pk=self.pk, status=Status.PENDING).update(stop_requested=True)
        )

    @property
    def refusal(self) -> str:
        """Why this reply stops its question's turn from starting again."""
        return str(self.REFUSALS[self.status])

    def _latest_replies(self) -> MessageQuerySet:
        # One reply per question is kept (a retry reuses it); the newest wins if ever two.
        return self.replies.filter(role=Role.ASSISTANT).order_by("-id")

    def latest_reply(self) -> Message | None:
        """The assistant reply to this user message, if it has one."""
        return self._latest_replies().first()

    async def alatest_reply(self) -> Message | None:
        return await self._latest_replies().afirst()

    def start_reply(self, *, retry: bool = False) -> Message:
        """The pending assistant reply to this user message, for a turn about to run.

        A new row, or with `retry` the failed (or orphaned) reply cleared and reused, so the
        chat keeps one reply per question. Raises TurnRefused if the question has a reply that
        may not be replaced. The latest reply is locked while deciding, so two windows asking
        at once cannot both start a turn.
        """
        if self.role != Role.USER:
            raise TurnRefused("Only a user message in this chat can start a turn.")
        with transaction.atomic():
            reply = self._latest_replies().select_for_update().first()
            lease = {
                "lease_owner": new_lease_owner(),
                "lease_expires_at": timezone.now() + dt.timedelta(seconds=LEASE_SECONDS),
                "stop_requested": False,
            }
            if reply is None:
                return Message.objects.create(
                    chat_id=self.chat_id,
                    role=Role.ASSISTANT,
                    status=Status.PENDING,
                    reply_to=self,
                    **lease,
                )
            if not (retry and reply.is_retryable):
                raise TurnRefused(reply.refusal)
            for name, value in lease.items():
                setattr(reply, name, value)
            reply.save(update_fields=list(lease))
            reply._write_turn(Status.PENDING, content="", model_messages=[], tokens=(None, None))
            return reply

    def finish(self, text: str, model_messages: list, *, tokens: tuple[int, int]) -> None:
        """The turn answered: keep the text, the provider messages for replay and the tokens."""
        self._write_turn(
            Status.COMPLETE, content=text, model_messages=model_messages, tokens=tokens
        )

    def fail(
        self, reason: str, text: str, model_messages: list, *, tokens: tuple[int, int]
    ) -> None:
        """The turn failed: keep what arrived and say why. The provider messages stay for
        operators to inspect; history replays a failed turn as text only."""
        self._write_turn(
            Status.ERROR,
            content=text,
            error=reason,
            model_messages=model_messages,
            tokens=(tokens[0] or None, tokens[1] or None),
        )

    def stop(self, text: str, model_messages: list, *, tokens: tuple[int, int]) -> None:
        """The owner stopped the turn: keep what was written, marked stopped."""
        self._write_turn(
            Status.STOPPED,
            content=text,
            model_messages=model_messages,
            tokens=(tokens[0] or None, tokens[1] or None),
        )

    def _write_turn(
        self,
        status: str,
        *,
        content: str,
        model_messages: list,
        tokens: tuple[int | None, int | None],
        error: str = "",
    ) -> None:
        self.status, self.content, self.error = status, content, error
        self.model_messages = model_messages
        self.input_tokens, self.output_tokens = tokens
        self.render_html()
        # Only while the reply is still this writer's: one that lost its lease (taken for
        # dead, then retried) must not overwrite the turn that replaced it.
        fields = [*self.TURN_FIELDS, *self.HTML_FIELDS]
        Message.objects.filter(pk=self.pk, lease_owner=self.lease_owner).update(
            **{name: getattr(self, name) for name in fields}
        )

    def link_artifact(
        self, artifact: Artifact, action: str, *, params: dict | None = None
    ) -> MessageArtifact:
        """Record that this message created, updated or ran an artifact.

        The first artifact also becomes the message's main one (`artifact`). A message that
        created an artifact and then updated it keeps "created": the card says who made it.
        `params` are the parameter values the message used the artifact with (the agent ran
        it with them): its card shows them and runs with them. The latest values win.
        """
        link, created = MessageArtifact.objects.get_or_create(
            message=self, artifact=artifact, defaults={"action": action, "params": params or {}}
        )
        if not created and params is not None and link.params != params:
            link.params = params
            link.save(update_fields=["params"])
        if self.artifact_id is None:
            self.artifact = artifact
            self.artifact_action = link.action
            self.save(update_fields=["artifact", "artifact_action"])
        return link


class MessageArtifact(models.Model):
    """Every artifact a message created or updated, so no card is lost.

    `Message.artifact` keeps the main one (the first) for lists and the API's single link.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="artifact_links")
    # The link is history about an artifact; without the artifact there is nothing to show.
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="message_links")
    action = models.CharField(max_length=16, choices=ArtifactAction.choices)
    # The parameter values the message used ({name: value}, as the run recorded them), so
    # the card of "and the cancelled ones?" runs with status=cancelled, not the defaults.
    # Empty: the artifact's defaults.
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "artifact"], name="message_artifact_unique_link"
            ),
            models.CheckConstraint(
                condition=Q(action__in=ArtifactAction.values),
                name="message_artifact_action_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.artifact_id} in message {self.message_id}"
