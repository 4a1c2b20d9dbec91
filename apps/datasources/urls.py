from django.urls import path

from apps.datasources import views

app_name = "datasources"

urlpatterns = [
    path("", views.data_source_list, name="data_source_list"),
    path("<str:name>/", views.data_source_detail, name="data_source_detail"),
]
