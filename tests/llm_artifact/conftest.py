from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests.conftest import UserFactory
from tests.datasources import sample


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    """The small sample dataset as the `marketplace` data source (a test file may override)."""
    return sample.use_sqlite(tmp_path, settings)


# The sharing personas (tests/conftest.py has owner, other_user and staff): members of the
# group an artifact is shared with, and a member of another group.
@pytest.fixture
def analysts(db):
    return Group.objects.create(name="analysts")


@pytest.fixture
def group_viewer(analysts):
    user = UserFactory(username="group_viewer")
    user.groups.add(analysts)
    return user


@pytest.fixture
def group_editor(analysts):
    user = UserFactory(username="group_editor")
    user.groups.add(analysts)
    return user


@pytest.fixture
def outsider(db):
    user = UserFactory(username="outsider")
    user.groups.add(Group.objects.create(name="sales"))
    return user
