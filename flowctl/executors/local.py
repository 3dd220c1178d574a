"""LocalExecutor: each task try in its own process, forked from a warm zygote.

The zygote (``python -m flowctl.task_runner.zygote``, started here) has
imported flowctl, Jinja and the operators once, and caches DAG modules; a try
costs a fork, not an interpreter start. Its task agent, one more process,
holds the database connection for the zygote and its tries. User code never runs
in this (the scheduler's) process. Workloads go to the zygote as JSON lines on
its stdin; ``exited`` events come back on a pipe whose read end is
:meth:`wakeup_fileno`, so the scheduler can ``select`` on it and react to a
finished task at once; ``started`` events (the try's pid, for ``terminate``)
come on a second pipe read only when needed, so a try that starts wakes nobody. Exit code 0 is FINISHED (the row holds the real
state), anything else CRASHED. The zygote runs at most ``parallelism`` tries
at once; the scheduler may hand it as many again (:attr:`open_slots`), which
wait there, highest ``priority_weight`` first, and start the moment a running
try has written its end. With nothing waiting, a try's end may also start the
tasks it made ready (``[scheduler] schedule_after_task_execution``,
:mod:`flowctl.db.follow`): the zygote reports each as ``adopted`` (its
workload, under a negative id) before its ``started``, and it is then
supervised, terminated and reported like the others. If the zygote dies, a new
zygote is started and handed the tries that were still waiting; the tries it
had started are given a short grace (:func:`orphan_grace`) to end on their
own, as a try whose zygote is gone writes its end itself (through the task
agent, which outlives the zygote), then the ones still running are killed,
and all are reported CRASHED (the scheduler fails or retries only those that
wrote no end). A try that had done its work when the zygote died thus keeps
its success instead of running again. ``terminate`` sends
SIGTERM to a try's process group (the runner calls ``on_kill`` and records
the failure), then SIGKILL after a grace period. ``end`` closes the zygote's
stdin: it takes no more work, supervises the tries still running until they
end (heartbeats, final states) and then exits.
Must not import flowctl.db, the task runner, web or cli.
"""
from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.executors import settings_environ
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, TaskKey, Workload
from flowctl.settings import Settings

KILL_GRACE_SECONDS = 5.0
ORPHAN_GRACE_SECONDS = 2.0  # at most, for the tries of a dead zygote to end on their own (orphan_grace)
END_WAIT_SECONDS = 2.0  # how long end() waits for an idle zygote to exit


@dataclass
class _InFlight:
    workload: Workload
    pid: int | None = None
    kill_at: float | None = None
    sent: bool = field(default=False)
    resent: bool = False  # handed to a second zygote after the first died before starting it


class LocalExecutor(BaseExecutor):
    """Runs up to ``parallelism`` tries at once, each a fork of the warm zygote."""

    name = "local"
    ends_notify_scheduler = True  # the zygote (or the try itself) writes each end with the wake-up

    def __init__(self, parallelism: int, settings: Settings) -> None:
        super().__init__(parallelism)
        self.settings = settings
        self._proc: subprocess.Popen[bytes] | None = None
        self._events_r: int | None = None
        self._pids_r: int | None = None
        self._buffer = self._pid_buffer = b""
        self._next_id = 0
        self._inflight: dict[int, _InFlight] = {}
        self._pending: list[ExecutorEvent] = []
        #: Set before ``start`` to hand the zygote an agent someone else starts (the scheduler forks
        #: it: ``flowctl.task_runner.agent_client.AgentSeat``); else the zygote starts its own.
        self.agent_seat: Any = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._proc is not None:  # already started (the scheduler CLI starts it first thing)
            return
        events_r, events_w = os.pipe()
        pids_r, pids_w = os.pipe()
        os.set_blocking(events_r, False)
        os.set_blocking(pids_r, False)
        env = {**os.environ, **settings_environ(self.settings)}
        seat, self.agent_seat = self.agent_seat, None  # a zygote started again makes its own agent
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "flowctl.task_runner.zygote", "--parallelism", str(self.parallelism),
             str(events_w), str(pids_w),
             *(seat.zygote_argv() if seat is not None else ())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            pass_fds=(events_w, pids_w, *(seat.zygote_fds() if seat is not None else ())), env=env)
        os.close(events_w)
        os.close(pids_w)
        if seat is not None:
            seat.zygote_started()
        self._events_r, self._pids_r = events_r, pids_r
        self._buffer = self._pid_buffer = b""

    def end(self) -> None:
        """Close the zygote's stdin; it supervises the tries still running until they end, then exits."""
        proc = self._proc
        if proc is None:
            return
        self._read_events()
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=END_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pass  # it supervises the tries still running until they end, then exits
        self._close_pipes()

    # --- work --------------------------------------------------------------------------
    def submit(self, workload: Workload) -> None:
        self._send(_InFlight(workload))

    def _send(self, flight: _InFlight) -> None:
        if self._proc is None:
            raise RuntimeError("LocalExecutor.start() was not called")
        self._next_id += 1
        self._inflight[self._next_id] = flight
        self.running.add(flight.workload.key)
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(workload_to_json(self._next_id, flight.workload).encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._zygote_died()

    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        if self._events_r is not None and not self._pending:
            _readable([self._events_r], timeout)
        self._read_events()
        if self._proc is not None and self._proc.poll() is not None:
            self._zygote_died()
        self._escalate_kills()
        events, self._pending = self._pending, []
        return events

    def terminate(self, key: TaskKey) -> bool:
        self._read_pids()
        for flight in self._inflight.values():
            if flight.workload.key == key and flight.pid is not None:
                killpg(flight.pid, signal.SIGTERM)
                flight.kill_at = time.monotonic() + KILL_GRACE_SECONDS
                return True
        return False

    def wakeup_fileno(self) -> int | None:
        return self._events_r

    @property
    def open_slots(self) -> int:
        """Room for ``parallelism`` running tries and as many again waiting in the zygote.

        The zygote starts a waiting try as soon as a running one has written its end, in
        the same round, without a trip through the scheduler: when many tries end together
        (a fan-out), the next ones start at once instead of after the scheduler has seen the
        exits and queued more.
        """
        return max(0, 2 * self.parallelism - len(self.running))

    # --- internals -----------------------------------------------------------------------
    def _read_pids(self) -> None:
        if self._pids_r is not None:
            self._pid_buffer = self._read_lines(self._pids_r, self._pid_buffer)

    def _read_events(self) -> None:
        self._read_pids()  # a try's "started" comes before its "exited"
        if self._events_r is not None:
            self._buffer = self._read_lines(self._events_r, self._buffer)

    def _read_lines(self, fd: int, buffer: bytes) -> bytes:
        """Handle every complete event line readable on ``fd``; returns the incomplete rest."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._on_event(json.loads(line))
        return buffer

    def _close_pipes(self) -> None:
        for fd in (self._events_r, self._pids_r):
            if fd is not None:
                os.close(fd)
        self._proc, self._events_r, self._pids_r = None, None, None

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["ev"] == "adopted":  # a try the zygote started after its upstream's end: ours from now on
            adopted = _InFlight(workload_from_json(event), resent=True)  # claimed already: never handed on
            self._inflight[int(event["id"])] = adopted
            self.running.add(adopted.workload.key)
            return
        flight = self._inflight.get(int(event["id"]))
        if flight is None:
            return
        if event["ev"] == "started":
            flight.pid = int(event["pid"])
            return
        del self._inflight[int(event["id"])]
        code = int(event["code"])
        if code == 0 and not event.get("ended", 1):  # e.g. os._exit(0) in the task: the row may still say running
            self._finish(flight.workload, Outcome.CRASHED, "task process exited (code 0) without writing its end")
            return
        outcome = Outcome.FINISHED if code == 0 else Outcome.CRASHED
        self._finish(flight.workload, outcome, "" if code == 0 else f"task process exited with code {code}")

    def _finish(self, workload: Workload, outcome: Outcome, detail: str) -> None:
        self.running.discard(workload.key)
        self._pending.append(ExecutorEvent(workload.key, workload.try_number, outcome, detail))

    def _zygote_died(self) -> None:
        """Hand the tries it had not started, once, to a new zygote; let the ones it had started end
        on their own for a moment (:func:`orphan_grace`), kill what still runs, report them CRASHED.

        A workload with no pid was waiting in the zygote for a slot (or had just arrived): its
        try was not started there, so the new zygote claims it (a try the dead one claimed but
        had not forked yet is refused by the claim's compare-and-set, and its row, running with
        no heartbeat, is a zombie the scheduler fails or retries). A workload that outlives two
        zygotes is reported CRASHED too: a zygote that dies at once must not loop.
        """
        self._read_pids()
        again: list[_InFlight] = []
        started: list[_InFlight] = []
        for flight in self._inflight.values():
            if flight.pid is None and not flight.resent:
                again.append(_InFlight(flight.workload, resent=True))
                self.running.discard(flight.workload.key)
            else:
                started.append(flight)
        self._inflight.clear()
        if self._proc is not None:
            self._proc.poll()
        self._close_pipes()
        self.start()
        for flight in again:
            self._send(flight)
        let_orphans_end([flight.pid for flight in started if flight.pid is not None], orphan_grace(self.settings))
        for flight in started:
            if flight.pid is not None:
                killpg(flight.pid, signal.SIGKILL)  # what still runs, and what a try that ended left in its group
            self._finish(flight.workload, Outcome.CRASHED, "the local executor's worker parent died")

    def _escalate_kills(self) -> None:
        now = time.monotonic()
        for flight in self._inflight.values():
            if flight.kill_at is not None and flight.pid is not None and now >= flight.kill_at:
                killpg(flight.pid, signal.SIGKILL)
                flight.kill_at = None


def orphan_grace(settings: Settings) -> float:
    """Seconds the tries of a dead zygote may take to end on their own: time enough to write an end,
    and well inside the zombie threshold (nothing heartbeats them meanwhile, and the scheduler must
    not find one a zombie and start its retry while it still runs)."""
    threshold = float(settings.get("scheduler", "zombie_threshold_sec"))
    beat = float(settings.get("scheduler", "task_heartbeat_sec"))
    return max(0.0, min(ORPHAN_GRACE_SECONDS, (threshold - 2 * beat) / 2))


def let_orphans_end(pids: list[int], grace: float) -> None:
    """Wait until the processes ``pids`` (no longer our children: their parent died) have all
    exited, or ``grace`` seconds have passed. Watched through pidfds, so a pid reused meanwhile
    is not mistaken for one still running."""
    watched: list[int] = []
    for pid in pids:
        try:
            watched.append(os.pidfd_open(pid))
        except (ProcessLookupError, OSError):  # gone already (or no pidfds: then no wait)
            continue
    deadline = time.monotonic() + grace
    try:
        running = list(watched)
        while running and (left := deadline - time.monotonic()) > 0:
            ended = _readable(running, left)
            running = [fd for fd in running if fd not in ended]
    finally:
        for fd in watched:
            os.close(fd)


def _readable(fds: list[int], timeout: float) -> list[int]:
    """The fds readable within ``timeout`` seconds: poll(), which takes any fd number (select()
    refuses 1024 and above)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(math.ceil(timeout * 1000) if timeout > 0 else 0)]


def workload_from_json(data: dict[str, Any]) -> Workload:
    """The Workload a request line describes."""
    key = TaskInstanceKey(data["dag_id"], data["run_id"], data["task_id"], int(data.get("map_index", -1)))
    return Workload(key=key, try_number=int(data["try_number"]), fileloc=data["fileloc"],
                    queue=data.get("queue", "default"), priority_weight=int(data.get("priority_weight", 1)),
                    pool=data.get("pool", "default_pool"), pool_slots=int(data.get("pool_slots", 1)))


def workload_to_json(request_id: int, workload: Workload) -> str:
    """One request line for the zygote."""
    return json.dumps({"id": request_id, **_workload_fields(workload)}) + "\n"


def adopted_to_json(request_id: int, workload: Workload) -> str:
    """The zygote's event line for a try it started itself (``schedule_after_task_execution``)."""
    return json.dumps({"ev": "adopted", "id": request_id, **_workload_fields(workload)}) + "\n"


def _workload_fields(workload: Workload) -> dict[str, Any]:
    key = workload.key
    return {"dag_id": key.dag_id, "run_id": key.run_id, "task_id": key.task_id, "map_index": key.map_index,
            "try_number": workload.try_number, "fileloc": workload.fileloc, "queue": workload.queue,
            "priority_weight": workload.priority_weight, "pool": workload.pool, "pool_slots": workload.pool_slots}


def killpg(pid: int, signum: int) -> None:
    """Signal a process group; one that is gone already is no error."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
