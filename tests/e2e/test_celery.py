"""The Celery executor with a real Redis broker, real ``flowctl celery worker`` processes and a real scheduler.

Each deployment gets its own ``[celery] key_prefix``, so parallel test runs (and anything else on
the Redis server) never take each other's tasks. Without Redis these skip, unless ``CI=true``.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.task_runner.logs import log_path
from tests.db_fixtures import _unreachable
from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.harness import Deployment, ManagedProcess

pytest.importorskip("celery", reason="the celery extra is not installed (pip install -e '.[dev]')")

from flowctl.executors.celery import make_app, payload  # noqa: E402
from flowctl.executors.base import Workload  # noqa: E402
from flowctl.settings import Settings  # noqa: E402

REDIS = "redis://127.0.0.1:6379"

ROUTED = '''
import socket
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator


def note(task_id):
    with open("{out}/effects.log", "a") as f:
        f.write(f"{task_id}\\n")


with DAG("routed", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    first = PythonOperator(task_id="first", python_callable=note, op_args=["first"])
    special = PythonOperator(task_id="special", python_callable=note, op_args=["special"], queue="special")
    first >> special
'''


_PREFIXES: list[str] = []  # the key prefixes this module's deployments used on Redis, removed at its end


@pytest.fixture(scope="module")
def redis_up() -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(f"{REDIS}/0", socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        _unreachable(f"Redis at {REDIS} is unreachable: {exc}")
    yield
    for prefix in _PREFIXES:  # the broker's bindings and queues of this run's deployments
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def celery_deployment(deploy: Deploy, dialect: str, **config: str) -> Deployment:
    prefix = f"flowctl-test-{uuid.uuid4().hex}-"
    _PREFIXES.append(prefix)
    return deploy(dialect, core__executor="celery", celery__broker_url=f"{REDIS}/0",
                  celery__result_backend=f"{REDIS}/1", celery__key_prefix=prefix, **config)


def said(d: Deployment, worker: ManagedProcess, line: str) -> None:
    """Wait until the worker's log holds ``line``."""
    d.wait_for(lambda: line in worker.output(), 20, f"the worker to say {line!r}")


def with_one_worker(d: Deployment, dag_id: str, source: str) -> ManagedProcess:
    """The DAG written, a worker on the default queue and the scheduler started, the DAG parsed."""
    d.write_dag(f"{dag_id}.py", source)
    worker = d.spawn("worker", "celery", "worker", "-q", "default", "-c", "1")
    d.start_scheduler()
    d.wait_for_dag(dag_id)
    return worker


def deployment_settings(d: Deployment) -> Settings:
    return Settings.load({"FLOWCTL_HOME": str(d.home)})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tasks_run_on_the_workers_of_their_queue_and_a_second_delivery_runs_nothing(
        redis_up: None, deploy: Deploy, dialect: str) -> None:
    d = celery_deployment(deploy, dialect)
    d.write_dag("routed.py", ROUTED)
    general = d.spawn("worker-default", "celery", "worker", "-q", "default", "-c", "2", "--hostname", "general@%h")
    special = d.spawn("worker-special", "celery", "worker", "-q", "special", "-c", "1", "--hostname", "special@%h")
    d.start_scheduler()
    d.wait_for_dag("routed")
    run_id = d.trigger("routed")
    assert d.wait_for_run("routed", run_id, timeout=60) == "success", d.diagnostics()
    assert sorted(line[0] for line in d.effects()) == ["first", "special"]
    # each try ran where its queue is served (the worker says so once the try's process has ended,
    # which may be a moment after the try wrote its end and the run finished)
    said(d, special, f"routed.special @ {run_id}: try 1 ended on ")
    said(d, general, f"routed.first @ {run_id}: try 1 ended on ")
    assert "routed.special @" not in general.output()

    # The broker delivers a try again (a worker was killed before acknowledging it): the second
    # delivery finds the try taken and runs nothing.
    settings = deployment_settings(d)
    ti = d.task("routed", run_id, "first")
    again = make_app(settings).send_task(
        "flowctl.run_try", args=[payload(Workload(ti.key, ti.try_number - 1, str(d.dags_folder / "routed.py")),
                                          settings.dags_folder)], queue="default")
    assert again.get(timeout=60)["code"] == 0
    assert sorted(line[0] for line in d.effects()) == ["first", "special"]
    assert d.task("routed", run_id, "first").try_number == ti.try_number
    assert d.task("routed", run_id, "first").state == "success"


def test_the_scheduler_says_in_one_line_that_the_broker_is_unreachable(deploy: Deploy) -> None:
    d = deploy("sqlite", core__executor="celery", celery__broker_url="redis://:hunter2@127.0.0.1:1/0")
    done = d.flowctl("scheduler", "--num-runs", "1", check=False, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("flowctl: error:")]
    assert len(lines) == 1 and "cannot reach the Celery broker at redis://:***@127.0.0.1:1/0" in lines[0], \
        done.stderr
    assert "hunter2" not in done.stderr + done.stdout


SLOW = '''
import time
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator


def slow(run_id):
    time.sleep(3)
    with open("{out}/effects.log", "a") as f:
        f.write(f"slow {run_id}\\n")


with DAG("slow", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    PythonOperator(task_id="nap", python_callable=slow, op_args=["{{ run_id }}"])
'''


def test_a_worker_killed_mid_try_leaves_no_slot_taken(redis_up: None, deploy: Deploy) -> None:
    """Before: the try of a worker killed with SIGKILL finished (it runs in its own session), but
    its Celery task never got a result, so the executor counted it running until a Redis broker
    delivered the message again, six hours later: with parallelism 1 nothing else ever ran."""
    d = celery_deployment(deploy, "sqlite", core__parallelism="1", scheduler__zombie_detection_interval="1")
    worker = with_one_worker(d, "slow", SLOW)
    first = d.trigger("slow")
    d.wait_for_task("slow", first, "nap", {"running"}, timeout=60)
    worker.kill9()
    assert d.wait_for_run("slow", first, timeout=30) == "success"  # the try outlived its worker
    d.spawn("worker-2", "celery", "worker", "-q", "default", "-c", "1")
    second = d.trigger("slow")
    assert d.wait_for_run("slow", second, timeout=40) == "success", d.diagnostics()
    assert sorted(line[1] for line in d.effects()) == sorted([first, second])


RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def test_a_rabbitmq_broker_carries_the_tries_too(redis_up: None, deploy: Deploy) -> None:
    """RabbitMQ as the broker (results in Redis). The queue is this test's own, so parallel runs
    sharing the server never take each other's tries."""
    from kombu import Connection
    from kombu import Queue as KombuQueue

    try:
        with Connection(RABBITMQ, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raises: the server is not there
        _unreachable(f"RabbitMQ at 127.0.0.1:5672 is unreachable: {exc}")
    queue = f"flowctl-test-{uuid.uuid4().hex}"
    d = deploy("sqlite", core__executor="celery", celery__broker_url=RABBITMQ,
               celery__result_backend=f"{REDIS}/1")
    d.write_dag("routed.py", ROUTED.replace('queue="special"', f'queue="{queue}"').replace(
        'op_args=["first"])', f'op_args=["first"], queue="{queue}")'))
    worker = d.spawn("worker", "celery", "worker", "-q", queue, "-c", "2")
    d.start_scheduler()
    d.wait_for_dag("routed")
    try:
        run_id = d.trigger("routed")
        assert d.wait_for_run("routed", run_id, timeout=60) == "success", d.diagnostics()
        assert sorted(line[0] for line in d.effects()) == ["first", "special"]
        said(d, worker, f"routed.special @ {run_id}: try 1 ended on ")
    finally:
        d.close()  # the worker first: it holds the queue
        with Connection(RABBITMQ, connect_timeout=3) as conn:
            KombuQueue(queue).bind(conn.default_channel).delete()


SUICIDE = '''
import os
import signal
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator


def die():
    os.kill(os.getpid(), signal.SIGKILL)


with DAG("suicide", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    PythonOperator(task_id="die", python_callable=die)
'''


def test_a_try_killed_on_its_worker_fails_with_the_worker_s_reason(redis_up: None, deploy: Deploy) -> None:
    """The try's process dies without recording anything: its Celery task fails, and the scheduler
    fails the try from that report at once (not after the zombie threshold)."""
    d = celery_deployment(deploy, "sqlite", scheduler__zombie_threshold_sec="600")
    worker = with_one_worker(d, "suicide", SUICIDE)
    run_id = d.trigger("suicide")
    assert d.wait_for_run("suicide", run_id, timeout=60) == "failed", d.diagnostics()
    ti = d.task("suicide", run_id, "die")
    assert ti.state == "failed" and "the executor reported the try crashed" in (ti.note or ""), ti
    zygotes = [pid for pid in _children(worker.pid) if b"flowctl.task_runner.zygote" in _cmdline(pid)]
    assert zygotes, "the worker forks its tries from a warm zygote of its own"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


DEFERRING = '''
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import PythonOperator
from flowctl.sensors.filesystem import FileSensor
from flowctl.sensors.time_delta import TimeDeltaSensorAsync


def make_flag():
    Path("{out}/flag").write_text("here")


with DAG("deferring", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    wait_time = TimeDeltaSensorAsync(task_id="wait_time", delta=timedelta(seconds=2), priority_weight=10)
    wait_file = FileSensor(task_id="wait_file", filepath="{out}/flag", deferrable=True, poke_interval=0.2,
                           timeout=120, priority_weight=10)
    work = PythonOperator(task_id="work", python_callable=make_flag)
    [wait_time, wait_file, work] >> EmptyOperator(task_id="done")
'''


def with_a_triggerer(d: Deployment) -> ManagedProcess:
    triggerer = d.spawn("triggerer", "triggerer")
    d.wait_for(lambda: d.flowctl("jobs", "check", "--job-type", "triggerer", check=False).returncode == 0,
               30, "the triggerer's heartbeat")
    return triggerer


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deferred_sensors_give_their_worker_slot_back_and_resume_in_the_same_try(
        redis_up: None, deploy: Deploy, dialect: str) -> None:
    """One worker slot (``-c 1``) and two executor slots: both sensors are sent first (they weigh
    more) and defer; only if each deferred try gave its worker slot and its executor slot back can
    ``work`` make the file the FileSensor waits for. Each resumption is the same try, sent again."""
    d = celery_deployment(deploy, dialect, core__parallelism="2")
    worker = with_one_worker(d, "deferring", DEFERRING)
    with_a_triggerer(d)
    run_id = d.trigger("deferring")
    assert d.wait_for_run("deferring", run_id, timeout=90) == "success", d.diagnostics()
    assert set(d.task_states("deferring", run_id).values()) == {"success"}
    wait_file, work = d.task("deferring", run_id, "wait_file"), d.task("deferring", run_id, "work")
    assert wait_file.start_date < work.start_date <= work.end_date <= wait_file.end_date
    for task_id in ("wait_time", "wait_file"):
        assert d.task("deferring", run_id, task_id).try_number == 1, task_id
        log = log_path(d.home / "logs", TaskInstanceKey("deferring", run_id, task_id), 1).read_text()
        assert "Pausing task as DEFERRED" in log and "Resuming after deferral" in log, log
        # the deferral and the resumption each ran as a Celery task of its own, on the worker
        said(d, worker, f"deferring.{task_id} @ {run_id}: try 1 ended on ")
        assert worker.output().count(f"deferring.{task_id} @ {run_id}: try 1 ended on ") == 2, worker.output()


TIMING_OUT = '''
from datetime import datetime, timedelta, timezone

from flowctl import DAG
from flowctl.models.baseoperator import BaseOperator
from flowctl.sensors.filesystem import FileSensor
from flowctl.triggers.file import FileTrigger


class WaitForever(BaseOperator):
    def execute(self, context):
        self.defer(trigger=FileTrigger(filepath="{out}/never", poke_interval=0.2), method_name="done",
                   timeout=timedelta(seconds=2))

    def done(self, context, event=None):
        return event


with DAG("timing_out", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    FileSensor(task_id="sensor", filepath="{out}/never", deferrable=True, poke_interval=0.2, timeout=2,
               retries=2, retry_delay=0)
    WaitForever(task_id="operator", retries=1, retry_delay=0)
'''


def test_a_deferral_that_times_out_fails_the_try_and_retries_per_the_task_s_policy(
        redis_up: None, deploy: Deploy) -> None:
    """A sensor's deferral timing out is its timeout: failed, no retry (Airflow's rule). Another
    operator's fails with TaskDeferralTimeout and retries: try 2 defers, times out and fails."""
    d = celery_deployment(deploy, "sqlite")
    with_one_worker(d, "timing_out", TIMING_OUT)
    with_a_triggerer(d)
    run_id = d.trigger("timing_out")
    assert d.wait_for_run("timing_out", run_id, timeout=90) == "failed", d.diagnostics()
    sensor, operator = d.task("timing_out", run_id, "sensor"), d.task("timing_out", run_id, "operator")
    assert (sensor.state, sensor.try_number) == ("failed", 1), sensor
    assert (operator.state, operator.try_number) == ("failed", 2), operator
    sensor_log = log_path(d.home / "logs", sensor.key, 1).read_text()
    assert "Pausing task as DEFERRED" in sensor_log and "timed out after 2 seconds" in sensor_log, sensor_log
    for try_number in (1, 2):
        log = log_path(d.home / "logs", operator.key, try_number).read_text()
        assert "Pausing task as DEFERRED" in log and "TaskDeferralTimeout" in log, log
