from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter

from apps.datasources.api.views import DataSourceViewSet, SQLViewSet
from apps.llm_agent.api.views import AgentViewSet
from apps.llm_artifact.api.views import ArtifactViewSet
from apps.llm_chat.api.views import ChatViewSet

app_name = "api"


@extend_schema(
    summary="Exchange a username and password for an API token",
    description='Send the token on later requests as the header "Authorization: Token <token>". '
    "A user keeps the same token until an operator deletes it.",
    auth=[],
    tags=["auth"],
)
class ObtainTokenView(ObtainAuthToken):
    pass


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
