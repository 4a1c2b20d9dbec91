from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts import views as account_views
from apps.llm_artifact import views_library

admin.site.site_header = _("LLM Artifacts administration")
admin.site.site_title = _("LLM Artifacts admin")
admin.site.index_title = _("Agents, chats, artifacts and accounts")


class SignOutView(auth_views.LogoutView):
    """Sign out, then say so on the sign-in page it leads to."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # The session is gone; the message rides on the message cookie to the next page.
        messages.success(request, _("You have signed out."))
        return response


def favicon(request: HttpRequest) -> HttpResponse:
    # Resolved per request, not at import: the hashed name comes from the static manifest,
    # which a check or a migration must not need.
    return HttpResponseRedirect(static("img/favicon.svg"))


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="llm_chat:chat_list"), name="home"),
    # Browsers ask for /favicon.ico on pages without a <link rel="icon"> (the API's JSON,
    # files): point them at the one icon.
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    path("account/", include("apps.accounts.urls")),
    path("chats/", include("apps.llm_chat.urls")),
    path("artifacts/", include("apps.llm_artifact.urls")),
    # An artifact's "Schedule & alerts" page and its forms.
    path("", include("apps.schedules.urls")),
    path("library/", views_library.library, name="library"),
    path("data-sources/", include("apps.datasources.urls")),
    path("notifications/", include("apps.notifications.urls")),
    # The admin's "Log out" signs out the same way, with the same message (admin:logout still
    # names this path; Django's own view would end on the same page without a word).
    path("admin/logout/", SignOutView.as_view()),
    path("admin/", admin.site.urls),
    # Translations for our scripts; the language is in the address so browsers may cache it.
    path("jsi18n/<str:language>/", account_views.javascript_catalog, name="javascript-catalog"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): no inline script
    # for the Content-Security-Policy to allow.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("config.api_router")),
]

# Bodies too big or with too many fields: JSON for /api/, a readable page elsewhere.
handler400 = "apps.core.errors.bad_request"
