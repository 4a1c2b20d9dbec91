"""The report type: a Markdown document with live blocks of SQL artifacts in it.

Its content is `Artifact.document = {"markdown": "..."}`: CommonMark, plus fenced
```` ```artifact 12 show=chart :param=value ```` blocks (a chart or a table) and inline
`{{ value 12 column=total row=1 }}` values that name SQL artifacts with parameter values
(the syntax: apps/llm_artifact/reports/blocks.py). When a report opens, each block shows the
latest good run of its artifact with those values; "Re-run" runs them all again. A viewer
sees only the blocks whose artifacts they may see, and a note where one is hidden.

Pages: the report page (the artifact page of a report), its editor (a textarea with a
preview, no JavaScript), Re-run, and the export as one HTML file or a PDF
(apps/llm_artifact/views_report.py). The agent writes one with `write_report`
(apps/llm_chat/agent/report_tools.py). In a bundle the blocks name their artifacts by uid.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.llm_artifact.reports.blocks import parse_report, rewrite_ids, validate_report_markdown
from apps.llm_artifact.types import ArtifactTypeSpec, register

DOCUMENT_KEYS = {"markdown"}


def markdown_of(artifact: Any) -> str:
    document = artifact.document if isinstance(artifact.document, dict) else {}
    markdown = document.get("markdown", "")
    return markdown if isinstance(markdown, str) else ""


class ReportType(ArtifactTypeSpec):
    name = "report"
    label = _("Report")
    position = 20
    uses_sql = False
    content_fields = ("document",)
    page_template = "llm_artifact/types/report_page.html"
    card_template = "llm_artifact/types/report_card.html"
    row_template = "llm_artifact/types/report_row.html"
    admin_template = "llm_artifact/types/report_admin.html"
    agent_tools = ("apps.llm_chat.agent.report_tools.WRITE_REPORT",)

    def default_document(self) -> dict:
        return {"markdown": ""}

    def clean(self, artifact: Any, errors: dict) -> dict[str, list[str]]:
        """The document is {"markdown": text} and every block and value in the text is
        well formed (which artifacts they name is checked for each viewer when shown)."""
        document = artifact.document
        extra = sorted(set(document) - DOCUMENT_KEYS)
        if extra:
            return {"document": [str(_("A report's document holds only “markdown”."))]}
        markdown = document.get("markdown", "")
        if isinstance(markdown, str) and not markdown.strip():
            return {"document": [str(_("A report needs its text."))]}
        try:
            validate_report_markdown(markdown)
        except ValidationError as exc:
            return {"document": exc.messages}
        return {}

    def page_context(self, request: Any, artifact: Any) -> dict:
        from apps.llm_artifact.reports.render import render_report

        return {"rendered": render_report(markdown_of(artifact), request.user)}

    def admin_context(self, artifact: Any) -> dict:
        from apps.core.markdown import render_markdown

        # The admin shows the text as written, blocks unrun: a preview, not a report run.
        return {"text_html": render_markdown(markdown_of(artifact))}

    def export_document(self, artifact: Any) -> dict:
        """The document with its blocks naming their artifacts by uid (ids are the site's)."""
        from apps.llm_artifact.models import Artifact

        markdown = markdown_of(artifact)
        ids = parse_report(markdown).artifact_ids
        uids = {
            pk: str(uid) for pk, uid in Artifact.objects.filter(pk__in=ids).values_list("pk", "uid")
        }
        return {"markdown": rewrite_ids(markdown, uids.get)}

    def import_problems(self, document: Any, bundle_uids: set[str]) -> list[str]:
        """Blocks that name an artifact neither in the bundle nor on this site."""
        from apps.llm_artifact.models import Artifact

        if not isinstance(document, dict) or not isinstance(document.get("markdown"), str):
            return []  # the model's check says what is wrong
        parsed = parse_report(document["markdown"])
        wanted = set(parsed.artifact_uids) - bundle_uids
        here = {
            str(uid)
            for uid in Artifact.objects.filter(uid__in=wanted).values_list("uid", flat=True)
        }
        return [
            str(_("A block names the artifact %(uid)s, which is neither in the bundle nor here."))
            % {"uid": uid}
            for uid in sorted(wanted - here)
        ]

    def run(self, artifact: Any, *, user: Any, raw_params: dict) -> Any:
        """Run every artifact the report shows `user`, each with its blocks' values: a
        RerunOutcome (runs made, problems by artifact)."""
        from apps.llm_artifact.reports.render import rerun_report

        return rerun_report(markdown_of(artifact), user)


TYPE = register(ReportType())
