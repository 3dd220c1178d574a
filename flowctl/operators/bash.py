"""BashOperator: run a bash command, stream its output to the task log, push the last line.

The command runs with ``bash -c`` in the try's process group when the try
leads one (the local executor's: whoever kills the try's group kills the
command too), else in a group of its own; ``on_kill`` stops that group, its
children included, but not the try. It runs in ``cwd`` or a fresh temporary directory. Environment:
the worker's environment when ``env`` is None; only ``env`` when given (plus
the worker's when ``append_env``); always plus ``AIRFLOW_CTX_*`` and
``FLOWCTL_CTX_*`` variables naming the DAG, task, run and try. Exit code
``skip_on_exit_code`` (default 99) ends the task as skipped; any other
non-zero code fails it with the code in the message.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, ClassVar

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.errors import FlowctlError, TaskSkipped
from flowctl.core.xcom_arg import resolve_value

log = logging.getLogger("flowctl.task")


def context_env_vars(context: Mapping[str, Any]) -> dict[str, str]:
    """``AIRFLOW_CTX_*`` / ``FLOWCTL_CTX_*`` variables for a task's environment."""
    ti = context.get("ti")
    logical_date = context.get("logical_date")
    values = {
        "DAG_ID": getattr(context.get("dag"), "dag_id", None),
        "TASK_ID": getattr(context.get("task"), "task_id", None),
        "EXECUTION_DATE": logical_date.isoformat() if logical_date is not None else None,
        "DAG_RUN_ID": context.get("run_id"),
        "TRY_NUMBER": getattr(ti, "try_number", None),
        "DAG_OWNER": getattr(context.get("task"), "owner", None),
    }
    env: dict[str, str] = {}
    for key, value in values.items():
        if value is not None:
            env[f"AIRFLOW_CTX_{key}"] = str(value)
            env[f"FLOWCTL_CTX_{key}"] = str(value)
    return env


def build_env(env: Mapping[str, str] | None, append_env: bool, context: Mapping[str, Any]) -> dict[str, str]:
    """The environment the command runs with (see the module docstring)."""
    if env is None:
        result = dict(os.environ)
    elif append_env:
        result = {**os.environ, **env}
    else:
        result = dict(env)
    result.update(context_env_vars(context))
    return result


class BashOperator(BaseOperator):
    """Run ``bash_command`` with bash; the last line of output becomes the XCom."""

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env", "cwd")
    template_fields_renderers: ClassVar[dict[str, str]] = {"bash_command": "bash", "env": "json"}
    template_ext: ClassVar[Sequence[str]] = (".sh", ".bash")
    ui_color: ClassVar[str] = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_exit_code: int | None = None,
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = lambda output: output,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_exit_code is not None:
            skip_on_exit_code = skip_exit_code
        self.skip_on_exit_code = _as_codes(skip_on_exit_code)
        self.cwd = cwd
        self.output_processor = output_processor
        self._process: subprocess.Popen[bytes] | None = None
        self._in_own_group = True

    def execute(self, context: Mapping[str, Any]) -> Any:
        command = resolve_value(self.bash_command, context)
        if not isinstance(command, str) or not command.strip():
            raise FlowctlError(f"bash_command of {self.task_id!r} is empty")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise FlowctlError(f"cwd {self.cwd!r} of task {self.task_id!r} is not a directory")
        env = build_env(self.env, self.append_env, context)
        if self.cwd is not None:
            code, last_line = self._run(command, env, self.cwd)
        else:
            with tempfile.TemporaryDirectory(prefix="flowctl-bash-") as tmp:
                code, last_line = self._run(command, env, tmp)
        if code in self.skip_on_exit_code:
            raise TaskSkipped(f"bash command exited with code {code}; skipping")
        if code != 0:
            raise FlowctlError(f"bash command failed: it exited with code {code}")
        return self.output_processor(last_line) if self.do_xcom_push else None

    def _run(self, command: str, env: dict[str, str], cwd: str) -> tuple[int, str]:
        log.info("Running command: %s", command)
        # In a try that is its own process group (the local executor's), the command joins it: whoever
        # kills the try's group (a supervisor whose try was killed, an executor whose zygote died)
        # kills the command too. Elsewhere (a CLI run in a terminal's group) it gets a group of its own.
        self._in_own_group = os.getpgrp() != os.getpid()
        process = subprocess.Popen(
            ["bash", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=self._in_own_group,
        )
        self._process = process
        last_line = ""
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            last_line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
            log.info("%s", last_line)
        process.wait()
        log.info("Command exited with return code %s", process.returncode)
        return process.returncode, last_line

    def on_kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        log.info("Sending SIGTERM to the bash process group")
        if self._in_own_group:
            os.killpg(os.getpgid(process.pid), signal.SIGTERM)
            return
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the try shares the group: not itself
        try:
            os.killpg(0, signal.SIGTERM)
        finally:
            signal.signal(signal.SIGTERM, previous)


class DecoratedBashOperator(BashOperator):
    """What ``@task.bash`` builds: the function's return value is the command to run."""

    custom_operator_name: ClassVar[str] = "@task.bash"
    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env", "cwd", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("bash_command", "")
        kwargs.pop("multiple_outputs", None)
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    def execute(self, context: Mapping[str, Any]) -> Any:
        from flowctl.operators.python import context_kwargs_for, current_context

        op_args = resolve_value(self.op_args, context)
        op_kwargs = resolve_value(self.op_kwargs, context)
        with current_context(context):
            command = self.python_callable(*op_args, **context_kwargs_for(self.python_callable, op_args, op_kwargs, context))
        if not isinstance(command, str) or not command.strip():
            raise FlowctlError(f"@task.bash function of {self.task_id!r} must return a non-empty command, got {command!r}")
        # Airflow renders the returned command too, so it may hold {{ ... }} templates.
        self.bash_command = self.render_template(command, context)
        return super().execute(context)


def _as_codes(value: int | Container[int] | None) -> Container[int]:
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return value
