"""The account area: a user's own API tokens (list, create, revoke)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.forms import TokenCreateForm
from apps.accounts.models import ApiToken
from apps.core.http import HtmxHttpRequest


def _lifetime(hours: int) -> str:
    """'30 days', '36 hours', or '' when tokens last until revoked."""
    if hours <= 0:
        return ""
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _token_page(request, form: TokenCreateForm, secret: str = "", status: int = 200):
    return render(
        request,
        "accounts/token_list.html",
        {
            "tokens": ApiToken.objects.owned_by(request.user),
            "form": form,
            "secret": secret,
            "lifetime": _lifetime(settings.API_TOKEN_TTL_HOURS),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    """GET lists the tokens; POST makes one and shows its secret on this answer only."""
    if request.method == "GET":
        return _token_page(request, TokenCreateForm())
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _token_page(request, form, status=422)
    _, secret = ApiToken.objects.create(user=request.user, name=form.cleaned_data["name"])
    # Rendered, not redirected: the secret must not travel through the session.
    response = _token_page(request, TokenCreateForm(), secret=secret)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HtmxHttpRequest, digest: str) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.owned_by(request.user), digest=digest)
    token.delete()
    messages.success(request, f"Revoked the token “{token.name or token.token_key[:8]}”.")
    return redirect("accounts:token_list")
