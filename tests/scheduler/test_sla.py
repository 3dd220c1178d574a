"""SLA misses: the deadline rule (pure), and the scheduler recording misses and calling the DAG's
sla_miss_callback in a child process (SQLite and PostgreSQL)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.dag_processing.processor import DagFileProcessor
from flowctl.dag_processing.serialization import serialize_dag
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.operators.empty import EmptyOperator
from flowctl.scheduler import Scheduler
from flowctl.scheduler.dag_sync import DagSync
from flowctl.scheduler.sla import SlaSpec, find_misses, missed_sla, sla_deadline, sla_spec
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle

END = datetime(2024, 1, 2, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


# --- the rule ------------------------------------------------------------------------------------

def test_the_deadline_is_the_end_of_the_data_interval_plus_the_sla() -> None:
    assert sla_deadline(END, HOUR) == datetime(2024, 1, 2, 1, tzinfo=timezone.utc)


def test_nothing_is_missed_before_the_deadline_whatever_the_state() -> None:
    for state in ("running", "queued", "failed", "success"):
        assert not missed_sla(END + HOUR, state, None, END + HOUR - timedelta(seconds=1))


def test_a_task_not_done_at_its_deadline_missed_it() -> None:
    for state in ("pending", "scheduled", "queued", "running", "up_for_retry", "failed", "upstream_failed"):
        assert missed_sla(END + HOUR, state, None, END + HOUR)


def test_a_task_that_succeeded_or_was_skipped_in_time_did_not_miss() -> None:
    assert not missed_sla(END + HOUR, "success", END + HOUR, END + 2 * HOUR)
    assert not missed_sla(END + HOUR, "skipped", END, END + 2 * HOUR)
    assert not missed_sla(END + HOUR, "success", None, END + 2 * HOUR)  # marked by a person: no end known


def test_a_task_that_succeeded_after_its_deadline_missed_it() -> None:
    assert missed_sla(END + HOUR, "success", END + HOUR + timedelta(seconds=1), END + 2 * HOUR)


def test_the_spec_of_a_serialized_dag_holds_each_tasks_sla_and_whether_it_has_a_callback() -> None:
    with DAG("d", schedule="@daily", start_date=T0, sla_miss_callback=print) as dag:
        EmptyOperator(task_id="fast", sla=timedelta(minutes=5))
        EmptyOperator(task_id="free")
    spec = sla_spec(serialize_dag(dag))
    assert spec == SlaSpec("d", {"fast": timedelta(minutes=5)}, True)


def test_misses_are_found_once_per_task_and_run_even_for_several_map_indexes() -> None:
    specs = {"d": SlaSpec("d", {"a": HOUR}, False)}

    def ti(task_id: str, map_index: int, state: str) -> Any:
        return SimpleNamespace(dag_id="d", run_id="r", task_id=task_id, map_index=map_index, state=state,
                               end_date=None, logical_date=END - day(1), data_interval_end=END)

    found = find_misses([ti("a", 0, "running"), ti("a", 1, "running"), ti("b", -1, "running")], specs, END + 2 * HOUR)
    assert [(m.dag_id, m.task_id, m.run_id) for m in found] == [("d", "a", "r")]


# --- the scheduler -------------------------------------------------------------------------------

def sla_dag(schedule: str | None = "@daily") -> DAG:
    """A daily DAG whose latest period, at T0, is [T0 - 1 day, T0]; ``slow`` must succeed by T0 + 1 hour."""
    with DAG("sla_dag", schedule=schedule, start_date=T0 - day(1), catchup=False) as dag:
        EmptyOperator(task_id="slow", sla=HOUR)
        EmptyOperator(task_id="unbound")
    return dag


def scheduled_world(store: Any, tmp_path: Path, behaviour: str) -> tuple[Scheduler, InlineExecutor]:
    sync(store, sla_dag())
    executor = InlineExecutor(store)
    executor.behaviour["slow"] = behaviour
    scheduler = Scheduler(settings(tmp_path, scheduler__zombie_threshold_sec="1000000"), store, executor)
    scheduler.start(T0)
    tick_until_idle(scheduler, T0)
    assert [r.run_type for r in store.list_runs("sla_dag")] == ["scheduled"]
    return scheduler, executor


def test_a_scheduled_task_running_past_its_sla_is_recorded_once(store: Any, tmp_path: Path) -> None:
    scheduler, _ = scheduled_world(store, tmp_path, "hang")
    scheduler.tick(T0 + HOUR - timedelta(seconds=30))
    assert store.sla_miss_page().total == 0
    scheduler.tick(T0 + HOUR + timedelta(seconds=30))
    scheduler.tick(T0 + 2 * HOUR)
    misses = store.sla_miss_page().items
    assert [(m.dag_id, m.task_id, m.logical_date, m.notification_sent) for m in misses] == [
        ("sla_dag", "slow", T0 - day(1), False)]
    assert misses[0].timestamp == T0 + HOUR + timedelta(seconds=30)


def test_a_task_that_succeeds_in_time_records_no_miss(store: Any, tmp_path: Path) -> None:
    scheduler, _ = scheduled_world(store, tmp_path, "success")
    scheduler.tick(T0 + 3 * HOUR)
    assert store.sla_miss_page().total == 0


def test_a_task_that_fails_before_its_deadline_misses_it_when_the_deadline_passes(store: Any, tmp_path: Path) -> None:
    scheduler, _ = scheduled_world(store, tmp_path, "fail")
    assert store.list_runs("sla_dag")[0].state == "failed"
    scheduler.tick(T0 + 3 * HOUR)
    assert [m.task_id for m in store.sla_miss_page().items] == ["slow"]


def test_manual_and_backfill_runs_are_never_checked(store: Any, tmp_path: Path) -> None:
    sync(store, sla_dag(schedule=None))
    executor = InlineExecutor(store)
    executor.behaviour["slow"] = "hang"
    scheduler = Scheduler(settings(tmp_path, scheduler__zombie_threshold_sec="1000000"), store, executor)
    for n, run_type in enumerate(("manual", "backfill")):
        store.create_run("sla_dag", f"{run_type}_1", run_type=run_type, logical_date=T0 - day(3 + n), now=T0,
                         state="queued", data_interval=(T0 - day(3 + n), T0 - day(2 + n)))
    scheduler.start(T0)
    tick_until_idle(scheduler, T0)
    assert sorted(executor.ran) == ["slow", "slow", "unbound", "unbound"]
    scheduler.tick(T0 + 3 * HOUR)
    assert store.sla_miss_page().total == 0


def test_no_check_when_check_slas_is_off(store: Any, tmp_path: Path) -> None:
    sync(store, sla_dag())
    executor = InlineExecutor(store)
    executor.behaviour["slow"] = "hang"
    scheduler = Scheduler(settings(tmp_path, core__check_slas="false",
                                   scheduler__zombie_threshold_sec="1000000"), store, executor)
    scheduler.start(T0)
    tick_until_idle(scheduler, T0)
    scheduler.tick(T0 + 3 * HOUR)
    assert store.sla_miss_page().total == 0


SLA_CALLBACK_DAG = '''
from datetime import datetime, timedelta, timezone
from pathlib import Path
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

OUT = Path(__file__).with_name("sla.txt")

def missed(dag, task_list, blocking_task_list, slas, blocking_tis):
    with OUT.open("a") as out:
        out.write(f"{dag.dag_id}|{task_list}|{blocking_task_list}|{len(slas)}|{len(blocking_tis)}\\n")

with DAG("late", schedule="@daily", start_date=datetime(2024, 1, 9, tzinfo=timezone.utc), catchup=False,
         sla_miss_callback=missed) as dag:
    EmptyOperator(task_id="slow", sla=timedelta(hours=1))
'''


def _wait_for(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_late_task_calls_the_dags_sla_miss_callback_once_in_a_child_process(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "late.py").write_text(SLA_CALLBACK_DAG)
    options = {"core__dags_folder": str(folder), "database__sql_alchemy_conn": migrated_sqlite_url,
               "logging__base_log_folder": str(tmp_path / "logs"), "scheduler__zombie_threshold_sec": "1000000"}
    for name, value in options.items():
        monkeypatch.setenv(f"FLOWCTL__{name.upper()}", value)
    conf, store = settings(tmp_path, **options), Store(make_engine(migrated_sqlite_url))
    out = folder / "sla.txt"
    try:
        with DagFileProcessor(processes=1, timeout=30) as processor:
            executor = InlineExecutor(store)
            executor.behaviour["slow"] = "hang"
            scheduler = Scheduler(conf, store, executor, dag_sync=DagSync(conf, store, processor))
            scheduler.start(T0)
            tick_until_idle(scheduler, T0)
            assert store.list_task_instances(store.list_runs("late")[0].key)[0].state == "running"
            scheduler.tick(T0 + 2 * HOUR)
            assert _wait_for(lambda: all(m.notification_sent for m in store.sla_miss_page().items))
            scheduler.tick(T0 + 3 * HOUR)  # nothing new: no second call
            scheduler.shutdown(T0 + 3 * HOUR)
        assert out.read_text().splitlines() == [
            "late|slow on 2024-01-09T00:00:00+00:00|slow on 2024-01-09T00:00:00+00:00|1|1"]
        assert store.sla_miss_page().total == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_two_schedulers_sla_children_deliver_each_miss_once(pg_store: Store) -> None:
    """Two schedulers can each start a DAG's SLA child at once; every miss reaches the callback once."""
    import threading

    from flowctl.scheduler.callback_main import run_sla_miss_callbacks
    from flowctl.scheduler.sla import SlaMiss
    from tests.db.samples import make_run

    delivered: list[int] = []
    entered = threading.Event()

    def callback(dag: Any, task_list: str, blocking_task_list: str, slas: Any, blocking_tis: Any) -> None:
        entered.set()
        time.sleep(0.3)  # the other child reads its batch meanwhile
        delivered.extend(m.id for m in slas)

    dag = SimpleNamespace(dag_id="etl", sla_miss_callback=callback)
    run = make_run(pg_store)
    pg_store.record_sla_misses([SlaMiss("etl", t, run.run_id, run.logical_date) for t in ("extract", "load")],
                               T0 + day(5))
    other = Store(make_engine(pg_store.engine.url.render_as_string(hide_password=False)))
    try:
        first = threading.Thread(target=run_sla_miss_callbacks, args=(dag, pg_store))
        first.start()
        assert entered.wait(10)
        late = make_run(pg_store, day=1)  # a miss recorded while the first callback runs
        pg_store.record_sla_misses([SlaMiss("etl", "extract", late.run_id, late.logical_date)], T0 + day(6))
        assert run_sla_miss_callbacks(dag, other) == []
        first.join(10)
    finally:
        other.close()
    assert sorted(delivered) == sorted(m.id for m in pg_store.sla_miss_page().items)
    assert all(m.notification_sent for m in pg_store.sla_miss_page().items)
