"""Rendering template fields: strings, files, containers, native objects, errors, user macros."""
from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from typing import Any

import jinja2
import pendulum
import pytest

from flowctl.core.context import RunInfo, build_context
from flowctl.core.errors import TaskFailedNoRetry, TaskSkipped, TemplateRenderError
from flowctl.core.templating import make_environment, render_template, render_template_fields


class FakeDag:
    def __init__(self, **attrs: Any) -> None:
        self.dag_id = "sales"
        self.fileloc = "/nonexistent/dags/sales.py"
        self.template_searchpath: list[str] | None = None
        self.user_defined_macros: dict[str, Any] | None = None
        self.user_defined_filters: dict[str, Any] | None = None
        self.render_template_as_native_obj = False
        self.params: dict[str, Any] = {}
        self.__dict__.update(attrs)


class FakeTask:
    template_fields: tuple[str, ...] = ("command", "env")
    template_ext: tuple[str, ...] = (".sh", ".sql")

    def __init__(self, dag: FakeDag, **fields: Any) -> None:
        self.task_id = "load"
        self.dag = dag
        self.command: Any = ""
        self.env: Any = None
        self.__dict__.update(fields)


class Nested:
    template_fields = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def context_for(dag: Any, task: Any = None, **extra: Any) -> dict[str, Any]:
    run = RunInfo(run_id="r1", logical_date=pendulum.datetime(2024, 3, 10),
                  data_interval_start=pendulum.datetime(2024, 3, 10),
                  data_interval_end=pendulum.datetime(2024, 3, 11),
                  run_type="scheduled", conf={"limit": 10})
    return build_context(dag=dag, task=task, run=run, ti=None, params={"region": "eu", "n": 3},
                         var_accessor={"env": "prod"}.get, conn_accessor=lambda c: None,
                         prev_success_interval=None, extra=extra)


def render(dag: FakeDag, **fields: Any) -> tuple[FakeTask, dict[str, Any]]:
    task = FakeTask(dag, **fields)
    return task, render_template_fields(task, context_for(dag, task))


def test_template_fields_are_rendered_in_place_and_returned() -> None:
    task, rendered = render(FakeDag(), command="echo {{ ds }} {{ params.region }}")
    assert rendered == {"command": "echo 2024-03-10 eu", "env": None}
    assert task.command == "echo 2024-03-10 eu"


def test_macros_and_context_names_both_work() -> None:
    _, rendered = render(FakeDag(), command="{{ macros.ds_add(ds, 1) }} {{ next_ds }} {{ run_id }}")
    assert rendered["command"] == "2024-03-11 2024-03-11 r1"


def test_var_and_the_runs_conf_are_reachable_from_templates() -> None:
    _, rendered = render(FakeDag(), command="{{ var.value.env }}-{{ var.value.get('x', 'd') }}-"
                                            "{{ dag_run.conf['limit'] }}")
    assert rendered["command"] == "prod-d-10"


def test_nested_lists_dicts_tuples_and_sets_are_rendered_item_by_item() -> None:
    Pair = namedtuple("Pair", "left right")
    env = {"DAY": "{{ ds_nodash }}", "list": ["{{ ds }}", 7, ("{{ params.n }}",)],
           "set": {"{{ params.region }}"}, "pair": Pair("{{ ds }}", None)}
    _, rendered = render(FakeDag(), env=env)
    assert rendered["env"] == {"DAY": "20240310", "list": ["2024-03-10", 7, ("3",)],
                               "set": {"eu"}, "pair": Pair("2024-03-10", None)}


def test_objects_with_their_own_template_fields_are_rendered_recursively() -> None:
    inner = Nested("/data/{{ ds }}")
    _, rendered = render(FakeDag(), env={"file": inner})
    assert rendered["env"]["file"] is inner
    assert inner.path == "/data/2024-03-10"


def test_other_objects_are_returned_unchanged() -> None:
    marker = object()
    _, rendered = render(FakeDag(), env=marker)
    assert rendered["env"] is marker


def test_a_string_ending_in_template_ext_is_loaded_from_template_searchpath(tmp_path: Path) -> None:
    (tmp_path / "load.sql").write_text("SELECT * FROM t WHERE day = '{{ ds }}'")
    dag = FakeDag(template_searchpath=[str(tmp_path)])
    _, rendered = render(dag, command="load.sql")
    assert rendered["command"] == "SELECT * FROM t WHERE day = '2024-03-10'"


def test_template_files_are_also_found_next_to_the_dag_file(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("run {{ ds_nodash }}\n")
    dag = FakeDag(fileloc=str(tmp_path / "sales.py"))
    _, rendered = render(dag, command="scripts/run.sh")
    assert rendered["command"] == "run 20240310"


def test_a_missing_template_file_names_the_file_and_the_searched_folders(tmp_path: Path) -> None:
    dag = FakeDag(template_searchpath=[str(tmp_path)])
    with pytest.raises(TemplateRenderError, match=r"'absent\.sql' not found in .*" + tmp_path.name):
        render(dag, command="absent.sql")


def test_an_undefined_name_error_names_the_task_the_field_and_the_variable() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(FakeDag(), command="echo {{ no_such_thing }}")
    message = str(caught.value)
    assert "'load'" in message and "'command'" in message and "no_such_thing" in message


def test_a_dag_may_choose_lenient_undefined_names_with_template_undefined() -> None:
    _, rendered = render(FakeDag(template_undefined=jinja2.Undefined), command="[{{ nothing }}]")
    assert rendered["command"] == "[]"


def test_a_missing_variable_error_names_the_field_and_the_key() -> None:
    with pytest.raises(TemplateRenderError, match=r"'command'.*Variable 'ghost' does not exist"):
        render(FakeDag(), command="{{ var.value.ghost }}")


def test_an_error_raised_inside_a_template_keeps_its_type_and_names_the_task_and_the_field() -> None:
    def explode() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input") as raised:
        render(FakeDag(user_defined_macros={"explode": explode}), command="ok", env={"X": "{{ explode() }}"})
    assert raised.value.__notes__ == ["while rendering template field 'env' of task 'load' in DAG 'sales'"]


@pytest.mark.parametrize("error", [TaskSkipped("not today"), TaskFailedNoRetry("never retry")],
                         ids=["skip", "fail-no-retry"])
def test_a_skip_or_fail_raised_inside_a_template_keeps_its_meaning_as_in_airflow(error: Exception) -> None:
    def decide() -> None:
        raise error

    with pytest.raises(type(error)) as raised:
        render(FakeDag(user_defined_macros={"decide": decide}), command="{{ decide() }}")
    assert raised.value is error
    assert raised.value.__notes__ == ["while rendering template field 'command' of task 'load' in DAG 'sales'"]


def test_a_template_syntax_error_is_a_render_error() -> None:
    with pytest.raises(TemplateRenderError, match="'command'"):
        render(FakeDag(), command="{{ ds ")


def test_native_rendering_returns_python_objects() -> None:
    dag = FakeDag(render_template_as_native_obj=True)
    _, rendered = render(dag, command="{{ params.n }}", env="{{ [ds, params.n] }}")
    assert rendered == {"command": 3, "env": ["2024-03-10", 3]}


def test_without_native_rendering_the_result_is_text() -> None:
    _, rendered = render(FakeDag(), command="{{ params.n }}")
    assert rendered["command"] == "3"


def test_the_dags_jinja_environment_kwargs_configure_the_environment_as_in_airflow() -> None:
    _, rendered = render(FakeDag(), command="echo {{ ds }}\n")
    assert rendered["command"] == "echo 2024-03-10"  # Jinja's default drops one trailing newline
    dag = FakeDag(jinja_environment_kwargs={"keep_trailing_newline": True, "trim_blocks": True})
    _, rendered = render(dag, command="{% if true %}\necho {{ ds }}\n{% endif %}\n")
    assert rendered["command"] == "echo 2024-03-10\n"


def test_user_defined_macros_and_filters_are_available() -> None:
    dag = FakeDag(user_defined_macros={"project": "acme", "shout": lambda s: s.upper() + "!"},
                  user_defined_filters={"reverse_words": lambda s: " ".join(reversed(s.split()))})
    _, rendered = render(dag, command="{{ project }} {{ shout('hi') }} {{ 'a b' | reverse_words }}")
    assert rendered["command"] == "acme HI! b a"


def test_user_defined_macros_win_over_context_names() -> None:
    dag = FakeDag(user_defined_macros={"ds": "mine"})
    _, rendered = render(dag, command="{{ ds }}")
    assert rendered["command"] == "mine"


def test_airflows_date_filters_format_datetimes() -> None:
    _, rendered = render(FakeDag(), command="{{ data_interval_end | ds }} {{ data_interval_end | ts_nodash }}")
    assert rendered["command"] == "2024-03-11 20240311T000000"


def test_autoescape_is_off_so_commands_keep_their_quotes() -> None:
    _, rendered = render(FakeDag(), command="echo \"<{{ params.region }}>\" && ls")
    assert rendered["command"] == "echo \"<eu>\" && ls"


def test_a_single_string_template_fields_is_treated_as_one_field() -> None:
    task = FakeTask(FakeDag(), command="{{ ds }}")
    task.template_fields = ("command")  # the common slip for ("command",)
    assert render_template_fields(task, context_for(task.dag, task)) == {"command": "2024-03-10"}


def test_render_template_works_with_an_explicit_environment_and_no_dag() -> None:
    env = make_environment(None)
    assert render_template(["{{ x }}", {"k": "{{ x * 2 }}"}], {"x": 2}, env) == ["2", {"k": "4"}]


def test_the_real_dag_and_operator_render_their_template_fields(tmp_path: Path) -> None:
    dag_module = pytest.importorskip("flowctl.core.dag", reason="Task A's DAG is not written yet")
    op_module = pytest.importorskip("flowctl.core.baseoperator",
                                    reason="Task A's BaseOperator is not written yet")

    class Echo(op_module.BaseOperator):  # type: ignore[name-defined,misc]
        template_fields = ("message",)

        def __init__(self, *, message: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.message = message

    with dag_module.DAG("real", schedule=None, start_date=pendulum.datetime(2024, 1, 1),
                        user_defined_macros={"who": "world"}) as dag:
        task = Echo(task_id="echo", message="hello {{ who }} on {{ ds }}")
    rendered = render_template_fields(task, context_for(dag, task))
    assert rendered == {"message": "hello world on 2024-03-10"}
