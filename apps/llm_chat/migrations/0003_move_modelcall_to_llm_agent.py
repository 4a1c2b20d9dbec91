# The model-call log moved to llm_agent (issue 8). Only Django's idea of the model moves: the
# table llm_chat_modelcall and its rows stay where they are (llm_agent 0002 takes them over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("llm_chat", "0002_agent_turn"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ModelCall")],
            database_operations=[],
        ),
    ]
