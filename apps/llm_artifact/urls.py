from django.urls import path

from apps.llm_artifact import (
    views,
    views_bundles,
    views_chart,
    views_dashboard,
    views_jobs,
    views_library,
    views_report,
    views_template,
    views_workbench,
)

app_name = "llm_artifact"

urlpatterns = [
    path("", views.artifact_list, name="artifact_list"),
    path("export/", views_bundles.artifact_bundle_export, name="artifact_bundle_export"),
    path("import/", views_bundles.artifact_import, name="artifact_import"),
    path("chat-options/", views.artifact_chat_options, name="artifact_chat_options"),
    path("new/", views_workbench.artifact_new, name="artifact_new"),
    path("reports/new/", views_report.report_new, name="report_new"),
    path("<int:pk>/", views.artifact_detail, name="artifact_detail"),
    path("<int:pk>/edit/", views.artifact_edit, name="artifact_edit"),
    # The SQL, parameters and chart (the inline edit above changes the texts and status).
    path("<int:pk>/workbench/", views_workbench.artifact_workbench, name="artifact_workbench"),
    path("<int:pk>/duplicate/", views_workbench.artifact_duplicate, name="artifact_duplicate"),
    # A confirmation page for browsers without JavaScript; deleting itself is POST only.
    path("<int:pk>/confirm-delete/", views.artifact_confirm_delete, name="artifact_confirm_delete"),
    path("<int:pk>/delete/", views.artifact_delete, name="artifact_delete"),
    # The Share dialog: a modal with htmx, a page of its own without JavaScript.
    path("<int:pk>/share/", views.artifact_share, name="artifact_share"),
    path("<int:pk>/run/", views.artifact_run, name="artifact_run"),
    path("<int:pk>/card-run/", views.artifact_card_run, name="artifact_card_run"),
    path("<int:pk>/chart/", views_chart.artifact_chart, name="artifact_chart"),
    path("<int:pk>/use/", views_template.template_use, name="template_use"),
    path("<int:pk>/export/<slug:export_format>/", views.artifact_export, name="artifact_export"),
    # A dashboard's tiles (each loads itself) and its editors' changes (types/dashboard.py).
    path(
        "<int:pk>/tiles/<slug:tile_id>/",
        views_dashboard.dashboard_tile,
        name="dashboard_tile",
    ),
    path("<int:pk>/tile-add/", views_dashboard.dashboard_tile_add, name="dashboard_tile_add"),
    path(
        "<int:pk>/tiles/<slug:tile_id>/<slug:verb>/",
        views_dashboard.dashboard_tile_change,
        name="dashboard_tile_change",
    ),
    path("<int:pk>/tile-order/", views_dashboard.dashboard_order, name="dashboard_order"),
    path("<int:pk>/filter-add/", views_dashboard.dashboard_filter_add, name="dashboard_filter_add"),
    path(
        "<int:pk>/filters/<slug:name>/remove/",
        views_dashboard.dashboard_filter_remove,
        name="dashboard_filter_remove",
    ),
    # A report's editor, Re-run and exports (its page is the artifact page).
    path("<int:pk>/report/edit/", views_report.report_edit, name="report_edit"),
    path("<int:pk>/report/rerun/", views_report.report_rerun, name="report_rerun"),
    path("<int:pk>/report.<slug:export_format>", views_report.report_export, name="report_export"),
    # Background runs and exports: start one, follow it, cancel it, download its file.
    path("<int:pk>/background/", views_jobs.artifact_background, name="artifact_background"),
    path("<int:pk>/jobs/", views_jobs.artifact_jobs, name="artifact_jobs"),
    path("<int:pk>/jobs/<uuid:job_id>/", views_jobs.artifact_job, name="artifact_job"),
    path(
        "<int:pk>/jobs/<uuid:job_id>/cancel/",
        views_jobs.artifact_job_cancel,
        name="artifact_job_cancel",
    ),
    path(
        "<int:pk>/jobs/<uuid:job_id>/download/",
        views_jobs.artifact_job_download,
        name="artifact_job_download",
    ),
    path("<int:pk>/tags/", views_library.artifact_tags, name="artifact_tags"),
    path("<int:pk>/verify/", views_library.artifact_verify, name="artifact_verify"),
    path("<int:pk>/unverify/", views_library.artifact_unverify, name="artifact_unverify"),
]
