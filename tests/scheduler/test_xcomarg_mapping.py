"""The scheduler expands mapped tasks over XComArg.map(), .zip() and .concat() from the serialized
DAG and the upstream XComs alone: the right number of map indexes, an empty input skipped, and the
map callable never called (it runs in each instance's worker, which the inline executor stands in for)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.decorators import task
from tests.scheduler.helpers import T0, day, sync, tick_until_idle
from tests.scheduler.test_loop import make_scheduler, states, trigger

CALLED: list[Any] = []


def shout(word: Any) -> Any:
    CALLED.append(word)
    return str(word).upper()


@task
def words() -> list[str]:
    return []


@task
def numbers() -> list[int]:
    return []


@task
def got(value: Any) -> Any:
    return value


def transforms_dag() -> DAG:
    with DAG("transforms", start_date=T0 - day(1), schedule=None) as dag:
        w, n = words(), numbers()
        got.override(task_id="mapped").expand(value=w.map(shout).map(shout))
        got.override(task_id="zipped").expand(value=w.zip(n))
        got.override(task_id="zipped_long").expand(value=w.zip(n, fillvalue=None))
        got.override(task_id="joined").expand(value=w.concat(n, w.map(shout)))
        got.override(task_id="by_kwargs").expand_kwargs(n.map(shout))
    return dag


def run_transforms(store: Any, tmp_path: Path, xcoms: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    CALLED.clear()
    sync(store, transforms_dag())
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.xcoms.update(xcoms)
    run = trigger(store, "transforms")
    tick_until_idle(scheduler, T0)
    assert store.get_run("transforms", run.run_id).state == "success", states(store, run)
    return executor.ran, states(store, run)


def indexes(final: dict[str, str], task_id: str) -> list[str]:
    return sorted(label for label in final if label.startswith(f"{task_id}["))


def test_each_form_expands_to_its_length_without_calling_the_map_callable(store: Any, tmp_path: Path) -> None:
    ran, final = run_transforms(store, tmp_path, {"words": ["a", "b", "c"], "numbers": {"x": 1, "y": 2}})
    assert indexes(final, "mapped") == ["mapped[0]", "mapped[1]", "mapped[2]"]
    assert indexes(final, "zipped") == ["zipped[0]", "zipped[1]"]
    assert len(indexes(final, "zipped_long")) == 3
    assert len(indexes(final, "joined")) == 8  # 3 words + 2 dict items + 3 mapped words
    assert indexes(final, "by_kwargs") == ["by_kwargs[0]", "by_kwargs[1]"]
    assert all(state == "success" for state in final.values()), final
    assert "joined[7]" in ran and CALLED == []


def test_an_empty_input_skips_the_mapped_task_as_expand_does(store: Any, tmp_path: Path) -> None:
    ran, final = run_transforms(store, tmp_path, {"words": [], "numbers": [1, 2]})
    assert final["mapped"] == final["zipped"] == "skipped"
    assert indexes(final, "zipped_long") == ["zipped_long[0]", "zipped_long[1]"]  # the longer input wins
    assert indexes(final, "joined") == ["joined[0]", "joined[1]"]
    assert not [label for label in ran if label.startswith(("mapped", "zipped["))] and CALLED == []
