"""The report editor's form: its title, description, data source and Markdown text."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from apps.datasources.sources import default_data_source_name
from apps.llm_artifact.forms_workbench import usable_sources
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.types.report import markdown_of

SYNTAX_HELP = _(
    "Markdown. Embed an SQL artifact's chart or table with a fenced block "
    "```artifact 12 show=chart :param=value``` (show=table rows=10), and one value in a "
    "sentence with {{ value 12 column=total row=1 :param=value }}."
)


class ReportForm(forms.ModelForm):
    """The model checks the text (the report type's clean()); its errors show on it."""

    data_source = forms.ChoiceField(
        label=_("Data source"),
        help_text=_("Who may not use this source does not see the report."),
    )
    markdown = forms.CharField(
        label=_("Text"),
        required=False,
        strip=False,
        help_text=SYNTAX_HELP,
        widget=forms.Textarea(attrs={"rows": 18, "class": "font-monospace", "spellcheck": "true"}),
    )

    field_order = ["title", "markdown", "description", "data_source"]

    class Meta:
        model = Artifact
        fields = ["title", "description", "data_source"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sources = usable_sources(user)
        self.fields["data_source"].choices = [(name, name) for name in sources]
        if not self.is_bound:
            self.initial["markdown"] = markdown_of(self.instance)
            if not self.instance.data_source:
                default = default_data_source_name()
                self.initial["data_source"] = (
                    default if default in sources else next(iter(sources), "")
                )

    def clean(self) -> dict:
        cleaned = super().clean()
        markdown = cleaned.get("markdown", "").replace("\r\n", "\n")
        cleaned["markdown"] = markdown
        # The model checks it (ReportType.clean) in _post_clean, which runs after this.
        self.instance.artifact_type = "report"
        self.instance.document = {"markdown": markdown}
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            moved = {
                ("markdown" if name == "document" else name): messages
                for name, messages in errors.error_dict.items()
            }
            outside = [
                name for name in moved if name != NON_FIELD_ERRORS and name not in self.fields
            ]
            for name in outside:
                moved.setdefault(NON_FIELD_ERRORS, []).extend(moved.pop(name))
            errors = ValidationError(moved)
        super()._update_errors(errors)
