# The model-call log moved here from llm_chat (issue 8), keeping its table and every row:
# the model is created in Django's state only, on the existing table llm_chat_modelcall.
# Then the admin's permissions follow it (its content type changes app), and rows logged by
# chat turns under the provider's response name "openai-compatible" take the choice value.

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    old = content_type.objects.filter(app_label="llm_chat", model="modelcall")
    if not content_type.objects.filter(app_label="llm_agent", model="modelcall").exists():
        old.update(app_label="llm_agent")


def move_content_type_back(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    new = content_type.objects.filter(app_label="llm_agent", model="modelcall")
    if not content_type.objects.filter(app_label="llm_chat", model="modelcall").exists():
        new.update(app_label="llm_chat")


def unify_provider(apps, schema_editor):
    model_call = apps.get_model("llm_agent", "ModelCall")
    model_call.objects.filter(provider="openai-compatible").update(provider="openai_compatible")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("llm_agent", "0001_initial"),
        ("llm_chat", "0003_move_modelcall_to_llm_agent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ModelCall",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("model_name", models.CharField(max_length=200)),
                        (
                            "provider",
                            models.CharField(
                                choices=[
                                    ("openai", "OpenAI"),
                                    ("anthropic", "Anthropic"),
                                    (
                                        "openai_compatible",
                                        "OpenAI-compatible (Ollama, vLLM, llama.cpp…)",
                                    ),
                                ],
                                max_length=64,
                            ),
                        ),
                        ("started_at", models.DateTimeField(db_index=True)),
                        ("latency_ms", models.FloatField()),
                        ("input_tokens", models.PositiveIntegerField(default=0)),
                        ("output_tokens", models.PositiveIntegerField(default=0)),
                        ("tool_calls", models.JSONField(blank=True, default=list)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[("ok", "OK"), ("error", "Error")], max_length=16
                            ),
                        ),
                        ("error", models.TextField(blank=True)),
                        (
                            "agent",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="model_calls",
                                to="llm_agent.agent",
                            ),
                        ),
                        (
                            "chat",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="model_calls",
                                to="llm_chat.chat",
                            ),
                        ),
                        (
                            "message",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="model_calls",
                                to="llm_chat.message",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "llm_chat_modelcall",
                        "ordering": ["-started_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["agent", "-started_at"], name="modelcall_agent_started"
                            )
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("outcome__in", ["ok", "error"])),
                                name="modelcall_outcome_known",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
        migrations.RunPython(unify_provider, migrations.RunPython.noop),
    ]
