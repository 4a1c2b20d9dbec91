"""The client's address, as the sign-in lockout and the token endpoint's throttle count it."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """The connection's address; behind DJANGO_PROXY_COUNT proxies, the address the outermost
    of them saw (X-Forwarded-For read from the right, past the proxies' own entries).

    Never X-Forwarded-For without a proxy: a client could write a new address there on every
    attempt and escape both limits.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not settings.PROXY_COUNT or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(settings.PROXY_COUNT, len(hops))] if hops else remote
