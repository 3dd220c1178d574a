"""forking.forker: libc's fork where the after-fork handlers are not needed, os.fork elsewhere.

Each case runs in a fresh interpreter: watching the handlers changes ``os`` for the whole process.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# A handler registered before the watch: os.fork runs it in the child, libc's fork does not.
_CHILDREN = '''
import json, os, random, sys, threading, subprocess
from flowctl.task_runner import forking

ran = []
os.register_at_fork(after_in_child=lambda: ran.append("before-watch"))
forking.watch_at_fork_handlers()
{setup}
out_r, out_w = os.pipe()
fork = forking.forker()
for _ in range(2):
    pid = fork()
    if pid == 0:
        try:
            seen = []
            worker = threading.Thread(target=lambda: seen.append(threading.current_thread() is not threading.main_thread()))
            worker.start()
            worker.join()
            echo = subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout.strip()
            report = {{"handlers": ran, "random": random.getrandbits(64), "thread": seen, "echo": echo,
                       "main": threading.current_thread() is threading.main_thread()}}
            os.write(out_w, (json.dumps(report) + "\\n").encode())
        finally:
            os._exit(0)  # a child that failed reports nothing, and the parent's assertions say so
    os.waitpid(pid, 0)
os.close(out_w)
children = [json.loads(line) for line in os.fdopen(out_r).read().splitlines()]
print(json.dumps({{"children": children, "parent_random": random.getrandbits(64)}}))
{teardown}
'''


def _fork_two(setup: str = "", teardown: str = "") -> dict:
    source = _CHILDREN.format(setup=textwrap.dedent(setup), teardown=textwrap.dedent(teardown))
    out = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(sys.implementation.name != "cpython" or sys.version_info[:2] > (3, 13),
                    reason="libc's fork is used on CPython 3.11 to 3.13 only")
def test_a_single_threaded_process_forks_without_its_handlers_and_each_child_has_its_own_random_sequence() -> None:
    report = _fork_two()
    first, second = report["children"]
    assert first["handlers"] == second["handlers"] == []
    assert len({first["random"], second["random"], report["parent_random"]}) == 3
    for child in (first, second):
        assert child["main"] and child["thread"] == [True] and child["echo"] == "hi"


def test_a_handler_registered_after_the_watch_makes_it_fork_with_every_handler() -> None:
    report = _fork_two(setup='os.register_at_fork(after_in_child=lambda: ran.append("after-watch"))')
    assert [child["handlers"] for child in report["children"]] == [["before-watch", "after-watch"]] * 2


def test_a_process_with_another_thread_forks_with_every_handler() -> None:
    report = _fork_two(setup='''
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
    ''', teardown='''
        stop.set()
        other.join()
    ''')
    first, second = report["children"]
    assert first["handlers"] == second["handlers"] == ["before-watch"]
    assert first["random"] != second["random"]


def test_without_ctypes_it_forks_with_os_fork() -> None:
    report = _fork_two(setup='sys.modules["ctypes"] = None  # as on a Python built without it')
    assert [child["handlers"] for child in report["children"]] == [["before-watch"]] * 2
