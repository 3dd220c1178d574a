"""Which files of a DAG folder are parsed: walk, .flowctlignore, safe mode."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flowctl.dag_processing.discovery import (
    keep_likely_dag_files,
    list_py_files,
    might_contain_dag,
    parse_ignore_text,
)

DAG_TEXT = "from flowctl import DAG\nwith DAG('x'):\n    pass\n"


def _write(root: Path, rel: str, text: str = DAG_TEXT) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _names(root: Path, files: list[Path]) -> list[str]:
    return [f.relative_to(root).as_posix() for f in files]


def test_the_walk_finds_python_files_recursively_in_sorted_order(tmp_path: Path) -> None:
    _write(tmp_path, "b.py")
    _write(tmp_path, "a.py")
    _write(tmp_path, "sub/c.py")
    _write(tmp_path, "notes.txt")
    _write(tmp_path, "__pycache__/a.cpython-311.py")
    _write(tmp_path, ".hidden/d.py")
    assert _names(tmp_path, list_py_files(tmp_path)) == ["a.py", "b.py", "sub/c.py"]


def test_a_single_file_is_its_own_listing(tmp_path: Path) -> None:
    path = _write(tmp_path, "one.py")
    assert list_py_files(path) == [path]


def test_a_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert list_py_files(tmp_path / "nope") == []


def test_ignore_lines_are_regular_expressions_searched_in_the_relative_path(tmp_path: Path) -> None:
    _write(tmp_path, "keep.py")
    _write(tmp_path, "tmp_scratch.py")
    _write(tmp_path, "old/legacy.py")
    _write(tmp_path, ".flowctlignore", "# comment\n\ntmp_\n^old$\n")
    assert _names(tmp_path, list_py_files(tmp_path)) == ["keep.py"]


def test_an_ignore_file_in_a_subfolder_applies_only_below_it(tmp_path: Path) -> None:
    _write(tmp_path, "skip_me.py")
    _write(tmp_path, "sub/skip_me.py")
    _write(tmp_path, "sub/other.py")
    _write(tmp_path, "sub/.flowctlignore", "skip_me\n")
    assert _names(tmp_path, list_py_files(tmp_path)) == ["skip_me.py", "sub/other.py"]


def test_glob_syntax_can_be_switched_on(tmp_path: Path) -> None:
    _write(tmp_path, "a_test.py")
    _write(tmp_path, "b.py")
    _write(tmp_path, ".flowctlignore", "# syntax: glob\n*_test.py\n")
    assert _names(tmp_path, list_py_files(tmp_path)) == ["b.py"]


def test_a_bad_regular_expression_is_skipped_not_fatal() -> None:
    rules = parse_ignore_text("([\nok\n", Path("/x"))
    assert [r.pattern for r in rules] == ["ok"]


def test_safe_mode_keeps_only_files_mentioning_dag_and_flowctl(tmp_path: Path) -> None:
    dag_file = _write(tmp_path, "dag.py")
    helper = _write(tmp_path, "helper.py", "def f():\n    return 1\n")
    airflow_only = _write(tmp_path, "af.py", "from airflow import DAG\n")
    upper = _write(tmp_path, "upper.py", "from FLOWCTL import Dag\n")
    assert keep_likely_dag_files([dag_file, helper, airflow_only, upper]) == [dag_file, upper]
    assert not might_contain_dag(tmp_path / "missing.py")


def test_an_airflowignore_left_from_airflow_is_read_as_a_flowctlignore_is(tmp_path: Path) -> None:
    """A DAG folder ported from Airflow keeps its .airflowignore: what it excluded must not start running."""
    _write(tmp_path, "keep.py")
    _write(tmp_path, "dev_experiment.py")
    _write(tmp_path, "sub/scratch_test.py")
    _write(tmp_path, "sub/other.py")
    _write(tmp_path, ".airflowignore", "^dev_\n")
    _write(tmp_path, "sub/.airflowignore", "# syntax: glob\n*_test.py\n")
    _write(tmp_path, "sub/.flowctlignore", "other")
    assert _names(tmp_path, list_py_files(tmp_path)) == ["keep.py"]


def test_a_symlink_loop_is_walked_once_and_a_link_to_another_folder_still_is(tmp_path: Path) -> None:
    _write(tmp_path, "dags/sub/x.py")
    _write(tmp_path, "shared/y.py")
    (tmp_path / "dags/sub/back").symlink_to(tmp_path / "dags")  # a loop: once it raised OSError (ELOOP)
    (tmp_path / "dags/linked").symlink_to(tmp_path / "shared")
    assert _names(tmp_path / "dags", list_py_files(tmp_path / "dags")) == ["linked/y.py", "sub/x.py"]


def test_a_file_whose_name_is_not_utf8_is_left_out_with_a_warning(tmp_path: Path, caplog: Any) -> None:
    import os

    _write(tmp_path, "good.py")
    with open(os.path.join(os.fsencode(tmp_path), b"latin1_donn\xe9es.py"), "wb") as bad:
        bad.write(DAG_TEXT.encode())  # its path could not be stored: once it stopped the scheduler
    assert _names(tmp_path, list_py_files(tmp_path)) == ["good.py"]
    assert any("not valid UTF-8" in r.getMessage() for r in caplog.records)
