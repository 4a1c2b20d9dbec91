from django.urls import path

app_name = "datasources"

urlpatterns: list = []
