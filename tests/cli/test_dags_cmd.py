"""``flowctl dags list | list-import-errors | show | report | check | details | reserialize`` on a real folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowctl.cli import main

GOOD = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.utils.task_group import TaskGroup

with DAG("shop", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["sales"],
         default_args={"owner": "ana"}) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("load") as load:
        EmptyOperator(task_id="orders") >> EmptyOperator(task_id="totals")
    start >> load >> EmptyOperator(task_id="done")
'''
BROKEN = "# flowctl dag\nraise RuntimeError('broken on purpose')\n"


@pytest.fixture()
def dags_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("FLOWCTL__CORE__DAGBAG_IMPORT_TIMEOUT", "5")
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    (folder / "shop.py").write_text(GOOD)
    return folder


def test_dags_list_prints_each_dag_with_owner_schedule_and_tags(dags_folder: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "list", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row == {"dag_id": "shop", "fileloc": str(dags_folder / "shop.py"), "owners": "ana",
                   "schedule": "@daily", "tags": ["sales"], "is_paused": None}  # no database: not known


def test_dags_list_as_a_table_mentions_import_errors_on_stderr(dags_folder: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (dags_folder / "broken.py").write_text(BROKEN)
    assert main(["dags", "list"]) == 0
    out, err = capsys.readouterr()
    assert "shop" in out and "@daily" in out
    assert "1 file(s) failed to import" in err


def test_list_import_errors_prints_the_file_and_traceback(dags_folder: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (dags_folder / "broken.py").write_text(BROKEN)
    assert main(["dags", "list-import-errors", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["filepath"] == str(dags_folder / "broken.py")
    assert "broken on purpose" in row["error"]


def test_list_import_errors_says_so_when_there_are_none(dags_folder: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "list-import-errors"]) == 0
    assert "No import errors." in capsys.readouterr().out


def test_show_prints_a_tree_in_topological_order_with_groups(dags_folder: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "show", "shop"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("shop")
    text = "\n".join(lines)
    assert text.index("start (EmptyOperator)") < text.index("[load]") < text.index("load.orders")
    assert text.index("load.totals") < text.index("done")
    assert "load.orders (EmptyOperator)  <- start" in text


def test_show_dot_prints_graphviz_with_a_cluster_per_group(dags_folder: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "show", "shop", "--dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "shop" {')
    assert 'subgraph "cluster_load"' in out and '"start" -> "load.orders";' in out


def test_show_of_an_unknown_dag_exits_3(dags_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "show", "nope"]) == 3
    assert "flowctl: error: DAG 'nope' not found" in capsys.readouterr().err


def test_report_lists_duration_and_counts_per_file(dags_folder: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "report", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["dag_num"], row["task_num"], row["dags"]) == (1, 4, ["shop"])
    assert row["duration"].endswith("s")


def test_check_passes_on_a_clean_folder(dags_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "check"]) == 0
    assert "OK: 1 file(s), 1 DAG(s)" in capsys.readouterr().out


def test_check_fails_and_lists_the_import_errors(dags_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (dags_folder / "broken.py").write_text(BROKEN)
    assert main(["dags", "check", str(dags_folder)]) == 1
    err = capsys.readouterr().err
    assert "broken on purpose" in err and "1 of 2 file(s) failed to import" in err


def test_subdir_parses_another_folder(dags_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.py").write_text(GOOD.replace('"shop"', '"other"'))
    assert main(["dags", "list", "-o", "json", "--subdir", str(other)]) == 0
    assert [r["dag_id"] for r in json.loads(capsys.readouterr().out)] == ["other"]


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_reserialize_stores_the_folder_so_that_dags_list_json_shows_is_paused_as_airflow(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_home / "dags" / "shop.py").write_text(GOOD)
    (sqlite_home / "dags" / "broken.py").write_text(BROKEN)
    code, out, _ = _main(capsys, "dags", "reserialize")
    assert (code, out) == (0, "Serialized 1 DAG(s) from 2 file(s); 1 import error(s)\n")
    assert _main(capsys, "dags", "unpause", "shop")[0] == 0
    (row,) = json.loads(_main(capsys, "dags", "list", "-o", "json")[1])
    assert row["is_paused"] is False
    assert "broken on purpose" in _main(capsys, "dags", "list-import-errors")[1]
    assert _main(capsys, "tasks", "list", "shop")[0] == 0


def test_details_shows_the_file_and_what_the_database_knows(sqlite_home: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_home / "dags" / "shop.py").write_text(GOOD)
    code, out, err = _main(capsys, "dags", "details", "shop", "-o", "json")
    assert code == 0, err
    (details,) = json.loads(out)
    assert details["dag_id"] == "shop" and details["owner"] == "ana" and details["timetable_summary"] == "@daily"
    assert details["task_ids"] == ["done", "load.orders", "load.totals", "start"]
    assert details["is_paused"] is None  # no scheduler has stored it yet
    _main(capsys, "dags", "reserialize")
    _main(capsys, "dags", "pause", "shop")
    (details,) = json.loads(_main(capsys, "dags", "details", "shop", "-o", "json")[1])
    assert details["is_paused"] is True and details["is_active"] is True
    out = _main(capsys, "dags", "details", "shop")[1]
    assert out.splitlines()[0].split() == ["property", "value"] and "fileloc" in out


def test_details_of_an_unknown_dag_exits_3_with_one_line(sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "dags", "details", "nope")
    assert (code, out) == (3, "") and err == f"flowctl: error: DAG 'nope' not found in {sqlite_home / 'dags'}\n"


ON_ALIAS = '''
from datetime import datetime
from flowctl import DAG
from flowctl.datasets import DatasetAlias
from flowctl.operators.empty import EmptyOperator

with DAG("on_alias", schedule=[DatasetAlias("orders")], start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="use")
'''


def test_a_dag_on_an_alias_that_resolved_to_nothing_lists_as_unresolved_as_airflow(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_home / "dags" / "on_alias.py").write_text(ON_ALIAS)
    assert _main(capsys, "dags", "reserialize")[0] == 0
    (row,) = json.loads(_main(capsys, "dags", "list", "-o", "json")[1])
    assert row["schedule"] == "Unresolved DatasetAlias"
    (details,) = json.loads(_main(capsys, "dags", "details", "on_alias", "-o", "json")[1])
    assert details["timetable_summary"] == "Unresolved DatasetAlias"


def test_reserialize_counts_a_dag_refused_as_a_duplicate_as_an_import_error_not_as_serialized(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_home / "dags" / "a_shop.py").write_text(GOOD)
    assert _main(capsys, "dags", "reserialize")[0] == 0
    (sqlite_home / "dags" / "b_shop.py").write_text(GOOD)  # the same dag_id, in a later file parsed alone
    code, out, _ = _main(capsys, "dags", "reserialize", "-S", str(sqlite_home / "dags" / "b_shop.py"))
    assert (code, out) == (0, "Serialized 0 DAG(s) from 1 file(s); 1 import error(s)\n")
