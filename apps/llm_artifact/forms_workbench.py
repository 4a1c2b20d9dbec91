"""The workbench's forms: the artifact's title, data source, SQL and chart, and the parameter
editor (a formset, one form a declaration) beside the SQL.

The declarations' rules stay in apps.llm_artifact.parameters (validate_declarations): a
parameter form only turns its inputs into a declaration and reports what that module says
about it, and the model checks the SQL against the declarations when the artifact is saved.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.widgets import SQLEditorWidget
from apps.datasources.access import may_use_source
from apps.datasources.sources import all_data_sources, default_data_source_name
from apps.llm_artifact.forms import ChartSpecField, OutsideErrorsMixin, _input_value
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import (
    MAX_HELP_TEXT_LENGTH,
    ParamType,
    coerce,
    is_relative,
    validate_declarations,
)

# The hidden input the SQL editor reads the declarations from (JSON, kept in step with the
# parameter editor by static/js/workbench.js); it has no name, so it is never posted.
DECLARATIONS_INPUT_ID = "workbench-declarations"


def typed_default(param_type: str, text: str) -> Any:
    """A default typed into the editor as the declaration stores it: numbers and booleans
    as such, dates as ISO text or the relative expression, text as typed; None when blank.
    Text that does not fit its type is kept as typed, for validate_declarations to report."""
    if text == "" or (param_type != ParamType.STRING and not text.strip()):
        return None
    if param_type == ParamType.STRING:
        return text
    text = text.strip()
    if is_relative(param_type, text):
        return text
    try:
        return coerce(param_type, text)
    except ValueError:
        return text


class ParameterForm(forms.Form):
    """One declared parameter: what the declaration holds, as inputs."""

    name = forms.CharField(
        max_length=63,
        widget=forms.TextInput(
            attrs={"class": "font-monospace", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    type = forms.ChoiceField(label=_("Type"), choices=ParamType.choices, initial=ParamType.STRING)
    label = forms.CharField(label=_("Label"), required=False, max_length=200)
    default = forms.CharField(
        label=_("Default"),
        required=False,
        strip=False,
        max_length=200,
        help_text=_("Dates may be relative: today, start_of_month -1 month, today -7 days…"),
    )
    required = forms.BooleanField(label=_("Required"), required=False)
    help_text = forms.CharField(
        label=_("Help text"), required=False, max_length=MAX_HELP_TEXT_LENGTH
    )
    choices = forms.CharField(
        label=_("Allowed values"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One a line (text parameters)."),
    )
    choices_from = forms.CharField(
        label=_("Or values from a column"),
        required=False,
        max_length=400,
        widget=forms.TextInput(attrs={"placeholder": "table.column", "autocomplete": "off"}),
    )

    # What a person fills in; the type select and the order do not make a row "used".
    CONTENT_FIELDS = ("name", "label", "default", "help_text", "choices", "choices_from")

    def has_changed(self) -> bool:
        # An added row left blank is ignored rather than refused (formset extra forms).
        if self.is_bound and not self.initial:
            return any(
                str(self.data.get(self.add_prefix(name), "")).strip()
                for name in self.CONTENT_FIELDS
            )
        return super().has_changed()

    def clean_choices_from(self) -> dict | None:
        text = self.cleaned_data["choices_from"].strip()
        if not text:
            return None
        table, dot, column = text.rpartition(".")
        if not dot or not table.strip() or not column.strip():
            raise ValidationError(_("Write the column as table.column, e.g. orders.status."))
        return {"table": table.strip(), "column": column.strip()}

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            validate_declarations([self.declaration()])
        except ValidationError as exc:
            for message in exc.messages:
                # "Parameter 'since': default ..." -> "default ..." beside the row.
                self.add_error(None, message.split(": ", 1)[-1])
        return cleaned

    def declaration(self) -> dict:
        """The declaration this row stands for (cleaned data only)."""
        data = self.cleaned_data
        param_type = data["type"]
        declaration: dict[str, Any] = {"name": data["name"].strip(), "type": param_type}
        if data.get("label", "").strip():
            declaration["label"] = data["label"].strip()
        declaration["required"] = bool(data.get("required"))
        default = typed_default(param_type, data.get("default", ""))
        if default is not None:
            declaration["default"] = default
        if data.get("help_text", "").strip():
            declaration["help_text"] = data["help_text"].strip()
        choices = [line.strip() for line in data.get("choices", "").splitlines() if line.strip()]
        if choices:
            declaration["choices"] = choices
        if data.get("choices_from"):
            declaration["choices_from"] = data["choices_from"]
        return declaration


def parameter_initial(declarations: Any) -> list[dict]:
    """The parameter editor's rows for stored declarations (as the inputs show them)."""
    rows = []
    for declaration in declarations if isinstance(declarations, list) else []:
        if not isinstance(declaration, dict):
            continue
        param_type = declaration.get("type", ParamType.STRING)
        choices = declaration.get("choices")
        choices_from = declaration.get("choices_from")
        rows.append(
            {
                "name": declaration.get("name", ""),
                "type": param_type,
                "label": declaration.get("label") or "",
                "default": _input_value(param_type, declaration.get("default")),
                "required": bool(declaration.get("required")),
                "help_text": declaration.get("help_text") or "",
                "choices": "\n".join(str(c) for c in choices) if isinstance(choices, list) else "",
                "choices_from": (
                    f"{choices_from.get('table')}.{choices_from.get('column')}"
                    if isinstance(choices_from, dict)
                    else ""
                ),
            }
        )
    return rows


class BaseParameterFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors) or not self.management_form.is_valid():
            return
        names = [form.cleaned_data["name"].strip() for form in self.used_forms()]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValidationError(
                gettext("Each parameter once: %(names)s declared twice.")
                % {"names": ", ".join(twice)}
            )

    def used_forms(self) -> list[ParameterForm]:
        """The rows that declare something, in the order chosen, without removed ones."""
        ordered = self.ordered_forms if self.can_order else self.forms
        deleted = set(map(id, self.deleted_forms)) if self.can_delete else set()
        return [form for form in ordered if form.cleaned_data and id(form) not in deleted]

    def declarations(self) -> list[dict]:
        """The declarations in order; call after is_valid()."""
        return [form.declaration() for form in self.used_forms()]


ParameterFormSet = forms.formset_factory(
    ParameterForm,
    formset=BaseParameterFormSet,
    extra=0,
    can_order=True,
    can_delete=True,
    max_num=50,
    validate_max=True,
)
PARAMETERS_PREFIX = "params"


def with_new_parameter(data: Any, name: str = "", param_type: str = ParamType.STRING) -> Any:
    """A copy of posted data with one more parameter row (`name` and `param_type`: the type
    the SQL check guessed from its use), for "Add parameter" and "Declare :name" without
    JavaScript."""
    data = data.copy()
    key = f"{PARAMETERS_PREFIX}-TOTAL_FORMS"
    try:
        index = int(data.get(key, 0))
    except ValueError:
        index = 0
    data[key] = str(index + 1)
    data[f"{PARAMETERS_PREFIX}-{index}-name"] = name
    data[f"{PARAMETERS_PREFIX}-{index}-type"] = param_type
    return data


def usable_sources(user: Any) -> dict[str, str]:
    """{name: dialect} of the data sources `user` may use, by name."""
    return {
        name: source.dialect
        for name, source in sorted(all_data_sources().items())
        if may_use_source(user, name)
    }


class WorkbenchForm(OutsideErrorsMixin, forms.ModelForm):
    """The artifact's title, data source, SQL and chart. The view sets the instance's
    query_params from the parameter editor before validating, so the model checks the SQL
    against them (Artifact.clean)."""

    data_source = forms.ChoiceField(label=_("Data source"))
    visualization_config = ChartSpecField(
        label=_("Chart (Vega-Lite JSON; empty for a table only)"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "class": "font-monospace",
                "spellcheck": "false",
                # The chart's check below it (the artifact page's chart editor's) says what is
                # wrong, with the path of each problem.
                "aria-describedby": "chart-editor-check",
            }
        ),
    )

    class Meta:
        model = Artifact
        fields = ["title", "data_source", "sql_query", "visualization_config"]

    def __init__(self, *args, user: Any, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sources = usable_sources(user)
        field = self.fields["data_source"]
        field.choices = [(name, name) for name in self.sources]
        if not self.is_bound and not self.instance.data_source:
            default = default_data_source_name()
            self.initial["data_source"] = (
                default if default in self.sources else next(iter(self.sources), "")
            )
        draft = f"artifact-{self.instance.pk}" if self.instance.pk else "new-artifact"
        self.fields["sql_query"].widget = SQLEditorWidget(
            data_source_field="data_source",
            dialects=self.sources,
            draft_key=draft,
            declarations_field=DECLARATIONS_INPUT_ID,
            attrs={"rows": 14, "class": "form-control font-monospace", "aria-label": "SQL"},
        )
        sql_field = self.fields["sql_query"]
        sql_field.help_text = (
            "Values a person may change are :name parameters, declared beside the SQL."
        )
        if self.instance.pk is not None and self.instance.is_verified:
            # A change of the SQL clears the verified mark unless the editor confirms it.
            self.fields["keep_verified"] = forms.BooleanField(
                required=False,
                label=_("The changed SQL still answers its question: keep it verified"),
            )

    def clean_sql_query(self) -> str:
        # Browsers post a textarea's lines with CRLF; the SQL is kept as it was typed.
        return self.cleaned_data["sql_query"].replace("\r\n", "\n")

    def chosen_source(self) -> str:
        """The data source the posted (or shown) form is about, if the user may use it."""
        name = self["data_source"].value() or ""
        return name if name in self.sources else ""
