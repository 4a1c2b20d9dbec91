"""`Authorization: Token <secret>` for the API, checked against knox's stored digests."""

from __future__ import annotations

from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox's check (expired tokens are refused and deleted), recording when a token is used."""

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        token.mark_used()
        return user, token
