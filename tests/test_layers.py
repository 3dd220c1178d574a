"""The import direction of ARCHITECTURE.md, checked in a fresh interpreter per layer."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import flowctl

ROOT = Path(flowctl.__file__).parent

# layer -> module prefixes it must never pull in (directly or transitively)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "flowctl.core": ("sqlalchemy", "flask", "click", "subprocess", "flowctl.db", "flowctl.web",
                     "flowctl.cli", "flowctl.scheduler", "flowctl.executors", "flowctl.task_runner",
                     "flowctl.dag_processing", "flowctl.operators"),
    "flowctl.operators": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli",
                          "flowctl.scheduler"),
    "flowctl.sensors": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli",
                        "flowctl.scheduler"),
    "flowctl.dag_processing": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli",
                               "flowctl.scheduler"),
    "flowctl.db": ("flask", "click", "flowctl.web", "flowctl.cli", "flowctl.scheduler",
                   "flowctl.executors", "flowctl.task_runner"),
    "flowctl.executors": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli"),
    "flowctl.scheduler": ("sqlalchemy", "flask", "click", "flowctl.web", "flowctl.cli"),
    "flowctl.task_runner": ("flask", "click", "flowctl.web", "flowctl.cli", "flowctl.scheduler"),
    "flowctl.triggers": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli",
                         "flowctl.scheduler", "flowctl.task_runner", "flowctl.triggerer"),
    "flowctl.triggerer": ("sqlalchemy", "flask", "click", "flowctl.web", "flowctl.cli", "flowctl.scheduler"),
    # Below the CLI so that DAG.test() (the scheduler layer) reads connection and variable files too.
    "flowctl.secret_files": ("sqlalchemy", "flask", "click", "flowctl.db", "flowctl.web", "flowctl.cli",
                             "flowctl.scheduler", "flowctl.executors", "flowctl.task_runner"),
    # Flask itself imports click, so for the web layer only flowctl's own layers count.
    "flowctl.web": ("flowctl.cli", "flowctl.scheduler", "flowctl.executors"),
}


def _modules_of(package: str) -> list[str]:
    folder = ROOT.parent.joinpath(*package.split("."))
    if folder.with_suffix(".py").is_file():  # a layer that is one module
        return [package]
    if not folder.exists():
        return []
    names = [package]
    for info in pkgutil.walk_packages([str(folder)], prefix=package + "."):
        names.append(info.name)
    return names


# Third-party libraries the pure layers may use. They are imported before the
# snapshot: croniter, for one, calls platform.architecture() (and so imports
# subprocess) when it loads; what counts is what flowctl's own code pulls in.
ALLOWED_LIBRARIES = ("croniter", "pendulum", "jinja2", "jinja2.nativetypes", "jsonschema", "zoneinfo")
#: Libraries one module is built on, imported before its snapshot too: Celery imports click itself
#: (``celery.exceptions``); the Celery executor must still pull in nothing of flowctl's upper layers.
MODULE_LIBRARIES = {"flowctl.executors.celery": ("celery", "celery.exceptions", "kombu.exceptions")}


def _imported_by(module: str, preload: tuple[str, ...] = ALLOWED_LIBRARIES) -> list[str]:
    code = (
        f"import sys, json, importlib; [importlib.import_module(m) for m in {preload!r}]; "
        "before = set(sys.modules); "
        f"importlib.import_module({module!r}); "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(ROOT.parent))
    return json.loads(out.stdout)


CASES = [(layer, mod) for layer in FORBIDDEN for mod in _modules_of(layer)]


@pytest.mark.parametrize(("layer", "module"), CASES, ids=[m for _, m in CASES])
def test_a_layer_imports_nothing_above_it(layer: str, module: str) -> None:
    for library in MODULE_LIBRARIES.get(module, ()):
        pytest.importorskip(library, reason=f"{module} needs {library}, not installed")
    pulled = _imported_by(module, ALLOWED_LIBRARIES + MODULE_LIBRARIES.get(module, ()))
    bad = [m for m in pulled for f in FORBIDDEN[layer] if m == f or m.startswith(f + ".")]
    assert not bad, f"{module} (layer {layer}) pulls in {sorted(set(bad))}"


def test_importing_flowctl_is_cheap() -> None:
    pulled = _imported_by("flowctl", preload=())
    heavy = [m for m in pulled if m.split(".")[0] in {"sqlalchemy", "flask", "jinja2", "pendulum", "click"}]
    assert not heavy, f"`import flowctl` pulls in {heavy}"


@pytest.mark.parametrize("module", ["flowctl.task_runner.zygote", "flowctl.task_runner.runner",
                                    "flowctl.task_runner.agent_client", "flowctl.task_runner.warmup",
                                    "flowctl.task_runner.children", "flowctl.task_runner.store_calls"])
def test_the_process_that_forks_tries_leaves_the_database_stack_to_the_agent(module: str) -> None:
    pulled = _imported_by(module)
    heavy = sorted({m.split(".")[0] for m in pulled} & {"sqlalchemy", "psycopg2", "cryptography", "alembic"})
    assert not heavy, f"{module} pulls in {heavy}: every forked try would pay for them"
