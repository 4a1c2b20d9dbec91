from __future__ import annotations

from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer as CredentialsSerializer

from apps.accounts.models import ApiToken


class AuthTokenSerializer(CredentialsSerializer):
    """Username and password in; a new token's secret (shown only now) and its expiry out."""

    name = serializers.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="A label to recognise the token by on the API tokens page.",
    )
    expiry = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the token stops working; null: never."
    )
