"""Fixtures shared by the CLI tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def sqlite_home(tmp_path: Path, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FLOWCTL_HOME in a temporary folder with a migrated SQLite database and a dags folder, in this
    process's environment (and so in the children it starts)."""
    folder = tmp_path / "dags"
    folder.mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("FLOWCTL__CORE__DAGBAG_IMPORT_TIMEOUT", "10")
    return tmp_path
