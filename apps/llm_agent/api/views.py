from __future__ import annotations

from django.db.models import ProtectedError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.exceptions import APIException

from apps.llm_agent.api.serializers import AgentSerializer
from apps.llm_agent.models import Agent


class IsStaffOrReadOnly(permissions.BasePermission):
    message = "Only staff can change agents."

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class AgentInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This agent has chats; deactivate it (is_active=false) instead of deleting it."
    default_code = "agent_in_use"


@extend_schema_view(
    destroy=extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: OpenApiResponse(description="The agent has chats; deactivate it instead."),
        }
    )
)
class AgentViewSet(viewsets.ModelViewSet):
    """Agent configurations: every signed-in user reads the agents they may use (an agent
    limited to groups, or on a data source they may not use, is a 404 to others); staff
    read and change them all."""

    queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["is_active", "provider"]

    def get_queryset(self):
        return Agent.objects.usable_by(self.request.user)

    def perform_destroy(self, instance: Agent) -> None:
        # Chats keep their agent (PROTECT): an agent with history is retired, not deleted.
        try:
            instance.delete()
        except ProtectedError as exc:
            raise AgentInUse() from exc
