app_name = "llm_artifact"

urlpatterns: list = []
