from django.urls import path

from apps.llm_chat import views

app_name = "llm_chat"

urlpatterns = [
    path("", views.chat_list, name="chat_list"),
    path("new/", views.chat_create, name="chat_create"),
    path("<int:pk>/", views.chat_detail, name="chat_detail"),
    path("<int:pk>/messages/", views.message_create, name="message_create"),
]
