from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer as CredentialsSerializer

from apps.accounts.models import ApiToken


class AuthTokenSerializer(CredentialsSerializer):
    """Username and password in; a new token's secret (shown only now) and its expiry out."""

    # Never longer than a username can be: django-axes records failed attempts with the
    # username (255 characters at most), and a longer one must not reach the database.
    username = serializers.CharField(
        max_length=get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length,
        write_only=True,
    )
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


class GroupSerializer(serializers.ModelSerializer):
    """A group of users, to share artifacts and chats with."""

    class Meta:
        model = Group
        fields = ["id", "name"]
        read_only_fields = fields
