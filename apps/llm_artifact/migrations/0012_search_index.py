"""The full-text search index (apps/llm_artifact/search.py): an FTS5 table and its triggers
on SQLite, a generated tsvector column with a GIN index on PostgreSQL. Neither is part of
the models' state: the ORM reaches them through ArtifactQuerySet.ranked_search() only."""

from django.db import migrations


def install(apps, schema_editor):
    from apps.llm_artifact import search

    search.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from apps.llm_artifact import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("llm_artifact", "0011_sharing_list_indexes"),
    ]

    operations = [
        migrations.RunPython(install, uninstall, elidable=False),
    ]
