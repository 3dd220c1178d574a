"""run_workload on SQLite and PostgreSQL: claim, states, retries, XCom, templates, logs, exactly once."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowctl.core.keys import RunKey
from flowctl.task_runner import run_workload

from tests.task_runner.conftest import World

BASIC = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.operators.python import PythonOperator, BranchPythonOperator
from flowctl.operators.empty import EmptyOperator
from flowctl.core.errors import TaskSkipped

def ok():
    print("hello from the task")
    return {"n": 42}

def boom():
    raise ValueError("kaput")

def skip_me():
    raise TaskSkipped("nothing to do")

def slow():
    import time
    time.sleep(5)

def big():
    return "x" * 100000

def pull(ti):
    return ti.xcom_pull(task_ids="ok")["n"] + 1

with DAG("basic", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    t_ok = PythonOperator(task_id="ok", python_callable=ok)
    t_pull = PythonOperator(task_id="pull", python_callable=pull)
    PythonOperator(task_id="boom", python_callable=boom, retries=1, retry_delay=timedelta(seconds=30))
    PythonOperator(task_id="boom_once", python_callable=boom)
    PythonOperator(task_id="skip", python_callable=skip_me)
    PythonOperator(task_id="slow", python_callable=slow, execution_timeout=timedelta(seconds=0.2))
    PythonOperator(task_id="big", python_callable=big)
    PythonOperator(task_id="templated", python_callable=ok, op_kwargs={"day": "{{ ds }}", "who": "{{ params.who }}"},
                   params={"who": "world"})
    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "left")
    branch >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    t_ok >> t_pull
'''


def _setup(world: World) -> tuple[str, object]:
    fileloc = world.write_dags("basic", BASIC)
    return fileloc, world.make_run("basic")


def test_a_successful_try_is_recorded_with_its_return_value_and_history(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "ok", fileloc), world.settings, world.store)
    assert result.ran and result.state == "success" and result.try_number == 1
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "success" and ti.try_number == 1 and ti.end_date is not None
    assert world.store.xcom_pull(RunKey("basic", run.run_id), "ok") == {"n": 42}
    assert [t.state for t in world.store.list_tries(result.key)] == ["success"]
    assert "hello from the task" in world.log_text(result.key, 1)


def test_a_second_run_of_the_same_workload_does_nothing(world: World) -> None:
    fileloc, run = _setup(world)
    workload = world.queue(run, "ok", fileloc)
    assert run_workload(workload, world.settings, world.store).ran
    again = run_workload(workload, world.settings, world.store)
    assert not again.ran
    assert world.store.get_task_instance(workload.key).try_number == 1


def test_a_failure_with_retries_left_waits_for_its_retry_delay(world: World) -> None:
    fileloc, run = _setup(world)
    before = datetime.now(timezone.utc)
    result = run_workload(world.queue(run, "boom", fileloc), world.settings, world.store)
    assert result.state == "up_for_retry" and "kaput" in (result.error or "")
    ti = world.store.get_task_instance(result.key)
    assert ti.next_retry_at is not None
    assert 29 <= (ti.next_retry_at - before).total_seconds() <= 40
    second = run_workload(world.queue(run, "boom", fileloc), world.settings, world.store)
    assert second.try_number == 2 and second.state == "failed"
    assert [t.state for t in world.store.list_tries(result.key)] == ["up_for_retry", "failed"]
    assert "ValueError: kaput" in world.log_text(result.key, 2)


def test_a_failure_on_the_last_try_fails_the_task(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "boom_once", fileloc), world.settings, world.store)
    assert result.state == "failed"


def test_raising_task_skipped_ends_the_try_as_skipped_and_logs_it_as_information(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "skip", fileloc), world.settings, world.store)
    assert result.state == "skipped"
    text = world.log_text(result.key, 1)
    assert "INFO - Skipping the task: nothing to do" in text  # as Airflow logs a skip: no error, no traceback
    assert "ERROR" not in text and "Traceback" not in text


def test_execution_timeout_stops_the_task_and_counts_as_a_failure(world: World) -> None:
    fileloc, run = _setup(world)
    started = datetime.now(timezone.utc)
    result = run_workload(world.queue(run, "slow", fileloc), world.settings, world.store)
    assert result.state == "failed" and "TaskTimeout" in (result.error or "")
    assert (datetime.now(timezone.utc) - started).total_seconds() < 4


def test_an_xcom_over_the_size_limit_fails_the_task_with_a_clear_message(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "big", fileloc), world.settings, world.store)
    assert result.state == "failed" and "xcom_max_size" in (result.error or "")


def test_a_downstream_task_pulls_the_upstream_return_value(world: World) -> None:
    fileloc, run = _setup(world)
    run_workload(world.queue(run, "ok", fileloc), world.settings, world.store)
    result = run_workload(world.queue(run, "pull", fileloc), world.settings, world.store)
    assert result.state == "success" and result.return_value == 43


def test_templates_are_rendered_and_stored_on_the_task_instance(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "templated", fileloc), world.settings, world.store)
    rendered = world.store.get_task_instance(result.key).rendered_fields
    assert rendered is not None and rendered["op_kwargs"] == {"day": "2024-01-01", "who": "world"}


VARS = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with DAG("vars", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="show", python_callable=lambda **kw: None,
                   op_kwargs={"colour": "{{ var.value.colour }}", "default": "{{ var.value.get('nope', 'd') }}",
                              "k": "{{ var.json.cfg.k }}", "token": "{{ var.value.api_token }}"})
'''


def test_templates_read_variables_and_a_secret_one_is_masked_in_the_stored_fields(world: World) -> None:
    from flowctl.db.secrets import generate_key

    world.store.use_fernet_key(generate_key())
    world.store.set_variable("colour", "purple")
    world.store.set_variable("cfg", '{"k": "from-json"}')
    world.store.set_variable("api_token", "tok-123456789")
    fileloc = world.write_dags("vars", VARS)
    result = run_workload(world.queue(world.make_run("vars"), "show", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    rendered = world.store.get_task_instance(result.key).rendered_fields
    assert rendered is not None
    assert rendered["op_kwargs"] == {"colour": "purple", "default": "d", "k": "from-json", "token": "***"}


MAPPED_OVER = '''
from datetime import datetime
from flowctl.decorators import dag, task

@dag(start_date=datetime(2024, 1, 1), schedule=None)
def mapped_over():
    @task
    def text():
        return "notalist"

    @task
    def nothing():
        return None

    @task
    def items():
        return {"a": 1}

    @task
    def each(v):
        return v

    each.expand(v=text())
    each.override(task_id="each_none").expand(v=nothing())
    each.override(task_id="each_item").expand(v=items())

mapped_over()
'''


def test_a_task_whose_return_value_a_mapped_task_cannot_map_over_fails(world: World) -> None:
    """As Airflow's UnmappableXComTypePushed: the producer fails (retries apply), so its mapped
    consumer ends upstream_failed, instead of being skipped and the run reported a success."""
    from flowctl.exceptions import UnmappableXComTypePushed  # noqa: F401 - the Airflow name exists

    fileloc = world.write_dags("mapped_over", MAPPED_OVER)
    run = world.make_run("mapped_over")
    failed = run_workload(world.queue(run, "text", fileloc), world.settings, world.store)
    assert failed.state == "failed"
    assert failed.error == ("UnmappableXComTypePushed: task 'each' maps over the return value of 'text', "
                            "which must be a list or a dict, not str")
    nothing = run_workload(world.queue(run, "nothing", fileloc), world.settings, world.store)
    assert nothing.state == "failed"  # Airflow's XComForMappingNotPushed: None is no input, not an empty one
    assert nothing.error.startswith("XComForMappingNotPushed: task 'each_none' maps over the return value of "
                                    "'nothing', which returned None")
    assert run_workload(world.queue(run, "items", fileloc), world.settings, world.store).state == "success"


MANY = '''
from datetime import datetime
from flowctl.decorators import dag, task

@dag(start_date=datetime(2024, 1, 1), schedule=None)
def many():
    @task
    def three():
        return [1, 2, 3]

    @task
    def each(v):
        return v

    each.expand(v=three())

many()
'''


def test_a_task_returning_more_elements_than_max_map_length_to_a_mapped_task_fails(world: World) -> None:
    fileloc = world.write_dags("many", MANY)
    assert world.settings.get("core", "max_map_length") == 1024
    assert run_workload(world.queue(world.make_run("many"), "three", fileloc), world.settings,
                        world.store).state == "success"
    settings = world.settings.replace(core__max_map_length=2)
    failed = run_workload(world.queue(world.make_run("many", day=1), "three", fileloc), settings, world.store)
    assert failed.state == "failed"
    assert failed.error == ("UnmappableXComLengthPushed: task 'each' maps over the return value of 'three', "
                            "which has 3 elements: more than [core] max_map_length (2)")


def test_a_branch_skips_the_direct_downstream_tasks_it_did_not_choose(world: World) -> None:
    fileloc, run = _setup(world)
    result = run_workload(world.queue(run, "branch", fileloc), world.settings, world.store)
    assert result.state == "success" and result.skipped == ("right",)
    states = {t.task_id: t.state for t in world.store.list_task_instances(RunKey("basic", run.run_id))}
    assert states["right"] == "skipped" and states["left"] == "pending"
    decision = world.store.xcom_pull(RunKey("basic", run.run_id), "branch", key="skipmixin_key")
    assert decision == {"followed": ["left"]}  # what a clear of "right" reads to keep it skipped


SECRET = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.hooks.base import BaseHook
from flowctl.models.variable import Variable

def leak():
    conn = BaseHook.get_connection("warehouse")
    print("connecting with", conn.password)
    print("token is", Variable.get("api_token"))
    print("colour is", Variable.get("colour"))

with DAG("secret", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="leak", python_callable=leak)
'''


def test_connection_passwords_and_secret_variables_are_masked_in_the_log(world: World) -> None:
    from flowctl.core.connection import Connection
    from flowctl.db.secrets import generate_key

    world.store.use_fernet_key(generate_key())
    world.store.add_connection(Connection(conn_id="warehouse", conn_type="postgres", host="db",
                                          login="me", password="hunter2-very-secret"))
    world.store.set_variable("api_token", "tok-123456789")
    world.store.set_variable("colour", "purple-and-green")
    fileloc = world.write_dags("secret", SECRET)
    run = world.make_run("secret")
    result = run_workload(world.queue(run, "leak", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    text = world.log_text(result.key, 1)
    assert "connecting with ***" in text and "hunter2" not in text
    assert "token is ***" in text and "tok-123456789" not in text
    assert "colour is purple-and-green" in text


MASK_SECRET = '''
import logging
import sys
from datetime import datetime
from flowctl import DAG
from flowctl.core.masking import mask_secret
from flowctl.operators.python import PythonOperator
from flowctl.models.variable import Variable

def leak():
    print("from the environment:", Variable.get("db_password"), Variable.get("legacy_token"))
    mask_secret("hunter2hunter2")
    print("value hunter2hunter2")
    print("stderr hunter2hunter2", file=sys.stderr)
    logging.getLogger("custom").warning("logged %s and %s", "hunter2hunter2", Variable.get("db_password"))

with DAG("mask_secret", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="leak", python_callable=leak)
'''


def test_what_mask_secret_registers_during_a_try_is_masked_in_its_log_whatever_the_variables_source(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a sensitive Variable from the environment, and any value given to mask_secret, went to
    a process-wide masker the try's log never read: both were logged in clear."""
    monkeypatch.setenv("FLOWCTL_VAR_DB_PASSWORD", "env-pa55word-4711")
    monkeypatch.setenv("AIRFLOW_VAR_LEGACY_TOKEN", "legacy-t0ken-4711")
    fileloc = world.write_dags("mask_secret", MASK_SECRET)
    run = world.make_run("mask_secret")
    result = run_workload(world.queue(run, "leak", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    text = world.log_text(result.key, 1)
    assert "from the environment: *** ***" in text and "value ***" in text and "stderr ***" in text
    assert "logged *** and ***" in text
    for secret in ("env-pa55word-4711", "legacy-t0ken-4711", "hunter2hunter2"):
        assert secret not in text


TASKFLOW = '''
from datetime import datetime
from flowctl.decorators import dag, task

@dag(start_date=datetime(2024, 1, 1), schedule=None)
def flow():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def double(x):
        return x * 2

    @task
    def total(values):
        return sum(values)

    total(double.expand(x=numbers()))

flow()
'''


def test_taskflow_values_are_handed_over_and_a_mapped_task_picks_its_element(world: World) -> None:
    fileloc = world.write_dags("flow", TASKFLOW)
    run = world.make_run("flow")
    assert run_workload(world.queue(run, "numbers", fileloc), world.settings, world.store).state == "success"
    world.expand(run, "double", 3)
    doubled = [run_workload(world.queue(run, "double", fileloc, map_index=i), world.settings, world.store)
               for i in range(3)]
    assert [r.return_value for r in doubled] == [2, 4, 6]
    result = run_workload(world.queue(run, "total", fileloc), world.settings, world.store)
    assert result.state == "success" and result.return_value == 12
    assert world.log_text(doubled[1].key, 1)


CALLBACKS = '''
from datetime import datetime, timedelta
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.sensors.python import PythonSensor

OUT = Path(__file__).parent / "callbacks.txt"

def note(what):
    def callback(context):
        with OUT.open("a") as f:
            f.write(f"{what} {context['ti'].task_id} try {context['ti'].try_number}\\n")
    return callback

def broken(context):
    raise RuntimeError("callback bug")

def boom():
    raise ValueError("kaput")

with DAG("callbacks", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="good", python_callable=lambda: 1, on_execute_callback=note("execute"),
                   on_success_callback=[broken, note("success")])
    PythonOperator(task_id="bad", python_callable=boom, retries=1, retry_delay=timedelta(0),
                   on_retry_callback=note("retry"), on_failure_callback=note("failure"))
    PythonSensor(task_id="waiting", python_callable=lambda: False, mode="reschedule", poke_interval=60)
    PythonOperator(task_id="bad_template", python_callable=lambda x: x, op_args=["{{ no_such_name.attr }}"],
                   on_failure_callback=note("failure"))
'''


def test_a_try_whose_templates_fail_to_render_still_runs_its_failure_callback(world: World) -> None:
    """Before: a try failing while it rendered its templates (or mapped its arguments) had no context
    yet, so its on_failure_callback never ran: the alert a team relies on stayed silent (Airflow runs it)."""
    fileloc = world.write_dags("callbacks", CALLBACKS)
    run = world.make_run("callbacks")
    result = run_workload(world.queue(run, "bad_template", fileloc), world.settings, world.store)
    assert result.state == "failed"
    assert (world.folder / "callbacks.txt").read_text().splitlines() == ["failure bad_template try 1"]
    assert "no_such_name" in world.log_text(result.key, 1)


def test_callbacks_run_for_each_state_and_a_failing_one_changes_nothing(world: World) -> None:
    fileloc = world.write_dags("callbacks", CALLBACKS)
    run = world.make_run("callbacks")
    assert run_workload(world.queue(run, "good", fileloc), world.settings, world.store).state == "success"
    assert run_workload(world.queue(run, "bad", fileloc), world.settings, world.store).state == "up_for_retry"
    assert run_workload(world.queue(run, "bad", fileloc), world.settings, world.store).state == "failed"
    lines = (world.folder / "callbacks.txt").read_text().splitlines()
    assert lines == ["execute good try 1", "success good try 1", "retry bad try 1", "failure bad try 2"]


def test_a_reschedule_sensor_gives_its_slot_back_without_using_up_a_try(world: World) -> None:
    fileloc = world.write_dags("callbacks", CALLBACKS)
    run = world.make_run("callbacks")
    before = datetime.now(timezone.utc)
    first = run_workload(world.queue(run, "waiting", fileloc), world.settings, world.store)
    assert first.state == "up_for_reschedule"
    ti = world.store.get_task_instance(first.key)
    assert ti.try_number == 0 and ti.reschedule_date is not None
    assert 59 <= (ti.reschedule_date - before).total_seconds() <= 70
    second = run_workload(world.queue(run, "waiting", fileloc), world.settings, world.store)
    assert second.state == "up_for_reschedule" and second.try_number == 1
    assert world.store.reschedule_history(first.key, 1)[1] == 2
    text = world.log_text(first.key, 1)  # both pokes, in the same attempt's log, as information
    assert text.count("INFO - Rescheduling the task: next poke at ") == 2
    assert "ERROR" not in text and "Traceback" not in text



def test_a_reschedule_sensors_start_date_stays_its_first_pokes_as_in_airflow(world: World) -> None:
    """Before: each poke's claim set start_date anew, so the row (UI, API, duration) showed the last
    poke only: a sensor that waited 28 s ended with a duration of 0.008 s."""
    fileloc = world.write_dags("callbacks", CALLBACKS)
    run = world.make_run("callbacks")
    first = run_workload(world.queue(run, "waiting", fileloc), world.settings, world.store)
    first_start = world.store.reschedule_history(first.key, 1)[0]
    assert first_start is not None
    run_workload(world.queue(run, "waiting", fileloc), world.settings, world.store)
    workload = world.queue(run, "waiting", fileloc)
    claim = world.store.start_tries([(workload.key, workload.try_number)], "host", 1,
                                    datetime.now(timezone.utc))[0]
    assert claim.ti.start_date == first_start  # the third poke's claim keeps the first poke's start
    assert world.store.get_task_instance(workload.key).start_date == first_start


def test_a_try_whose_row_stops_being_running_is_stopped_by_its_heartbeat(world: World) -> None:
    import threading
    import time

    source = BASIC.replace("execution_timeout=timedelta(seconds=0.2)", "execution_timeout=None")
    fileloc = world.write_dags("basic", source)
    run = world.make_run("basic")
    workload = world.queue(run, "slow", fileloc)

    def mark_failed() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if world.store.get_task_instance(workload.key).state == "running":
                world.store.set_task_state_manually(workload.key, "running", "failed")
                return
            time.sleep(0.02)

    marker = threading.Thread(target=mark_failed)
    marker.start()
    started = time.monotonic()
    result = run_workload(workload, world.settings, world.store)
    marker.join()
    assert time.monotonic() - started < 4
    assert result.ran and result.state is None and "terminated" in (result.error or "")
    assert world.store.get_task_instance(workload.key).state == "failed"


class _GoneSupervisor:
    """A supervisor that could not write the end (its database refused it)."""

    def __init__(self) -> None:
        self.rendered_fields: object = None
        self.asked = 0
        self.told_recorded = 0

    def rendered(self, fields: object) -> None:
        self.rendered_fields = fields

    def recorded(self) -> None:
        self.told_recorded += 1

    def finish(self, state: object, now: object, fields: object, xcoms: object, produces: object = None,
               outlet_extra: object = None, alias_events: object = None) -> None:
        self.asked += 1
        return None


def test_a_supervised_try_whose_supervisor_cannot_write_its_end_writes_it_itself(world: World) -> None:
    from flowctl.task_runner.execution import defer_sigterm
    from flowctl.task_runner.runner import run_claimed

    fileloc = world.write_dags("basic", BASIC)
    run = world.make_run("basic")
    workload = world.queue(run, "ok", fileloc)
    claim = world.store.start_try(workload.key, workload.try_number, "host", 1, datetime.now(timezone.utc))
    supervisor = _GoneSupervisor()
    with defer_sigterm():
        result = run_claimed(workload, world.settings, world.store, claim, supervisor)
    assert supervisor.asked == 1 and result.state == "success"
    assert supervisor.told_recorded == 1  # so its exit is an end, not a crash
    assert world.store.get_task_instance(workload.key).state == "success"
    assert world.store.xcom_pull(RunKey("basic", run.run_id), "ok") == {"n": 42}  # kept, then written by the try
    assert "hello from the task" in world.log_text(workload.key, 1)


LOG_URL = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def url(ti, templates_dict):
    assert templates_dict["url"] == ti.log_url
    return ti.log_url

with DAG("urls", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="url", python_callable=url, templates_dict={"url": "{{ ti.log_url }}"})
'''


def test_ti_log_url_is_the_web_ui_address_of_the_trys_log(world: World) -> None:
    fileloc = world.write_dags("urls", LOG_URL)
    run = world.make_run("urls")
    result = run_workload(world.queue(run, "url", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    assert result.return_value == ("http://127.0.0.1:8080/dags/urls/grid?dag_run_id=manual__2024-01-01T00%3A00%3A00"
                                   "%2B00%3A00&task_id=url&map_index=-1&try_number=1&tab=logs")


def test_the_context_dag_run_names_its_dag_as_airflow_callbacks_expect(world: World) -> None:
    """``context["dag_run"].dag_id`` is what failure callbacks put in their messages."""
    fileloc = world.write_dags("names", '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def names(dag_run):
    return [dag_run.dag_id, dag_run.run_id]

with DAG("names", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="names", python_callable=names)
''')
    run = world.make_run("names")
    result = run_workload(world.queue(run, "names", fileloc), world.settings, world.store)
    assert result.state == "success" and result.return_value == ["names", run.run_id]


def test_a_test_run_dag_run_names_its_dag_too() -> None:
    from flowctl import DAG
    from flowctl.operators.python import PythonOperator
    from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test

    with DAG("adhoc_names", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None) as dag:
        PythonOperator(task_id="names", python_callable=lambda dag_run: dag_run.dag_id)
    info = adhoc_run_info(datetime(2024, 1, 2, tzinfo=timezone.utc), dag=dag)
    assert run_for_test(dag, "names", info).return_value == "adhoc_names"


EXITING = '''
import sys
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with DAG("exiting", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="exit0", python_callable=lambda: sys.exit(0))
    PythonOperator(task_id="exit_none", python_callable=lambda: sys.exit())
    PythonOperator(task_id="exit3", python_callable=lambda: sys.exit(3), retries=1,
                   retry_delay=timedelta(seconds=30))
    PythonOperator(task_id="exit_text", python_callable=lambda: sys.exit("no input file"))
'''


@pytest.mark.parametrize(("task_id", "state", "error"), [
    ("exit0", "success", None), ("exit_none", "success", None),
    ("exit3", "up_for_retry", "SystemExit(3)"), ("exit_text", "failed", "SystemExit(no input file)")])
def test_sys_exit_in_a_task_is_a_success_with_code_0_and_a_failure_otherwise_as_in_airflow(
        world: World, task_id: str, state: str, error: str | None) -> None:
    fileloc = world.write_dags("exiting", EXITING)
    run = world.make_run("exiting")
    result = run_workload(world.queue(run, task_id, fileloc), world.settings, world.store)
    assert result.ran and result.state == state
    assert world.store.get_task_instance(result.key).state == state
    if error is None:
        assert result.error is None
    else:
        assert f"Task failed due to {error}" in (result.error or "")
        assert f"Task failed due to {error}" in world.log_text(result.key, 1)


HOOKS = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator

OUT = Path(__file__).with_name("hooks.txt")


def note(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")


def before(context):
    note(f"pre:{context['ti'].task_id}:{context['ds']}")


def after(context, result):
    note(f"post:{context['ti'].task_id}:{result}")


def bad_after(context, result):
    raise ValueError(f"post_execute refused {result}")


def work(x=1):
    note(f"execute:{x}")
    return x * 2


with DAG("hooks", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="hooked", python_callable=work, pre_execute=before, post_execute=after)
    PythonOperator(task_id="refused", python_callable=work, post_execute=bad_after, retries=0)
    PythonOperator.partial(task_id="mapped", python_callable=work, pre_execute=before,
                           post_execute=after).expand(op_args=[[5]])
'''


def test_pre_execute_and_post_execute_arguments_run_around_execute_and_their_failure_fails_the_try(
        world: World) -> None:
    """Airflow's BaseOperator(pre_execute=, post_execute=): called with the context before execute,
    and with the context and execute's result after it."""
    fileloc = world.write_dags("hooks", HOOKS)
    run = world.make_run("hooks")
    assert run_workload(world.queue(run, "hooked", fileloc), world.settings, world.store).state == "success"
    assert world.store.expand_mapped_task(run.key, "mapped", 1, datetime.now(timezone.utc))
    assert run_workload(world.queue(run, "mapped", fileloc, map_index=0), world.settings, world.store).state \
        == "success"
    refused = run_workload(world.queue(run, "refused", fileloc), world.settings, world.store)
    assert refused.state == "failed"
    assert refused.error == "ValueError: post_execute refused 2"
    assert (world.folder / "hooks.txt").read_text().splitlines() == [
        "pre:hooked:2024-01-01", "execute:1", "post:hooked:2", "pre:mapped:2024-01-01", "execute:5", "post:mapped:10",
        "execute:1"]


COUNTED = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def report(count, events):
    return f"{count}/{events}"

with DAG("counted", start_date=datetime(2024, 1, 1), schedule=None):
    kwargs = {"count": "{{ expanded_ti_count }}", "events": "{{ triggering_dataset_events | length }}"}
    PythonOperator(task_id="single", python_callable=report, op_kwargs=kwargs)
    PythonOperator.partial(task_id="each", python_callable=report, op_kwargs=kwargs).expand(op_args=[[], [], []])
'''


def test_the_context_has_expanded_ti_count_the_mapped_instances_of_the_task_and_none_for_an_unmapped_one(
        world: World) -> None:
    fileloc = world.write_dags("counted", COUNTED)
    run = world.make_run("counted")
    assert world.store.expand_mapped_task(run.key, "each", 3, datetime.now(timezone.utc))
    for task_id, map_index in (("single", -1), ("each", 1)):
        assert run_workload(world.queue(run, task_id, fileloc, map_index=map_index), world.settings,
                            world.store).state == "success"
    assert world.store.xcom_pull(run.key, "single") == "None/0"
    assert world.store.xcom_pull(run.key, "each", map_index=1) == "3/0"


ENV_AT_IMPORT = '''
import os
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

os.environ["FLOWCTL_TEST_RUNNER_ENV"] = "set at import"

with DAG("env_at_import", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="read", python_callable=lambda: os.environ.get("FLOWCTL_TEST_RUNNER_ENV"))
'''


def test_a_try_sees_the_environment_variables_its_dag_file_set_at_import(world: World) -> None:
    import os

    fileloc = world.write_dags("env_at_import", ENV_AT_IMPORT)  # imported here first, as a zygote does
    try:
        result = run_workload(world.queue(world.make_run("env_at_import"), "read", fileloc), world.settings,
                              world.store)
        assert result.state == "success"
        assert world.store.xcom_pull(RunKey("env_at_import", result.key.run_id), "read") == "set at import"
    finally:
        os.environ.pop("FLOWCTL_TEST_RUNNER_ENV", None)


INTERRUPTED = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def interrupted():
    raise KeyboardInterrupt  # what Ctrl-C raises in a try run in this process

with DAG("interrupted", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="ctrl_c", python_callable=interrupted)
'''


def test_ctrl_c_in_a_try_run_in_this_process_records_the_failure_then_goes_on(world: World) -> None:
    """Before: the try stayed running with no process (tasks run, dags test, backfill --local), and a
    re-run waited for it for ever; Airflow records the failure, then re-raises the interrupt."""
    fileloc = world.write_dags("interrupted", INTERRUPTED)
    workload = world.queue(world.make_run("interrupted"), "ctrl_c", fileloc)
    with pytest.raises(KeyboardInterrupt):
        run_workload(workload, world.settings, world.store)
    ti = world.store.get_task_instance(workload.key)
    assert ti.state == "failed" and ti.end_date is not None
    assert "KeyboardInterrupt" in world.log_text(workload.key, 1)
