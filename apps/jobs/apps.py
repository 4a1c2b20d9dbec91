from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"
    verbose_name = _("Background work")

    def ready(self) -> None:
        # Each app's tasks.py declares its jobs (@job) and periodic work (@every); a worker runs
        # a job by its dotted name, and the periodic list must be complete in every worker.
        autodiscover_modules("tasks")
