"""The "Schedule & alerts" page of an artifact: one page, its forms posting to small views.

Every form works with a plain POST (a redirect back to the page, or the page with the form's
errors and a 422); with htmx the page's panel is swapped in place. Anyone who may see the
artifact sees this page and subscribes themselves; its owner and editors change the rest.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core.http import HtmxHttpRequest, is_partial
from apps.llm_artifact.forms import ArtifactRunForm
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import resolve_values
from apps.notifications.webhooks import webhook_secret
from apps.schedules import tasks
from apps.schedules.forms import AlertForm, ScheduleForm, SubscriptionForm
from apps.schedules.models import Alert, Schedule, Subscription

TEMPLATE = "schedules/artifact_schedules.html"


def _artifact(request: HtmxHttpRequest, pk: int) -> Artifact:
    return get_object_or_404(Artifact.objects.visible_to(request.user), pk=pk)


def _may_edit(request: HtmxHttpRequest, artifact: Artifact) -> bool:
    return request.user.has_perm("artifacts.change", artifact)


def _editable(request: HtmxHttpRequest, artifact: Artifact) -> None:
    if not _may_edit(request, artifact):
        raise PermissionDenied(_("Only the artifact's owner and editors change its schedules."))


def _schedule(request: HtmxHttpRequest, pk: int) -> Schedule:
    """A schedule of an artifact the user may see (404 otherwise), that they may change (403)."""
    schedule = get_object_or_404(
        Schedule.objects.visible_to(request.user).select_related("artifact"), pk=pk
    )
    _editable(request, schedule.artifact)
    return schedule


def _params_form(artifact: Artifact, data=None, values=None) -> ArtifactRunForm:
    return ArtifactRunForm(
        artifact.query_params,
        data,
        values=values,
        auto_id="schedule-param-%s",
        data_source=artifact.data_source,
    )


def _context(request, artifact, **forms) -> dict:
    may_edit = _may_edit(request, artifact)
    mine = Subscription.objects.filter(user=request.user)
    alerts = Alert.objects.prefetch_related(
        Prefetch("subscriptions", queryset=Subscription.objects.select_related("user"))
    )
    schedules = (
        Schedule.objects.filter(artifact=artifact)
        .select_related("owner")
        .prefetch_related(Prefetch("alerts", queryset=alerts))
    )
    for schedule in schedules:
        for alert in schedule.alerts.all():
            alert.shown_subscriptions = [
                s for s in alert.subscriptions.all() if may_edit or s.user_id == request.user.pk
            ]
            alert.secret = webhook_secret(alert.webhook_scope()) if may_edit else ""
            alert.subscribe_form = forms.get(f"subscribe_{alert.pk}") or SubscriptionForm(
                may_edit=may_edit, auto_id=f"alert-{alert.pk}-%s"
            )
            alert.my_channels = {s.channel for s in mine if s.alert_id == alert.pk}
        schedule.alert_form = forms.get(f"alert_{schedule.pk}") or AlertForm(
            auto_id=f"schedule-{schedule.pk}-%s"
        )
    return {
        "artifact": artifact,
        "may_edit": may_edit,
        "schedules": schedules,
        "schedule_form": forms.get("schedule") or ScheduleForm(),
        "params_form": forms.get("params") or _params_form(artifact),
        "time_zone": settings.TIME_ZONE,
    }


def _page(request, artifact, status: int = 200, **forms) -> HttpResponse:
    template = f"{TEMPLATE}#panel" if is_partial(request) else TEMPLATE
    return render(request, template, _context(request, artifact, **forms), status=status)


def _done(request, artifact, message: str) -> HttpResponse:
    messages.success(request, message)
    if is_partial(request):
        return _page(request, artifact)
    return redirect("schedules:artifact_schedules", pk=artifact.pk)


@login_required
@require_GET
def artifact_schedules(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _page(request, _artifact(request, pk))


def _save_schedule(request, artifact, schedule: Schedule) -> HttpResponse:
    form = ScheduleForm(request.POST, instance=schedule)
    params_form = _params_form(artifact, request.POST)
    params = {}
    if params_form.is_valid():
        params = {k: v for k, v in params_form.cleaned_data.items() if v not in (None, "")}
        try:
            resolve_values(artifact.query_params, params, data_source=artifact.data_source)
        except ValidationError as exc:
            params_form.add_error(None, exc)
    schedule.params = params
    if not (form.is_valid() and params_form.is_valid()):
        return _page(request, artifact, 422, schedule=form, params=params_form)
    form.instance.save_with_timetable()
    return _done(request, artifact, _("Schedule saved: %(s)s.") % {"s": schedule.describe()})


@login_required
@require_POST
def schedule_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _artifact(request, pk)
    _editable(request, artifact)
    return _save_schedule(request, artifact, Schedule(artifact=artifact, owner=request.user))


@login_required
def schedule_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    artifact = schedule.artifact
    if request.method == "POST":
        return _save_schedule(request, artifact, schedule)
    context = {
        "artifact": artifact,
        "schedule": schedule,
        "form": ScheduleForm(instance=schedule),
        "params_form": _params_form(artifact, values=schedule.params),
    }
    return render(request, "schedules/schedule_edit.html", context)


@login_required
@require_POST
def schedule_pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    schedule.pause(_("Paused by %(user)s.") % {"user": request.user.get_username()})
    return _done(request, schedule.artifact, _("Schedule paused."))


@login_required
@require_POST
def schedule_resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    schedule.resume()
    return _done(request, schedule.artifact, _("Schedule resumed."))


@login_required
@require_POST
def schedule_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    tasks.run_now(schedule, request.user)
    return _done(request, schedule.artifact, _("A refresh was queued."))


@login_required
@require_POST
def schedule_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    schedule.delete()
    return _done(request, schedule.artifact, _("Schedule deleted."))


@login_required
@require_POST
def alert_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    form = AlertForm(
        request.POST,
        instance=Alert(schedule=schedule, owner=request.user),
        auto_id=f"schedule-{schedule.pk}-%s",
    )
    if not form.is_valid():
        return _page(request, schedule.artifact, 422, **{f"alert_{schedule.pk}": form})
    alert = form.save()
    # Whoever sets an alert up hears of it in the bell, unless they unsubscribe.
    Subscription.objects.create(alert=alert, user=request.user, channel="in_app")
    return _done(request, schedule.artifact, _("Alert added: %(a)s.") % {"a": alert.name})


def _alert(request: HtmxHttpRequest, pk: int) -> Alert:
    return get_object_or_404(
        Alert.objects.visible_to(request.user).select_related("schedule__artifact"), pk=pk
    )


@login_required
@require_POST
def alert_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    alert = _alert(request, pk)
    _editable(request, alert.schedule.artifact)
    alert.delete()
    return _done(request, alert.schedule.artifact, _("Alert deleted."))


@login_required
@require_POST
def subscription_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    alert = _alert(request, pk)
    artifact = alert.schedule.artifact
    may_edit = _may_edit(request, artifact)
    subscription = Subscription(alert=alert, user=request.user)
    form = SubscriptionForm(
        request.POST, instance=subscription, may_edit=may_edit, auto_id=f"alert-{alert.pk}-%s"
    )
    if not form.is_valid():
        return _page(request, artifact, 422, **{f"subscribe_{alert.pk}": form})
    form.save()
    return _done(request, artifact, _("Subscribed."))


@login_required
@require_POST
def subscription_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(
        Subscription.objects.visible_to(request.user).select_related("alert__schedule__artifact"),
        pk=pk,
    )
    if not request.user.has_perm("schedules.unsubscribe", subscription):
        raise PermissionDenied
    subscription.delete()
    return _done(request, subscription.alert.schedule.artifact, _("Unsubscribed."))
