"""BashSensor really runs bash: exit 0 succeeds, other codes poke again or fail (retry_exit_code)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import FlowctlError, TaskFailedNoRetry, TaskRescheduled
from flowctl.sensors.bash import BashSensor
from tests.operators.contract_ti import ContractTI, context_for


def _poke(sensor: BashSensor) -> bool:
    return sensor.poke(context_for(sensor, ContractTI()))


def test_exit_code_zero_means_the_condition_holds() -> None:
    assert _poke(BashSensor(task_id="s", bash_command="true")) is True


def test_any_non_zero_code_pokes_again_when_no_retry_exit_code_is_set() -> None:
    assert _poke(BashSensor(task_id="a", bash_command="exit 1")) is False
    assert _poke(BashSensor(task_id="b", bash_command="exit 42")) is False


def test_with_retry_exit_code_only_that_code_pokes_again_and_others_fail_without_retry() -> None:
    assert _poke(BashSensor(task_id="a", bash_command="exit 3", retry_exit_code=3)) is False
    with pytest.raises(TaskFailedNoRetry, match="code 4"):
        _poke(BashSensor(task_id="b", bash_command="exit 4", retry_exit_code=3))
    assert _poke(BashSensor(task_id="c", bash_command="exit 0", retry_exit_code=3)) is True


def test_output_is_logged_line_by_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowctl.task")
    _poke(BashSensor(task_id="s", bash_command="echo first; echo second"))
    messages = [r.getMessage() for r in caplog.records]
    assert "first" in messages and "second" in messages


def test_env_replaces_the_environment_and_context_variables_are_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_WORKER", "w")
    with DAG("ctx"):
        sensor = BashSensor(task_id="s", bash_command='test "${FROM_WORKER:-none}-$MINE-$AIRFLOW_CTX_DAG_ID" = none-m-ctx',
                            env={"MINE": "m"})
    assert _poke(sensor) is True
    inherits = BashSensor(task_id="t", bash_command='test "$FROM_WORKER" = w')
    assert _poke(inherits) is True


def test_the_command_runs_in_cwd_or_a_temporary_directory(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("")
    assert _poke(BashSensor(task_id="a", bash_command="test -f marker", cwd=str(tmp_path))) is True
    assert _poke(BashSensor(task_id="b", bash_command='case "$PWD" in *flowctl-bash-*) exit 0;; esac; exit 1')) is True
    with pytest.raises(FlowctlError, match="not a directory"):
        _poke(BashSensor(task_id="c", bash_command="true", cwd=str(tmp_path / "missing")))


def test_output_encoding_is_used_to_decode_the_output(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowctl.task")
    _poke(BashSensor(task_id="s", bash_command=r"printf 'caf\xe9\n'", output_encoding="latin-1"))
    assert "café" in [r.getMessage() for r in caplog.records]


def test_bash_command_is_rendered_with_jinja_like_bash_operator() -> None:
    assert "bash_command" in BashSensor.template_fields and "env" in BashSensor.template_fields
    with DAG("d"):
        sensor = BashSensor(task_id="s", bash_command='test "{{ ds }}" = 2024-03-10')
    context = context_for(sensor, ContractTI(), ds="2024-03-10")
    sensor.render_template_fields(context)
    assert sensor.bash_command == 'test "2024-03-10" = 2024-03-10'
    assert sensor.poke(context) is True


def test_an_empty_command_is_an_error() -> None:
    with pytest.raises(FlowctlError, match="empty"):
        _poke(BashSensor(task_id="s", bash_command="  "))


def test_in_reschedule_mode_a_failing_command_gives_the_slot_back() -> None:
    sensor = BashSensor(task_id="s", bash_command="exit 1", mode="reschedule", poke_interval=30)
    with pytest.raises(TaskRescheduled):
        sensor.execute(context_for(sensor, ContractTI()))


def test_on_kill_stops_the_running_command() -> None:
    import threading
    import time

    sensor = BashSensor(task_id="s", bash_command="sleep 30")
    results: list[bool] = []
    poker = threading.Thread(target=lambda: results.append(_poke(sensor)))
    poker.start()
    deadline = time.monotonic() + 10
    while sensor._process is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sensor.on_kill()
    poker.join(timeout=10)
    assert results == [False]
