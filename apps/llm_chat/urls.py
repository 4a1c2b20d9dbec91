from django.urls import path

from apps.llm_chat import views

app_name = "llm_chat"

urlpatterns = [
    path("", views.chat_list, name="chat_list"),
    path("new/", views.chat_new, name="chat_new"),
    path("start/", views.chat_create, name="chat_create"),
    path("<int:pk>/", views.chat_detail, name="chat_detail"),
    path("<int:pk>/rename/", views.chat_rename, name="chat_rename"),
    path("<int:pk>/delete/", views.chat_delete, name="chat_delete"),
    # The Share dialog: a modal with htmx, a page of its own without JavaScript.
    path("<int:pk>/share/", views.chat_share, name="chat_share"),
    path("<int:pk>/messages/", views.message_create, name="message_create"),
    # The reply to a saved question, as Server-Sent Events (started here if it has none).
    path(
        "<int:pk>/messages/<int:message_pk>/stream/",
        views.message_stream,
        name="message_stream",
    ),
    # Retry (or first run) of a question's turn: streamed for chat.js, a redirect otherwise.
    path(
        "<int:pk>/messages/<int:message_pk>/reply/",
        views.message_reply,
        name="message_reply",
    ),
    # Stop a reply being written (the owner's Stop button).
    path(
        "<int:pk>/messages/<int:message_pk>/stop/",
        views.message_stop,
        name="message_stop",
    ),
]
