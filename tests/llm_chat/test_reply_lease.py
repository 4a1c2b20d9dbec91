"""The lease a reply's writer holds: a writer that dies leaves a reply that is, within seconds,
marked interrupted with what was written, and Retry works at once (no hour-long wait)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from apps.llm_chat.agent import retry_turn_sync
from apps.llm_chat.agent.runner import INTERRUPTED
from apps.llm_chat.models import LEASE_SECONDS, STALE_PENDING_AFTER, Message, TurnRefused
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Say, ScriptedModel
from tests.llm_chat.factories import ChatFactory, MessageFactory


def started(chat, text: str = "") -> Message:
    question = post_user_message(chat, content="Revenue by month?")
    reply = question.start_reply()
    if text:
        Message.objects.filter(pk=reply.pk).update(content=text)
        reply.content = text
    return reply


def lapse(reply: Message) -> None:
    """What a killed writer leaves: a lease nobody renews, now in the past."""
    Message.objects.filter(pk=reply.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    reply.refresh_from_db()


def test_a_started_reply_is_leased_to_its_writer_for_a_few_seconds(chat):
    reply = started(chat)
    assert f":{os.getpid()}:" in reply.lease_owner
    left = (reply.lease_expires_at - timezone.now()).total_seconds()
    assert LEASE_SECONDS - 2 < left <= LEASE_SECONDS
    assert not reply.is_lapsed and not reply.is_retryable
    assert reply.refusal == "This message is being answered."


def test_a_lapsed_lease_makes_the_reply_retryable_at_once(chat):
    reply = started(chat, "Half")
    lapse(reply)
    assert reply.is_lapsed and reply.is_retryable
    outcome = retry_turn_sync(chat, reply.reply_to, model=ScriptedModel(Say("Whole.")).model)
    assert outcome.reply.pk == reply.pk
    assert (outcome.reply.status, outcome.reply.content) == ("complete", "Whole.")


def test_a_live_lease_refuses_retry(chat):
    reply = started(chat)
    with pytest.raises(TurnRefused, match="being answered"):
        retry_turn_sync(chat, reply.reply_to, model=ScriptedModel(Say("Hi")).model)


def test_the_sweep_marks_lapsed_replies_interrupted_keeping_their_text(chat):
    dead = started(chat, "What was *written*")
    alive = started(ChatFactory(owner=chat.owner), "Still going")
    lapse(dead)

    assert Message.objects.interrupt_lapsed() == 1

    dead.refresh_from_db()
    assert (dead.status, dead.error, dead.content) == ("error", INTERRUPTED, "What was *written*")
    assert "<em>written</em>" in dead.content_html  # final: its HTML is stored
    alive.refresh_from_db()
    assert alive.status == "pending"
    assert Message.objects.interrupt_lapsed() == 0  # once


def test_replies_from_before_leases_lapse_after_an_hour(chat):
    question = post_user_message(chat, content="Old")
    old = MessageFactory(chat=chat, role="assistant", status="pending", reply_to=question)
    assert old.lease_expires_at is None and not old.is_lapsed
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - STALE_PENDING_AFTER)
    assert Message.objects.interrupt_lapsed() == 1


def test_a_writer_that_renewed_in_time_is_left_alone(chat):
    reply = started(chat)
    stale = Message.objects.get(pk=reply.pk)
    lapse(stale)
    assert reply.heartbeat(renew=True) == "ok"  # the writer renews before the sweep writes
    assert not stale.interrupt_if_lapsed()
    stale.refresh_from_db()
    assert stale.status == "pending"


def test_the_heartbeat_tells_the_writer_about_stop_and_about_losing_the_reply(chat):
    reply = started(chat)
    assert reply.heartbeat(renew=False) == "ok"
    assert reply.request_stop()
    assert reply.heartbeat(renew=False) == "stop"

    other = started(ChatFactory(owner=chat.owner))
    lapse(other)
    Message.objects.get(pk=other.pk).interrupt_if_lapsed()
    assert other.heartbeat(renew=True) == "lost"


def test_a_writer_that_lost_its_reply_overwrites_nothing(chat):
    zombie = started(chat, "Old attempt")
    lapse(zombie)
    # Taken for dead, then retried: the reply now belongs to another turn.
    retried = Message.objects.get(pk=zombie.pk).reply_to.start_reply(retry=True)
    assert retried.pk == zombie.pk and retried.lease_owner != zombie.lease_owner

    zombie.finish("The zombie's text", [], tokens=(1, 1))

    retried.refresh_from_db()
    assert (retried.status, retried.content) == ("pending", "")


def test_a_reader_of_the_page_marks_a_dead_writers_reply_interrupted(chat, owner, client):
    reply = started(chat, "Half an answer")
    lapse(reply)
    client.force_login(owner)
    page = client.get(chat.get_absolute_url()).content.decode()
    assert "interrupted" in page and "Half an answer" in page
    assert "Retry" in page and "data-stream-url" not in page
    reply.refresh_from_db()
    assert reply.status == "error"


def test_the_page_follows_a_reply_being_written(chat, owner, client):
    reply = started(chat, "Half")
    client.force_login(owner)
    page = client.get(chat.get_absolute_url()).content.decode()
    stream = f"/chats/{chat.pk}/messages/{reply.reply_to_id}/stream/"
    assert f'data-stream-url="{stream}"' in page
    assert f'data-message-id="{reply.pk}"' in page


def test_a_writer_whose_process_on_this_host_is_gone_is_dead_before_its_lease_lapses(chat):
    reply = started(chat, "Half")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process that was, and is no more (as after SIGKILL)
    host, _, turn = reply.lease_owner.split(":")
    Message.objects.filter(pk=reply.pk).update(lease_owner=f"{host}:{gone.pid}:{turn}")
    living = started(ChatFactory(owner=chat.owner), "Going on")  # this process: alive

    assert Message.objects.interrupt_lapsed() == 1

    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("error", "Half")
    living.refresh_from_db()
    assert living.status == "pending"
