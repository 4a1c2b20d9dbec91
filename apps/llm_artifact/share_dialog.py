"""The Share dialog, one for artifacts and chats (the chat pages use it too): show the form,
save it through change_sharing (which records the history), go back to the page.

With htmx it is a modal swapped into the page (static/js/share.js opens it) and a saved
change reloads the page; without JavaScript it is a page of its own with a plain form.
The caller has looked the row up for a user who may manage it (owner or staff), on this
request: a POST is authorised afresh, never by the form shown earlier.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.sharing import Shared
from apps.core.http import HtmxHttpRequest, is_partial, page_or_partial
from apps.llm_artifact.forms import SharingForm


def share_dialog(
    request: HtmxHttpRequest,
    row: Shared,
    *,
    with_edit: bool,
    share_url: str,
    list_url: str,
    data_source: str = "",
) -> HttpResponse:
    """GET: the form as the row is shared now. POST: save it, or show its errors (422).

    `with_edit`: each group may view or edit (artifacts), or only view (chats).
    `data_source`: a new owner must be able to use it. `list_url`: where to go when the
    change put the row out of the user's sight (handed on, not shared back).
    """
    data = request.POST if request.method == "POST" else None
    form = SharingForm(data, row=row, with_edit=with_edit, data_source=data_source)
    if form.is_valid():
        change = form.save(actor=request.user)
        if change:
            messages.success(
                request,
                gettext("Sharing of “%(row)s” changed: %(change)s.")
                % {"row": row, "change": change},
            )
        else:
            messages.info(request, gettext("Nothing changed."))
        target = row.get_absolute_url() if row.is_visible_to(request.user) else list_url
        if is_partial(request):
            return HttpResponseClientRedirect(target)
        return redirect(target)
    context = {
        "row": row,
        "kind": row._meta.verbose_name,
        "form": form,
        "share_url": share_url,
        "with_edit": with_edit,
    }
    template = page_or_partial(request, "llm_artifact/share.html", "dialog")
    return render(request, template, context, status=422 if form.is_bound else 200)
