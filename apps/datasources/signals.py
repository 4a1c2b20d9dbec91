"""Cached exposures (access.exposure_of) dropped when operators change a policy.

The one kind of signal this project keeps: cache invalidation, with no effect on the data.
A policy's grants are not cached across requests, so only exposed tables matter here.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.datasources.access import forget_exposure
from apps.datasources.models import DataSourcePolicy, ExposedTable


@receiver([post_save, post_delete], sender=DataSourcePolicy)
def policy_changed(sender, instance: DataSourcePolicy, **kwargs) -> None:
    forget_exposure(instance.source)


@receiver([post_save, post_delete], sender=ExposedTable)
def exposed_table_changed(sender, instance: ExposedTable, **kwargs) -> None:
    # On a cascade from its policy's deletion the policy row may already be gone: the
    # policy's own signal covers that case.
    policy = DataSourcePolicy.objects.filter(pk=instance.policy_id).values_list("source").first()
    if policy:
        forget_exposure(policy[0])
