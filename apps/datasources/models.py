"""Who may use a data source, and what of it they see: set by operators in the admin.

Sources themselves are configured in settings (DATA_SOURCES); a policy row, keyed by the
source's name, adds to it:
- grants to groups: when a source has any, only members of those groups (and staff) may use
  it; a source without grants is open to every signed-in user, so the demo needs none;
- exposed tables: when a source has any, SQL may read only those tables (the guard refuses
  the rest, system catalogs included), minus each table's hidden columns; the schema browser
  and the agent's tools list only what is exposed.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.datasources.sources import validate_data_source


class DataSourcePolicyQuerySet(models.QuerySet):
    def with_rules(self) -> DataSourcePolicyQuerySet:
        return self.prefetch_related("grants", "exposed_tables")


class DataSourcePolicy(models.Model):
    source = models.CharField(
        "data source",
        max_length=64,
        unique=True,
        validators=[validate_data_source],
        help_text=_("The name of a source in the DATA_SOURCES setting."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataSourcePolicyQuerySet.as_manager()

    class Meta:
        verbose_name = "data source access"
        verbose_name_plural = "data source access"
        ordering = ["source"]

    def __str__(self) -> str:
        return self.source


class DataSourceGrant(models.Model):
    policy = models.ForeignKey(DataSourcePolicy, on_delete=models.CASCADE, related_name="grants")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="data_source_grants")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "group"], name="datasourcegrant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.group} may use {self.policy}"


class ExposedTable(models.Model):
    policy = models.ForeignKey(
        DataSourcePolicy, on_delete=models.CASCADE, related_name="exposed_tables"
    )
    # As the schema browser names it: "orders", or "sales.orders" outside the default schema.
    name = models.CharField("table", max_length=200)
    hidden_columns = models.JSONField(
        default=list,
        blank=True,
        help_text='Columns of this table SQL may not read, e.g. ["email", "phone"].',
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "name"], name="exposedtable_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The table must be one of the source's, and its hidden columns some of the table's
        columns, so a typo never leaves a column exposed that was meant to be hidden. Checked
        only when the source's schema can be read (an unreachable source keeps what is typed).
        """
        super().clean()
        hidden = self.hidden_columns
        if not isinstance(hidden, list) or not all(isinstance(c, str) for c in hidden):
            raise ValidationError(
                {"hidden_columns": 'Give a list of column names, e.g. ["email", "phone"].'}
            )
        table = self.source_table()
        if table is None:
            return
        known = {column.name.lower() for column in table.columns}
        unknown = [c for c in hidden if c.lower() not in known]
        if unknown:
            raise ValidationError(
                {
                    "hidden_columns": f"{table.name} has no column "
                    f"{', '.join(repr(c) for c in unknown)}. Its columns: "
                    f"{', '.join(c.name for c in table.columns)}."
                }
            )

    def source_table(self):
        """The table as the source describes it (schema.TableInfo), or None when the source
        cannot be read now. Raises ValidationError when the source has no such table."""
        # Imported here: the schema reads through the executor, which asks the policies.
        from apps.datasources import schema
        from apps.datasources.access import EVERYTHING
        from apps.datasources.executor import QueryFailed

        policy = getattr(self, "policy", None)
        if policy is None or not self.name:
            return None
        try:
            return schema.describe_table(policy.source, self.name, exposure=EVERYTHING)
        except QueryFailed:
            return None
        except LookupError:
            raise ValidationError(
                {"name": f"The data source {policy.source!r} has no table {self.name!r}."}
            ) from None
