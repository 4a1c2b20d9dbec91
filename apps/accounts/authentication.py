"""`Authorization: Token <secret>` for the API, checked against knox's stored digests."""

from __future__ import annotations

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox's check (expired tokens are refused and deleted), recording when a token is used."""

    def _cleanup_token(self, auth_token) -> bool:
        # Knox loads and walks all the user's tokens on every request, to delete the expired
        # ones: a query and a loop per API call (bench/api_execute.py). Only a token that has
        # expired itself needs knox's cleanup; until one is used, the tokens page shows the
        # others as expired.
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            return super()._cleanup_token(auth_token)
        return False

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        token.mark_used()
        return user, token
