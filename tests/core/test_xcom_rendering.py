"""Values from XCom in template fields are data: resolved at render time, never rendered as Jinja
(as in Airflow), while the literal strings around them are rendered as usual."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.templating import make_environment, render_template, render_template_fields
from flowctl.decorators import task

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
RAW = "price {{ ds }}"
BROKEN = "{% oops"


class FakeTI:
    """Answers xcom_pull from a dict of task_id -> return value."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def xcom_pull(self, task_ids: str, key: str = "return_value", **_: Any) -> Any:
        return self.values[task_ids]


class Shell(BaseOperator):
    template_fields = ("command", "env")
    template_ext = (".sh",)

    def __init__(self, *, command: Any = "", env: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.command, self.env = command, env

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.command


class Source(BaseOperator):
    def execute(self, context: Mapping[str, Any]) -> Any:
        return None


def context(**pulled: Any) -> dict[str, Any]:
    return {"ds": "2024-01-01", "ti": FakeTI(pulled)}


def test_an_xcom_arg_in_a_template_field_is_resolved_and_its_value_is_not_rendered() -> None:
    with DAG("d", schedule=None, start_date=T0):
        text = Source(task_id="text")
        shell = Shell(task_id="shell", command=text.output)
    assert shell.render_template_fields(context(text=RAW)) == {"command": RAW, "env": None}
    assert shell.command == RAW


def test_xcom_values_nested_in_containers_stay_raw_while_literal_strings_are_rendered() -> None:
    with DAG("d", schedule=None, start_date=T0):
        text, bad = Source(task_id="text"), Source(task_id="bad")
        shell = Shell(task_id="shell", command=["echo {{ ds }}", (bad.output,)],
                      env={"V": text.output, "DAY": "{{ ds }}", "ALL": {"inner": [text.output]}})
    rendered = shell.render_template_fields(context(text=RAW, bad=BROKEN))
    assert rendered["command"] == ["echo 2024-01-01", (BROKEN,)]
    assert rendered["env"] == {"V": RAW, "DAY": "2024-01-01", "ALL": {"inner": [RAW]}}


def test_an_xcom_value_that_looks_like_a_template_file_name_is_not_loaded() -> None:
    with DAG("d", schedule=None, start_date=T0):
        text = Source(task_id="text")
        shell = Shell(task_id="shell", command=text.output)
    assert shell.render_template_fields(context(text="run {{ ds }}.sh"))["command"] == "run {{ ds }}.sh"


def test_render_template_resolves_an_xcom_arg_without_rendering_its_value() -> None:
    with DAG("d", schedule=None, start_date=T0):
        text = Source(task_id="text")
        shell = Shell(task_id="shell")
    rendered = shell.render_template({"a": text.output, "b": "{{ ds }}"}, context(text=RAW))
    assert rendered == {"a": RAW, "b": "2024-01-01"}
    assert render_template([text.output], context(text=BROKEN), make_environment(None)) == [BROKEN]


def test_objects_whose_id_is_kept_are_left_as_they_are() -> None:
    with DAG("d", schedule=None, start_date=T0):
        shell = Shell(task_id="shell", command=RAW, env={"V": BROKEN, "DAY": "{{ ds }}"})
    kept = {id(shell.command), id(shell.env["V"])}
    rendered = render_template_fields(shell, context(), keep=kept)
    assert rendered == {"command": RAW, "env": {"V": BROKEN, "DAY": "2024-01-01"}}


def test_a_mapped_index_renders_its_literal_arguments_but_not_its_values_from_xcom() -> None:
    with DAG("d", schedule=None, start_date=T0):
        texts = Source(task_id="texts")
        mapped = Shell.partial(task_id="shell", env={"DAY": "{{ ds }}"}).expand(command=texts.output)
        literal = Shell.partial(task_id="literal").expand(command=["echo {{ ds }}"])
    entry = mapped.expansion(lambda ref: [RAW, BROKEN])[1]
    concrete = mapped.unmap(entry)
    assert concrete.render_template_fields(context()) == {"command": BROKEN, "env": {"DAY": "2024-01-01"}}
    plain = literal.unmap(literal.expansion(lambda ref: None)[0])
    assert plain.render_template_fields(context())["command"] == "echo 2024-01-01"


def test_expand_kwargs_over_xcom_keeps_every_value_raw() -> None:
    with DAG("d", schedule=None, start_date=T0):
        rows = Source(task_id="rows")
        mapped = Shell.partial(task_id="shell").expand_kwargs(rows.output)
    entry = mapped.expansion(lambda ref: [{"command": RAW, "env": {"V": BROKEN}}])[0]
    assert mapped.unmap(entry).render_template_fields(context()) == {"command": RAW, "env": {"V": BROKEN}}


def test_taskflow_arguments_from_xcom_are_not_rendered_and_literal_ones_are() -> None:
    @task
    def show(label: str, value: str) -> str:
        return f"{label}: {value}"

    @task
    def text() -> str:
        return RAW

    with DAG("d", schedule=None, start_date=T0):
        called = show("{{ ds }}", text()).operator
        mapped = show.partial(label="{{ ds }}").expand(value=text()).operator
    ctx = {**context(text=RAW, text__1=RAW), "params": {}}
    assert called.render_template_fields(ctx)["op_args"] == ["2024-01-01", RAW]
    concrete = mapped.unmap(mapped.expansion(lambda ref: [RAW, BROKEN])[1])
    assert concrete.render_template_fields(ctx)["op_kwargs"] == {"label": "2024-01-01", "value": BROKEN}
    assert concrete.execute(ctx) == f"2024-01-01: {BROKEN}"
