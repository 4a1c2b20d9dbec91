"""Sharing in the API, one pattern for the artifact and chat viewsets.

- Rows the user may not see are out of the viewset's queryset (`visible_to`): a 404, like a
  missing one. What they may see but not do is a 403 from HasObjectPermission, which asks the
  rules permissions (`rules.has_perm("artifacts.change", user, artifact)`) at the time of
  each request, on the row as it is in the database then: a share removed a minute ago
  counts. Asked of rules itself, not through `user.has_perm`, where Django grants a
  superuser every permission: a chat is the owner's alone to post in, superusers included.
- `visibility` and `shares` are fields of the row's serializer (SharingFieldsMixin), writable
  by those who may manage the row (403 for others); `owner`, `can_edit` and `can_manage`
  tell clients what they may do. Every change is recorded (apps.accounts.sharing).
- `?scope=` chooses among the rows a list shows (list_scope); handing a row to another owner
  is an action of its own (TransferSerializer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rules
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Model, Q
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request

from apps.accounts.sharing import Scope, Visibility, change_sharing, groups_for_sharing
from apps.core.serializers import Serializer

NOT_YOURS_TO_SHARE = "Only the owner (or staff) may change who sees this, or hand it over."


class HasObjectPermission(permissions.IsAuthenticated):
    """Signed in, and the rules permission the view names for its action on the row in hand.

    The view maps each action that looks a row up to a permission name in
    `object_permissions` (`{"retrieve": "artifacts.view", "destroy": "artifacts.delete"}`);
    an action missing from the map is a programming error, never an open door.

    A subclass of IsAuthenticated, as the schema reads it (apps.core.openapi): reading a row
    one may see is never refused (the view's queryset is the same rule as the view
    permissions), so only writes are documented with a 403.
    """

    message = "You may see this, but not do this with it."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        try:
            name = view.object_permissions[view.action]
        except KeyError:
            raise ImproperlyConfigured(
                f"{type(view).__name__}.object_permissions names no permission for the "
                f"{view.action!r} action."
            ) from None
        return rules.has_perm(name, request.user, obj)


# --- list scopes ------------------------------------------------------------------------------

SCOPES = [scope for scope in Scope.values if scope]
SCOPE_PARAMETER = OpenApiParameter(
    "scope",
    enum=SCOPES,
    description="Which of the rows you may see: `mine`, `shared` (others' rows shared with "
    "you, through a group or with everyone), `everyone` (others' rows shared with every "
    "signed-in user), or `all` (staff only: every row, whoever owns it). Left out: yours "
    "and those shared with you (for staff too).",
)
OWNER_PARAMETER = OpenApiParameter(
    "owner", str, description="Only rows owned by the user with this username."
)


def list_scope(request: Request) -> str:
    """The `?scope=` of a list request (Scope), or a 400 naming the values allowed."""
    scope = request.query_params.get("scope", "")
    if scope not in Scope.values:
        raise ValidationError({"scope": [f'"{scope}" is not a scope; use {", ".join(SCOPES)}.']})
    if scope == Scope.ALL and not request.user.is_staff:
        raise ValidationError({"scope": ["Only staff may list every row (scope=all)."]})
    return scope


# --- visibility and shares --------------------------------------------------------------------


class ShareSerializer(Serializer):
    """One group a row is shared with, and what its members may do."""

    # Chats are shared read-only; artifacts also for editing.
    access_choices = ["view", "edit"]
    access_help = "view: see, run with one's own values, export; edit: change it too."

    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.none(),
        help_text="A group you are in (staff: any group), by id; see /api/groups/.",
        error_messages={"does_not_exist": "You are in no group with id {pk_value}."},
    )
    group_name = serializers.CharField(source="group.name", read_only=True)
    access = serializers.ChoiceField(choices=["view", "edit"], default="view")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["access"].choices = self.access_choices
        fields["access"].help_text = self.access_help
        request = self.context.get("request")
        if request is not None:
            groups = groups_for_sharing(request.user)
            row = getattr(self.root, "instance", None)
            if isinstance(row, Model) and row.pk:
                # A group the row is already shared with stays choosable (staff may have
                # shared it with a group its owner is not in).
                shared = row.shares.values("group_id")
                groups = Group.objects.filter(Q(pk__in=groups.values("pk")) | Q(pk__in=shared))
            fields["group"].queryset = groups
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - {"group", "group_name", "access"})
            if unknown:
                # A misspelt "access" must not silently share for viewing only.
                raise ValidationError({name: ["Not a field of a share."] for name in unknown})
        return super().to_internal_value(data)


class ChatShareSerializer(ShareSerializer):
    access_choices = ["view"]
    access_help = "view: read the chat (chats are shared read-only)."


class SharingFieldsMixin(serializers.Serializer):
    """`visibility`, `shares`, `owner`, `can_edit` and `can_manage` on a shared row.

    The concrete serializer names the row's permissions (`edit_permission`,
    `share_permission`) and lists these fields in its Meta.fields. Changing visibility or
    shares needs the share permission on the row as it is now (a 403 otherwise); the change
    is applied by apps.accounts.sharing.change_sharing and recorded in the history.
    """

    edit_permission: str
    share_permission: str

    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        help_text="private: only the owner; groups: the groups in `shares`; everyone: every "
        "signed-in user (and the groups in `shares` with their access). Only the owner and "
        "staff may change it.",
    )
    owner = serializers.CharField(
        source="owner.username", read_only=True, help_text="The owner's username."
    )
    can_edit = serializers.SerializerMethodField(help_text="Whether you may change it.")
    can_manage = serializers.SerializerMethodField(
        help_text="Whether you may delete it, change who sees it, or hand it to another owner."
    )

    def get_can_edit(self, row: Any) -> bool:
        return rules.has_perm(self.edit_permission, self._user(), row)

    def get_can_manage(self, row: Any) -> bool:
        return rules.has_perm(self.share_permission, self._user(), row)

    def _user(self) -> Any:
        return self.context["request"].user

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Not model fields the model's checks could read (shares are rows of their own).
        sharing = {name: attrs.pop(name) for name in ("visibility", "shares") if name in attrs}
        if (
            self.instance is not None
            and self._changes_sharing(sharing)
            and not rules.has_perm(self.share_permission, self._user(), self.instance)
        ):
            raise PermissionDenied(NOT_YOURS_TO_SHARE)
        if "shares" in sharing:
            groups = [share["group"].pk for share in sharing["shares"]]
            if len(groups) != len(set(groups)):
                raise ValidationError({"shares": ["Each group may be listed only once."]})
        attrs = super().validate(attrs)
        return {**attrs, **sharing}

    def _changes_sharing(self, sharing: dict[str, Any]) -> bool:
        """Whether `sharing` differs from the row's: an editor who sends back what they read
        (a PUT of the whole artifact) changes nothing and is not refused for it."""
        row = self.instance
        if sharing.get("visibility", row.visibility) != row.visibility:
            return True
        if "shares" not in sharing:
            return False
        wanted = {(share["group"].pk, share.get("access", "view")) for share in sharing["shares"]}
        return wanted != {(share.group_id, share.access) for share in row.shares.all()}

    def create(self, validated_data: dict[str, Any]) -> Any:
        sharing = self._pop_sharing(validated_data)
        with transaction.atomic():
            # Created private, then shared as asked: the history shows who shared it.
            row = super().create(validated_data)
            self._apply(row, sharing)
        return row

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        sharing = self._pop_sharing(validated_data)
        with transaction.atomic():
            row = super().update(instance, validated_data)
            self._apply(row, sharing)
        return row

    @staticmethod
    def _pop_sharing(validated_data: dict[str, Any]) -> dict[str, Any]:
        return {
            name: validated_data.pop(name)
            for name in ("visibility", "shares")
            if name in validated_data
        }

    def _apply(self, row: Any, sharing: dict[str, Any]) -> None:
        if not sharing:
            return
        shares = sharing.get("shares")
        change_sharing(
            row,
            actor=self._user(),
            visibility=sharing.get("visibility"),
            # A PATCH leaves out the access default: a share without one is for viewing.
            shares=(
                {share["group"]: share.get("access") == "edit" for share in shares}
                if shares is not None
                else None
            ),
        )


# --- ownership --------------------------------------------------------------------------------


class TransferSerializer(Serializer):
    """Who is to own the row from now on."""

    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        help_text="The new owner's username.",
        error_messages={"does_not_exist": "There is no active user named {value}."},
    )


def transfer(row: Any, *, to: Any, actor: Any) -> None:
    """Hand `row` to `to`, recorded in the sharing history (the caller checked the right)."""
    change_sharing(row, actor=actor, owner=to)
