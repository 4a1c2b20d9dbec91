from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import Throttled
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.serializers import AuthTokenSerializer, GroupSerializer
from apps.accounts.models import ApiToken
from apps.accounts.sharing import groups_for_sharing
from apps.accounts.throttling import AddressScopedRateThrottle

LOCKED_OUT = (
    "Too many failed sign-ins for this username from this address. Try again later or ask "
    "an operator to unlock the account."
)


class ObtainTokenView(GenericAPIView):
    serializer_class = AuthTokenSerializer
    # Anyone may ask; no session, so no CSRF check for API clients.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AddressScopedRateThrottle]
    throttle_scope = "auth-token"

    @extend_schema(
        summary="Exchange a username and password for a new API token",
        description='Send the token on later requests as the header "Authorization: Token '
        '<token>". Each call makes a new token, which lasts API_TOKEN_TTL_HOURS (see expiry) '
        "and can be revoked on the API tokens page (/account/tokens/). Only a digest is "
        "stored: the secret is shown in this answer alone. Repeated wrong passwords lock the "
        "username for a while from that address (429), and calls are rate-limited per address.",
        auth=[],
        tags=["auth"],
        responses={
            200: AuthTokenSerializer,
            400: OpenApiResponse(description="Wrong username or password, or a field missing."),
            429: OpenApiResponse(description="Too many attempts: locked out or rate-limited."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes flags the request when this failure reached the limit, or when the
            # pair was already locked out (then the password was not even checked).
            if getattr(request, "axes_locked_out", False):
                raise Throttled(detail=LOCKED_OUT)
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        user = serializer.validated_data["user"]
        token, secret = ApiToken.objects.create(
            user=user, name=serializer.validated_data.get("name", "")
        )
        # As knox's own login view does: a sign-in for django-axes (which resets the failure
        # count) and for Django (last_login).
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response({"token": secret, "expiry": token.expiry})


class GroupViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The groups you are in, by name (staff: every group): those you may share artifacts
    and chats with."""

    serializer_class = GroupSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        return groups_for_sharing(self.request.user)
