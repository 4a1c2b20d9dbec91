from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.sharing import HasObjectPermission
from apps.schedules import tasks
from apps.schedules.api.filters import AlertFilter, ScheduleFilter, SubscriptionFilter
from apps.schedules.api.serializers import (
    AlertSerializer,
    ScheduleSerializer,
    SubscriptionSerializer,
)
from apps.schedules.models import Alert, Schedule, Subscription

EDIT_ONLY = "Only the artifact's owner and editors schedule it and set its alerts and webhooks."


class ScheduleViewSet(viewsets.ModelViewSet):
    """Schedules of the artifacts you may see (any other is a 404). The artifact's owner and
    editors create, change, pause, resume, run and delete them (403 for viewers); each refresh
    runs as the schedule's owner."""

    serializer_class = ScheduleSerializer
    permission_classes = [HasObjectPermission]
    queryset = Schedule.objects.none()  # for the schema; get_queryset() is the rule
    filterset_class = ScheduleFilter
    ordering_fields = ["next_run_at", "last_run_at", "created_at"]
    object_permissions = {
        "retrieve": "schedules.view",
        "update": "schedules.change",
        "partial_update": "schedules.change",
        "destroy": "schedules.change",
        "pause": "schedules.change",
        "resume": "schedules.change",
        "run": "schedules.change",
    }

    def get_queryset(self) -> QuerySet[Schedule]:
        return (
            Schedule.objects.visible_to(self.request.user)
            .select_related("artifact", "owner")
            .order_by("pk")
        )

    def perform_create(self, serializer) -> None:
        artifact = serializer.validated_data["artifact"]
        if not self.request.user.has_perm("artifacts.change", artifact):
            raise PermissionDenied(EDIT_ONLY)
        serializer.save(owner=self.request.user).save_with_timetable()

    def perform_update(self, serializer) -> None:
        serializer.save().save_with_timetable()

    @extend_schema(request=None, responses=ScheduleSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk=None) -> Response:
        schedule = self.get_object()
        schedule.pause(f"Paused by {request.user.get_username()}.")
        return Response(self.get_serializer(schedule).data)

    @extend_schema(request=None, responses=ScheduleSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk=None) -> Response:
        schedule = self.get_object()
        schedule.resume()
        return Response(self.get_serializer(schedule).data)

    @extend_schema(request=None, responses={202: ScheduleSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk=None) -> Response:
        """Queue a refresh now, outside the timetable."""
        schedule = self.get_object()
        tasks.run_now(schedule, request.user)
        schedule.refresh_from_db()
        return Response(self.get_serializer(schedule).data, status=status.HTTP_202_ACCEPTED)


class AlertViewSet(viewsets.ModelViewSet):
    """Alerts on the schedules you may see; the artifact's owner and editors create, change
    and delete them."""

    serializer_class = AlertSerializer
    permission_classes = [HasObjectPermission]
    queryset = Alert.objects.none()
    filterset_class = AlertFilter
    object_permissions = {
        "retrieve": "schedules.view",
        "update": "schedules.change",
        "partial_update": "schedules.change",
        "destroy": "schedules.change",
    }

    def get_queryset(self) -> QuerySet[Alert]:
        return Alert.objects.visible_to(self.request.user).select_related("owner").order_by("pk")

    def perform_create(self, serializer) -> None:
        schedule = serializer.validated_data["schedule"]
        if not self.request.user.has_perm("schedules.change", schedule):
            raise PermissionDenied(EDIT_ONLY)
        serializer.save(owner=self.request.user)


class SubscriptionViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your subscriptions to alerts, and every subscription of the alerts you may edit.
    Anyone who may see an artifact subscribes themselves in-app or by email; webhooks are for
    its owner and editors."""

    serializer_class = SubscriptionSerializer
    permission_classes = [HasObjectPermission]
    queryset = Subscription.objects.none()
    filterset_class = SubscriptionFilter
    object_permissions = {
        "retrieve": "schedules.view",
        "destroy": "schedules.unsubscribe",
    }

    def get_queryset(self) -> QuerySet[Subscription]:
        return (
            Subscription.objects.visible_to(self.request.user).select_related("user").order_by("pk")
        )

    def perform_create(self, serializer) -> None:
        # Webhooks need schedules.change: SubscriptionSerializer.validate asks it.
        serializer.save(user=self.request.user)
