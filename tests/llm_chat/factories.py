from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.llm_chat.models import Chat, Message
from tests.llm_agent.factories import AgentFactory


class ChatFactory(DjangoModelFactory):
    class Meta:
        model = Chat

    title = factory.Sequence(lambda n: f"Revenue questions {n}")
    agent = factory.SubFactory(AgentFactory)
    owner = factory.SubFactory("tests.conftest.UserFactory")


class MessageFactory(DjangoModelFactory):
    class Meta:
        model = Message

    chat = factory.SubFactory(ChatFactory)
    role = Message.Role.USER
    content = "How many orders were cancelled last month?"
