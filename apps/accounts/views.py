"""The account area: a user's own API tokens (list, create, revoke) and settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import JavaScriptCatalog

from apps.accounts.forms import ProfileForm, TokenCreateForm
from apps.accounts.language import is_supported, remember_language
from apps.accounts.models import ApiToken, Profile
from apps.core.http import HtmxHttpRequest


def _lifetime(hours: int) -> str:
    """'30 days', '36 hours', or '' when tokens last until revoked."""
    if hours <= 0:
        return ""
    if hours % 24 == 0:
        days = hours // 24
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


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
    messages.success(
        request, _("Revoked the token “%(name)s”.") % {"name": token.name or token.token_key[:8]}
    )
    return redirect("accounts:token_list")


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HtmxHttpRequest) -> HttpResponse:
    """The user's settings: for now, the language of pages, messages and e-mails."""
    instance = Profile.objects.filter(user=request.user).first() or Profile(user=request.user)
    form = ProfileForm(request.POST or None, instance=instance)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "accounts/profile.html", {"form": form}, status=422)
        form.save()
        remember_language(request, form.cleaned_data["language"])
        messages.success(request, _("Your settings are saved."))
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@require_POST
def set_language(request: HtmxHttpRequest) -> HttpResponse:
    """The navigation's language switcher: answer in this language from now on, and go back
    to the page the user was on. Signed-in users keep the choice on their profile."""
    code = request.POST.get("language", "")
    if code and not is_supported(code):
        return HttpResponseBadRequest(_("Unknown language."))
    if request.user.is_authenticated:
        Profile.objects.update_or_create(user=request.user, defaults={"language": code})
    remember_language(request, code)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = redirect(next_url)
    if code:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response


class SignInView(auth_views.LoginView):
    """Django's sign-in, then the user's language for the rest of the session."""

    def form_valid(self, form):
        response = super().form_valid(form)
        remember_language(self.request, Profile.language_of(form.get_user()))
        return response


@cache_control(max_age=3600)
@require_GET
def javascript_catalog(request: HtmxHttpRequest, language: str) -> HttpResponse:
    """Our scripts' translations in `language` (in the address, so browsers may cache them)."""
    if not is_supported(language):
        raise Http404
    with translation.override(language):
        return JavaScriptCatalog.as_view()(request)
