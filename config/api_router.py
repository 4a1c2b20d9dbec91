from rest_framework.routers import DefaultRouter

from apps.llm_agent.api.views import AgentViewSet
from apps.llm_artifact.api.views import ArtifactViewSet
from apps.llm_chat.api.views import ChatViewSet

app_name = "api"

router = DefaultRouter()
router.register("agents", AgentViewSet)
router.register("chats", ChatViewSet)
router.register("artifacts", ArtifactViewSet)

urlpatterns = router.urls
