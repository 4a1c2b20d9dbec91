from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.accounts.api.views import ObtainTokenView
from apps.datasources.api.views import DataSourceViewSet, SQLViewSet
from apps.llm_agent.api.views import AgentViewSet
from apps.llm_artifact.api.views import ArtifactViewSet
from apps.llm_chat.api.views import ChatViewSet

app_name = "api"


router = DefaultRouter()
router.register("agents", AgentViewSet)
router.register("chats", ChatViewSet, basename="chat")
router.register("artifacts", ArtifactViewSet, basename="artifact")
router.register("data-sources", DataSourceViewSet, basename="data-source")
router.register("sql", SQLViewSet, basename="sql")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="auth-token"),
    *router.urls,
]
