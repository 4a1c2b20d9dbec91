import inspect

from django.urls import path
from django.utils.html import format_html_join
from rest_framework import routers
from rest_framework.urlpatterns import format_suffix_patterns

from apps.accounts.api.views import GroupViewSet, ObtainTokenView
from apps.datasources.api.views import DataSourceViewSet, SQLViewSet
from apps.llm_agent.api.views import AgentViewSet
from apps.llm_artifact.api.jobs import ArtifactJobViewSet
from apps.llm_artifact.api.views import ArtifactViewSet, SQLPreviewViewSet, TagViewSet
from apps.llm_chat.api.views import ChatViewSet
from apps.notifications.api.views import NotificationViewSet
from apps.schedules.api.views import AlertViewSet, ScheduleViewSet, SubscriptionViewSet

app_name = "api"


class APIRootView(routers.APIRootView):
    """The REST API of LLM Artifacts: agents, chats and their turns, the artifacts agents
    saved (with runs, exports and charts), the data sources they read, and your
    notifications.

    Sign in to browse it here, or send `Authorization: Token <key>` with a token from
    POST /api/auth/token/ or the "API tokens" page. The full reference, with every
    parameter and response, is at /api/docs/ (OpenAPI schema at /api/schema/).
    """

    def get_view_name(self) -> str:
        return "LLM Artifacts API"

    def get_view_description(self, html: bool = False) -> str:
        # The docstring's paragraphs without its line wrapping, which DRF would keep as <br>.
        paragraphs = [
            " ".join(part.split()) for part in inspect.cleandoc(self.__doc__).split("\n\n")
        ]
        if not html:
            return "\n\n".join(paragraphs)
        return format_html_join("", "<p>{}</p>", ((part,) for part in paragraphs))


class Router(routers.DefaultRouter):
    """DRF's router with a format suffix only where it names a file type.

    DefaultRouter adds `.json`/`.api` suffix routes to every URL, which passes a `format`
    argument that no action but the file answers takes (a TypeError, so a 500, for every
    user). JSON is the API's only format; the chart and the export keep `/chart.png` and
    `/export.xlsx`, whose views take the suffix as the file type (and answer an unknown one
    with a 400 naming the types they draw or write).
    """

    APIRootView = APIRootView
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
router.register("artifact-jobs", ArtifactJobViewSet, basename="artifact-job")
router.register("tags", TagViewSet, basename="tag")
router.register("data-sources", DataSourceViewSet, basename="data-source")
router.register("sql", SQLViewSet, basename="sql")
# /api/sql/run/ runs SQL with parameter declarations: artifacts' rules, so llm_artifact's.
router.register("sql", SQLPreviewViewSet, basename="sql-preview")
router.register("groups", GroupViewSet, basename="group")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("alerts", AlertViewSet, basename="alert")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="auth-token"),
    *router.urls,
]
