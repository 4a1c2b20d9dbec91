"""Small builders for admin list and change pages, shared by every app's admin.

They take admin URL names ("<app_label>_<model_name>") rather than models, so this bottom
layer never imports an app's models. Labels are escaped by format_html: many are LLM output.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString


def change_link(app_model: str, pk: object, label: object) -> SafeString:
    """A link to one object's change page, e.g. change_link("llm_chat_chat", 3, chat)."""
    return format_html(
        '<a href="{}">{}</a>', reverse(f"admin:{app_model}_change", args=[pk]), label
    )


def changelist_link(app_model: str, filters: dict[str, object], label: object) -> SafeString:
    """A link to a changelist with its filters set, e.g. {"chat__id__exact": 3}."""
    url = reverse(f"admin:{app_model}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), label)


def badge(colour: str, label: object) -> SafeString:
    """A coloured pill with white text, for a status or an outcome."""
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 8px;border-radius:8px;'
        'white-space:nowrap">{}</span>',
        colour,
        label,
    )


def set_field_logged(
    request: HttpRequest, queryset: QuerySet, field: str, value: object, field_label: str
) -> tuple[int, int]:
    """A bulk admin action's write: set `field` on the selected rows that differ, stamp
    updated_at (update() skips auto_now) and log each change in the admin history.

    Returns (changed, already) so the action's message can be honest about both.
    """
    selected = list(queryset.order_by())
    changing = [obj for obj in selected if getattr(obj, field) != value]
    if changing:
        queryset.model.objects.filter(pk__in=[obj.pk for obj in changing]).update(
            **{field: value, "updated_at": timezone.now()}
        )
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=changing,
            action_flag=CHANGE,
            change_message=[{"changed": {"fields": [field_label]}}],
        )
    return len(changing), len(selected) - len(changing)


def already_note(count: int) -> str:
    """The "N already was/were." tail of an action's message; empty when every row changed."""
    return f" {count} already {'was' if count == 1 else 'were'}." if count else ""


class SortedChangeList(ChangeList):
    """A change list ordered by its queryset's sorted_by() (StableOrderingQuerySet), so the
    admin sorts as the pages and the API do: empty values last, the id as the tie-break."""

    def get_queryset(self, request: HttpRequest, exclude_parameters=None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        ordering = self.get_ordering(request, queryset)
        # Expressions (an admin.display ordering such as Lower("x")) stay as Django set them.
        if all(isinstance(term, str) for term in ordering):
            # The admin's own tie-break ("-pk" whatever the direction) gives way to
            # sorted_by's, which follows the first column's direction.
            terms = [term for term in ordering if term not in {"pk", "-pk"}]
            if terms:
                queryset = queryset.sorted_by(*terms)
        return queryset
