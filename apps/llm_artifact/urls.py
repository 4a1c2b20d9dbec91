from django.urls import path

from apps.llm_artifact import views, views_chart, views_library

app_name = "llm_artifact"

urlpatterns = [
    path("", views.artifact_list, name="artifact_list"),
    path("chat-options/", views.artifact_chat_options, name="artifact_chat_options"),
    path("<int:pk>/", views.artifact_detail, name="artifact_detail"),
    path("<int:pk>/edit/", views.artifact_edit, name="artifact_edit"),
    # A confirmation page for browsers without JavaScript; deleting itself is POST only.
    path("<int:pk>/confirm-delete/", views.artifact_confirm_delete, name="artifact_confirm_delete"),
    path("<int:pk>/delete/", views.artifact_delete, name="artifact_delete"),
    path("<int:pk>/run/", views.artifact_run, name="artifact_run"),
    path("<int:pk>/card-run/", views.artifact_card_run, name="artifact_card_run"),
    path("<int:pk>/chart/", views_chart.artifact_chart, name="artifact_chart"),
    path("<int:pk>/export/<slug:export_format>/", views.artifact_export, name="artifact_export"),
    path("<int:pk>/tags/", views_library.artifact_tags, name="artifact_tags"),
    path("<int:pk>/verify/", views_library.artifact_verify, name="artifact_verify"),
    path("<int:pk>/unverify/", views_library.artifact_unverify, name="artifact_unverify"),
]
