"""The zygote's calls to the task agent: claims, ends, and the follow-ups of ends.

:class:`StoreCalls` is a part of :class:`flowctl.task_runner.zygote.Zygote`
(which inherits it): it claims tries before they are forked, writes the ends
that arrived together (with the claims of the waiting tries that take their
slots), and, with nothing waiting, asks that the tasks the successful ends made
ready be started in the same transaction (``[scheduler]
schedule_after_task_execution``, :mod:`flowctl.db.follow`): it forks a spare
child for the likely follower while the agent writes, and turns each follower
into a workload the executor hears of as ``adopted``. When the database cannot be
reached it says so, and the tries claim or record on their own.
Must not import SQLAlchemy (a layering test checks it).
"""
from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flowctl.core.states import TaskInstanceState
from flowctl.executors.base import Workload
from flowctl.executors.local import adopted_to_json
from flowctl.task_runner import dagfile, wire
from flowctl.task_runner.children import NOT_CLAIMED

WAKE_REASON = "task finished"  # the scheduler's wake-up reason for an ended try


class StoreCalls:
    """The zygote's Store calls (see the module docstring); the rest of the zygote is
    :class:`flowctl.task_runner.zygote.Zygote`, whose state these methods use."""

    store: Any
    agent: Any
    hostname: str
    clock: Callable[[], datetime]
    parallelism: int | None
    waiting: list[tuple[int, Workload]]
    accepting: bool
    follow: bool
    follow_limits: tuple[int, tuple[str, ...]]
    adopted_id: int
    outbox: list[str]

    def _running(self) -> int:
        raise NotImplementedError

    def _fork_spare(self) -> int | None:
        raise NotImplementedError

    def _hand_spare(self, pid: int, request_id: int | None, workload: Workload | None, claim: Any) -> None:
        raise NotImplementedError

    def _sample_learners(self) -> None:
        raise NotImplementedError

    def _claim(self, workloads: list[Workload]) -> Callable[[], tuple[list[Any], list[Any]]]:
        """Send the claims; the function returned waits for them: (claims, their wire encodings)."""
        unclaimed = ([NOT_CLAIMED] * len(workloads), [None] * len(workloads))
        if self.store is None:
            return lambda: unclaimed
        if self.agent is not None:
            self.agent.ensure_running()
        args = ([(w.key, w.try_number) for w in workloads], self.hostname, os.getpid(), self.clock())
        try:
            begin = getattr(self.store, "begin", None)
            if begin is not None:
                answer = begin("start_tries", *args)
            else:  # a Store of this process (tests): claimed at once
                claims = self.store.start_tries(*args)
                answer = lambda: (claims, wire.encode(claims))  # noqa: E731
        except Exception:  # noqa: BLE001 - each child then claims (and reports failing to) on its own
            traceback.print_exc()
            return lambda: unclaimed

        def claimed() -> tuple[list[Any], list[Any]]:
            try:
                return answer()
            except Exception:  # noqa: BLE001 - as above
                traceback.print_exc()
                return unclaimed
        return claimed

    def _follow_slots(self, ends: list[Any], starting: int) -> int:
        """The slots free once these ends are written and ``starting`` waiting tries started, offered
        to the tasks the successful ends made ready; none while tries still wait here (they came
        first) or once the scheduler is gone."""
        if (not self.follow or self.waiting or not self.accepting or self.store is None
                or not any(end.state is TaskInstanceState.SUCCESS for end in ends)):
            return 0
        if self.parallelism is None:
            return len(ends)
        return max(0, self.parallelism - self._running() + len(ends) - starting)

    def _finish_and_follow(self, tries: list[Any], workloads: list[Workload], slots: int,
                           ends: list[tuple[Any, dict[str, Any]]],
                           ) -> tuple[list[bool | None], list[Any], list[Any], int | None]:
        """:meth:`_finish_and_claim`, and the claims of the tasks the ends made ready, in one call:
        ``(won, claims, followers, spare)``. While the agent writes, a spare child is forked if the
        DAG says a follower may come (its fork and start then overlap the transaction); the caller
        hands it the first follower or dismisses it."""
        from flowctl.db.records import FollowOptions

        if self.agent is not None:
            self.agent.ensure_running()
        max_active_tasks, paused_run_types = self.follow_limits
        args = (tries, WAKE_REASON, [(w.key, w.try_number) for w in workloads], self.hostname, os.getpid(),
                self.clock(), FollowOptions(slots, max_active_tasks, paused_run_types))
        begin = getattr(self.store, "begin", None)
        if begin is None:  # a Store of this process (tests): answered at once
            won, claims, followers = self.store.finish_and_follow(*args)
            return list(won), list(claims), list(followers), None
        answer = begin("finish_and_follow", *args)
        spare = self._fork_spare() if may_follow(ends) else None
        try:
            self._sample_learners()
            (won, claims, followers), _ = answer()
        except BaseException:
            if spare is not None:
                self._hand_spare(spare, None, None, None)
            raise
        return list(won), list(claims), list(followers), spare

    def _adopt(self, followers: list[Any]) -> tuple[list[tuple[int, Workload]], list[Any]]:
        """A workload and its claim for each try the Store claimed after the ends; the executor
        hears of each (``adopted``) before its ``started``, on the same pipe."""
        jobs, claims = [], []
        for claim, fileloc in followers:
            ti = claim.ti
            self.adopted_id -= 1
            workload = Workload(key=ti.key, try_number=ti.try_number - 1, fileloc=fileloc, queue=ti.queue,
                                priority_weight=ti.priority_weight, pool=ti.pool, pool_slots=ti.pool_slots)
            self.outbox[0] += adopted_to_json(self.adopted_id, workload)
            jobs.append((self.adopted_id, workload))
            claims.append(claim)
        return jobs, claims

    def _finish_and_claim(self, tries: list[Any], workloads: list[Workload]) -> tuple[list[bool | None], list[Any]]:
        """The ends' results and the claims of ``workloads``, from one call to the agent (one
        transaction: if it fails, :meth:`_record` writes and claims apart)."""
        if self.agent is not None:
            self.agent.ensure_running()
        args = (tries, WAKE_REASON, [(w.key, w.try_number) for w in workloads], self.hostname, os.getpid(), self.clock())
        begin = getattr(self.store, "begin", None)
        if begin is None:  # a Store of this process (tests): answered at once
            won, claims = self.store.finish_and_start_tries(*args)
        else:
            answer = begin("finish_and_start_tries", *args)
            self._sample_learners()
            (won, claims), _ = answer()
        return list(won), list(claims)

    def _record_one(self, end: Any) -> bool | None:
        """One end alone; None if the database refused it (the try then writes its end itself)."""
        try:
            return bool(self.store.finish_tries([end], WAKE_REASON)[0])
        except Exception:  # noqa: BLE001 - the child retries over a connection of its own
            traceback.print_exc()
            return None


def may_follow(ends: list[tuple[Any, dict[str, Any]]]) -> bool:
    """Whether a successful end's task has a downstream task the Store will likely start after
    it: all_success, unmapped, and this task its only upstream (a join usually waits for another).
    :mod:`flowctl.db.follow` decides; this only saves forking a spare in vain."""
    for child, end in ends:
        workload = child.workload
        if end.get("state") != "success" or workload is None:
            continue
        try:
            task = dagfile.get_task(dagfile.load_dag(workload.fileloc, workload.key.dag_id), workload.key.task_id)
        except Exception:  # noqa: BLE001 - only a guess: the child reports a broken file
            continue
        for down in getattr(task, "downstream_list", ()):
            rule = getattr(down, "trigger_rule", "all_success")
            if (getattr(rule, "value", rule) == "all_success" and not getattr(down, "is_mapped", False)
                    and len(getattr(down, "upstream_task_ids", ())) == 1):
                return True
    return False
