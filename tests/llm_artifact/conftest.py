from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasources import sample


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    """The small sample dataset as the `marketplace` data source (a test file may override)."""
    return sample.use_sqlite(tmp_path, settings)
