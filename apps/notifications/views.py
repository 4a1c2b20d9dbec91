"""The notifications page and the bell in the navigation.

One page (`notification_list`) lists a user's notifications; the bell on every page asks the
same URL with htmx for two of its pieces (the unread count, polled; the latest few, when the
menu opens), so a page itself spends no query on the bell. Marking read, all read, and
opening a notification (mark read, then go to what it is about) are plain POSTs that redirect.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, is_partial
from apps.notifications.models import Notification

NOTIFICATIONS_PER_PAGE = 25
# The bell's menu shows this many of the latest notifications.
MENU_SIZE = 6
# The bell counts unread notifications up to this many ("99+" beyond).
COUNT_LIMIT = 99
# htmx targets in templates/_base.html, each answered with its partial.
BELL_PARTIALS = {"notification-count": "count", "notification-menu": "menu"}


def unread_count(user) -> int:
    """Unread notifications, counted up to COUNT_LIMIT + 1 (enough to say "99+")."""
    unread = Notification.objects.for_user(user).unread()
    return len(unread.values_list("pk", flat=True)[: COUNT_LIMIT + 1])


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    template = "notifications/notification_list.html"
    partial = BELL_PARTIALS.get(request.htmx.target or "") if is_partial(request) else None
    count = unread_count(request.user)
    context = {"unread_count": count, "count_limit": COUNT_LIMIT}
    if partial == "count":
        return render(request, f"{template}#count", context)
    notifications = Notification.objects.for_user(request.user)
    if partial == "menu":
        context["latest"] = notifications[:MENU_SIZE]
        context["here"] = _current_path(request)
        return render(request, f"{template}#menu", context)
    unread_only = request.GET.get("show") == "unread"
    if unread_only:
        notifications = notifications.unread()
    context["page_obj"] = Paginator(notifications, NOTIFICATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context["unread_only"] = unread_only
    return render(request, template, context)


def _current_path(request: HtmxHttpRequest) -> str:
    """The page the bell is on (htmx says which), to come back to after "Mark all read"."""
    current = request.htmx.current_url_abs_path or ""
    return current if _is_safe(request, current) else ""


def _is_safe(request: HtmxHttpRequest, url: str) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def _back(request: HtmxHttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    return redirect(target if _is_safe(request, target) else "notifications:notification_list")


def _own(request: HtmxHttpRequest, pk: int) -> Notification:
    return get_object_or_404(Notification.objects.for_user(request.user), pk=pk)


@login_required
@require_POST
def notification_open(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Mark a notification read and go to what it is about (the list when it links nowhere)."""
    notification = _own(request, pk)
    notification.mark_read()
    return redirect(notification.url or "notifications:notification_list")


@login_required
@require_POST
def notification_read(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    _own(request, pk).mark_read()
    return _back(request)


@login_required
@require_POST
def notification_read_all(request: HtmxHttpRequest) -> HttpResponse:
    Notification.objects.for_user(request.user).mark_read()
    return _back(request)
