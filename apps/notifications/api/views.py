from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.notifications.api.filters import NotificationFilter
from apps.notifications.api.serializers import MarkedSerializer, NotificationSerializer
from apps.notifications.models import Notification


class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Your notifications (the bell's), the latest first: what alerts and subscriptions told
    you. Everyone sees only their own, staff too."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema; get_queryset() is the rule
    filterset_class = NotificationFilter
    search_fields: list[str] = []
    ordering_fields: list[str] = []

    def get_queryset(self) -> QuerySet[Notification]:
        return Notification.objects.for_user(self.request.user)

    @extend_schema(summary="Mark the notification read", request=None)
    @action(detail=True, methods=["post"], filter_backends=[])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        notification.mark_read()
        return Response(self.get_serializer(notification).data)

    @extend_schema(
        summary="Mark all your notifications read",
        request=None,
        responses={200: MarkedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="read-all", filter_backends=[])
    def read_all(self, request: Request) -> Response:
        return Response({"marked": Notification.objects.for_user(request.user).mark_read()})
