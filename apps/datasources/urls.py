app_name = "datasources"

urlpatterns: list = []
