"""Data for the web tests: a real example DAG parsed and stored, and runs in several states.

``seed_example(store)`` parses ``dags_example/example_task_groups.py`` the way the
processor does (import, serialize, ``sync_dag``) and creates three runs moved
through the real state machine: one all success, one failed (with
upstream_failed downstream), one running. Importable by every web test module.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flowctl.dag_processing.loader import load_dags_from_file
from flowctl.dag_processing.serialization import serialize_dag
from flowctl.db.records import DagRunRecord, TaskInstanceKey
from flowctl.db.store import Store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FILE = REPO / "dags_example" / "example_task_groups.py"
EXAMPLE_DAG = "example_task_groups"
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=timezone.utc)
PATH_TO_SUCCESS = ("scheduled", "queued", "running", "success")
PATH_TO_FAILED = ("scheduled", "queued", "running", "failed")
PATH_TO_RUNNING = ("scheduled", "queued", "running")


@dataclass(frozen=True, slots=True)
class Seeded:
    dag_id: str
    task_ids: tuple[str, ...]
    success_run: DagRunRecord
    failed_run: DagRunRecord
    running_run: DagRunRecord


def sync_example(store: Store, path: Path = EXAMPLE_FILE, now: datetime = T0) -> list[str]:
    """Parse a DAG file in this process and store its serialized DAGs; returns their ids."""
    dags = load_dags_from_file(path)
    for dag in dags:
        store.sync_dag(serialize_dag(dag), str(path), now)
    return [d.dag_id for d in dags]


def drive(store: Store, key: TaskInstanceKey, states: tuple[str, ...], at: datetime) -> None:
    """Move one task instance from pending through ``states`` with plausible timestamps."""
    previous = "pending"
    for i, state in enumerate(states):
        fields: dict[str, object] = {"updated_at": at}
        if state == "queued":
            fields["queued_at"] = at + timedelta(seconds=i)
        if state == "running":
            fields.update(start_date=at + timedelta(seconds=i + 1), try_number=1, hostname="worker-1")
        if state in ("success", "failed"):
            fields.update(end_date=at + timedelta(seconds=i + 20), duration=19.0)
        assert store.set_task_state(key, previous, state, **fields), (key, previous, state)
        previous = state


def make_run(store: Store, dag_id: str, day: int) -> DagRunRecord:
    logical = T0 + timedelta(days=day)
    return store.create_run(dag_id, f"scheduled__{logical.isoformat()}", run_type="scheduled",
                            logical_date=logical, now=logical, data_interval=(logical, logical + timedelta(days=1)))


def finish_run(store: Store, run: DagRunRecord, state: str, at: datetime) -> DagRunRecord:
    assert store.set_run_state(run.key, "queued", "running", start_date=at)
    if state != "running":
        assert store.set_run_state(run.key, "running", state, end_date=at + timedelta(minutes=2))
    return store.get_run(run.dag_id, run.run_id)


def seed_example(store: Store) -> Seeded:
    """The example DAG with a success, a failed and a running run."""
    (dag_id,) = sync_example(store)
    tis = [t.task_id for t in store.list_task_instances(make_run(store, dag_id, -10).key)]
    runs = store.list_runs(dag_id)
    first = runs[0]
    for task_id in tis:
        drive(store, TaskInstanceKey(dag_id, first.run_id, task_id), PATH_TO_SUCCESS, first.logical_date)
    success = finish_run(store, first, "success", first.logical_date)

    failed = make_run(store, dag_id, -2)
    at = failed.logical_date
    drive(store, TaskInstanceKey(dag_id, failed.run_id, "start"), PATH_TO_SUCCESS, at)
    for source in ("crm", "billing"):
        drive(store, TaskInstanceKey(dag_id, failed.run_id, f"{source}.fetch"), PATH_TO_SUCCESS, at)
        drive(store, TaskInstanceKey(dag_id, failed.run_id, f"{source}.clean"), PATH_TO_SUCCESS, at)
    drive(store, TaskInstanceKey(dag_id, failed.run_id, "web.fetch"), PATH_TO_FAILED, at)
    for task_id in ("web.clean", "merge"):
        assert store.set_task_state(TaskInstanceKey(dag_id, failed.run_id, task_id), "pending", "upstream_failed")
    failed = finish_run(store, failed, "failed", at)

    running = make_run(store, dag_id, -1)
    at = running.logical_date
    drive(store, TaskInstanceKey(dag_id, running.run_id, "start"), PATH_TO_SUCCESS, at)
    drive(store, TaskInstanceKey(dag_id, running.run_id, "crm.fetch"), PATH_TO_RUNNING, at)
    drive(store, TaskInstanceKey(dag_id, running.run_id, "billing.fetch"), ("scheduled", "queued"), at)
    running = finish_run(store, running, "running", at)
    return Seeded(dag_id, tuple(tis), success, failed, running)


CLUSTER_DAG = "cluster"


def seed_cluster(store: Store) -> DagRunRecord:
    """A running run of ``cluster``: create (setup, success) >> work (running) >> delete (teardown, pending)."""
    from flowctl.core.dag import DAG
    from flowctl.operators.empty import EmptyOperator

    with DAG(CLUSTER_DAG, start_date=T0 - timedelta(days=30), schedule=None) as dag:
        create, work = EmptyOperator(task_id="create"), EmptyOperator(task_id="work")
        create >> work >> EmptyOperator(task_id="delete").as_teardown(setups=create)
    store.sync_dag(serialize_dag(dag), "/dags/cluster.py", T0)
    run = make_run(store, CLUSTER_DAG, 0)
    drive(store, TaskInstanceKey(CLUSTER_DAG, run.run_id, "create"), PATH_TO_SUCCESS, run.logical_date)
    drive(store, TaskInstanceKey(CLUSTER_DAG, run.run_id, "work"), PATH_TO_RUNNING, run.logical_date)
    return finish_run(store, run, "running", run.logical_date)


HIDDEN_DAG = "restricted_dag"


def seed_hidden(store: Store) -> DagRunRecord:
    """A run of ``restricted_dag`` (one task ``s``), a DAG whose access_control names only Op: Users and
    Viewers may not see it."""
    from flowctl.core.dag import DAG
    from flowctl.operators.empty import EmptyOperator

    with DAG(HIDDEN_DAG, start_date=T0 - timedelta(days=30), schedule=None,
             access_control={"Op": {"can_read"}}) as dag:
        EmptyOperator(task_id="s")
    store.sync_dag(serialize_dag(dag), "/dags/restricted.py", T0)
    return make_run(store, HIDDEN_DAG, 0)
