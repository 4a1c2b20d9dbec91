from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

SQL = (
    "SELECT c.name, c.email, count(o.id) AS orders, sum(o.total) AS total "
    "FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.status = :status "
    "GROUP BY c.id ORDER BY c.id"
)
PARAMS = [{"name": "status", "type": "string", "required": True}]


@pytest.fixture
def artifact(shop: Path, owner) -> Artifact:
    return ArtifactFactory(owner=owner, sql_query=SQL, query_params=PARAMS)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_artifact", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_an_aligned_table_and_records_the_run(artifact: Artifact, owner) -> None:
    out, err = run(str(artifact.pk), "--param", "status=paid", "--user", "owner")
    lines = out.splitlines()
    assert lines[0].split() == ["name", "email", "orders", "total"]
    assert lines[2].split() == ["Ada", "Lovelace", "ada@example.com", "2", "430.5"]
    assert lines[6].split() == ["Barbara", "Liskov", "NULL", "0", "NULL"]
    assert len(lines) == 7  # header, rule, five customers
    assert "5 rows" in err and "run #" in err
    run_record = ArtifactRun.objects.get()
    assert run_record.user == owner
    assert run_record.params == {"status": "paid"}
    artifact.refresh_from_db()
    assert artifact.execution_count == 1


def test_numbers_line_up_on_the_right(artifact: Artifact) -> None:
    out, _ = run(str(artifact.pk), "--param", "status=paid")
    header, _rule, *rows = out.splitlines()
    orders_end = header.index("orders") + len("orders")
    for row in rows:
        assert row[orders_end - 1].isdigit()


def test_csv_goes_to_stdout_alone(artifact: Artifact) -> None:
    out, err = run(str(artifact.pk), "--param", "status=paid", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["name", "email", "orders", "total"]
    assert rows[1] == ["Ada Lovelace", "ada@example.com", "2", "430.5"]
    assert rows[5] == ["Barbara Liskov", "", "0", ""]
    assert "rows" in err


def test_json_goes_to_stdout_alone(artifact: Artifact) -> None:
    out, _ = run(str(artifact.pk), "--param", "status=paid", "--format", "json")
    data = json.loads(out)
    assert data[0] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "orders": 2,
        "total": 430.5,
    }
    assert data[4]["email"] is None


def test_a_bad_parameter_is_an_error_naming_it(artifact: Artifact) -> None:
    with pytest.raises(CommandError, match="Parameter 'status' is required"):
        run(str(artifact.pk))
    with pytest.raises(CommandError, match="must look like name=value"):
        run(str(artifact.pk), "--param", "status")
    assert not ArtifactRun.objects.exists()


def test_a_failing_artifact_is_an_error_and_is_recorded(shop: Path, owner) -> None:
    broken = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    with pytest.raises(CommandError, match=r"The run failed .*no such column: nope"):
        run(str(broken.pk))
    broken.refresh_from_db()
    assert broken.status == Artifact.Status.FAILED
    assert ArtifactRun.objects.get().outcome == ArtifactRun.Outcome.ERROR


def test_unknown_artifacts_and_users_are_errors(artifact: Artifact, other_user) -> None:
    with pytest.raises(CommandError, match="There is no artifact 999999"):
        run("999999")
    with pytest.raises(CommandError, match="There is no user 'nobody'"):
        run(str(artifact.pk), "--user", "nobody")
    with pytest.raises(CommandError, match=f"no artifact {artifact.pk} visible to other"):
        run(str(artifact.pk), "--param", "status=paid", "--user", "other")


def test_staff_may_run_anyones_artifact(artifact: Artifact, staff) -> None:
    out, _ = run(str(artifact.pk), "--param", "status=paid", "--user", "staff")
    assert "Ada Lovelace" in out
    assert ArtifactRun.objects.get().user == staff


# --- sharing: --user runs only what that user may run ----------------------------------------


@pytest.fixture
def shared_artifact(shop: Path, owner, analysts) -> Artifact:
    from apps.accounts.sharing import Visibility, change_sharing

    artifact = ArtifactFactory(owner=owner, sql_query=SQL, query_params=PARAMS)
    change_sharing(artifact, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    return artifact


def test_a_group_viewer_runs_a_shared_artifact_as_themselves(shared_artifact, group_viewer):
    out, _ = run(str(shared_artifact.pk), "--param", "status=paid", "--user", "group_viewer")

    assert out.splitlines()[0].split() == ["name", "email", "orders", "total"]
    assert shared_artifact.runs.get().user == group_viewer


@pytest.mark.parametrize("persona", ["outsider", "no_source_access"])
def test_a_user_the_artifact_is_not_shared_with_cannot_run_it(
    shared_artifact, outsider, no_source_access, persona
):
    with pytest.raises(CommandError, match=f"There is no artifact {shared_artifact.pk} visible"):
        run(str(shared_artifact.pk), "--param", "status=paid", "--user", persona)

    assert not shared_artifact.runs.exists()
