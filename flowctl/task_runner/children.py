"""The zygote's children: what a forked try runs, and what the zygote prepares for it to inherit.

A child of :class:`flowctl.task_runner.zygote.Zygote` either inherits its claim,
or waits for the zygote to hand it over a pipe (:func:`run_handed_over`), or is
told to claim and record its try itself when the zygote could not reach the
database (:func:`run_own`). Before it forks, the zygote imports the tries' DAG
files (:func:`preload`) and computes the context keys each run's tries share
(:func:`remember_runs`), so every child inherits them instead of doing that work
in a fresh process, where it costs copied pages and cold caches.
Must not import SQLAlchemy (a layering test checks it).
"""
from __future__ import annotations

import _signal  # signal's C half: no Enum for each result, which a fresh child would pay for (execution.py)
import os
import select
import signal
from collections.abc import Callable
from typing import Any

from flowctl.executors.base import Workload
from flowctl.settings import Settings
from flowctl.task_runner import dagfile, immortal, wire

#: Blocked in the zygote across its forks; each child unblocks it once its runner handles it.
SIGTERM_ONLY = {int(signal.SIGTERM)}
NOT_CLAIMED = object()  # the zygote could not claim: the child claims itself
#: Blocked across a probe's fork, as across the tries' (see zygote._BLOCKED_ACROSS_FORKS).
_BLOCKED_ACROSS_FORK = SIGTERM_ONLY | {int(signal.SIGCHLD)}
#: How long past the import timeout a probe may take to report before it is killed.
PROBE_MARGIN_SECONDS = 5.0


def run_handed_over(workload: Workload | None, settings: Settings, store: Any, supervisor: Any) -> None:
    """In a fresh child: wait for the claim the zygote hands over, then run (or not) the try. A
    spare (``workload`` None) learns its try with the claim, or is dismissed."""
    message = supervisor.claim()
    if message is None:  # the zygote died before telling: whatever it claimed, zombie detection ends
        return
    if workload is None:
        if message.get("workload") is None:
            return
        from flowctl.executors.local import workload_from_json

        workload = workload_from_json(message["workload"])
    if message.get("self"):
        run_own(workload, settings, store)
    elif message.get("claim") is not None:
        run_claimed(workload, settings, store, wire.decode(message["claim"]), supervisor)


def run_claimed(workload: Workload, settings: Settings, store: Any, claim: Any, supervisor: Any) -> None:
    """In a fresh child: run the try ``claim`` won, under the zygote's supervision."""
    from flowctl.task_runner.execution import defer_sigterm
    from flowctl.task_runner.runner import run_claimed as run

    with defer_sigterm():  # a SIGTERM that came since the fork (blocked until now) stops the try at its start
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, SIGTERM_ONLY)
        run(workload, settings, store, claim, supervisor)


def run_own(workload: Workload, settings: Settings, store: Any) -> None:
    """In a fresh child: claim, run and record the try without the zygote."""
    from flowctl.task_runner.runner import run_workload

    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, SIGTERM_ONLY)  # blocked across the fork; nothing is claimed yet
    run_workload(workload, settings, store)


def preload(preloaded: dict[str, float | None], filelocs: set[str],
            become_worker: Callable[[], None] | None = None) -> bool:
    """Import each DAG file here (again if it changed since: ``preloaded`` keeps path -> mtime) so
    the children inherit it; a file that fails to import is the child's to report. The import is
    user code: whatever it raises (``sys.exit`` too) or a hang past the import timeout stops only
    the import here; each child of that file then imports it itself, under its own timeout.
    With ``become_worker`` (what a fresh child runs first to drop this process's pipes and
    connections), each new version of a file is imported in a forked probe first, and here only
    if the probe's import returned: a file that ends its process at import (``os._exit``, a crash
    in an extension module) ends only the probe, and then each try that needs it. Returns whether
    any new version was taken up (its import tried here or in a probe)."""
    imported = False
    if dagfile.forget_changed_helpers():
        preloaded.clear()  # every file may hold a changed helper's old code
    for fileloc in filelocs:
        version = _mtime(fileloc)
        if preloaded.get(fileloc) == version:
            continue
        preloaded[fileloc] = version
        imported = True
        if become_worker is not None and not import_returns(fileloc, become_worker):
            continue
        try:
            dagfile.load_file(fileloc)
        except BaseException:  # noqa: BLE001 - user code: the child imports again and records the error in the try's log
            pass
        immortal.fill_pool_holes()  # what the import freed: no holes for the tries' new objects
    return imported


def import_returns(fileloc: str, become_worker: Callable[[], None]) -> bool:
    """Whether importing ``fileloc`` returns, successfully, in a child forked to try it (which then
    exits): False if the import raised, or if the child ended without saying (it was ended by the
    import itself, or killed after the import timeout and a few seconds more)."""
    from flowctl.task_runner import forking

    verdict_r, verdict_w = os.pipe()
    _signal.pthread_sigmask(_signal.SIG_BLOCK, _BLOCKED_ACROSS_FORK)
    try:
        pid = forking.forker()()
        if pid == 0:
            os.close(verdict_r)
            verdict = b"error"
            try:
                become_worker()
                dagfile.load_file(fileloc)
                verdict = b"ok"
            finally:
                try:
                    os.write(verdict_w, verdict)
                finally:
                    os._exit(0)
    finally:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, _BLOCKED_ACROSS_FORK)
        os.close(verdict_w)
    try:
        limit = dagfile.IMPORT_TIMEOUT + PROBE_MARGIN_SECONDS if dagfile.IMPORT_TIMEOUT > 0 else None
        said = b""
        if select.select([verdict_r], [], [], limit)[0]:
            said = os.read(verdict_r, 16)
        else:
            os.killpg(pid, signal.SIGKILL)  # it leads its own group (become_worker): what it started dies too
    finally:
        os.close(verdict_r)
        os.waitpid(pid, 0)
    return said == b"ok"


def remember_runs(workloads: list[Workload], claims: list[Any]) -> None:
    """Compute here, once per run, the context keys its tries share: the children inherit them.
    Only for DAG files imported here already (:func:`preload`): one that failed is not tried again."""
    from flowctl.task_runner.preparation import remember_run_context

    done: set[tuple[str, str]] = set()
    for workload, claim in zip(workloads, claims):
        if claim is None or claim is NOT_CLAIMED or (workload.fileloc, workload.key.run_id) in done:
            continue
        if not dagfile.imported(workload.fileloc):
            continue
        done.add((workload.fileloc, workload.key.run_id))
        try:
            remember_run_context(dagfile.load_dag(workload.fileloc, workload.key.dag_id), claim.run,
                                 claim.previous_success)
        except BaseException:  # noqa: BLE001 - an optimisation only (and user code): the try computes its keys itself
            pass


def _mtime(fileloc: str) -> float | None:
    try:
        return os.stat(fileloc).st_mtime
    except OSError:
        return None
