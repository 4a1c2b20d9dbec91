from django.urls import path

from apps.llm_artifact import views

app_name = "llm_artifact"

urlpatterns: list = []
