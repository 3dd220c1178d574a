"""BaseOperator's public API for custom operators: self.log, xcom_push/xcom_pull and templating helpers.

The end-to-end tests run the operators the way ``flowctl dags test`` does (``run_for_test``: a real
RuntimeTaskInstance, XComs in memory, the try's log capture), with no database.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test
from flowctl.task_runner.taskinstance import MemoryBackend

T0 = datetime(2024, 3, 10, tzinfo=timezone.utc)


class LogOp(BaseOperator):
    def execute(self, context: Mapping[str, Any]) -> None:
        self.log.info("hello from %s", self.task_id)


class PushOp(BaseOperator):
    def execute(self, context: Mapping[str, Any]) -> str:
        self.xcom_push(context, key="greeting", value="hi")
        return "returned"


class PullOp(BaseOperator):
    template_fields = ("who",)

    def __init__(self, *, who: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.who = who

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        greeting = self.xcom_pull(context, task_ids="push", key="greeting")
        returned = self.xcom_pull(context, task_ids="push")
        line = self.render_template("{{ greeting }} {{ who }} on {{ ds }}",
                                    {**context, "greeting": greeting, "who": self.who})
        self.log.info("pulled %s", line)
        return {"greeting": greeting, "returned": returned, "line": line}


def _run(dag: DAG, memory: MemoryBackend, log: io.StringIO) -> dict[str, Any]:
    results = {}
    for task in dag.topological_sort():
        result = run_for_test(dag, task.task_id, adhoc_run_info(T0), memory=memory, log_stream=log)
        assert result.state == "success", result.error
        results[task.task_id] = result.return_value
    return results


def test_self_log_is_a_logger_per_operator_class_under_the_task_logger() -> None:
    with DAG("d", schedule=None, start_date=T0):
        first, second = LogOp(task_id="a"), LogOp(task_id="b")
    assert isinstance(first.log, logging.Logger)
    assert first.log is second.log
    assert first.log.name == f"flowctl.task.operators.{__name__}.LogOp"
    assert first.log.parent is not None and first.log.propagate


def test_a_line_logged_with_self_log_in_execute_lands_in_the_try_log() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        LogOp(task_id="talk")
    log = io.StringIO()
    _run(dag, MemoryBackend(), log)
    assert "hello from talk" in log.getvalue()
    assert "{flowctl.task.operators." in log.getvalue()


def test_a_custom_operator_pushes_pulls_and_renders_through_its_own_methods() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        PushOp(task_id="push") >> PullOp(task_id="pull", who="{{ params.name }}", params={"name": "ann"})
    memory, log = MemoryBackend(), io.StringIO()
    results = _run(dag, memory, log)
    assert results["pull"] == {"greeting": "hi", "returned": "returned", "line": "hi ann on 2024-03-10"}
    assert "pulled hi ann on 2024-03-10" in log.getvalue()


class _FakeTI:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def xcom_push(self, **kwargs: Any) -> None:
        self.calls.append(("push", kwargs))

    def xcom_pull(self, **kwargs: Any) -> str:
        self.calls.append(("pull", kwargs))
        return "value"


def test_xcom_push_and_pull_pass_their_arguments_to_the_task_instance() -> None:
    ti = _FakeTI()
    BaseOperator.xcom_push({"ti": ti}, "k", 1)
    assert BaseOperator.xcom_pull({"ti": ti}, task_ids=["a"], dag_id="other", key="k",
                                  include_prior_dates=True) == "value"
    assert ti.calls == [
        ("push", {"key": "k", "value": 1, "execution_date": None}),
        ("pull", {"task_ids": ["a"], "dag_id": "other", "key": "k", "include_prior_dates": True}),
    ]


def test_render_template_renders_strings_containers_and_template_files(tmp_path: Path) -> None:
    (tmp_path / "query.sql").write_text("select {{ n }}")
    with DAG("d", schedule=None, start_date=T0, template_searchpath=str(tmp_path)):
        op = PullOp(task_id="pull", who="x")
    op.template_ext = (".sql",)
    context = {"n": 3}
    assert op.render_template("{{ n + 1 }}", context) == "4"
    assert op.render_template(["{{ n }}", ("a", {"k": "{{ n }}"})], context) == ["3", ("a", {"k": "3"})]
    assert op.render_template("query.sql", context) == "select 3"
    assert op.render_template(7, context) == 7


def test_render_template_renders_nested_templated_objects_once() -> None:
    with DAG("d", schedule=None, start_date=T0):
        inner = PullOp(task_id="inner", who="{{ n }}")
        outer = PullOp(task_id="outer", who="x")
    assert outer.render_template([inner, inner], {"n": 5}) == [inner, inner]
    assert inner.who == "5"
    seen = {id(inner)}
    again = PullOp(task_id="again", who="{{ n }}")
    assert outer.render_template(again, {"n": 1}, seen_oids=seen) is again and again.who == "1"
    assert outer.render_template(again, {"n": 2}, seen_oids=seen) is again and again.who == "1"


def test_get_template_env_is_the_dags_environment_with_its_macros() -> None:
    with DAG("d", schedule=None, start_date=T0, user_defined_macros={"twice": lambda v: v * 2}):
        op = LogOp(task_id="a")
    env = op.get_template_env()
    assert isinstance(env, jinja2.Environment)
    assert op.render_template("{{ twice(4) }}", {}, jinja_env=env) == "8"
    assert op.render_template("{{ twice(2) }}", {}) == "4"
    assert isinstance(LogOp(task_id="alone").get_template_env(), jinja2.Environment)


class FileOp(BaseOperator):
    template_fields = ("query", "parts")
    template_ext = (".sql",)

    def __init__(self, *, query: str, parts: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query = query
        self.parts = parts
        self.prepared: list[str] = []

    def prepare_template(self) -> None:
        self.prepared.append(self.query)


def test_resolve_template_files_loads_file_contents_then_calls_prepare_template(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select {{ ds }}")
    (tmp_path / "p.sql").write_text("part {{ ds }}")
    with DAG("d", schedule=None, start_date=T0, template_searchpath=str(tmp_path)):
        op = FileOp(task_id="f", query="q.sql", parts=["p.sql", "inline {{ ds }}"])
    op.resolve_template_files()
    assert op.query == "select {{ ds }}"
    assert op.parts == ["part {{ ds }}", "inline {{ ds }}"]
    assert op.prepared == ["select {{ ds }}"]


def test_resolve_template_files_leaves_a_missing_file_for_rendering_to_report(tmp_path: Path) -> None:
    with DAG("d", schedule=None, start_date=T0, template_searchpath=str(tmp_path)):
        op = FileOp(task_id="f", query="missing.sql", parts=[])
    op.resolve_template_files()
    assert op.query == "missing.sql" and op.prepared == ["missing.sql"]


def test_prepare_template_is_a_no_op_by_default() -> None:
    assert LogOp(task_id="a").prepare_template() is None


class ShoutOp(FileOp):
    def prepare_template(self) -> None:
        self.query = self.query.upper().replace("{{ DS }}", "{{ ds }}")

    def execute(self, context: Mapping[str, Any]) -> list[str]:
        return [self.query, *self.parts]


def test_a_try_loads_template_files_and_calls_prepare_template_before_rendering(tmp_path: Path) -> None:
    (tmp_path / "q.sql").write_text("select {{ ds }}")
    (tmp_path / "p.sql").write_text("part {{ ds }}")
    with DAG("d", schedule=None, start_date=T0, template_searchpath=str(tmp_path)) as dag:
        op = ShoutOp(task_id="f", query="q.sql", parts=["p.sql"])
    results = _run(dag, MemoryBackend(), io.StringIO())
    assert results["f"] == ["SELECT 2024-03-10", "part 2024-03-10"]
    assert (op.query, op.parts) == ("q.sql", ["p.sql"])  # the DAG's own task is untouched
