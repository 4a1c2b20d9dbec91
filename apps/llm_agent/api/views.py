from rest_framework import viewsets

from apps.llm_agent.models import Agent


class AgentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Agent.objects.all()
