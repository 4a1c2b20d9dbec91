app_name = "llm_chat"

urlpatterns: list = []
