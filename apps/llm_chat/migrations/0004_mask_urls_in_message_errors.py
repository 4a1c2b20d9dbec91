"""Replies that failed before issue 9 may quote the provider's base URL with its credentials
(`https://user:secret@host/v1`) in `Message.error`, which the chat page and the API show:
mask them in place. New failures store plain words and never a URL."""

from django.db import migrations

from apps.core.redact import mask_urls


def mask_message_errors(apps, schema_editor):
    Message = apps.get_model("llm_chat", "Message")
    changed = []
    for message in Message.objects.filter(error__contains="://").only("pk", "error").iterator():
        masked = mask_urls(message.error)
        if masked != message.error:
            message.error = masked
            changed.append(message)
    Message.objects.bulk_update(changed, ["error"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("llm_chat", "0003_move_modelcall_to_llm_agent"),
    ]

    operations = [
        migrations.RunPython(mask_message_errors, migrations.RunPython.noop, elidable=True),
    ]
