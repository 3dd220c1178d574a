"""The local executor's warm parent: imports flowctl once, then claims, forks and supervises each try.

Started by :class:`flowctl.executors.local.LocalExecutor` as
``python -m flowctl.task_runner.zygote --parallelism N EVENT_FD PID_FD`` with its
settings in the environment. First it starts the task agent (``flowctl.task_runner.agent``),
which holds the database stack so that this process, and so every fork of
it, stays small: what the zygote has mapped, each try pays for at fork and
exit. It reads workloads, one JSON object per line, on stdin, and keeps them
waiting, highest ``priority_weight`` first, while N tries run. For the
workloads that start together it imports their DAG files (cached by path and
mtime, so children inherit the modules; each new version of a file in a forked
probe first, :func:`children.import_returns`, so that a file ending its
process at import ends only the probe) and sends their claims to the agent
(one transaction). A try that arrived alone is forked while the agent writes
its claim, which the zygote then hands to the child over a pipe (or tells it
that its try was claimed or cleared meanwhile, and it exits): that takes the
fork and the child's start off a chained task's critical path. Tries that
arrived together (the scheduler is busy) are forked once their claims are
back, so each child inherits its claim and no CPU goes to sending it.
Each child first copies, in one system call, the zygote's pages that every try
writes (:mod:`prefault`: the zygote learns them from the page maps of a few
children forked plain). The child starts a new session (its own process group, so ``terminate`` can
kill the task and everything it started), resets signal handlers, waits for
its claim and runs :func:`run_claimed` under this process's supervision: it sends its rendered
fields and its end (state, fields, XComs) as JSON lines on a pipe and waits
for the answer on another. The zygote has the agent write the ends that arrived
together in one transaction (the state compare-and-sets, history, XComs and the
scheduler's wake-up) and, in the same call, claim the waiting tries that take
the slots those ends free (they start at once, without a trip through the
scheduler); with nothing waiting, the successful ends' downstream tasks that
they made ready are claimed in that call too and forked at once
(``[scheduler] schedule_after_task_execution``, :mod:`flowctl.db.follow`; these
calls are :mod:`flowctl.task_runner.store_calls`). It
heartbeats every running try in one statement each
``[scheduler] task_heartbeat_sec`` and sends SIGTERM to a try whose row says
it no longer runs (cleared, killed, marked). A no-op try thus never talks to
the database: only its own code (Variables, XCom pulls, branches) does, through
a connection of its own to the agent.

A child ``os._exit``\\ s with 0 when the try ended normally (the row holds its
state) or 1 when it crashed; the zygote reaps children on SIGCHLD and writes
``exited`` events, one JSON line each, to EVENT_FD, and ``started`` events
(a try's pid) to PID_FD, which the scheduler does not wait on: a try that
starts wakes nobody. On EOF of stdin (the scheduler stopped) it takes no more
work, drops the tries still waiting (never claimed: they stay queued for the
next scheduler) and supervises the tries still running until they end, then exits. If
the database cannot be reached when tries arrive, each child is told to claim and
record its own try (:func:`children.run_own`); if it refuses an end, the try
writes that end itself.
Runs user code (DAG file imports) but never in the scheduler's process.
Must not import SQLAlchemy (a layering test checks it).
"""
from __future__ import annotations

import _signal  # signal's C half: no Enum for each result, which a fresh child would pay for (execution.py)
import gc
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flowctl.core.errors import first_line
from flowctl.core.states import TaskInstanceState
from flowctl.core.timezones import use_default_timezone
from flowctl.executors.base import Workload
from flowctl.executors.local import killpg, workload_from_json, workload_to_json
from flowctl.settings import Settings
from flowctl.task_runner import children, dagfile, forking, immortal, logs, pipes, prefault, wire
from flowctl.task_runner.children import NOT_CLAIMED, SIGTERM_ONLY
from flowctl.task_runner.agent_client import AgentProcess
from flowctl.task_runner.store_calls import WAKE_REASON, StoreCalls
from flowctl.task_runner.supervised import Supervised, Unsupervised, read_messages
from flowctl.task_runner.warmup import warm_imports, warm_tries

STARTED, EXITED = "started", "exited"
_CHILD_DEFAULTS = tuple(int(s) for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT))
#: Blocked across the forks (SIGTERM: see _start). SIGCHLD, whose handler this process has: caught
#: just before a fork, a child would inherit it as pending (forking.forker); each child unblocks it.
_BLOCKED_ACROSS_FORKS = SIGTERM_ONLY | {int(signal.SIGCHLD)}
_SIGCHLD_ONLY = {int(signal.SIGCHLD)}


class Zygote(StoreCalls):
    """The claim / fork / supervise loop; one instance per zygote process."""

    def __init__(self, settings: Settings, event_fd: int, store: Any = None,
                 clock: Callable[[], datetime] | None = None, pid_fd: int | None = None,
                 agent: AgentProcess | None = None, parallelism: int | None = None) -> None:
        self.settings = settings
        # At most this many tries run at once (None: each starts when it arrives); the others wait
        # here, highest priority_weight first, and start as running ones end.
        self.parallelism = parallelism
        self.waiting: list[tuple[int, Workload]] = []  # (request id, workload)
        self.store = store
        self.agent = agent
        self.event_fd: int | None = event_fd
        self.pid_fd = pid_fd if pid_fd is not None else event_fd
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.beat_every = float(settings.get("scheduler", "task_heartbeat_sec"))
        self.children: dict[int, Supervised | Unsupervised] = {}
        # This end of every child's pipes: a new child closes them without looking at each child.
        self.pipe_fds: set[int] = set()
        self.preloaded: dict[str, float | None] = {}  # DAG file -> mtime when imported here (None: missing)
        # schedule_after_task_execution: an end may start the tasks it made ready, offered the free slots.
        self.follow = bool(settings.get("scheduler", "schedule_after_task_execution"))
        self.follow_limits = (int(settings.get("core", "max_active_tasks_per_dag")),
                              tuple(sorted(settings.paused_run_types)))
        self.adopted_id = 0  # the last id given to such a try (negative: the executor's ids are positive)
        self.hostname = socket.gethostname()
        self.accepting = True
        self.outbox = ["", ""]  # queued lines: started (PID_FD), exited (EVENT_FD)
        self.pages = prefault.PageLearner()  # the pages every try writes: each child copies them at once
        self.learners_ended: list[int] = []  # learners whose end came: sampled while the agent writes it
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the scheduler, which decides
        buffer = b""
        while self.accepting or self.children:
            readable = pipes.poll([self.wake_r, *([0] if self.accepting else []), *self._result_fds()],
                             self._select_timeout())
            if self.wake_r in readable:
                pipes.drain(self.wake_r)
            if 0 in readable:
                chunk = os.read(0, 65536)
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    self._wait([json.loads(line) for line in lines if line.strip()])
                else:
                    self.accepting = False
                    self.waiting = []  # never claimed: still queued, the next scheduler queues them again
            self._read_results([fd for fd in readable if fd not in (0, self.wake_r)])
            self._reap()
            self._dispatch()
            self._flush()
            self._heartbeat()

    # --- starting tries ------------------------------------------------------------------
    def _wait(self, requests: list[dict[str, Any]]) -> None:
        """Queue tries handed over; the highest ``priority_weight`` first, then in arrival order."""
        if requests:
            self.waiting.extend((int(request["id"]), workload_from_json(request)) for request in requests)
            self.waiting.sort(key=lambda job: -job[1].priority_weight)  # stable: arrival order within a weight

    def _dispatch(self) -> None:
        """Start as many waiting tries as there are free slots, together."""
        self._start(self._take_waiting())

    def _take_waiting(self, freeing: int = 0) -> list[tuple[int, Workload]]:
        """The waiting tries that fit in the free slots, ``freeing`` more (ends being written now)."""
        if not self.waiting:
            return []
        free = len(self.waiting) if self.parallelism is None else self.parallelism - self._running() + freeing
        starting, self.waiting = self.waiting[:max(0, free)], self.waiting[max(0, free):]
        return starting

    def _running(self) -> int:
        """Children that take a slot: all but those whose end is written (they are about to exit)."""
        return sum(1 for c in self.children.values() if not (isinstance(c, Supervised) and c.ended))

    def _start(self, starting: list[tuple[int, Workload]], claims: list[Any] | None = None) -> None:
        """Fork a child for each ``(request id, workload)``; ``claims``: theirs, made already."""
        if not starting:
            return
        workloads = [workload for _, workload in starting]
        if children.preload(self.preloaded, {w.fileloc for w in workloads}, self._become_worker):  # a fan-out: one file
            self.pages.forget()
        claimed = self._claim(workloads) if claims is None else None  # sent: the agent writes them meanwhile
        # Alone and not yet claimed: fork now and hand the claim over; else fork with the claims.
        ahead = claimed is not None and len(workloads) == 1
        if not ahead:
            claims = claims if claimed is None else claimed()[0]
            children.remember_runs(workloads, claims)
        gc.freeze()  # the children's collectors then never touch (and copy) the inherited objects
        # A SIGTERM from now on must reach the runner's handler, not kill a child that may hold a
        # claim; each child unblocks it once that handler is installed (children.run_claimed, run_own).
        _signal.pthread_sigmask(_signal.SIG_BLOCK, _BLOCKED_ACROSS_FORKS)
        try:
            jobs = []
            for (request_id, workload), claim in zip(starting, claims or [None]):
                if ahead or claim is NOT_CLAIMED:  # forked without a claim: handed over below
                    jobs.append((request_id, workload, None))
                elif claim is None:  # stale: its try was claimed or cleared since it was queued
                    self._emit(EXITED, request_id, 0, 0)
                else:
                    jobs.append((request_id, workload, claim))
            pids = self._fork_all(jobs)
        finally:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _BLOCKED_ACROSS_FORKS)
        if ahead:
            assert claimed is not None
            claims, encoded = claimed()
            self._hand_over(pids[0], claims[0], encoded[0])
        else:
            for pid, (_, _, claim) in zip(pids, jobs):
                if claim is None:  # the ones the zygote could not claim
                    self._hand_over(pid, NOT_CLAIMED, None)

    def _fork_all(self, jobs: list[tuple[int | None, Workload | None, Any]]) -> list[int]:
        """A child for each ``(request_id, workload, claim)`` that runs ``workload`` under ``claim``,
        or without one waits to be handed it (see :meth:`_hand_over`); their pids, in order.

        Every fork shares this process's pages with the new child again, so each page this
        process writes before the next fork is copied: the pipes are made before the first fork
        and the children recorded after the last, and between two forks nothing runs but the
        loop. Each child closes the other children's pipe ends.
        """
        ends = [(os.pipe(), os.pipe()) for _ in jobs]  # ((results_r, results_w), (answers_r, answers_w))
        self.pipe_fds.update(fd for (results_r, _), (_, answers_w) in ends for fd in (results_r, answers_w))
        pids: list[int] = []
        fork = forking.forker()
        learners = self.pages.learners(len(jobs))
        try:
            for index in range(len(jobs)):
                pid = fork()
                if pid == 0:
                    if not learners[index]:
                        self.pages.populate()
                    self._become_child(jobs[index], ends, index)
                pids.append(pid)
        finally:  # a failed fork: the children forked so far are supervised, the rest never were
            for index, ((results_r, results_w), (answers_r, answers_w)) in enumerate(ends):
                os.close(results_w)
                os.close(answers_r)
                if index < len(pids):
                    os.set_blocking(results_r, False)
                else:
                    self._close_pipe(results_r)
                    self._close_pipe(answers_w)
            next_beat = time.monotonic() + self.beat_every
            for pid, (request_id, workload, claim), ((results_r, _), (_, answers_w)), learner in zip(
                    pids, jobs, ends, learners):
                self.children[pid] = Supervised(request_id, workload, claim, results_r, answers_w, next_beat,
                                                 pid=pid, learner=learner)
                if request_id is not None:  # a spare is reported once it has a try
                    self._emit(STARTED, request_id, pid)
            # Now, before waiting for any claim: the executor must know the pid of every try that may
            # run, so that if this process dies it kills that try instead of handing it to the next.
            self._flush()
        return pids

    def _become_child(self, job: tuple[int | None, Workload | None, Any], ends: list[Any], index: int) -> None:
        """In a fresh child of :meth:`_fork_all`: keep only its own pipe ends, then run its try."""
        _, workload, claim = job
        (_, results_w), (answers_r, _) = ends[index]
        for other, ((_, other_results_w), (other_answers_r, _)) in enumerate(ends):
            if other != index:
                os.close(other_results_w)
                os.close(other_answers_r)
        self._become_worker()  # closes this process's ends of every child's pipes, its own included
        supervisor = pipes.PipeSupervisor(results_w, answers_r)
        if claim is not None:
            self._run_and_exit(lambda: children.run_claimed(workload, self.settings, self.store, claim, supervisor))
        self._run_and_exit(lambda: children.run_handed_over(workload, self.settings, self.store, supervisor))

    def _hand_over(self, pid: int, claim: Any, wire_claim: Any) -> None:
        """Tell the child what became of its claim: run it, do nothing (stale), or claim it yourself."""
        child = self.children[pid]
        assert isinstance(child, Supervised)
        if claim is NOT_CLAIMED:  # the child claims and records its try itself, unsupervised
            pipes.answer(child.answers, {"self": True})
            self._close_pipe(child.answers)
            if child.results is not None:
                self._close_pipe(child.results)
            self.children[pid] = Unsupervised(child.request_id, child.workload)
        elif claim is None:  # stale: its try was claimed or cleared since it was queued
            child.ended = True
            pipes.answer(child.answers, {"claim": None})
        else:
            child.claim = claim
            pipes.answer(child.answers, {"claim": wire_claim})
            children.remember_runs([child.workload], [claim])  # for the run's next tries (a chain's)

    def _become_worker(self) -> None:
        """In a fresh child: own session, default signals, none of the zygote's pipes or connections."""
        os.setsid()
        _signal.set_wakeup_fd(-1)
        for signum in _CHILD_DEFAULTS:
            _signal.signal(signum, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _SIGCHLD_ONLY)  # the try's own children report to it
        for fd in (self.wake_r, self.wake_w, *{fd for fd in (self.event_fd, self.pid_fd) if fd is not None},
                   *self.pipe_fds):
            os.close(fd)
        if self.agent is not None:
            self.agent.leave_to_parent()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # The zygote's agent connection stays the zygote's: the try connects afresh if it uses the
        # database at all (flowctl.task_runner.agent_client).

    def _run_and_exit(self, run: Callable[[], Any]) -> None:
        code = 1
        try:
            run()
            code = 0
        except BaseException:  # noqa: BLE001 - the process boundary: report a crash by exit code
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    # --- supervising -----------------------------------------------------------------------
    def _result_fds(self) -> list[int]:
        return [c.results for c in self.children.values() if isinstance(c, Supervised) and c.results is not None]

    def _read_results(self, fds: list[int]) -> None:
        if not fds:
            return
        by_fd = {c.results: c for c in self.children.values() if isinstance(c, Supervised)}
        ends: list[tuple[Supervised, dict[str, Any]]] = []
        for fd in fds:
            child = by_fd.get(fd)
            if child is None:
                continue
            messages = read_messages(child)
            if child.results is None:  # at EOF: closed
                self.pipe_fds.discard(fd)
            for message in messages:
                if "rendered" in message:
                    child.rendered = message["rendered"]
                elif "end" in message:
                    ends.append((child, message["end"]))
                    if child.learner and child.pid is not None:
                        self.learners_ended.append(child.pid)
                        child.learner = False
                elif "recorded" in message:  # the try wrote its end itself (a deferral, a poke)
                    child.ended = True
        if ends:
            self._record(ends)

    def _record(self, ends: list[tuple[Supervised, dict[str, Any]]]) -> None:
        """Write the ends that arrived together in one transaction, then answer each child; the
        waiting tries that take the slots these free are claimed in the same call, and started
        (or, with none waiting, the tasks the ends made ready: :meth:`_follow_slots`)."""
        from flowctl.db.records import TryEnd

        tries = [TryEnd(child.workload.key, TaskInstanceState(end["state"]), datetime.fromisoformat(end["now"]),
                        child.try_number, child.claim.ti.start_date, {**pipes.decode_fields(end), "pid": child.pid},
                        end.get("xcoms") or {}, end.get("produces"), end.get("outlet_extra"),
                        alias_events=end.get("alias_events"))
                 for child, end in ends]
        starting = self._take_waiting(freeing=len(ends))
        claims = None
        followers: list[Any] = []
        spare: int | None = None
        try:
            offered = self._follow_slots(tries, len(starting))
            if offered:
                won, claims, followers, spare = self._finish_and_follow(tries, [w for _, w in starting], offered,
                                                                        ends)
            elif starting:
                won, claims = self._finish_and_claim(tries, [workload for _, workload in starting])
            else:
                won = list(self.store.finish_tries(tries, WAKE_REASON))
        except Exception:  # noqa: BLE001 - one bad end must not lose the others: write them one by one
            traceback.print_exc()
            won = [self._record_one(end) for end in tries]
        self._sample_learners()  # if the call gave no time for it: before the answers, which let the learners go
        for (child, _), result in zip(ends, won):
            child.ended = result is not None
            pipes.answer(child.answers, {"won": result})
        if starting and claims is None:  # written apart: a refused end keeps its slot until its try writes it
            self.waiting[:0] = starting
            starting = self._take_waiting()
        if followers:
            adopted, adopted_claims = self._adopt(followers)
            if spare is not None:  # forked while the call ran: it takes the first follower at once
                (request_id, workload), claim = adopted.pop(0), adopted_claims.pop(0)
                self._hand_spare(spare, request_id, workload, claim)
                spare = None
            starting, claims = starting + adopted, list(claims or []) + adopted_claims
        if spare is not None:
            self._hand_spare(spare, None, None, None)
        self._start(starting, claims)

    def _sample_learners(self) -> None:
        """Look at the page maps of the learners among the tries that ended, which wait for their
        answer meanwhile: while the agent writes their ends, or at the latest before the answers."""
        while self.learners_ended:
            self.pages.sample(self.learners_ended.pop())

    def _fork_spare(self) -> int | None:
        """A child forked before its try is known; it waits for :meth:`_hand_spare`. None if the fork failed."""
        gc.freeze()
        _signal.pthread_sigmask(_signal.SIG_BLOCK, _BLOCKED_ACROSS_FORKS)
        try:
            return self._fork_all([(None, None, None)])[0]
        except OSError:
            traceback.print_exc()
            return None
        finally:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _BLOCKED_ACROSS_FORKS)

    def _hand_spare(self, pid: int, request_id: int | None, workload: Workload | None, claim: Any) -> None:
        """Give a spare child its try (reported ``started`` now), or, with none, dismiss it: it exits
        at once and, never the executor's, is reaped without an event."""
        child = self.children[pid]
        assert isinstance(child, Supervised)
        if request_id is None or workload is None:
            child.ended = True
            pipes.answer(child.answers, {"claim": None})
            return
        child.request_id, child.workload, child.claim = request_id, workload, claim
        self._emit(STARTED, request_id, pid)
        handed = {"claim": wire.encode(claim), "workload": json.loads(workload_to_json(0, workload))}
        pipes.answer(child.answers, handed)
        children.remember_runs([workload], [claim])  # forked before the claim came: for the run's next tries

    def _heartbeat(self) -> None:
        """One statement per due try, one transaction for all; SIGTERM to a try that no longer runs."""
        if self.store is None or self.beat_every <= 0:
            return
        now = time.monotonic()
        due = [(pid, c) for pid, c in self.children.items()
               if isinstance(c, Supervised) and not c.ended and c.claim is not None and c.next_beat <= now]
        if not due:
            return
        try:
            alive = self.store.heartbeat_tries([(c.workload.key, c.try_number, pid) for pid, c in due], self.clock())
        except Exception as error:  # noqa: BLE001 - a database hiccup must not stop the tries: beat again soon
            reason = first_line(error)
            print(f"flowctl zygote: heartbeat of {len(due)} running try(s) failed, beating again in a second: {reason}",
                  file=sys.stderr, flush=True)
            for _, child in due:
                child.next_beat = now + min(self.beat_every, 1.0)
            return
        for (pid, child), running in zip(due, alive):
            child.next_beat = now + self.beat_every
            if not running:
                print(f"flowctl zygote: {child.workload.key} try {child.try_number} no longer runs in the "
                      f"database; stopping it", file=sys.stderr, flush=True)
                killpg(pid, signal.SIGTERM)
            elif child.rendered is not None and not child.rendered_saved:
                child.rendered_saved = True
                try:
                    self.store.save_rendered_fields(child.workload.key, child.rendered)
                except Exception:  # noqa: BLE001 - shown at the try's end anyway
                    traceback.print_exc()

    def _select_timeout(self) -> float:
        beats = [c.next_beat for c in self.children.values() if isinstance(c, Supervised) and not c.ended]
        if not beats or self.store is None or self.beat_every <= 0:
            return 5.0
        return max(0.0, min(beats) - time.monotonic())

    def _reap(self) -> None:
        while self.children:
            reaped = forking.reap_one()
            if reaped is None:
                return
            pid, status = reaped
            child = self.children.pop(pid, None)
            if child is None:
                continue
            if isinstance(child, Supervised):
                if child.results is not None:
                    self._last_words(child)
                self._close_pipe(child.answers)
                if child.learner:  # gone unread (a dismissed spare, a crash): the next child learns
                    self.pages.learn_again()
            if child.request_id is not None:  # a spare dismissed unused never was the executor's
                ended = not isinstance(child, Supervised) or child.ended  # else: the row may hold no end
                self._emit(EXITED, child.request_id, pid, os.waitstatus_to_exitcode(status), ended)

    def _last_words(self, child: Supervised) -> None:
        """Read what an exited child sent just before its exit (whether it wrote its end itself),
        then close its pipe: nothing more can come."""
        fd = child.results
        assert fd is not None
        if any("recorded" in message for message in read_messages(child)):
            child.ended = True
        if child.results is None:  # at EOF: read_messages closed it
            self.pipe_fds.discard(fd)
        else:
            self._close_pipe(fd)

    def _close_pipe(self, fd: int) -> None:
        self.pipe_fds.discard(fd)
        os.close(fd)

    def _emit(self, event: str, request_id: int, pid: int, code: int = 0, ended: bool = True) -> None:
        """Queue one event line; ``_flush`` writes each pipe's lines in one write."""
        if event == STARTED:
            self.outbox[0] += f'{{"ev":"started","id":{request_id},"pid":{pid}}}\n'
        else:
            self.outbox[1] += f'{{"ev":"exited","id":{request_id},"pid":{pid},"code":{code},"ended":{int(ended)}}}\n'

    def _flush(self) -> None:
        """Write the queued events: ``started`` first (the scheduler reads a try's pid before its exit)."""
        started, exited = self.outbox
        self.outbox = ["", ""]
        for name, lines in (("pid_fd", started), ("event_fd", exited)):
            fd = getattr(self, name)
            if not lines or fd is None:
                continue
            try:
                pipes.write_all(fd, lines.encode())
            except OSError:  # the scheduler is gone: keep supervising the tries, stop reporting
                for other in ("event_fd", "pid_fd"):
                    if getattr(self, other) == fd:
                        setattr(self, other, None)
                if fd not in (self.event_fd, self.pid_fd):
                    os.close(fd)


def main(argv: list[str]) -> None:
    """Entry point: ``python -m flowctl.task_runner.zygote [--parallelism N] EVENT_FD [PID_FD] [--agent PATH
    LISTEN_FD STOP_FD LIFE_FD]`` (``--parallelism``: at most N tries at once, the others wait here;
    ``--agent``: the seat of an agent the scheduler forks, see ``AgentSeat``)."""
    parallelism = None
    if argv[:1] == ["--parallelism"]:
        parallelism, argv = int(argv[1]), argv[2:]
    adopt = None
    if "--agent" in argv:
        at = argv.index("--agent")
        argv, adopt = argv[:at], argv[at + 1:at + 5]
    event_fd = int(argv[0])
    pid_fd = int(argv[1]) if len(argv) > 1 else None
    forking.watch_at_fork_handlers()  # before anything this process imports for the tries
    settings = Settings.load()
    # every try inherits these, set once here (a DAG file's import is user code: it must not hang
    # this process; its naive dates are in [core] default_timezone)
    dagfile.use_dags_folder(settings.dags_folder, float(settings.get("core", "dagbag_import_timeout")))
    use_default_timezone(settings.default_timezone)
    logs.prepare_for_tries(str(settings.get("logging", "logging_level")))
    agent = AgentProcess(settings, adopt)  # it warms its database stack while this process warms the rest
    try:
        warm_imports()
        warm_tries(settings, agent.store, pack=True)
        # Out of the collector's way from now on: else the first DAG file imported here (a run's
        # first try waits for it) pays for a full collection of every module warmed above, 50 ms
        # for a 202-task DAG whose import takes 4.
        gc.freeze()
        immortal.immortalize_heap()  # Python 3.12+: a try no longer copies the pages of what it only uses
        immortal.fill_pool_holes()  # and its own new objects take fresh pages, not holes in old ones
        Zygote(settings, event_fd, agent.store, pid_fd=pid_fd, agent=agent, parallelism=parallelism).serve()
    finally:
        agent.close()


if __name__ == "__main__":
    main(sys.argv[1:])
