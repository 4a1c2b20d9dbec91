"""The schedule page's forms. They collect input; the models' clean() and constraints decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.schedules.models import Alert, Schedule, Subscription


class ScheduleForm(forms.ModelForm):
    # Prefixed: the parameter inputs beside it (ArtifactRunForm) take the parameters' names.
    prefix = "schedule"

    class Meta:
        model = Schedule
        fields = ["kind", "every_minutes", "minute", "time_of_day", "weekday", "cron"]
        widgets = {
            "time_of_day": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "cron": forms.TextInput(attrs={"placeholder": "*/15 8-18 * * 1-5"}),
        }
        help_texts = {
            "every_minutes": _("For “every N minutes”."),
            "minute": _("For “hourly”: 0 to 59."),
            "time_of_day": _("For “daily” and “weekly”, in the site's time zone."),
            "weekday": _("For “weekly”."),
            "cron": _("For “cron expression”: minute hour day month weekday."),
        }


class AlertForm(forms.ModelForm):
    prefix = "alert"

    class Meta:
        model = Alert
        fields = [
            "name",
            "condition",
            "column",
            "operator",
            "threshold",
            "filter_column",
            "filter_value",
        ]
        help_texts = {
            "column": _("For a threshold: the column whose values are compared."),
            "filter_column": _("Optional: compare only the rows where this column…"),
            "filter_value": _("…has this value (e.g. status = cancelled)."),
        }


class SubscriptionForm(forms.ModelForm):
    prefix = "subscribe"
    webhook_url = forms.URLField(
        label=_("Webhook URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("For a webhook: HTTPS; its body is signed with the alert's secret."),
    )

    class Meta:
        model = Subscription
        fields = ["channel", "webhook_url"]

    def __init__(self, *args, may_edit: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not may_edit:
            # Viewers subscribe themselves; webhooks speak for the artifact's editors.
            self.fields["channel"].choices = [
                choice
                for choice in self.fields["channel"].choices
                if choice[0] != Subscription.Channel.WEBHOOK
            ]
            del self.fields["webhook_url"]

    def _get_validation_exclusions(self):
        # The alert and the subscriber are set by the view, not typed in; checking them too
        # lets "already subscribed on this channel" come back as a form error, not a 500.
        return super()._get_validation_exclusions() - {"alert", "user"}
