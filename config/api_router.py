from django.urls import path
from rest_framework.routers import DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns

from apps.accounts.api.views import ObtainTokenView
from apps.datasources.api.views import DataSourceViewSet, SQLViewSet
from apps.llm_agent.api.views import AgentViewSet
from apps.llm_artifact.api.views import ArtifactViewSet
from apps.llm_chat.api.views import ChatViewSet

app_name = "api"


class Router(DefaultRouter):
    """DRF's router with a format suffix only where it names a file type.

    DefaultRouter adds `.json`/`.api` suffix routes to every URL, which passes a `format`
    argument that no action but the file answers takes (a TypeError, so a 500, for every
    user). JSON is the API's only format; the chart and the export keep `/chart.png` and
    `/export.xlsx`, whose views take the suffix as the file type (and answer an unknown one
    with a 400 naming the types they draw or write).
    """

    include_format_suffixes = False
    file_routes = {"artifact-chart", "artifact-export"}

    def get_urls(self):
        urls = super().get_urls()
        files = [url for url in urls if url.name in self.file_routes]
        return urls + format_suffix_patterns(files, suffix_required=True)


router = Router()
router.register("agents", AgentViewSet)
router.register("chats", ChatViewSet, basename="chat")
router.register("artifacts", ArtifactViewSet, basename="artifact")
router.register("data-sources", DataSourceViewSet, basename="data-source")
router.register("sql", SQLViewSet, basename="sql")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="auth-token"),
    *router.urls,
]
