"""A throw-away flowctl deployment driven through real processes: the e2e tests' and benchmarks' harness.

A :class:`Deployment` owns one FLOWCTL_HOME (config.cfg, dags folder, logs,
an ``out`` folder where DAG tasks write their side effects) on one metadata
database (SQLite file or PostgreSQL database). It runs ``python -m flowctl``
commands as subprocesses, starts schedulers in their own process groups and
always kills them (and every process that inherited the deployment's tag,
orphaned workers included) in :meth:`Deployment.close`. Waiting is polling a
condition with a deadline, never a bare sleep.

Imports pytest nowhere, so ``bench/`` uses it too. Reads the database only
through the Store.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.db.engine import make_engine
from flowctl.db.store import Store

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
FINAL_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
FINAL_RUN_STATES = frozenset({"success", "failed"})
T = TypeVar("T")

#: Settings every e2e deployment starts from; tests override per deployment.
BASE_CONFIG: Mapping[tuple[str, str], str] = {
    ("core", "executor"): "local",
    ("core", "parallelism"): "8",
    ("core", "dagbag_import_timeout"): "20",
    ("core", "load_examples"): "false",
    ("scheduler", "heartbeat_sec"): "1",
    ("scheduler", "task_heartbeat_sec"): "0.5",
    ("scheduler", "zombie_threshold_sec"): "5",
    ("logging", "logging_level"): "info",
}


class WaitTimeout(AssertionError):
    """A polled condition did not hold before its deadline."""


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns a truthy value; WaitTimeout naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class ManagedProcess:
    """A process the harness started in its own session; stdout+stderr go to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stopped_on_purpose: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL this process alone (its workers are left orphaned, as after a crash)."""
        self.stopped_on_purpose = True
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process, wait for it, SIGKILL its group if it does not exit in time."""
        self.stopped_on_purpose = True
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.pid)
        return self.popen.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def tagged_pids(tag: str) -> list[int]:
    """Pids of live processes whose environment carries FLOWCTL_E2E_TAG=tag (ours only)."""
    needle = f"FLOWCTL_E2E_TAG={tag}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@dataclass
class Deployment:
    """One FLOWCTL_HOME on one database, with the processes started for it."""

    home: Path
    db_url: str
    config: dict[tuple[str, str], str] = field(default_factory=lambda: dict(BASE_CONFIG))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    processes: list[ManagedProcess] = field(default_factory=list)
    _store: Store | None = None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.db_url.startswith("sqlite") else "postgresql"

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def out(self) -> Path:
        """Where DAG tasks write their side effects (the tests read them back)."""
        return self.home / "out"

    def setup(self) -> Deployment:
        """Write config.cfg, make the folders and run ``flowctl db init``."""
        for folder in (self.home, self.dags_folder, self.out, self.home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.flowctl("db", "init")
        return self

    def write_config(self) -> None:
        values = {("core", "dags_folder"): str(self.dags_folder),
                  ("database", "sql_alchemy_conn"): self.db_url,
                  ("logging", "base_log_folder"): str(self.home / "logs"), **self.config}
        sections: dict[str, list[str]] = {}
        for (section, key), value in values.items():
            sections.setdefault(section, []).append(f"{key} = {value}")
        text = "".join(f"[{s}]\n" + "\n".join(lines) + "\n\n" for s, lines in sections.items())
        (self.home / "config.cfg").write_text(text)

    def env(self) -> dict[str, str]:
        """The environment of every process of this deployment."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("FLOWCTL") and k not in {"PYTHONPATH"}}
        return {**base, "FLOWCTL_HOME": str(self.home), "PYTHONPATH": str(REPO),
                "FLOWCTL_E2E_TAG": self.tag, "PYTHONUNBUFFERED": "1"}

    # --- files -----------------------------------------------------------------------------------

    def write_dag(self, filename: str, source: str) -> Path:
        """Write a DAG file (``{out}`` in the source becomes the side-effect folder)."""
        path = self.dags_folder / filename
        path.write_text(source.replace("{out}", str(self.out)))
        return path

    def effects(self, name: str = "effects.log") -> list[list[str]]:
        """The whitespace-split lines tasks appended to ``out/name``."""
        path = self.out / name
        if not path.exists():
            return []
        return [line.split() for line in path.read_text().splitlines() if line.strip()]

    # --- processes -------------------------------------------------------------------------------

    def flowctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python -m flowctl ARGS`` to completion; AssertionError with its output if it fails."""
        done = subprocess.run([PYTHON, "-m", "flowctl", *args], env=self.env(), cwd=self.home,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"flowctl {' '.join(args)} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done

    def spawn(self, name: str, *args: str) -> ManagedProcess:
        """Start ``python -m flowctl ARGS`` in a new session; killed by :meth:`close`."""
        log = self.home / f"{name}-{len(self.processes)}.log"
        with open(log, "wb") as sink:
            popen = subprocess.Popen([PYTHON, "-m", "flowctl", *args], env=self.env(), cwd=self.home,
                                     stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        process = ManagedProcess(name, popen, log)
        self.processes.append(process)
        return process

    def start_scheduler(self, *args: str) -> ManagedProcess:
        """Start ``flowctl scheduler`` (a real daemon process)."""
        return self.spawn("scheduler", "scheduler", *args)

    def close(self) -> None:
        """Stop every process started for this deployment (orphans too) and close the store."""
        for process in self.processes:
            if process.alive():
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _killpg(process.pid)
            if process.alive():
                process.popen.kill()
                process.popen.wait(5)
        for pid in tagged_pids(self.tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._store is not None:
            self._store.close()
            self._store = None

    def diagnostics(self) -> str:
        """The tail of every process log, for failure messages."""
        parts = []
        for process in self.processes:
            tail = "\n".join(process.output().splitlines()[-60:])
            parts.append(f"--- {process.name} pid {process.pid} (alive={process.alive()}) ---\n{tail}")
        return "\n".join(parts)

    # --- the database ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(make_engine(self.db_url))
        return self._store

    def wait_for(self, condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
        """wait_for, failing at once if a process died unasked; the processes' logs in the message."""
        def checked() -> T:
            died = [p for p in self.processes if not p.stopped_on_purpose and not p.alive()]
            if died:
                raise AssertionError(f"{died[0].name} (pid {died[0].pid}) exited {died[0].popen.returncode} "
                                     f"while waiting for {what}\n{self.diagnostics()}")
            return condition()
        try:
            return wait_for(checked, timeout, what, interval)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n{self.diagnostics()}") from None

    def wait_for_dag(self, dag_id: str, timeout: float = 20.0) -> None:
        """Until the DAG has been parsed into the database."""
        def parsed() -> bool:
            try:
                self.store.latest_serialized_dag(dag_id)
            except LookupError:
                return False
            return True
        self.wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")

    def trigger(self, dag_id: str, *args: str) -> str:
        """``flowctl dags trigger DAG_ID ARGS`` after the DAG is parsed; returns the new run_id."""
        self.wait_for_dag(dag_id)
        before = {r.run_id for r in self.store.list_runs(dag_id, limit=1000)}
        self.flowctl("dags", "trigger", dag_id, *args)
        new = [r.run_id for r in self.store.list_runs(dag_id, limit=1000) if r.run_id not in before]
        assert len(new) == 1, f"expected one new run of {dag_id}, got {new}"
        return new[0]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.store.get_run(dag_id, run_id).state

    def wait_for_run(self, dag_id: str, run_id: str, states: Iterable[str] = FINAL_RUN_STATES,
                     timeout: float = 20.0) -> str:
        """Until the run is in one of ``states``; returns the state."""
        wanted = frozenset(states)
        return self.wait_for(lambda: (s := self.run_state(dag_id, run_id)) in wanted and s,
                             timeout, f"run {dag_id}/{run_id} to be {sorted(wanted)}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """task_id (``task_id[i]`` when mapped) -> state."""
        return {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): ti.state
                for ti in self.store.list_task_instances(RunKey(dag_id, run_id))}

    def task(self, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.store.get_task_instance(TaskInstanceKey(dag_id, run_id, task_id))

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: Iterable[str],
                      timeout: float = 20.0) -> str:
        wanted = frozenset(states)
        return self.wait_for(lambda: (s := self.task(dag_id, run_id, task_id).state) in wanted and s,
                             timeout, f"{dag_id}.{task_id} @ {run_id} to be {sorted(wanted)}")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
