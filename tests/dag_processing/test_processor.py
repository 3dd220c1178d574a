"""The subprocess processor: every bad file becomes an import error, every good one loads."""
from __future__ import annotations

import time
from pathlib import Path

from flowctl.dag_processing.processor import DagFileProcessor, parse_folder
from flowctl.settings import Settings

from tests.dag_processing.conftest import good_dag_text

HEADER = "# a flowctl dag file\n"
BAD_FILES = {
    "loops.py": HEADER + "while True:\n    pass\n",
    "exits.py": HEADER + "import os\nos._exit(1)\n",
    "raises.py": HEADER + "raise RuntimeError('boom from a dag file')\n",
    "segfaults.py": HEADER + "import ctypes\nctypes.string_at(0)\n",
    "syntax.py": HEADER + "def broken(:\n",
    "sys_exit.py": HEADER + "import sys\nsys.exit(3)\n",
}


def _folder_with_bad_files(folder: Path) -> None:
    for name, text in BAD_FILES.items():
        (folder / name).write_text(text)
    for i in range(3):
        (folder / f"good_{i}.py").write_text(good_dag_text(f"good_{i}"))


def test_bad_files_become_import_errors_and_every_other_file_loads(settings: Settings) -> None:
    folder = settings.dags_folder
    _folder_with_bad_files(folder)
    started = time.monotonic()
    result = parse_folder(settings)
    elapsed = time.monotonic() - started
    assert sorted(r.dag_id for r in result.dags) == ["good_0", "good_1", "good_2"]
    assert sorted(Path(p).name for p in result.import_errors) == sorted(BAD_FILES)
    errors = {Path(p).name: e for p, e in result.import_errors.items()}
    assert "timed out after 2s" in errors["loops.py"]
    assert "exited with code 1" in errors["exits.py"]
    assert "boom from a dag file" in errors["raises.py"]
    assert "SIGSEGV" in errors["segfaults.py"]
    assert "SyntaxError" in errors["syntax.py"]
    assert "SystemExit" in errors["sys_exit.py"]
    assert elapsed < 10, "the 2 s timeout must bound the whole parse"


def test_a_segfault_reports_the_python_traceback_of_the_crash(settings: Settings) -> None:
    (settings.dags_folder / "segfaults.py").write_text(BAD_FILES["segfaults.py"])
    result = parse_folder(settings)
    (error,) = result.import_errors.values()
    assert "string_at" in error


def test_every_file_gets_a_duration(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("a"))
    (settings.dags_folder / "b.py").write_text(good_dag_text("b"))
    result = parse_folder(settings)
    assert sorted(Path(p).name for p in result.durations) == ["a.py", "b.py"]
    assert all(seconds > 0 for seconds in result.durations.values())


def test_a_duplicate_dag_id_is_an_import_error_of_the_later_file(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("same"))
    (settings.dags_folder / "b.py").write_text(good_dag_text("same"))
    result = parse_folder(settings)
    assert [Path(r.fileloc).name for r in result.dags] == ["a.py"]
    (path,) = result.import_errors
    assert Path(path).name == "b.py"
    assert "already defined" in result.import_errors[path]


def test_prints_in_a_dag_file_do_not_disturb_the_protocol(settings: Settings) -> None:
    text = "print('hello from the dag file')\nimport sys\nprint('{not json', file=sys.stderr)\n"
    (settings.dags_folder / "noisy.py").write_text(text + good_dag_text("noisy"))
    result = parse_folder(settings)
    assert [r.dag_id for r in result.dags] == ["noisy"]
    assert not result.import_errors


def test_a_dag_file_can_import_a_helper_module_from_the_dags_folder(settings: Settings) -> None:
    (settings.dags_folder / "helpers.py").write_text("DAG_ID = 'from_helper'\n")
    (settings.dags_folder / "uses.py").write_text("from helpers import DAG_ID\n" + good_dag_text("x").replace(
        "'x'", "DAG_ID"))
    result = parse_folder(settings)
    assert [r.dag_id for r in result.dags] == ["from_helper"]


def test_a_pool_is_reusable_and_answers_the_same_hash_for_an_unchanged_file(settings: Settings) -> None:
    path = settings.dags_folder / "a.py"
    path.write_text(good_dag_text("a"))
    with DagFileProcessor(processes=2, timeout=5) as processor:
        first = processor.parse_files([path])
        second = processor.parse_files([path])
    assert first.dags[0].dag_hash == second.dags[0].dag_hash


def test_an_empty_folder_parses_to_nothing(settings: Settings) -> None:
    result = parse_folder(settings)
    assert result.dags == [] and result.import_errors == {}


def test_a_fresh_child_per_file_gives_the_same_answers(settings: Settings) -> None:
    folder = settings.dags_folder
    _folder_with_bad_files(folder)
    files = sorted(folder.glob("*.py"))
    with DagFileProcessor(processes=2, timeout=2, dags_folder=folder, files_per_child=1) as processor:
        result = processor.parse_files(files)
    assert sorted(r.dag_id for r in result.dags) == ["good_0", "good_1", "good_2"]
    assert len(result.import_errors) == len(BAD_FILES)


def test_state_left_by_one_file_does_not_leak_into_a_fresh_child(settings: Settings) -> None:
    folder = settings.dags_folder
    (folder / "a_sets.py").write_text("import builtins\nbuiltins.FLOWCTL_LEAK = 1\n" + good_dag_text("a"))
    (folder / "b_reads.py").write_text(
        "import builtins\nassert not hasattr(builtins, 'FLOWCTL_LEAK')\n" + good_dag_text("b"))
    with DagFileProcessor(processes=1, timeout=5, files_per_child=1) as processor:
        result = processor.parse_files(sorted(folder.glob("*.py")))
    assert sorted(r.dag_id for r in result.dags) == ["a", "b"]
