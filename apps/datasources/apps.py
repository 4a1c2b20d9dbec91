from django.apps import AppConfig


class DataSourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "Data sources"

    def ready(self) -> None:
        # Refuse to start when a data source points at the app's own database: artifact SQL
        # is written by an LLM and must never reach users, sessions or tokens.
        from apps.datasources import signals  # noqa: F401  (cached exposures dropped on change)
        from apps.datasources.sources import check_configuration

        check_configuration()
