from django.urls import path

from apps.llm_chat import views

app_name = "llm_chat"

urlpatterns: list = []
