"""django-axes' lockout check, for the sign-ins that come with a request."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    """Refuses a locked-out username+address before any password is checked.

    Every web sign-in passes its request (the sign-in page, the admin, the token endpoint's
    serializer). `authenticate()` without one (a shell, the test client's `login()`) has no
    address to lock out: axes would raise, so it is left to the next backend instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
