from __future__ import annotations

import os
import re
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.datasources.sources import validate_data_source

ENV_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_env_var_name(value: str) -> None:
    if value and not ENV_VAR_NAME_RE.match(value):
        raise ValidationError(
            "Give the name of an environment variable (letters, digits and _), not the key.",
            code="invalid_env_var_name",
        )


class AgentQuerySet(models.QuerySet):
    def active(self) -> AgentQuerySet:
        return self.filter(is_active=True)


class Agent(models.Model):
    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (Ollama, vLLM, llama.cpp…)"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=32, choices=Provider.choices)
    model_name = models.CharField(max_length=200)
    base_url = models.URLField(
        blank=True,
        max_length=500,
        help_text="Required for OpenAI-compatible servers, e.g. http://127.0.0.1:11434/v1.",
    )
    # Only the variable's name is stored: the key itself never touches the database.
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=100,
        blank=True,
        validators=[validate_env_var_name],
        help_text="Name of the environment variable that holds the API key, e.g. OPENAI_API_KEY.",
    )
    system_prompt = models.TextField(blank=True)
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.2"),
        validators=[MinValueValidator(0), MaxValueValidator(2)],
    )
    max_output_tokens = models.PositiveIntegerField(
        default=2048, validators=[MinValueValidator(1), MaxValueValidator(200_000)]
    )
    data_source = models.CharField(max_length=64, validators=[validate_data_source])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="agent_temperature_between_0_and_2",
            ),
            models.CheckConstraint(
                condition=Q(provider__in=["openai", "anthropic", "openai_compatible"]),
                name="agent_provider_known",
            ),
            models.CheckConstraint(
                condition=Q(max_output_tokens__gte=1),
                name="agent_max_output_tokens_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.provider == self.Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {"base_url": "An OpenAI-compatible provider needs the server's base URL."}
            )

    @property
    def api_key_is_set(self) -> bool:
        return bool(self.api_key_env and os.environ.get(self.api_key_env))

    def get_api_key(self) -> str | None:
        """The key from the environment; never persisted, never rendered."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None
