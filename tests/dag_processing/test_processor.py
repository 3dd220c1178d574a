"""The subprocess processor: every bad file becomes an import error, every good one loads."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

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


def test_a_warm_parser_child_imports_an_edited_helper_module_again(settings: Settings) -> None:
    helper = settings.dags_folder / "helpers.py"
    helper.write_text("DAG_ID = 'before'\n")
    path = settings.dags_folder / "uses.py"
    path.write_text("from helpers import DAG_ID\n" + good_dag_text("x").replace("'x'", "DAG_ID"))
    with DagFileProcessor(processes=1, timeout=5, dags_folder=settings.dags_folder) as processor:
        assert [r.dag_id for r in processor.parse_files([path]).dags] == ["before"]
        helper.write_text("DAG_ID = 'after'\n")
        assert [r.dag_id for r in processor.parse_files([path]).dags] == ["after"]


def test_a_zip_of_dag_files_is_an_import_error_saying_packaged_dags_are_not_supported(settings: Settings) -> None:
    import zipfile

    with zipfile.ZipFile(settings.dags_folder / "packaged.zip", "w") as packaged:
        packaged.writestr("inside.py", good_dag_text("inside"))
    with zipfile.ZipFile(settings.dags_folder / "data.zip", "w") as data:
        data.writestr("rows.csv", "a,b\n")  # no DAG in it: not a DAG file, as in Airflow's safe mode
    result = parse_folder(settings)
    assert result.dags == []
    assert list(result.import_errors) == [str(settings.dags_folder / "packaged.zip")]
    assert "packaged DAGs (.zip files) are not supported" in result.import_errors[
        str(settings.dags_folder / "packaged.zip")]


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


AMSTERDAM_DAG = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.utils import timezone

with DAG("amsterdam", schedule="0 6 * * *", start_date=datetime(2024, 1, 1),
         end_date=timezone.datetime(2024, 12, 31)) as dag:
    EmptyOperator(task_id="t")
'''


def test_naive_dates_in_a_dag_file_are_in_the_configured_default_timezone_and_the_schedule_too(
        settings: Settings) -> None:
    """The parser children take ``[core] default_timezone`` from the settings the processor was given;
    the serialized DAG carries the zone, so the scheduler (which never imports the file) runs the DAG
    at 06:00 Amsterdam time on both sides of the 2024-03-31 clock change."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from flowctl.core.timezones import default_timezone_name
    from flowctl.dag_processing.serialization import deserialize_dag
    from flowctl.scheduler.run_creation import next_run_info

    (settings.dags_folder / "amsterdam.py").write_text(AMSTERDAM_DAG)
    (record,) = parse_folder(settings.replace(core__default_timezone="Europe/Amsterdam")).dags
    assert record.data["timezone"] == "Europe/Amsterdam"
    assert record.data["start_date"] == "2024-01-01T00:00:00+01:00"
    assert record.data["end_date"] == "2024-12-31T00:00:00+01:00"
    assert record.data["timetable"]["timezone"] == "Europe/Amsterdam"
    dag = deserialize_dag(record.data)
    assert dag.timezone == "Europe/Amsterdam"
    first = next_run_info(dag, None, datetime(2024, 1, 5, tzinfo=timezone.utc), True)
    assert first is not None and first.data_interval.start == datetime(2024, 1, 1, 5, tzinfo=timezone.utc)
    last = (datetime(2024, 3, 28, 5, tzinfo=timezone.utc), datetime(2024, 3, 29, 5, tzinfo=timezone.utc))
    ends = []
    for _ in range(4):
        info = next_run_info(dag, last, datetime(2024, 4, 5, tzinfo=timezone.utc), True)
        assert info is not None
        last = (info.data_interval.start, info.data_interval.end)
        ends.append(info.data_interval.end)
    assert [e.astimezone(ZoneInfo("Europe/Amsterdam")).strftime("%m-%d %H:%M") for e in ends] == \
        ["03-30 06:00", "03-31 06:00", "04-01 06:00", "04-02 06:00"]
    assert ends[1] - ends[0] == timedelta(hours=23)  # the short night: still 06:00 on the wall clock
    assert default_timezone_name() == "UTC"  # the file ran in a child: this process is untouched


def test_under_system_the_serialized_dag_carries_the_machines_zone_name_not_the_word_system(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[core] default_timezone = system``: the children parse in this machine's zone (TZ here), and the
    serialized DAG names it, so the scheduler and the web server, which never import the file, read the
    same zone whatever their own."""
    import json

    from flowctl.dag_processing.serialization import deserialize_dag

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    (settings.dags_folder / "amsterdam.py").write_text(AMSTERDAM_DAG)
    (record,) = parse_folder(settings.replace(core__default_timezone="system")).dags
    assert record.data["timezone"] == record.data["timetable"]["timezone"] == "Asia/Tokyo"
    assert record.data["start_date"] == "2024-01-01T00:00:00+09:00"
    assert '"system"' not in json.dumps(record.data).lower()
    monkeypatch.setenv("TZ", "UTC")  # the reader's own zone plays no part
    assert deserialize_dag(record.data).timezone == "Asia/Tokyo"


def test_a_dag_file_parsed_with_the_default_settings_keeps_naive_dates_in_utc(settings: Settings) -> None:
    (settings.dags_folder / "amsterdam.py").write_text(AMSTERDAM_DAG)
    (record,) = parse_folder(settings).dags
    assert "timezone" not in record.data  # a UTC DAG serializes (and hashes) as before
    assert record.data["start_date"] == "2024-01-01T00:00:00+00:00"
    assert record.data["timetable"]["timezone"] == "UTC"


def test_an_environment_variable_one_file_sets_at_import_is_not_seen_by_the_next_file(settings: Settings) -> None:
    sets = settings.dags_folder / "a_sets.py"
    sets.write_text("import os\nos.environ['FLOWCTL_TEST_PARSE_ENV'] = 'leaked'\n" + good_dag_text("a_sets"))
    reads = settings.dags_folder / "b_reads.py"
    reads.write_text("import os\n" + good_dag_text("b_reads").replace(
        "'b_reads'", "os.environ.get('FLOWCTL_TEST_PARSE_ENV', 'b_reads')"))
    with DagFileProcessor(processes=1, timeout=5, dags_folder=settings.dags_folder) as processor:
        result = processor.parse_files([sets, reads])
    assert sorted(r.dag_id for r in result.dags) == ["a_sets", "b_reads"]


def test_closing_the_pool_during_a_slow_parse_stops_it_instead_of_starting_a_new_slot(tmp_path: Path) -> None:
    """Before: the parsing thread took the closed slot for a crash, spawned a new one and asked it again,
    which lived on for the import timeout after the scheduler stopped (and printed BrokenPipeError)."""
    import threading

    (tmp_path / "slow.py").write_text("import time\nfrom flowctl import DAG\ntime.sleep(20)\n")
    processor = DagFileProcessor(processes=1, timeout=30)
    slot = processor._slots[0]
    first = slot._proc
    done = threading.Event()
    thread = threading.Thread(target=lambda: (processor.parse_files([tmp_path / "slow.py"]), done.set()), daemon=True)
    thread.start()
    time.sleep(1.0)  # the slot is importing the slow file
    processor.close()
    thread.join(10)
    assert not thread.is_alive() and done.is_set()
    assert slot._proc is first and first.poll() is not None  # stopped, and no new slot spawned
