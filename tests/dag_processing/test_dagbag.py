"""DagBag: the in-process, Airflow-compatible collection of a folder's DAGs."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flowctl.dag_processing.dagbag import DagBag
from flowctl.settings import Settings

from tests.dag_processing.conftest import good_dag_text


def test_a_dagbag_reads_the_configured_folder_by_default(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("alpha", tasks=4))
    bag = DagBag(settings=settings)
    assert bag.dag_ids == ["alpha"] and bag.size() == 1
    dag = bag.get_dag("alpha")
    assert dag is not None and len(dag.tasks) == 4
    assert dag.fileloc == str(settings.dags_folder / "a.py")
    assert bag.import_errors == {}


def test_an_unknown_dag_id_gives_none(settings: Settings) -> None:
    assert DagBag(settings=settings).get_dag("missing") is None


def test_the_dags_are_real_objects_with_their_callables(settings: Settings) -> None:
    text = good_dag_text("withfn") + "\ndef helper():\n    return 42\n"
    text += "from flowctl.operators.python import PythonOperator\n"
    text += "PythonOperator(task_id='call', python_callable=helper, dag=dag)\n"
    (settings.dags_folder / "fn.py").write_text(text)
    task = DagBag(settings=settings).get_dag("withfn").get_task("call")
    assert task.python_callable() == 42


def test_a_failing_file_is_an_import_error_and_the_others_still_load(settings: Settings) -> None:
    (settings.dags_folder / "good.py").write_text(good_dag_text("good"))
    (settings.dags_folder / "bad.py").write_text("# flowctl dag\nraise ValueError('nope')\n")
    bag = DagBag(settings=settings)
    assert bag.dag_ids == ["good"]
    error = bag.import_errors[str(settings.dags_folder / "bad.py")]
    assert "ValueError: nope" in error and "bad.py" in error


def test_a_mapped_task_with_an_unknown_partial_argument_is_an_import_error(settings: Settings) -> None:
    """Airflow checks partial() arguments when the file is parsed, not when each instance runs."""
    (settings.dags_folder / "good.py").write_text(good_dag_text("good"))
    (settings.dags_folder / "mapped.py").write_text(
        "from datetime import datetime\n"
        "from flowctl import DAG\n"
        "from flowctl.operators.bash import BashOperator\n"
        "with DAG('mapped', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        "    BashOperator.partial(task_id='b', bogus_kw=1).expand(bash_command=['echo 1', 'echo 2'])\n")
    bag = DagBag(settings=settings)
    assert bag.dag_ids == ["good"]
    error = bag.import_errors[str(settings.dags_folder / "mapped.py")]
    assert "BashOperator.partial() (task_id: b): bogus_kw" in error


@pytest.mark.parametrize(("call", "last_line"), [
    ("numbers().map(5)", "TypeError: XComArg.map() needs a callable of one argument, not int: 5"),
    ("numbers().map(show)", "flowctl.core.errors.DagDefinitionError: XComArg.map() needs a plain function, "
                            "not the @task 'show': the callable runs inside the mapped task, "
                            "it is not a task of its own"),
    ("numbers().zip([1, 2])", "TypeError: XComArg.zip() combines task outputs (XComArgs), not list: [1, 2]; "
                              "return the values from a task and pass its output"),
    ("numbers().concat('abc')", "TypeError: XComArg.concat() combines task outputs (XComArgs), not str: 'abc'; "
                                "return the values from a task and pass its output"),
])
def test_a_bad_map_zip_or_concat_is_an_import_error_whose_last_line_says_what_is_wrong(
        settings: Settings, call: str, last_line: str) -> None:
    (settings.dags_folder / "transforms.py").write_text(
        "from datetime import datetime\n"
        "from flowctl import DAG\n"
        "from flowctl.decorators import task\n"
        "@task\n"
        "def numbers():\n"
        "    return [1, 2]\n"
        "@task\n"
        "def show(value):\n"
        "    print(value)\n"
        "with DAG('transforms', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        f"    show.expand(value={call})\n")
    bag = DagBag(settings=settings)
    error = bag.import_errors[str(settings.dags_folder / "transforms.py")]
    assert bag.dag_ids == [] and error.strip().splitlines()[-1] == last_line, error


def test_a_slow_file_times_out_on_the_main_thread(settings: Settings) -> None:
    (settings.dags_folder / "slow.py").write_text("# flowctl dag\nwhile True:\n    pass\n")
    (settings.dags_folder / "good.py").write_text(good_dag_text("good"))
    started = time.monotonic()
    bag = DagBag(settings=settings)
    assert time.monotonic() - started < 6
    assert "timed out after 2s" in bag.import_errors[str(settings.dags_folder / "slow.py")]
    assert bag.dag_ids == ["good"]


def test_off_the_main_thread_there_is_no_timeout_but_it_still_works(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("a"))
    bags: list[DagBag] = []
    thread = threading.Thread(target=lambda: bags.append(DagBag(settings=settings)))
    thread.start()
    thread.join(timeout=30)
    assert bags and bags[0].dag_ids == ["a"]


def test_a_duplicate_dag_id_is_an_import_error_of_the_second_file(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("same"))
    (settings.dags_folder / "b.py").write_text(good_dag_text("same"))
    bag = DagBag(settings=settings)
    assert bag.get_dag("same").fileloc == str(settings.dags_folder / "a.py")
    assert "already defined" in bag.import_errors[str(settings.dags_folder / "b.py")]


def test_safe_mode_skips_files_that_do_not_mention_flowctl(settings: Settings) -> None:
    (settings.dags_folder / "helper.py").write_text("raise RuntimeError('must not be imported')\n")
    assert DagBag(settings=settings).import_errors == {}
    assert "helper.py" in next(iter(DagBag(settings=settings, safe_mode=False).import_errors))


def test_several_dags_in_one_file_are_all_found(settings: Settings) -> None:
    text = (
        "from datetime import datetime\nfrom flowctl import DAG\n"
        "from flowctl.operators.empty import EmptyOperator\n"
        "for name in ['x', 'y', 'z']:\n"
        "    with DAG(f'gen_{name}', schedule=None, start_date=datetime(2024, 1, 1)) as d:\n"
        "        EmptyOperator(task_id='only')\n"
        "    globals()[f'dag_{name}'] = d\n"
    )
    (settings.dags_folder / "gen.py").write_text(text)
    bag = DagBag(settings=settings)
    assert sorted(bag.dag_ids) == ["gen_x", "gen_y", "gen_z"]
    assert [s.dag_num for s in bag.dagbag_stats] == [3]


def test_read_dags_from_db_gives_deserialized_dags_parsed_in_child_processes(settings: Settings) -> None:
    (settings.dags_folder / "a.py").write_text(good_dag_text("alpha", tasks=2))
    (settings.dags_folder / "boom.py").write_text("# flowctl dag\nimport os\nos._exit(7)\n")
    bag = DagBag(settings=settings, read_dags_from_db=True)
    dag = bag.get_dag("alpha")
    assert type(dag).__name__ == "SerializedDAG"
    assert [t.task_id for t in dag.topological_sort()] == ["t0", "t1"]
    assert "exited with code 7" in bag.import_errors[str(settings.dags_folder / "boom.py")]


def test_examples_are_included_on_request(settings: Settings) -> None:
    bag = DagBag(settings=settings, include_examples=True)
    assert "example_etl" in bag.dag_ids
    assert not any(Path(p).parent.name == "dags_example" for p in bag.import_errors)


def test_a_dagbag_imports_naive_dates_in_its_settings_default_timezone(settings: Settings) -> None:
    """What users' DAG tests see, as with Airflow's DagBag and ``[core] default_timezone``."""
    (settings.dags_folder / "a.py").write_text(good_dag_text("alpha"))
    bag = DagBag(settings=settings.replace(core__default_timezone="Europe/Amsterdam"))
    dag = bag.get_dag("alpha")
    assert dag.timezone == "Europe/Amsterdam" and dag.start_date.isoformat() == "2024-01-01T00:00:00+01:00"
    assert dag.timetable.serialize()["timezone"] == "Europe/Amsterdam"
