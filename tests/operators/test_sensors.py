"""Sensors in poke and reschedule mode, timeouts, and the concrete sensors."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, FlowctlError, SensorTimeout, TaskRescheduled, TaskSkipped
from flowctl.hooks.base import BaseHook, set_connection_resolver
from flowctl.sensors.base import BaseSensorOperator, PokeReturnValue, poke_wait_seconds
from flowctl.sensors.date_time import DateTimeSensor
from flowctl.sensors.external_task import ExternalTaskSensor
from flowctl.sensors.filesystem import FileSensor
from flowctl.sensors.python import PythonSensor
from flowctl.sensors.time_delta import TimeDeltaSensor
from tests.operators.contract_ti import ContractTI, context_for

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """Time that moves only when the sensor sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def _with_clock(sensor: BaseSensorOperator, clock: FakeClock) -> BaseSensorOperator:
    sensor.clock = clock  # type: ignore[misc]
    sensor.sleep = clock.sleep  # type: ignore[misc]
    return sensor


class CountingSensor(BaseSensorOperator):
    def __init__(self, *, ready_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ready_after = ready_after
        self.pokes = 0

    def poke(self, context: Any) -> bool | PokeReturnValue:
        self.pokes += 1
        return PokeReturnValue(self.pokes >= self.ready_after, xcom_value=self.pokes)


def test_poke_mode_pokes_until_done_and_returns_the_xcom_value() -> None:
    clock = FakeClock(NOW)
    sensor = _with_clock(CountingSensor(task_id="s", ready_after=3, poke_interval=5), clock)
    assert sensor.execute(context_for(sensor, ContractTI())) == 3
    assert clock.sleeps == [5, 5]


def test_poke_mode_really_sleeps_between_pokes() -> None:
    sensor = CountingSensor(task_id="s", ready_after=2, poke_interval=0.01)
    assert sensor.execute(context_for(sensor, ContractTI())) == 2


def test_poke_mode_times_out_with_sensor_timeout_or_skips_with_soft_fail() -> None:
    sensor = _with_clock(CountingSensor(task_id="s", ready_after=99, poke_interval=10, timeout=25), FakeClock(NOW))
    with pytest.raises(SensorTimeout, match="25 seconds"):
        sensor.execute(context_for(sensor, ContractTI()))
    soft = _with_clock(CountingSensor(task_id="t", ready_after=99, poke_interval=10, timeout=25, soft_fail=True), FakeClock(NOW))
    with pytest.raises(TaskSkipped):
        soft.execute(context_for(soft, ContractTI()))


def test_exponential_backoff_doubles_the_wait_up_to_max_wait() -> None:
    waits = [poke_wait_seconds(2, n, exponential=True, max_wait=10) for n in range(5)]
    assert waits == [2, 4, 8, 10, 10]
    assert poke_wait_seconds(2, 4, exponential=False, max_wait=None) == 2


def test_an_exponential_backoff_never_waits_past_the_timeout_as_airflows_does() -> None:
    clock = FakeClock(NOW)
    sensor = _with_clock(CountingSensor(task_id="s", ready_after=99, poke_interval=60, timeout=1000,
                                        exponential_backoff=True), clock)
    with pytest.raises(SensorTimeout):
        sensor.execute(context_for(sensor, ContractTI()))
    assert clock.sleeps == [60, 120, 240, 480, 100, 1]  # the last pokes at the timeout, not 860 s after it
    rescheduled = _with_clock(CountingSensor(task_id="r", ready_after=99, poke_interval=60, timeout=1000,
                                             exponential_backoff=True, mode="reschedule"), FakeClock(NOW))
    ti = ContractTI(start_date=NOW - timedelta(seconds=900))
    ti.reschedule_count = 4
    with pytest.raises(TaskRescheduled) as raised:
        rescheduled.execute(context_for(rescheduled, ti))
    assert raised.value.reschedule_date == NOW + timedelta(seconds=100)


def test_reschedule_mode_raises_the_next_poke_time() -> None:
    sensor = _with_clock(CountingSensor(task_id="s", ready_after=2, poke_interval=30, mode="reschedule"), FakeClock(NOW))
    with pytest.raises(TaskRescheduled) as raised:
        sensor.execute(context_for(sensor, ContractTI(start_date=NOW)))
    assert raised.value.reschedule_date == NOW + timedelta(seconds=30)
    assert sensor.execute(context_for(sensor, ContractTI(start_date=NOW))) == 2


def test_reschedule_mode_times_out_from_the_first_poke() -> None:
    sensor = _with_clock(CountingSensor(task_id="s", ready_after=99, timeout=60, mode="reschedule"), FakeClock(NOW))
    with pytest.raises(SensorTimeout):
        sensor.execute(context_for(sensor, ContractTI(start_date=NOW - timedelta(minutes=5))))


def test_an_unknown_mode_is_rejected() -> None:
    with pytest.raises(FlowctlError, match="mode"):
        CountingSensor(task_id="s", ready_after=1, mode="sometimes")


def test_python_sensor_passes_context_like_python_operator() -> None:
    sensor = _with_clock(PythonSensor(task_id="p", python_callable=lambda ds: ds == "2024-03-10", poke_interval=1), FakeClock(NOW))
    assert sensor.poke(context_for(sensor, ContractTI(), ds="2024-03-10"))
    assert not sensor.poke(context_for(sensor, ContractTI(), ds="2024-03-11"))


def test_time_delta_sensor_waits_for_interval_end_plus_delta() -> None:
    sensor = _with_clock(TimeDeltaSensor(task_id="t", delta=timedelta(hours=1)), FakeClock(NOW))
    context = context_for(sensor, ContractTI(), data_interval_end=NOW - timedelta(minutes=30))
    assert not sensor.poke(context)
    context["data_interval_end"] = NOW - timedelta(hours=1)
    assert sensor.poke(context)


def test_date_time_sensor_accepts_strings_and_datetimes() -> None:
    clock = FakeClock(NOW)
    assert _with_clock(DateTimeSensor(task_id="a", target_time="2024-03-10T11:00:00"), clock).poke({})
    assert not _with_clock(DateTimeSensor(task_id="b", target_time=NOW + timedelta(seconds=1)), clock).poke({})


def test_date_time_sensor_reads_a_target_time_without_offset_in_the_default_timezone() -> None:
    """As Airflow's ``timezone.parse``: with ``[core] default_timezone = Asia/Tokyo``, "2024-03-10T20:30:00"
    and ``datetime(2024, 3, 10, 20, 30)`` are 11:30 UTC; a value with an offset keeps it."""
    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Asia/Tokyo")
    clock = FakeClock(NOW)  # 12:00 UTC, 21:00 in Tokyo
    assert _with_clock(DateTimeSensor(task_id="a", target_time="2024-03-10T20:30:00"), clock).poke({})
    assert _with_clock(DateTimeSensor(task_id="b", target_time=datetime(2024, 3, 10, 20, 30)), clock).poke({})
    assert not _with_clock(DateTimeSensor(task_id="c", target_time="2024-03-10T21:30:00"), clock).poke({})
    assert not _with_clock(DateTimeSensor(task_id="d", target_time="2024-03-10T20:30:00+00:00"), clock).poke({})
    assert not _with_clock(DateTimeSensor(task_id="e", target_time=datetime(2024, 3, 10, 12, 30, tzinfo=timezone.utc)),
                           clock).poke({})


def test_a_templated_target_time_keeps_a_rendered_offset_and_reads_none_in_the_default_timezone() -> None:
    import pendulum

    from flowctl import macros
    from flowctl.core.timezones import use_default_timezone
    from flowctl.sensors.date_time import parse_target_time

    use_default_timezone("Asia/Tokyo")
    aware = DateTimeSensor(task_id="a", target_time="{{ data_interval_end + macros.timedelta(hours=1) }}")
    naive = DateTimeSensor(task_id="b", target_time="{{ ds }}T20:30:00")
    context = {"data_interval_end": pendulum.datetime(2024, 3, 10, 10), "ds": "2024-03-10", "macros": macros}
    for sensor in (aware, naive):
        sensor.render_template_fields(context)
    assert parse_target_time(aware.target_time) == datetime(2024, 3, 10, 11, tzinfo=timezone.utc)
    assert parse_target_time(naive.target_time) == datetime(2024, 3, 10, 11, 30, tzinfo=timezone.utc)
    assert not _with_clock(naive, FakeClock(NOW - timedelta(minutes=31))).poke({})
    assert _with_clock(naive, FakeClock(NOW)).poke({})


def test_file_sensor_finds_files_and_globs(tmp_path: Path) -> None:
    sensor = FileSensor(task_id="f", filepath=str(tmp_path / "data*.csv"))
    assert not sensor.poke({})
    (tmp_path / "data1.csv").write_text("x")
    assert sensor.poke({})


def test_file_sensor_uses_the_connection_path(tmp_path: Path) -> None:
    class Conn:
        extra_dejson = {"path": str(tmp_path)}

    (tmp_path / "ready").write_text("")
    set_connection_resolver(lambda conn_id: Conn())
    try:
        assert FileSensor(task_id="f", filepath="ready").poke({})
        assert BaseHook.get_connection("fs_default").extra_dejson["path"] == str(tmp_path)
    finally:
        set_connection_resolver(None)


def test_file_sensor_with_a_connection_that_does_not_exist_fails_naming_it_as_airflow(tmp_path: Path) -> None:
    from flowctl.core.errors import ConnectionNotFound

    def no_connections(conn_id: str) -> Any:
        raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined")

    set_connection_resolver(no_connections)
    try:
        with pytest.raises(ConnectionNotFound, match="The conn_id `fs_landing` isn't defined"):
            FileSensor(task_id="f", filepath="ready", fs_conn_id="fs_landing").poke({})
        # fs_default, which Airflow creates at `airflow db init` and flowctl does not: no base path
        assert FileSensor(task_id="g", filepath=str(tmp_path)).full_path() == str(tmp_path)
    finally:
        set_connection_resolver(None)


def test_outside_a_task_a_connection_comes_from_the_environment_then_the_metadata_database(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As in Airflow, and as Variable.get outside a task (it was: 'no connection resolver is installed')."""
    from flowctl.core.errors import ConnectionNotFound
    from flowctl.models.variable import set_variable_backend

    class NoConnections:  # the metadata database, which has none
        def get_connection(self, conn_id: str) -> Any:
            raise ConnectionNotFound(conn_id)

    monkeypatch.setenv("FLOWCTL_CONN_WAREHOUSE", "postgres://me:pw@db.example:5433/sales")
    set_variable_backend(NoConnections())
    try:
        conn = BaseHook.get_connection("warehouse")
        assert (conn.host, conn.port, conn.login, conn.schema) == ("db.example", 5433, "me", "sales")
        with pytest.raises(ConnectionNotFound, match="The conn_id `x` isn't defined"):
            BaseHook.get_connection("x")
    finally:
        set_variable_backend(None)


def test_external_task_sensor_asks_the_injected_lookup() -> None:
    calls: list[tuple[str, Any, datetime]] = []
    states = {"value": ["running"]}

    def lookup(dag_id: str, task_ids: Any, logical_date: datetime) -> list[str | None]:
        calls.append((dag_id, task_ids, logical_date))
        return states["value"]

    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", external_task_id="t",
                                    execution_delta=timedelta(hours=1), failed_states=["failed"])
    context = context_for(sensor, ContractTI(), logical_date=NOW, external_state_lookup=lookup)
    assert not sensor.poke(context)
    assert calls == [("other", ["t"], NOW - timedelta(hours=1))]
    states["value"] = ["success"]
    assert sensor.poke(context)
    states["value"] = ["failed"]
    with pytest.raises(FlowctlError, match="failed"):
        sensor.poke(context)


@pytest.mark.parametrize("date_fn", [
    lambda dt, **kwargs: dt - timedelta(hours=2),
    lambda dt, ti: dt - timedelta(hours=2 * ti.try_number),
    lambda dt, context: dt - timedelta(hours=2) if context["run_id"] == "manual__1" else dt,
    lambda dt: dt - timedelta(hours=2),
], ids=["var-keyword", "context-key-by-name", "context-by-name", "date-only"])
def test_external_task_sensor_calls_execution_date_fn_with_context_keys_by_name(date_fn: Any) -> None:
    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", execution_date_fn=date_fn)
    context = context_for(sensor, ContractTI(), logical_date=NOW)
    assert sensor.date_to_watch(context) == NOW - timedelta(hours=2)


def test_external_task_sensor_watches_every_date_execution_date_fn_returns_as_airflow() -> None:
    days = [NOW - timedelta(days=1), NOW - timedelta(days=2)]
    states = {days[0]: ["success"], days[1]: []}
    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", external_task_id="t",
                                    execution_date_fn=lambda dt: [dt - timedelta(days=1), dt - timedelta(days=2)],
                                    failed_states=["failed"])
    context = context_for(sensor, ContractTI(), logical_date=NOW,
                          external_state_lookup=lambda dag_id, task_ids, when: states[when])
    assert not sensor.poke(context)  # the second day's run does not exist yet
    states[days[1]] = ["success"]
    assert sensor.poke(context)
    states[days[1]] = ["failed"]
    with pytest.raises(FlowctlError, match="failed"):
        sensor.poke(context)


def test_a_deferrable_external_task_sensor_hands_every_date_to_its_trigger() -> None:
    from flowctl.core.errors import TaskDeferred

    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", deferrable=True,
                                    execution_date_fn=lambda dt: (dt, dt - timedelta(days=1)))
    context = context_for(sensor, ContractTI(), logical_date=NOW, external_state_lookup=lambda *_: ["running"])
    with pytest.raises(TaskDeferred) as raised:
        sensor.execute(context)
    assert raised.value.trigger.serialize()[1]["execution_dates"] == [NOW, NOW - timedelta(days=1)]


EXTERNAL_TREE = {"group_id": None, "children": ["t", {"group_id": "g", "children": ["g.a"]}]}


def _existence_context(sensor: ExternalTaskSensor, tree: Any) -> dict[str, Any]:
    return context_for(sensor, ContractTI(), logical_date=NOW, external_state_lookup=lambda *_a, **_k: [],
                       external_dag_lookup=lambda dag_id: tree if dag_id == "other" else None)


@pytest.mark.parametrize("watched", [{}, {"external_task_id": "t"}, {"external_task_ids": ["t", "g.a"]},
                                     {"external_task_group_id": "g"}], ids=["run", "task", "tasks", "group"])
def test_check_existence_waits_for_a_run_not_yet_created_of_a_dag_and_task_that_exist(watched: Any) -> None:
    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", check_existence=True, **watched)
    assert not sensor.poke(_existence_context(sensor, EXTERNAL_TREE))  # as Airflow: it keeps waiting
    if "external_task_group_id" not in watched:  # a stored DAG without its task list: tasks are not judged
        with DAG("d2"):
            fresh = ExternalTaskSensor(task_id="e", external_dag_id="other", check_existence=True, **watched)
        assert not fresh.poke(_existence_context(fresh, {}))


@pytest.mark.parametrize("dag_id, watched, message", [
    ("missing", {}, "external DAG 'missing' does not exist"),
    ("other", {"external_task_id": "nope"}, r"external task\(s\) \['nope'\] .*DAG 'other' do not exist"),
    ("other", {"external_task_group_id": "nope"}, "external task group 'nope' .*DAG 'other' does not exist"),
], ids=["dag", "task", "group"])
def test_check_existence_fails_at_once_for_a_dag_or_task_that_does_not_exist(dag_id: str, watched: Any,
                                                                              message: str) -> None:
    with DAG("d"):
        sensor = ExternalTaskSensor(task_id="e", external_dag_id=dag_id, check_existence=True, **watched)
    with pytest.raises(FlowctlError, match=message):
        sensor.poke(_existence_context(sensor, EXTERNAL_TREE))


@pytest.mark.parametrize("kwargs, message", [
    ({"external_task_id": "t", "allowed_states": ["succes"]}, r"allowed_states.*task states.*not succes"),
    ({"allowed_states": ["upstream_failed"]}, r"allowed_states.*DAG run states.*not upstream_failed"),
    ({"external_task_id": "t", "failed_states": ["failed", "bad"]}, r"failed_states.*not bad"),
    ({"external_task_id": "t", "allowed_states": ["success"], "failed_states": ["success"]},
     r"both allowed_states and failed_states: success"),
], ids=["task-state-typo", "not-a-run-state", "failed-typo", "overlap"])
def test_external_task_sensor_refuses_states_that_can_never_be_seen_as_airflow(kwargs: Any, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        ExternalTaskSensor(task_id="e", external_dag_id="other", **kwargs)


def test_external_task_sensor_takes_airflows_state_enums() -> None:
    from flowctl.utils.state import DagRunState, State

    sensor = ExternalTaskSensor(task_id="e", external_dag_id="other", external_task_id="t",
                                allowed_states=[State.SUCCESS, State.SKIPPED], failed_states=[State.FAILED])
    assert sensor.allowed_states == ["success", "skipped"] and sensor.failed_states == ["failed"]
    assert ExternalTaskSensor(task_id="r", external_dag_id="other",
                              allowed_states=[DagRunState.SUCCESS]).allowed_states == ["success"]


def test_external_task_sensor_without_a_lookup_says_what_it_needs() -> None:
    sensor = ExternalTaskSensor(task_id="e", external_dag_id="other")
    with pytest.raises(FlowctlError, match="external_state_lookup"):
        sensor.poke({"logical_date": NOW})


def test_task_sensor_decorator_builds_a_python_sensor() -> None:
    from flowctl.decorators import task

    @task.sensor(poke_interval=1, timeout=5)
    def ready() -> PokeReturnValue:
        return PokeReturnValue(True, "v")

    with DAG("d"):
        out = ready()
    assert isinstance(out.operator, PythonSensor) and out.operator.execute(context_for(out.operator, ContractTI())) == "v"


def test_a_poke_mode_only_sensor_refuses_reschedule_mode_as_airflow() -> None:
    from flowctl.sensors.base import BaseSensorOperator, poke_mode_only

    @poke_mode_only
    class HoldsAConnection(BaseSensorOperator):
        def poke(self, context: Any) -> bool:
            return True

    assert HoldsAConnection(task_id="s").mode == "poke"
    with pytest.raises(DagDefinitionError, match="only 'poke'"):
        HoldsAConnection(task_id="r", mode="reschedule")
    sensor = HoldsAConnection(task_id="t")
    with pytest.raises(DagDefinitionError, match="only 'poke'"):
        sensor.mode = "reschedule"
    with pytest.raises(ValueError, match="sensor class"):
        poke_mode_only(object)  # type: ignore[arg-type]
