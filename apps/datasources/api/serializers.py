from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import Serializer
from apps.datasources.sources import Engine, default_data_source_name, validate_data_source


class DataSourceSerializer(serializers.Serializer):
    """A named database that artifact SQL may read."""

    name = serializers.CharField()
    engine = serializers.ChoiceField(choices=[Engine.SQLITE, Engine.POSTGRESQL])
    dialect = serializers.CharField(help_text="The SQL dialect its queries are parsed in.")
    is_default = serializers.BooleanField(help_text="Where new artifacts run unless told.")
    timeout_seconds = serializers.FloatField(help_text="How long one query may run.")
    max_rows = serializers.IntegerField(help_text="The most rows a run shows.")
    export_max_rows = serializers.IntegerField(help_text="The most rows an export writes.")
    location = serializers.CharField(
        allow_null=True,
        help_text="Where it lives, with any password masked. Staff only: null for others.",
    )


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text='As the database declares it, e.g. "INTEGER".')
    nullable = serializers.BooleanField()


class TableSerializer(serializers.Serializer):
    name = serializers.CharField()
    columns = ColumnSerializer(many=True)


class DataSourceSchemaSerializer(serializers.Serializer):
    """The tables and views a data source offers, sorted by name, with their columns."""

    data_source = serializers.CharField()
    tables = TableSerializer(many=True)


class SQLCheckSerializer(Serializer):
    """SQL to check against a data source's rules, without running it."""

    # Blank SQL is the guard's to answer ("The SQL is empty."), like any other SQL.
    sql = serializers.CharField(allow_blank=True, trim_whitespace=False)
    data_source = serializers.CharField(
        default=default_data_source_name,
        help_text="A configured data source; the server's default when left out.",
        validators=[validate_data_source],
    )


class SQLCheckResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Whether the SQL may run.")
    error = serializers.CharField(allow_null=True, help_text="Why not, in plain words.")
    parameters = serializers.ListField(
        child=serializers.CharField(),
        help_text="The :name parameters the SQL uses, in order of first use; an artifact "
        "must declare each of them.",
    )
