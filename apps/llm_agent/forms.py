"""The agent admin's form: the data source is chosen from the configured ones."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.datasources.sources import data_source_names, default_data_source_name
from apps.llm_agent.models import Agent

NOT_CONFIGURED = "(not configured)"


def data_source_choices(current: str = "") -> list[tuple[str, str]]:
    """The configured sources, plus `current` marked as not configured when it no longer is,
    so opening an agent never silently swaps its source for another."""
    names = data_source_names()
    choices = [(name, name) for name in names]
    if current and current not in names:
        choices.insert(0, (current, f"{current} {NOT_CONFIGURED}"))
    return choices


class AgentAdminForm(forms.ModelForm):
    data_source = forms.ChoiceField(
        help_text=_(
            "Where the agent's SQL runs: one of the data sources the server is "
            "configured with (DATA_SOURCES)."
        ),
    )

    class Meta:
        model = Agent
        # The admin adds the rest from its fieldsets.
        fields = ["data_source"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["data_source"]
        current = self.instance.data_source if self.instance.pk else ""
        field.choices = data_source_choices(current)
        if not self.instance.pk:
            field.initial = default_data_source_name()
