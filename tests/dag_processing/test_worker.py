"""``python -m flowctl.dag_processing.worker FILE``: the one-shot, cold parse of one file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.dag_processing.conftest import good_dag_text

ROOT = Path(__file__).resolve().parents[2]


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "flowctl.dag_processing.worker", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)


def test_the_worker_prints_the_serialized_dags_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("print('noise on stdout')\n" + good_dag_text("alpha"))
    done = _run(path)
    assert done.returncode == 0
    answer = json.loads(done.stdout)
    assert answer["error"] is None
    assert [d["dag_id"] for d in answer["dags"]] == ["alpha"]
    assert "noise on stdout" in done.stderr


def test_the_worker_exits_1_with_the_error_of_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("import nonexistent_module_xyz\n")
    done = _run(path)
    assert done.returncode == 1
    assert "nonexistent_module_xyz" in json.loads(done.stdout)["error"]


def test_the_worker_reads_naive_dates_in_the_configured_default_timezone(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(good_dag_text("alpha"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), FLOWCTL_HOME=str(tmp_path),
               FLOWCTL__CORE__DEFAULT_TIMEZONE="Europe/Amsterdam")
    env.pop("FLOWCTL_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "flowctl.dag_processing.worker", str(path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    (dag,) = json.loads(done.stdout)["dags"]
    assert dag["timezone"] == "Europe/Amsterdam" and dag["start_date"] == "2024-01-01T00:00:00+01:00"
