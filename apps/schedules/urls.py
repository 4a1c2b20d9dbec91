from django.urls import path

from apps.schedules import views

app_name = "schedules"

urlpatterns = [
    path("artifacts/<int:pk>/schedules/", views.artifact_schedules, name="artifact_schedules"),
    path("artifacts/<int:pk>/schedules/new/", views.schedule_create, name="schedule_create"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/pause/", views.schedule_pause, name="schedule_pause"),
    path("schedules/<int:pk>/resume/", views.schedule_resume, name="schedule_resume"),
    path("schedules/<int:pk>/run/", views.schedule_run, name="schedule_run"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("schedules/<int:pk>/alerts/", views.alert_create, name="alert_create"),
    path("alerts/<int:pk>/delete/", views.alert_delete, name="alert_delete"),
    path("alerts/<int:pk>/subscribe/", views.subscription_create, name="subscription_create"),
    path("subscriptions/<int:pk>/delete/", views.subscription_delete, name="subscription_delete"),
]
