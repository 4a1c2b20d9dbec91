from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, viewsets

from apps.llm_artifact.api.filters import ArtifactFilter, StableOrderingFilter
from apps.llm_artifact.api.serializers import ArtifactSerializer
from apps.llm_artifact.models import Artifact


class ArtifactViewSet(viewsets.ModelViewSet):
    """Your artifacts (staff: everyone's); anyone else's is a 404."""

    serializer_class = ArtifactSerializer
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, StableOrderingFilter]
    filterset_class = ArtifactFilter
    search_fields = ["title", "description", "comment", "sql_query"]
    ordering_fields = ["created_at", "updated_at", "last_executed_at", "execution_count", "title"]

    def get_queryset(self) -> QuerySet[Artifact]:
        return Artifact.objects.visible_to(self.request.user).with_related()

    def perform_create(self, serializer: ArtifactSerializer) -> None:
        serializer.save(owner=self.request.user)
