"""BashSensor, TimeSensor and DayOfWeekSensor run through run_workload from a DAG file, as Airflow DAGs use them."""
from __future__ import annotations

from flowctl.task_runner import run_workload

from tests.task_runner.conftest import World

SENSORS = '''
from datetime import datetime, time, timedelta
from flowctl import DAG
from flowctl.sensors.bash import BashSensor
from flowctl.sensors.time_sensor import TimeSensor
from flowctl.sensors.weekday import DayOfWeekSensor
from flowctl.utils.weekday import WeekDay

with DAG("sensors", start_date=datetime(2024, 1, 1), schedule=None, params={"day": "2024-01-01"}):
    BashSensor(task_id="bash_ready", bash_command='test "{{ ds }}" = "{{ params.day }}"', poke_interval=1)
    BashSensor(task_id="bash_waiting", bash_command="exit 1", mode="reschedule", poke_interval=60)
    BashSensor(task_id="bash_broken", bash_command="exit 2", retry_exit_code=1, retries=3,
               retry_delay=timedelta(seconds=30))
    TimeSensor(task_id="time_passed", target_time=time(0, 0), poke_interval=1)
    TimeSensor(task_id="time_never", target_time=time.max, mode="reschedule", poke_interval=60)
    DayOfWeekSensor(task_id="on_monday", week_day="monday", use_task_logical_date=True, poke_interval=1)
    DayOfWeekSensor(task_id="on_weekend", week_day={WeekDay.SATURDAY, WeekDay.SUNDAY},
                    use_task_logical_date=True, mode="reschedule", poke_interval=60)
'''


def _states(world: World, *task_ids: str) -> list[str | None]:
    fileloc = world.write_dags("sensors", SENSORS)
    run = world.make_run("sensors")  # logical date 2024-01-01, a Monday
    return [run_workload(world.queue(run, task_id, fileloc), world.settings, world.store).state for task_id in task_ids]


def test_a_bash_sensor_succeeds_on_exit_0_waits_on_other_codes_and_fails_on_an_unexpected_one(world: World) -> None:
    assert _states(world, "bash_ready", "bash_waiting", "bash_broken") == ["success", "up_for_reschedule", "failed"]


def test_a_time_sensor_succeeds_once_the_time_has_passed_and_waits_before(world: World) -> None:
    assert _states(world, "time_passed", "time_never") == ["success", "up_for_reschedule"]


def test_a_day_of_week_sensor_follows_the_logical_date(world: World) -> None:
    assert _states(world, "on_monday", "on_weekend") == ["success", "up_for_reschedule"]
