from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Case, CharField, Exists, F, OuterRef, QuerySet, Value, When
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from apps.accounts.sharing import Scope, Shared, Visibility, change_sharing
from apps.core import json as strict_json
from apps.datasources.access import may_use_source
from apps.llm_agent.models import Agent
from apps.llm_artifact.bundles import Conflict
from apps.llm_artifact.column_values import AllowedValues
from apps.llm_artifact.models import Artifact, Tag, chats_visible_to, search_terms
from apps.llm_artifact.parameters import (
    ParamType,
    allowed_values,
    coerce,
    is_relative,
    resolve_relative,
)
from apps.llm_artifact.relative_dates import MAX_EXPRESSION_LENGTH, local_today

# The sort values a URL may carry ("title", or "-title" for descending), mapped to the field
# they order by. Anything else is refused, so a query string never orders by an arbitrary
# field or lookup.
SORT_FIELDS = {
    "title": "title",
    "status": "status",
    "type": "artifact_type",
    "agent": "agent__name",
    "chat": "chat__title",
    "data_source": "data_source",
    "runs": "execution_count",
    "last_run": "last_executed_at",
    "updated": "updated_at",
}
SORT_CHOICES = [(key, key) for key in SORT_FIELDS] + [(f"-{key}", f"-{key}") for key in SORT_FIELDS]
DEFAULT_SORT = "-updated"


# The chat filter lists this many chats (those matching "find a chat", or the most recent):
# a user may have 20,000, and a select of them all was most of the list page.
CHAT_CHOICES_SHOWN = 20
# Tag chips the list offers as filters, the most used first.
TAG_CHIPS_SHOWN = 20
INVALID_CHOICE = "Select a valid choice. That choice is not one of the available choices."


class ArtifactFilterForm(forms.Form):
    """The artifact list's filters, read from the query string.

    Invalid values are reported and ignored rather than failing the page: a stale bookmark
    still shows the list.
    """

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Title, description, comment or SQL"),
                "autocomplete": "off",
                "hx-get": reverse_lazy("llm_artifact:artifact_list"),
                "hx-trigger": "input changed delay:300ms, search",
                "hx-include": "closest form",
            }
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Artifact.Status.choices]
    )
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("Any type")), *Artifact.ArtifactType.choices],
    )
    agent = forms.TypedChoiceField(label=_("Agent"), required=False, coerce=int, empty_value=None)
    # Any visible chat by id (links name one), not only the few the select lists.
    chat = forms.IntegerField(
        label=_("Chat"),
        required=False,
        widget=forms.Select,
        error_messages={"invalid": INVALID_CHOICE},
    )
    chat_q = forms.CharField(
        label=_("Find a chat"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Find a chat by title"),
                "autocomplete": "off",
                "class": "form-control-sm mt-1",
                # As it is typed, the chat select's options are replaced by the chats that
                # match (the chosen one kept); without JavaScript, Apply does the same.
                "hx-get": reverse_lazy("llm_artifact:artifact_chat_options"),
                "hx-trigger": "input changed delay:300ms, search",
                # The chosen chat, and the scope the options are drawn from.
                "hx-include": "#id_chat, [name=scope]",
                "hx-target": "#id_chat",
                "hx-swap": "innerHTML",
                "hx-push-url": "false",
                "hx-sync": "this:replace",
                "hx-indicator": "this",
            }
        ),
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)
    # Whose artifacts (the tabs above the list): mine, shared with me, everyone's; staff
    # may ask for every artifact. The choices are set per user.
    scope = forms.ChoiceField(required=False, widget=forms.HiddenInput)
    # By the owner's username, typed: a select of every owner would list thousands of
    # people, and the rows it finds are only ever among those the user may see.
    owner = forms.CharField(
        label=_("Owner"),
        required=False,
        max_length=150,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Username"),
                "autocomplete": "off",
                "spellcheck": "false",
                "hx-get": reverse_lazy("llm_artifact:artifact_list"),
                "hx-trigger": "input changed delay:300ms, search",
                "hx-include": "closest form",
            }
        ),
    )
    # A tag's name (any case; chips link it); an unknown one matches nothing.
    tag = forms.CharField(required=False, max_length=50, widget=forms.HiddenInput)

    # core/field.html: the filters sit in one dense row.
    label_class = "form-label small text-body-secondary mb-1"
    group_class = "mb-0"

    def __init__(self, *args, artifacts: QuerySet[Artifact], user, **kwargs) -> None:
        """`artifacts`: those the list draws from, narrowed here to the user's scope
        (Artifact.objects.in_scope, which only ever keeps what the user may see)."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["scope"].choices = self.scope_choices(user)
        # The scope decides the other filters' choices, so it is read before they are
        # validated; a scope the user may not ask for is reported and ignored.
        self.chosen_scope = self._raw_scope()
        self.artifacts = artifacts.in_scope(user, self.chosen_scope)
        self.fields["agent"].choices = [("", _("Any agent")), *self._agent_choices()]
        # Each select asks for itself: a trigger filter on the form (change[...]) would need
        # eval, which the Content-Security-Policy refuses.
        for bound in self.choice_fields:
            bound.field.widget.attrs.update(
                {
                    "hx-get": reverse_lazy("llm_artifact:artifact_list"),
                    "hx-trigger": "change",
                    "hx-include": "closest form",
                }
            )
        self.fields["chat"].widget.choices = self._chat_choices()

    @staticmethod
    def scope_choices(user) -> list[tuple[str, str]]:
        return [
            (value, label) for value, label in Scope.choices if value != Scope.ALL or user.is_staff
        ]

    def _raw_scope(self) -> str:
        raw = self.data.get("scope", "") if self.is_bound else ""
        return raw if raw in dict(self.fields["scope"].choices) else Scope.VISIBLE

    @property
    def scope_tabs(self) -> list[tuple[str, str, bool]]:
        """The scope links: (value, label, whether it is the one shown)."""
        return [
            (value, label, value == self.chosen_scope)
            for value, label in self.fields["scope"].choices
        ]

    def _agent_choices(self) -> list[tuple[int, str]]:
        # Only the agents the user's artifacts came from: agents are few, artifacts many, so
        # each agent asks whether it has one rather than reading every artifact.
        agents = Agent.objects.filter(Exists(self.artifacts.filter(agent=OuterRef("pk"))))
        return list(agents.order_by("name", "pk").values_list("pk", "name"))

    def clean_chat(self) -> int | None:
        chat = self.cleaned_data["chat"]
        if chat is None:
            return None
        # The chat app's rule: another user's chat is refused exactly like a missing one.
        self.chosen_chat_title = (
            chats_visible_to(self.user).filter(pk=chat).values_list("title", flat=True).first()
        )
        if self.chosen_chat_title is None:
            raise ValidationError(INVALID_CHOICE, code="invalid_choice")
        return chat

    def _chat_choices(self) -> list[tuple[int | str, str]]:
        """The select's options: "Any chat", the chosen chat, and at most CHAT_CHOICES_SHOWN
        more, the chats matching "find a chat" or else the most recent, among the visible
        chats the user's artifacts came from (the chat app's rule, never importing it)."""
        chosen = self.value("chat")
        choices: list[tuple[int | str, str]] = [("", _("Any chat"))]
        if chosen:
            choices.append((chosen, self.chosen_chat_title))
        chats = chats_visible_to(self.user).filter(
            Exists(self.artifacts.filter(chat=OuterRef("pk")))
        )
        for term in search_terms(self.value("chat_q") or ""):
            chats = chats.filter(title__icontains=term)
        chats = chats.exclude(pk=chosen) if chosen else chats
        choices += chats.order_by("-updated_at", "-pk").values_list("pk", "title")[
            :CHAT_CHOICES_SHOWN
        ]
        return choices

    def tag_chips(self) -> list[Tag]:
        """The tags on the user's visible artifacts, the most used first (at most
        TAG_CHIPS_SHOWN: a select of thousands of tags would be most of the page)."""
        return list(Tag.objects.on(self.artifacts)[:TAG_CHIPS_SHOWN])

    @property
    def choice_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("status", "type", "agent", "chat")]

    def value(self, name: str):
        """The cleaned value of a field, or None when it was missing or invalid."""
        if not self.is_valid() and name in self.errors:
            return None
        return self.cleaned_data.get(name) or None

    @property
    def chosen_sort(self) -> str:
        # A search without a chosen sort lists the best matches first: no column is sorted.
        return self.value("sort") or ("" if self.value("q") else DEFAULT_SORT)

    @property
    def is_filtering(self) -> bool:
        """Whether any filter narrows the list (the sort and the chat finder do not): says
        which empty state the list shows."""
        return any(
            self.value(name) for name in ("q", "status", "type", "agent", "chat", "owner", "tag")
        )

    def filter(self, artifacts: QuerySet[Artifact]) -> QuerySet[Artifact]:
        if q := self.value("q"):
            artifacts = artifacts.ranked_search(q)
        if status := self.value("status"):
            artifacts = artifacts.filter(status=status)
        if artifact_type := self.value("type"):
            artifacts = artifacts.filter(artifact_type=artifact_type)
        if agent := self.value("agent"):
            artifacts = artifacts.filter(agent_id=agent)
        if chat := self.value("chat"):
            artifacts = artifacts.filter(chat_id=chat)
        if owner := self.value("owner"):
            artifacts = artifacts.filter(owner__username__iexact=owner.strip())
        if tag := self.value("tag"):
            artifacts = artifacts.tagged([tag])
        sort = self.chosen_sort
        if not sort:
            return artifacts  # ranked_search's order: best match first
        if sort.removeprefix("-") == "chat":
            return self._sorted_by_chat(artifacts, descending=sort.startswith("-"))
        field = SORT_FIELDS[sort.removeprefix("-")]
        return artifacts.sorted_by(f"-{field}" if sort.startswith("-") else field)

    def _sorted_by_chat(self, artifacts: QuerySet[Artifact], *, descending: bool):
        """By the title of the chat each came from, among the chats the user may see: a
        shared artifact's hidden chat sorts like no chat (last), so the order never tells
        where a hidden title falls among the user's own. Ties by id, as sorted_by does."""
        visible = chats_visible_to(self.user).filter(pk=OuterRef("chat_id"))
        shown = Case(
            When(Exists(visible), then=F("chat__title")),
            default=Value(None, output_field=CharField()),
        )
        title = F("chat_title_shown")
        order = title.desc(nulls_last=True) if descending else title.asc(nulls_last=True)
        return artifacts.annotate(chat_title_shown=shown).order_by(
            order, "-id" if descending else "id"
        )


class OutsideErrorsMixin:
    """For model forms that edit a few fields of an artifact.

    The model validates the whole artifact, but these forms edit some fields: an error about
    another field (its SQL, say) is shown at the top instead of crashing the form.
    """

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            outside = {
                name: messages
                for name, messages in errors.error_dict.items()
                if name != NON_FIELD_ERRORS and name not in self.fields
            }
            if outside:
                kept = {k: v for k, v in errors.error_dict.items() if k not in outside}
                for name, messages in outside.items():
                    label = Artifact._meta.get_field(name).verbose_name
                    kept.setdefault(NON_FIELD_ERRORS, []).extend(
                        ValidationError(f"{capfirst(label)}: {message}")
                        for error in messages
                        for message in error.messages
                    )
                errors = ValidationError(kept)
        super()._update_errors(errors)


class StatusChoiceMixin:
    """Offers only the statuses a person may choose (Artifact.status_choices): the page's
    edit form and the admin's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            self.fields["status"].choices = self.instance.status_choices()

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        self.instance.check_status_choice(status)
        return status


class ArtifactEditForm(StatusChoiceMixin, OutsideErrorsMixin, forms.ModelForm):
    class Meta:
        model = Artifact
        fields = ["title", "status", "description", "comment"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "comment": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].widget.attrs["autofocus"] = True


def parse_chart_text(text: str) -> Any:
    """The chart editor's text as JSON: blank means {} (table only).

    Raises ValidationError saying where the JSON breaks, in the words a person can act on.
    """
    if not text or not text.strip():
        return {}
    try:
        # The API's parse: NaN, Infinity, 1e400 and runaway nesting are refused here too.
        return strict_json.loads(text)
    except strict_json.JSONRefused as exc:
        raise ValidationError(exc.message, code="invalid_json") from None


class ChartSpecField(forms.JSONField):
    """A Vega-Lite spec typed as JSON; blank is {} (table only)."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or not isinstance(value, str):
            return value
        return parse_chart_text(value)

    def prepare_value(self, value: Any) -> str:
        # The stored {} shows as an empty editor rather than as "{}".
        if value == {} or value is None:
            return ""
        if isinstance(value, str):
            return value  # what was typed, kept as it was when the form comes back
        return json.dumps(value, indent=2, ensure_ascii=False)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Invalid JSON stays in the editor as typed.
        return data


class ArtifactChartForm(OutsideErrorsMixin, forms.ModelForm):
    """The chart editor: the Vega-Lite spec as JSON. The model checks it (full_clean)."""

    visualization_config = ChartSpecField(
        label=_("Spec (JSON; empty for a table only)"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 16,
                "id": "chart-spec",
                "class": "font-monospace chart-editor-text",
                "spellcheck": "false",
                "autocomplete": "off",
                "autocapitalize": "off",
                # The live check below the editor says what is wrong with the spec.
                "aria-describedby": "chart-editor-check",
            }
        ),
    )

    class Meta:
        model = Artifact
        fields = ["visualization_config"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # As it is typed, the editor asks the server to check the spec (nothing is saved).
            self.fields["visualization_config"].widget.attrs.update(
                {
                    "hx-post": reverse("llm_artifact:artifact_chart", args=[self.instance.pk]),
                    "hx-vals": '{"action": "check"}',
                    "hx-trigger": "input changed delay:400ms, chart:recheck",
                    "hx-target": "#chart-editor-check",
                    "hx-swap": "outerHTML",
                    "hx-sync": "this:replace",
                }
            )


BOOLEAN_CHOICES = [("true", _("Yes")), ("false", _("No"))]
# How date inputs are written, shown as their placeholder and help text.
DATE_FORMATS = {ParamType.DATE: "YYYY-MM-DD", ParamType.DATETIME: "YYYY-MM-DD HH:MM:SS"}


def _input_value(param_type: str, value: Any) -> str:
    """A declared default as the text its input shows ("" for none); a relative date as
    its expression, so a run next month takes next month's date."""
    if value is None:
        return ""
    if is_relative(param_type, value):
        return value.strip()
    try:
        value = coerce(param_type, value)
    except ValueError:
        # validate_declarations refuses such defaults on save; one stored anyway is shown
        # as it is, and the run reports it beside the input.
        return str(value)
    if param_type == ParamType.BOOLEAN:
        return "true" if value else "false"
    return str(value)


def _default_text(declaration: dict, today: dt.date) -> str:
    """The default as the help text says it: "start_of_month -1 month (2026-11-01 today)"."""
    param_type, default = declaration["type"], declaration.get("default")
    shown = _input_value(param_type, default)
    if param_type == ParamType.BOOLEAN:
        return dict(BOOLEAN_CHOICES).get(shown, shown).lower()
    if is_relative(param_type, default):
        try:
            return f"{shown} ({resolve_relative(param_type, shown, today)} today)"
        except ValueError as exc:
            return f"{shown} ({exc})"
    return shown


class DatalistInput(forms.TextInput):
    """A text input that suggests `values` (an HTML datalist) and takes any other text: for
    a column with more values than a select lists, whose other values are allowed too."""

    template_name = "llm_artifact/widgets/datalist_input.html"

    def __init__(self, values: list[str], attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.values = values

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        datalist_id = f"{context['widget']['attrs'].get('id') or name}-values"
        context["widget"]["attrs"]["list"] = datalist_id
        context["widget"].update(datalist_id=datalist_id, values=self.values)
        return context


def _select_widget(values: list[str], declaration: dict) -> forms.Select:
    # The allowed values only; without a default, a blank option means "not given".
    options = [(value, value) for value in values]
    if declaration.get("default") is None:
        required = bool(declaration.get("required"))
        options.insert(0, ("", _("Choose…") if required else _("Not set (null)")))
    return forms.Select(choices=options)


def _parameter_field(
    declaration: dict, allowed: AllowedValues | None, today: dt.date
) -> forms.Field:
    param_type = declaration["type"]
    default = declaration.get("default")
    # Required ones may not be left empty, even with a default (resolve_values).
    required = bool(declaration.get("required"))
    notes: list[str] = []
    if param_type == ParamType.INTEGER:
        widget: forms.Widget = forms.NumberInput(attrs={"step": "1"})
    elif param_type == ParamType.NUMBER:
        widget = forms.NumberInput(attrs={"step": "any"})
    elif param_type in DATE_FORMATS:
        # Text in the ISO format the help text, the URL, the history and the API use: a
        # browser's date input shows the date in the browser's own format (01/02/2024),
        # which then reads differently from everything around it. Text also takes a
        # relative date ("today -7 days").
        placeholder = DATE_FORMATS[param_type]
        widget = forms.TextInput(
            attrs={
                "placeholder": placeholder,
                "maxlength": str(MAX_EXPRESSION_LENGTH),
                "autocomplete": "off",
            }
        )
    elif allowed is not None and allowed.more:
        # More values than a select should hold: suggest the first ones, take any.
        widget = DatalistInput(allowed.values, attrs={"autocomplete": "off"})
        notes.append(f"suggests the first {len(allowed.values)} values of the column")
    elif allowed is not None and not allowed.error:
        widget = _select_widget(allowed.values, declaration)
    elif param_type == ParamType.BOOLEAN:
        # A select, not a checkbox: an unticked box cannot tell "no" from "not given".
        blank = "Choose…" if required else "Not set (null)"
        choices = BOOLEAN_CHOICES if default is not None else [("", blank), *BOOLEAN_CHOICES]
        widget = forms.Select(choices=choices)
    else:
        widget = forms.TextInput()
        if allowed is not None and allowed.error:
            notes.append(f"allowed values could not be read: {allowed.error}")
    if required:
        widget.attrs["aria-required"] = "true"
    help_text = ParamType(param_type).label
    if param_type in DATE_FORMATS:
        help_text = f"{help_text} as {DATE_FORMATS[param_type]}"
        notes.insert(0, "or relative, e.g. today -7 days")
    if default is not None and (shown := _default_text(declaration, today)):
        # A blank input takes the default: say which, as the input writes it.
        help_text = f"{help_text}, default {shown}"
    help_text = "; ".join([help_text, *notes])
    if isinstance(declaration.get("help_text"), str) and declaration["help_text"].strip():
        # The author's words first, then how to write the value.
        help_text = f"{declaration['help_text'].strip()} ({help_text})"
    field = forms.CharField(
        label=declaration.get("label") or declaration["name"].replace("_", " ").capitalize(),
        # Every field is optional to the form: resolve_values decides what is missing, so
        # defaults and required parameters follow one rule wherever an artifact runs.
        required=False,
        # Text is passed on exactly as typed; the other types ignore surrounding spaces.
        strip=param_type != ParamType.STRING,
        initial=_input_value(param_type, default),
        help_text=format_html("<code>:{}</code> · {}", declaration["name"], help_text),
        widget=widget,
    )
    # The star on the label (core/field.html); the field stays optional, as said above.
    field.marked_required = required
    return field


class ArtifactRunForm(forms.Form):
    """One typed input per declared parameter of an artifact, for running or exporting it.

    The fields only collect text: run_artifact and export_artifact coerce and check the
    values by their declarations (apps.llm_artifact.parameters.resolve_values), and the
    views put the ValidationError they raise back on the form with add_error(None, exc),
    so the rules live in one place for the pages, the API and the command line.
    """

    label_class = "form-label small fw-semibold mb-1"
    group_class = "mb-0"

    def __init__(
        self,
        declarations: list[dict],
        data: Any = None,
        *,
        values: dict | None = None,
        auto_id: str = "param-%s",
        data_source: str = "",
        today: dt.date | None = None,
    ) -> None:
        """`values` ({name: value}, as a run records them) prefill the inputs in place of
        the defaults (a chat card's values, the latest run's). `auto_id`: "param-" ids by
        default, as a parameter may be called "title", like a field of the edit form that
        can be open on the same page; cards give their own, as a chat has many.
        `data_source`: the artifact's, where allowed values read from a column come from
        (cached); `today`: the date relative defaults are shown against (the local one)."""
        types = {d["name"]: d["type"] for d in declarations}
        initial = {
            name: _input_value(types[name], value)
            for name, value in (values or {}).items()
            if name in types
        }
        super().__init__(data, auto_id=auto_id, initial=initial)
        today = today or local_today()
        for declaration in declarations:
            allowed = allowed_values(declaration, data_source)
            field = _parameter_field(declaration, allowed, today)
            self.fields[declaration["name"]] = field
            shown = initial.get(declaration["name"])
            if shown and isinstance(field.widget, forms.Select):
                # A value the run used that is no longer listed (the column changed, or it
                # lies past the first values) stays selectable, rather than silently
                # becoming another one.
                listed = {value for value, _ in field.widget.choices}
                if shown not in listed:
                    field.widget.choices = [*field.widget.choices, (shown, shown)]

    def query_string(self) -> str:
        """The current values as a query string ("since=2024-01-01&limit=5"), for exports."""
        values = {name: self[name].value() or "" for name in self.fields}
        return urlencode(values)


# --- The Share dialog -------------------------------------------------------------------------

NOT_SHARED = ""
SHARE_CHOICES = [
    (NOT_SHARED, _("Not shared")),
    ("view", _("May view")),
    ("edit", _("May edit")),
]


class SharingForm(forms.Form):
    """The Share dialog of an artifact or a chat: who may see it (private, chosen groups,
    everyone), each group's access (view or edit for an artifact; a chat is shared
    read-only), and "hand to another user". Only groups that exist are offered, one field a
    group. `save()` applies it through change_sharing, which records the history.
    """

    visibility = forms.ChoiceField(
        label=_("Who may see it"), choices=Visibility.choices, widget=forms.RadioSelect
    )
    new_owner = forms.CharField(
        label=_("Hand to another user"),
        required=False,
        max_length=150,
        help_text=_("Their username. They become the owner; you keep what the sharing gives you."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    # core/field.html: legends and labels as small headings, not the page's size.
    label_class = "form-label fw-semibold"

    def __init__(self, *args, row: Shared, with_edit: bool, data_source: str = "", **kwargs):
        self.row = row
        self.with_edit = with_edit
        self.data_source = data_source
        current = {share.group_id: share for share in row.shares.all()}
        super().__init__(*args, initial={"visibility": row.visibility}, **kwargs)
        self.groups = list(Group.objects.order_by("name", "pk"))
        for group in self.groups:
            share = current.get(group.pk)
            if with_edit:
                field: forms.Field = forms.ChoiceField(
                    label=group.name, required=False, choices=SHARE_CHOICES
                )
                field.initial = share.access if share else NOT_SHARED
            else:
                field = forms.BooleanField(label=group.name, required=False)
                field.initial = share is not None
            self.fields[self.group_field_name(group)] = field

    @staticmethod
    def group_field_name(group: Group) -> str:
        return f"group_{group.pk}"

    @property
    def group_fields(self) -> list[forms.BoundField]:
        return [self[self.group_field_name(group)] for group in self.groups]

    def chosen_shares(self) -> dict[Group, bool]:
        """The groups to share with, each to whether its members may edit."""
        chosen = {}
        for group in self.groups:
            value = self.cleaned_data.get(self.group_field_name(group))
            if self.with_edit and value in ("view", "edit"):
                chosen[group] = value == "edit"
            elif not self.with_edit and value:
                chosen[group] = False
        return chosen

    def clean_new_owner(self):
        username = self.cleaned_data["new_owner"].strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError(_("No active user has this username."), code="unknown_user")
        if user.pk == self.row.owner_id:
            return None
        if self.data_source and not may_use_source(user, self.data_source):
            raise ValidationError(
                f"{user.get_username()} may not use the data source “{self.data_source}”, "
                "so they could not open it.",
                code="no_source_access",
            )
        return user

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("visibility") == Visibility.GROUPS and not self.chosen_shares():
            self.add_error(
                "visibility",
                ValidationError(
                    "Choose at least one group below, or keep it private.", code="no_groups"
                ),
            )
        return cleaned

    def save(self, actor) -> str:
        """Apply the change (the caller has checked that `actor` may manage the row) and say
        what changed ("" for nothing)."""
        return change_sharing(
            self.row,
            actor=actor,
            visibility=self.cleaned_data["visibility"],
            shares=self.chosen_shares(),
            owner=self.cleaned_data.get("new_owner"),
        )


class BundleImportForm(forms.Form):
    """The import page's upload: a bundle file (docs/bundles.md) and the conflict policy."""

    file = forms.FileField(
        label=_("Bundle file"),
        help_text=_("A .json bundle exported from this or another LLM Artifacts site."),
    )
    conflict = forms.ChoiceField(
        label=_("Artifacts that exist already (same uid)"),
        choices=Conflict.choices,
        initial=Conflict.SKIP,
    )
