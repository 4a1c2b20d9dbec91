from rest_framework import viewsets

from apps.llm_artifact.models import Artifact


class ArtifactViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Artifact.objects.all()
