"""Warming the zygote: packing the code a try runs (``pack_code``)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from flowctl.task_runner.warmup import pack_code

MODULE = '''
def double(x):
    return x * 2


def total(values):
    return sum(double(v) for v in values)


def scaled(values, factor=3):
    return list(map(lambda v: v * factor, values))


def never_called():
    return list(i for i in range(3))  # a generator expression: its own code object on every Python


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self, by=1, *, twice=False):
        self.n += by * (2 if twice else 1)
        return self.n


def make_adder(k):
    def add(x):
        return x + k
    return add
'''


@pytest.fixture
def module(tmp_path: Path) -> ModuleType:
    path = tmp_path / "packme.py"
    path.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("packme", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["packme"] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("packme", None)


def _run(mod: ModuleType) -> None:
    mod.total([1, 2])
    mod.scaled([1])
    mod.Counter().bump(twice=True)
    mod.make_adder(1)(1)


def test_the_functions_a_run_calls_get_copies_of_their_code_that_behave_the_same(module: ModuleType) -> None:
    before = {name: getattr(module, name).__code__ for name in ("double", "total", "scaled", "never_called")}
    bump_before = module.Counter.bump.__code__

    moved = pack_code(lambda: _run(module))

    assert moved >= 5  # double, total, scaled, Counter.__init__, Counter.bump, make_adder
    for name in ("double", "total", "scaled"):
        code = getattr(module, name).__code__
        assert code is not before[name]
        assert (code.co_code, code.co_name, code.co_firstlineno, code.co_filename) == (
            before[name].co_code, before[name].co_name, before[name].co_firstlineno, before[name].co_filename)
    assert module.Counter.bump.__code__ is not bump_before
    assert module.never_called.__code__ is before["never_called"]  # not run: left where it is
    # Same behaviour: results, defaults, keyword-only arguments, closures, nested code that ran.
    assert module.total([1, 2, 3]) == 12
    assert module.scaled([1, 2]) == [3, 6]
    counter = module.Counter()
    assert counter.bump(2, twice=True) == 4
    assert module.make_adder(5)(1) == 6
    assert module.never_called() == [0, 1, 2]


def test_nested_code_that_ran_is_copied_with_its_parent_and_the_rest_is_shared(module: ModuleType) -> None:
    def nested(func: object) -> dict[str, object]:
        return {c.co_name: c for c in func.__code__.co_consts if hasattr(c, "co_code")}  # type: ignore[attr-defined]

    genexpr_before = nested(module.total)["<genexpr>"]
    comprehension_before = nested(module.never_called)["<genexpr>"]

    pack_code(lambda: module.total([1]))

    genexpr_after = nested(module.total)["<genexpr>"]
    assert genexpr_after is not genexpr_before and genexpr_after.co_code == genexpr_before.co_code
    assert nested(module.never_called)["<genexpr>"] is comprehension_before


def test_a_run_that_raises_packs_nothing_and_raises(module: ModuleType) -> None:
    before = module.double.__code__

    def failing() -> None:
        module.double(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pack_code(failing)
    assert module.double.__code__ is before
    assert sys.getprofile() is None


WARM_SCRIPT = '''
import os
import sys
from flowctl.settings import Settings
from flowctl.task_runner import pipes, warmup


class Store:  # what the task agent answers a no-op try: nothing to read
    def __getattr__(self, name):
        return lambda *args, **kwargs: {}


sent = pipes.PipeSupervisor.finish.__code__
fds = len(os.listdir("/proc/self/fd"))
states = warmup.warm_tries(Settings.load(), Store() if sys.argv[1] == "store" else None, rounds=3, pack=True)
print(pipes.PipeSupervisor.finish.__code__ is not sent, len(os.listdir("/proc/self/fd")) - fds, *sorted(set(states)))
'''


def test_warm_up_tries_send_their_ends_down_pipes_as_forked_tries_do(tmp_path: Path) -> None:
    """Before: the warm-up tries reported to a supervisor that did nothing, so the code a forked try
    runs to send its rendered fields and its end was cold in every child (specialised there, and not
    packed): some 35 more pages copied per try on Python 3.12. Now it runs, and is packed, in warm-up;
    and the warm-up's pipes are closed again."""
    import os
    import subprocess

    env = {**os.environ, "FLOWCTL_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", WARM_SCRIPT, "store"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "0", "success"], out.stderr
    assert "warm-up" not in out.stderr


def test_a_warm_up_whose_tries_fail_says_so(tmp_path: Path) -> None:
    """Before: a warm-up try that failed (here: no store to read from) failed in silence, and the worker
    parent then warmed, and every forked try inherited, the failure path instead of a task's: a benchmark
    measured failing tries that way for a while. Now warm_tries returns the states and says it on stderr."""
    import os
    import subprocess

    env = {**os.environ, "FLOWCTL_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", WARM_SCRIPT, "none"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[2:] == ["failed"]
    [line] = [line for line in out.stderr.splitlines() if "warm-up" in line]
    assert line.startswith("flowctl: the worker parent's warm-up tries ended failed") and "AttributeError" in line
