from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="llm_chat:chat_list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("apps.accounts.urls")),
    path("chats/", include("apps.llm_chat.urls")),
    path("artifacts/", include("apps.llm_artifact.urls")),
    path("data-sources/", include("apps.datasources.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): no inline script
    # for the Content-Security-Policy to allow.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("config.api_router")),
]

# Bodies too big or with too many fields: JSON for /api/, a readable page elsewhere.
handler400 = "apps.core.errors.bad_request"
