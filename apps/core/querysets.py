"""Queryset building blocks shared by the apps' models."""

from __future__ import annotations

from typing import Self

from django.db import models


class OwnedQuerySet(models.QuerySet):
    """Rows that belong to a user, directly or through a parent row.

    The one visibility rule every page, viewset and admin goes through: anonymous users see
    nothing, staff see everything, everyone else only what they own. A subclass names the path
    to the owning user in `owner_lookup` ("owner", or "artifact__owner" for a run).
    """

    owner_lookup: str = "owner"

    def visible_to(self, user) -> Self:
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(**{self.owner_lookup: user})
