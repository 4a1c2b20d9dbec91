"""The SQL query type: the first entry of the registry, the artifact as it always was.

Its content is the SQL fields of the model (`sql_query`, `query_params`,
`visualization_config`, `template_slots`), checked against the data source (the guard, the
known tables and columns, the declared parameters); its page is the artifact page with the
run panel, its card runs in the chat, and "run" executes the SQL read-only and records it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from apps.llm_artifact.types import ArtifactTypeSpec, register


class SqlQueryType(ArtifactTypeSpec):
    name = "sql_query"
    label = _("SQL query")
    position = 0
    uses_sql = True
    content_fields = ("sql_query", "query_params", "visualization_config", "template_slots")
    page_template = "llm_artifact/artifact_detail.html"
    card_template = "llm_artifact/artifact_card.html"
    # Its list row and admin are the model's own (the SQL preview, the highlighted SQL and
    # the chart preview in ArtifactAdmin): nothing more to show.
    row_template = ""
    admin_template = ""
    agent_tools = (
        "apps.llm_chat.agent.tools.SAVE_ARTIFACT",
        "apps.llm_chat.agent.tools.UPDATE_ARTIFACT",
        "apps.llm_chat.agent.tools.SET_VISUALIZATION",
    )

    def clean(self, artifact: Any, errors: dict | None = None) -> dict[str, list[str]]:
        """The SQL against its source (guard, known tables and columns, declared parameters)
        and the allowed values read from columns; `errors` are the field errors found so far
        (a broken declaration list is not checked again through the SQL)."""
        from apps.llm_artifact.parameters import column_choice_problems

        found: dict[str, list[str]] = {}
        errors = errors or {}
        if not artifact.sql_query.strip():
            found["sql_query"] = [str(_("An SQL query artifact needs its SQL."))]
        elif not {"query_params", "template_slots"} & set(errors):
            sql_errors = artifact._sql_errors()
            if sql_errors:
                found["sql_query"] = sql_errors
        if "query_params" not in errors:
            # Allowed values from a column: the column must exist in the source. Reading
            # them here also refreshes the cached list whenever the artifact is saved.
            column_errors = column_choice_problems(artifact.query_params, artifact.data_source)
            if column_errors:
                found["query_params"] = column_errors
        return found

    def run(self, artifact: Any, *, user: Any, raw_params: dict) -> Any:
        """Execute the SQL with the values (services.run_artifact): a RunResult."""
        from apps.llm_artifact.services import run_artifact

        return run_artifact(artifact, user=user, raw_params=raw_params)

    def export_document(self, artifact: Any) -> dict:
        return {}


TYPE = register(SqlQueryType())
