from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle

from apps.accounts.addresses import client_address


class AddressScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, counting clients by the same address as the sign-in lockout."""

    def get_ident(self, request) -> str:
        return client_address(request)
