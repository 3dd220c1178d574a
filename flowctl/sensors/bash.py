"""BashSensor: poke by running a bash command; exit code 0 means the condition holds.

Any other exit code pokes again (Airflow 2), unless ``retry_exit_code`` is set:
then only that code pokes again and any other non-zero code fails the task
without retry (newer Airflow). The command runs as BashOperator runs it (same
environment rules, ``AIRFLOW_CTX_*`` variables, process group, line-by-line
output logging, ``cwd`` or a fresh temporary directory), once per poke.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flowctl.core.errors import FlowctlError, TaskFailedNoRetry
from flowctl.operators.bash import BashOperator, build_env
from flowctl.sensors.base import BaseSensorOperator

log = logging.getLogger("flowctl.task")


def poke_result(code: int, retry_exit_code: int | None) -> bool:
    """Whether a command that exited with ``code`` satisfies the sensor; raises when it must fail."""
    if code == 0:
        return True
    if retry_exit_code is None or code == retry_exit_code:
        log.info("Non-zero exit code %s: will poke again", code)
        return False
    raise TaskFailedNoRetry(f"bash command exited with code {code} (only {retry_exit_code} means poke again)")


class BashSensor(BaseSensorOperator):
    """Succeeds once ``bash_command`` exits with code 0."""

    template_fields: ClassVar[Sequence[str]] = ("bash_command", "env", "cwd")
    template_fields_renderers: ClassVar[dict[str, str]] = {"bash_command": "bash", "env": "json"}

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    # Running and stopping the process is BashOperator's job; borrowing its methods keeps
    # the logging, process group and on_kill identical (they use output_encoding and _process).
    _run = BashOperator._run
    on_kill = BashOperator.on_kill

    def poke(self, context: Mapping[str, Any]) -> bool:
        command = self.bash_command
        if not isinstance(command, str) or not command.strip():
            raise FlowctlError(f"bash_command of {self.task_id!r} is empty")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise FlowctlError(f"cwd {self.cwd!r} of task {self.task_id!r} is not a directory")
        env = build_env(self.env, False, context)
        if self.cwd is not None:
            code, _ = self._run(command, env, self.cwd)
        else:
            with tempfile.TemporaryDirectory(prefix="flowctl-bash-") as tmp:
                code, _ = self._run(command, env, tmp)
        return poke_result(code, self.retry_exit_code)
