from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import ApiToken, Profile


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=ApiToken._meta.get_field("name").max_length,
        required=False,
        help_text=_("Something to recognise it by, e.g. “laptop” or “CI”."),
    )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["language"]
