from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.profile, name="profile"),
    path("language/", views.set_language, name="set_language"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<str:digest>/revoke/", views.token_revoke, name="token_revoke"),
]
