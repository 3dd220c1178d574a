"""BashOperator really runs bash: output, exit codes, env, cwd, @task.bash."""
from __future__ import annotations

import os
import logging
from pathlib import Path

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import FlowctlError, TaskSkipped
from flowctl.decorators import task
from flowctl.operators.bash import BashOperator
from tests.operators.contract_ti import ContractTI, context_for


def _run(operator: BashOperator) -> object:
    return operator.execute(context_for(operator, ContractTI()))


def test_the_last_line_of_output_is_returned_and_every_line_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowctl.task")
    with DAG("d"):
        op = BashOperator(task_id="b", bash_command="echo first; echo second")
    assert _run(op) == "second"
    messages = [r.getMessage() for r in caplog.records]
    assert "first" in messages and "second" in messages


def test_trailing_whitespace_and_carriage_returns_are_stripped_from_lines_as_in_airflow() -> None:
    assert _run(BashOperator(task_id="b", bash_command="printf 'rows: 3  \\r\\n'")) == "rows: 3"


def test_a_non_zero_exit_fails_with_the_code() -> None:
    with pytest.raises(FlowctlError, match="code 3"):
        _run(BashOperator(task_id="b", bash_command="exit 3"))


def test_exit_code_99_skips_the_task_by_default_and_the_code_is_configurable() -> None:
    with pytest.raises(TaskSkipped):
        _run(BashOperator(task_id="b", bash_command="exit 99"))
    with pytest.raises(TaskSkipped):
        _run(BashOperator(task_id="c", bash_command="exit 5", skip_on_exit_code=[5, 6]))


def test_env_replaces_the_environment_unless_append_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_WORKER", "w")
    only = BashOperator(task_id="a", bash_command='echo "${FROM_WORKER:-none}-$MINE"', env={"MINE": "m"})
    assert _run(only) == "none-m"
    both = BashOperator(task_id="b", bash_command='echo "$FROM_WORKER-$MINE"', env={"MINE": "m"}, append_env=True)
    assert _run(both) == "w-m"


def test_context_variables_are_exported() -> None:
    with DAG("ctx"):
        op = BashOperator(task_id="b", bash_command='echo "$AIRFLOW_CTX_DAG_ID/$FLOWCTL_CTX_TASK_ID"')
    assert _run(op) == "ctx/b"


def test_the_command_runs_in_cwd_or_a_temporary_directory(tmp_path: Path) -> None:
    assert _run(BashOperator(task_id="a", bash_command="pwd", cwd=str(tmp_path))) == str(tmp_path)
    assert "flowctl-bash-" in str(_run(BashOperator(task_id="b", bash_command="pwd")))
    with pytest.raises(FlowctlError, match="not a directory"):
        _run(BashOperator(task_id="c", bash_command="pwd", cwd=str(tmp_path / "missing")))


def test_bash_templates_are_declared_like_airflow() -> None:
    assert BashOperator.template_fields == ("bash_command", "env", "cwd")
    assert BashOperator.template_ext == (".sh", ".bash")


def test_task_bash_runs_the_returned_command() -> None:
    @task.bash
    def greet(name: str) -> str:
        return f"echo hello {name}"

    with DAG("d"):
        out = greet("ann")
    assert out.operator.execute(context_for(out.operator, ContractTI())) == "hello ann"


def test_task_bash_renders_jinja_in_the_returned_command() -> None:
    @task.bash
    def greet() -> str:
        return "echo run={{ run_id }} who={{ params.who }}"

    with DAG("d"):
        out = greet()
    context = context_for(out.operator, ContractTI(), params={"who": "ann"})
    assert out.operator.execute(context) == "run=manual__1 who=ann"


def _gone(pid: int) -> bool:
    """Dead or a zombie (whoever reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_try_killed_with_sigkill_takes_its_bash_command_with_it(tmp_path: Path) -> None:
    """Before: bash ran in a session of its own: kill -9 of the try (or of the zygote) left the
    command running while the retry ran it again."""
    import signal
    import time

    from flowctl.task_runner.forking import reap_one

    ready, end = tmp_path / "bash.pid", tmp_path / "end"
    pid = os.fork()
    if pid == 0:  # a try: its own process group, as each zygote child is
        try:
            os.setsid()
            op = BashOperator(task_id="b", bash_command=f"echo $$ > {ready}; sleep 3; echo end > {end}")
            op._run(op.bash_command, dict(os.environ), str(tmp_path))
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while not (ready.exists() and ready.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    bash_pid = int(ready.read_text())
    os.kill(pid, signal.SIGKILL)
    reaped = None
    while reaped is None and time.monotonic() < deadline:
        reaped = reap_one()
        time.sleep(0.02)
    assert reaped is not None and reaped[0] == pid
    while not _gone(bash_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(bash_pid)
    time.sleep(3.5)
    assert not end.exists()


def test_on_kill_in_a_try_leading_its_group_stops_the_command_and_not_the_try(tmp_path: Path) -> None:
    """execution_timeout's on_kill when the command shares the try's group: SIGTERM to the group,
    which the try ignores for that moment."""
    import signal
    import time

    ready, end, code_file = tmp_path / "bash.pid", tmp_path / "end", tmp_path / "code"
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.setsid()
            op = BashOperator(task_id="b", bash_command=f"echo $$ > {ready}; sleep 3; echo end > {end}")
            signal.signal(signal.SIGALRM, lambda *_: op.on_kill())
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            code, _ = op._run(op.bash_command, dict(os.environ), str(tmp_path))
            code_file.write_text(str(code))
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the try lived on to record the end
    assert code_file.read_text() == str(-signal.SIGTERM)
    assert _gone(int(ready.read_text()))
    time.sleep(3)
    assert not end.exists()
