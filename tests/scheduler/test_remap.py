"""Clearing a mapped task's upstream re-expands it when the input changed length (as Airflow 2 does)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import PythonOperator
from tests.scheduler.helpers import T0, InlineExecutor, day, sync, tick_until_idle
from tests.scheduler.test_loop import make_scheduler, states, trigger

LATER = T0 + timedelta(hours=1)


def _gen() -> list[int]:
    return [1]


def _show(x: Any) -> Any:
    return x


def gen_dag() -> DAG:
    with DAG("remap", start_date=T0 - day(1), schedule=None) as dag:
        gen = PythonOperator(task_id="gen", python_callable=_gen)
        m = PythonOperator.partial(task_id="m", python_callable=_show).expand(op_args=gen.output)
        m >> EmptyOperator(task_id="after")
    return dag


def finished_run(store: Any, tmp_path: Path, first: list[Any]) -> tuple[Any, InlineExecutor, RunKey]:
    """A finished run of gen_dag whose ``gen`` returned ``first``."""
    sync(store, gen_dag())
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.xcoms["gen"] = first
    executor.xcoms["m"] = "out"
    run = trigger(store, "remap")
    tick_until_idle(scheduler, T0)
    assert store.get_run("remap", run.run_id).state == "success"
    return scheduler, executor, run


def clear_gen_with_downstream(store: Any, run: RunKey) -> None:
    """What ``flowctl tasks clear remap -t '^gen$' -d -y`` clears: gen and every instance below it."""
    keys = [TaskInstanceKey(run.dag_id, run.run_id, ti.task_id, ti.map_index)
            for ti in store.list_task_instances(run)]
    assert store.clear_task_instances(keys, LATER).task_instances


def rerun(store: Any, tmp_path: Path, first: list[Any], second: list[Any]) -> tuple[InlineExecutor, RunKey]:
    scheduler, executor, run = finished_run(store, tmp_path, first)
    executor.xcoms["gen"] = second
    executor.ran.clear()
    clear_gen_with_downstream(store, run)
    tick_until_idle(scheduler, LATER)
    return executor, run


def test_a_longer_input_after_a_clear_creates_and_runs_the_new_map_indexes(store: Any, tmp_path: Path) -> None:
    executor, run = rerun(store, tmp_path, [[1]], [[7], [8]])
    assert executor.ran == ["gen", "m[0]", "m[1]", "after"]
    assert states(store, run) == {"gen": "success", "m[0]": "success", "m[1]": "success", "after": "success"}
    assert store.get_run("remap", run.run_id).state == "success"


def test_a_shorter_input_after_a_clear_removes_the_extra_map_indexes_and_the_run_succeeds(
        store: Any, tmp_path: Path) -> None:
    executor, run = rerun(store, tmp_path, [[1], [2], [3]], [[9]])
    assert executor.ran == ["gen", "m[0]", "after"]
    assert states(store, run) == {"gen": "success", "m[0]": "success", "m[1]": "removed", "m[2]": "removed",
                                  "after": "success"}
    assert store.get_run("remap", run.run_id).state == "success"
    assert store.xcom_pull_mapped(run, "m") == ["out"]  # the removed indexes' outputs are gone


def test_an_empty_input_after_a_clear_skips_the_mapped_task_and_its_downstream(store: Any, tmp_path: Path) -> None:
    executor, run = rerun(store, tmp_path, [[1], [2]], [])
    assert executor.ran == ["gen"]
    assert states(store, run) == {"gen": "success", "m[0]": "skipped", "m[1]": "skipped", "after": "skipped"}
    assert store.get_run("remap", run.run_id).state == "success"


def test_a_second_clear_brings_removed_map_indexes_back_when_the_input_grows_again(
        store: Any, tmp_path: Path) -> None:
    scheduler, executor, run = finished_run(store, tmp_path, [[1], [2], [3]])
    executor.xcoms["gen"] = [[9]]
    clear_gen_with_downstream(store, run)
    tick_until_idle(scheduler, LATER)
    executor.xcoms["gen"] = [[4], [5], [6]]
    executor.ran.clear()
    clear_gen_with_downstream(store, run)
    tick_until_idle(scheduler, LATER)
    assert executor.ran == ["gen", "m[0]", "m[1]", "m[2]", "after"]
    assert store.get_run("remap", run.run_id).state == "success"


def test_a_clear_with_an_unchanged_input_length_reruns_the_same_map_indexes(store: Any, tmp_path: Path) -> None:
    executor, run = rerun(store, tmp_path, [[1], [2]], [[3], [4]])
    assert executor.ran == ["gen", "m[0]", "m[1]", "after"]
    assert store.get_run("remap", run.run_id).state == "success"


def test_a_failed_input_after_a_clear_fails_the_mapped_task_upstream_instead_of_skipping_it(
        store: Any, tmp_path: Path) -> None:
    scheduler, executor, run = finished_run(store, tmp_path, [[1], [2]])
    executor.behaviour["gen"] = "fail"
    executor.ran.clear()
    clear_gen_with_downstream(store, run)
    tick_until_idle(scheduler, LATER)
    assert executor.ran == ["gen"]
    assert states(store, run) == {"gen": "failed", "m[0]": "upstream_failed", "m[1]": "upstream_failed",
                                  "after": "upstream_failed"}
    assert store.get_run("remap", run.run_id).state == "failed"
