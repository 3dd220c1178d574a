"""Airflow 2's attributes of ``ti`` and ``dag_run`` as tasks and callbacks read them, and
``xcom_pull`` of other runs (``include_prior_dates``, ``dag_id``)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.scheduler.callback_main import run_dag_callbacks
from flowctl.task_runner import run_workload
from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test
from tests.task_runner.conftest import World

ATTRS = '''
import json
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.operators.empty import EmptyOperator

OUT = {out!r}

def inside(ti, dag_run):
    return {{"execution_date": ti.execution_date.isoformat(), "logical_date": ti.logical_date.isoformat(),
             "dag_id": ti.get_dagrun().dag_id, "pool": ti.pool, "queue": ti.queue,
             "priority_weight": ti.priority_weight, "operator": ti.operator, "state": ti.state,
             "end_date": ti.end_date, "duration": ti.duration, "run_state": dag_run.state,
             "other": dag_run.get_task_instance("later").state,
             "pending": [t.task_id for t in dag_run.get_task_instances(state=[None])],
             "previous": None if ti.previous_ti is None else ti.previous_ti.state}}

def on_failure(context):
    ti = context["ti"]
    with open(OUT, "w") as f:
        json.dump({{"state": ti.state, "duration": ti.duration, "end": ti.end_date.isoformat(),
                    "start": ti.start_date.isoformat()}}, f)

def boom():
    raise ValueError("kaput")

with DAG("attrs", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="inside", python_callable=inside, pool="default_pool") >> EmptyOperator(task_id="later")
    PythonOperator(task_id="boom", python_callable=boom, on_failure_callback=on_failure)
'''


def _attrs(world: World, tmp_path: Path) -> str:
    return world.write_dags("attrs", ATTRS.format(out=str(tmp_path / "callback.json")))


def test_a_task_reads_airflows_ti_and_dag_run_attributes(world: World, tmp_path: Path) -> None:
    """Before: AttributeError for ti.execution_date, ti.get_dagrun(), dag_run.get_task_instance()..."""
    fileloc = _attrs(world, tmp_path)
    run = world.make_run("attrs")
    result = run_workload(world.queue(run, "inside", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    assert result.return_value == {
        "execution_date": "2024-01-01T00:00:00+00:00", "logical_date": "2024-01-01T00:00:00+00:00",
        "dag_id": "attrs", "pool": "default_pool", "queue": "default", "priority_weight": 2,
        "operator": "PythonOperator", "state": "running", "end_date": None, "duration": None,
        "run_state": "running", "other": "pending", "pending": ["boom", "later"], "previous": None}


def test_a_failure_callback_sees_the_recorded_end_state_and_duration(world: World, tmp_path: Path) -> None:
    fileloc = _attrs(world, tmp_path)
    run = world.make_run("attrs")
    assert run_workload(world.queue(run, "boom", fileloc), world.settings, world.store).state == "failed"
    seen = json.loads((tmp_path / "callback.json").read_text())
    row = world.store.get_task_instance(TaskInstanceKey("attrs", run.run_id, "boom"))
    assert seen["state"] == "failed" and seen["end"] == row.end_date.isoformat()
    assert seen["duration"] == pytest.approx((row.end_date - row.start_date).total_seconds())


def test_previous_ti_is_this_tasks_instance_in_the_run_before(world: World, tmp_path: Path) -> None:
    fileloc = _attrs(world, tmp_path)
    first, second = world.make_run("attrs", day=0), world.make_run("attrs", day=1)
    assert run_workload(world.queue(first, "inside", fileloc), world.settings, world.store).state == "success"
    result = run_workload(world.queue(second, "inside", fileloc), world.settings, world.store)
    assert result.return_value["previous"] == "success"


def _failure_callback_of_a_failed_run(world: World, tmp_path: Path, callback: Any) -> Any:
    """Fail the ``attrs`` run's ``boom`` try, then call the DAG's on_failure_callback (``callback``)
    as the scheduler's callback child does; the run."""
    fileloc = _attrs(world, tmp_path)
    run = world.make_run("attrs")
    run_workload(world.queue(run, "boom", fileloc), world.settings, world.store)
    dag = SimpleNamespace(dag_id="attrs", on_failure_callback=callback)
    assert run_dag_callbacks(dag, world.store.get_run("attrs", run.run_id), "failure", "task_failure",
                             world.store) == []
    return run


def test_a_dag_callbacks_dag_run_lists_its_task_instances_by_state(world: World, tmp_path: Path) -> None:
    """Before: AttributeError: 'DagRunRecord' object has no attribute 'get_task_instances'."""
    seen: list[object] = []

    def on_failure(context: dict) -> None:
        dag_run = context["dag_run"]
        seen.append([t.task_id for t in dag_run.get_task_instances(state="failed")])
        seen.append((dag_run.dag_id, dag_run.state, dag_run.get_task_instance("boom").state))
        seen.append(context["conf"].get("core", "executor"))

    _failure_callback_of_a_failed_run(world, tmp_path, on_failure)
    assert seen == [["boom"], ("attrs", "running", "failed"), "local"]


def test_task_instances_a_callback_lists_have_log_url_and_execution_date(world: World, tmp_path: Path) -> None:
    """The usual alert callback: each failed ti's log_url and execution_date. Before: AttributeError."""
    seen: list[object] = []

    def on_failure(context: dict) -> None:
        for ti in context["dag_run"].get_task_instances(state="failed"):
            seen.append((ti.task_id, ti.execution_date, ti.log_url, ti.get_dagrun().run_id, ti.try_number))

    run = _failure_callback_of_a_failed_run(world, tmp_path, on_failure)
    [(task_id, execution_date, url, run_id, try_number)] = seen
    assert (task_id, execution_date, run_id, try_number) == ("boom", run.logical_date, run.run_id, 1)
    assert url.startswith(f"{world.settings.web_url}/dags/attrs/grid?") and "task_id=boom" in url
    assert "try_number=1" in url and "tab=logs" in url


ACCESSORS = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def read(**context):
    var, ti = context["var"], context["ti"]
    if ti.try_number == 1:
        raise RuntimeError(f"first try; next is {ti.next_try_number}")
    return {"value": var["value"].get("colour"), "attr": var["value"].colour, "item": var["value"]["colour"],
            "json": var["json"]["cfg"]["n"], "json_attr": var.json.cfg["n"], "missing": var["value"].get("nope", "d"),
            "keys": sorted(var), "try_number": ti.try_number, "next_try_number": ti.next_try_number}

with DAG("accessors", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="read", python_callable=read, retries=1, retry_delay=timedelta(seconds=0))
'''


def test_context_var_is_a_dict_of_accessors_and_ti_has_next_try_number(world: World) -> None:
    """Before: TypeError: 'VariableAccessor' object is not subscriptable; AttributeError: next_try_number."""
    world.store.set_variable("colour", "teal")
    world.store.set_variable("cfg", '{"n": 3}')
    fileloc = world.write_dags("accessors", ACCESSORS)
    run = world.make_run("accessors")
    first = run_workload(world.queue(run, "read", fileloc), world.settings, world.store)
    assert first.state == "up_for_retry" and first.error == "RuntimeError: first try; next is 2"
    second = run_workload(world.queue(run, "read", fileloc), world.settings, world.store)
    assert second.state == "success", second.error
    assert second.return_value == {"value": "teal", "attr": "teal", "item": "teal", "json": 3, "json_attr": 3,
                                   "missing": "d", "keys": ["json", "value"], "try_number": 2,
                                   "next_try_number": 3}


PRIOR = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def load(ti, ds):
    previous = ti.xcom_pull(task_ids="load", key="watermark", include_prior_dates=True)
    other = ti.xcom_pull(task_ids="load", key="watermark", dag_id="source", include_prior_dates=True)
    same_run = ti.xcom_pull(task_ids="load", key="watermark", dag_id="source")
    ti.xcom_push(key="watermark", value=ds)
    return [previous, other, same_run]

for dag_id in ("source", "sink"):
    with DAG(dag_id, start_date=datetime(2024, 1, 1), schedule=None):
        PythonOperator(task_id="load", python_callable=load)
'''


def test_xcom_pull_with_include_prior_dates_reads_the_latest_earlier_run(world: World) -> None:
    """Before: include_prior_dates and dag_id were ignored: previous=None in every run."""
    fileloc = world.write_dags("prior", PRIOR)
    results = {}
    for dag_id, day in (("source", 0), ("sink", 1), ("source", 1), ("source", 3), ("sink", 2), ("sink", 3)):
        run = world.make_run(dag_id, day=day)
        result = run_workload(world.queue(run, "load", fileloc), world.settings, world.store)
        assert result.state == "success", result.error
        results[(dag_id, day)] = result.return_value
    assert results[("source", 0)] == [None, None, None]
    assert results[("sink", 1)] == [None, "2024-01-01", None]  # source has no run with sink's run id yet
    assert results[("source", 1)] == ["2024-01-01", "2024-01-01", None]  # its own run: nothing pushed yet
    assert results[("source", 3)] == ["2024-01-02", "2024-01-02", None]
    assert results[("sink", 2)] == ["2024-01-02", "2024-01-02", None]  # not source's later run of day 3
    assert results[("sink", 3)] == ["2024-01-03", "2024-01-04", "2024-01-04"]  # source's run of the same date


def test_templates_read_the_configuration_as_conf_and_never_its_secrets() -> None:
    """Before: {{ conf }} was the run's conf: conf.get('core', 'dags_folder') gave 'dags_folder'."""
    from flowctl import DAG
    from flowctl.operators.python import PythonOperator

    with DAG("conf_tmpl", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None) as dag:
        PythonOperator(task_id="ok", python_callable=lambda templates_dict: templates_dict,
                       templates_dict={"executor": "{{ conf.get('core', 'executor') }}",
                                       "missing": "{{ conf.get('core', 'nothing', fallback='none') }}",
                                       "run_conf": "{{ dag_run.conf['limit'] }}"})
        PythonOperator(task_id="secret", python_callable=lambda templates_dict: templates_dict,
                       templates_dict={"db": "{{ conf.get('database', 'sql_alchemy_conn') }}"})
    info = adhoc_run_info(datetime(2024, 1, 2, tzinfo=timezone.utc), conf={"limit": 5}, dag=dag)
    from flowctl.configuration import conf

    assert run_for_test(dag, "ok", info).return_value == {"executor": conf.get("core", "executor"),
                                                         "missing": "none", "run_conf": "5"}
    result = run_for_test(dag, "secret", info)
    assert result.state == "failed" and "is a secret" in (result.error or "")


def test_a_test_run_without_a_database_says_it_cannot_read_other_runs() -> None:
    from flowctl import DAG
    from flowctl.operators.python import PythonOperator

    with DAG("nodb", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda ti: ti.previous_ti)
        PythonOperator(task_id="u", python_callable=lambda dag_run: dag_run.get_task_instances())
    info = adhoc_run_info(datetime(2024, 1, 2, tzinfo=timezone.utc), dag=dag)
    for task_id in ("t", "u"):
        result = run_for_test(dag, task_id, info)
        assert result.state == "failed" and "no metadata database here" in (result.error or ""), result.error


def test_a_test_runs_task_instance_has_the_tasks_retries_as_max_tries_and_this_hosts_name() -> None:
    import socket

    from flowctl import DAG
    from flowctl.operators.python import PythonOperator

    def fail_once(ti: Any) -> None:
        raise ValueError(f"max_tries={ti.max_tries}")

    with DAG("tries", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda ti: ti.max_tries, retries=3)
        PythonOperator(task_id="h", python_callable=lambda ti: ti.hostname)
        PythonOperator(task_id="f", python_callable=fail_once, retries=3)
    info = adhoc_run_info(datetime(2024, 1, 2, tzinfo=timezone.utc), dag=dag)
    assert run_for_test(dag, "t", info).return_value == 3  # as Airflow's ti.max_tries (task.retries)
    assert run_for_test(dag, "h", info).return_value == socket.gethostname()  # as a real try's
    result = run_for_test(dag, "f", info)
    assert result.state == "failed" and "max_tries=3" in (result.error or "")
