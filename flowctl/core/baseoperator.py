"""BaseOperator: the unit of work in a DAG, with Airflow 2's arguments and semantics.

Owns the operator metaclass that applies ``default_args`` (the DAG's, then each
enclosing TaskGroup's, then the operator's own ``default_args=``) to arguments
not passed explicitly, like Airflow's ``apply_defaults``; the operator's edges
(``upstream_task_ids`` / ``downstream_task_ids``); and the pure per-task
policies (retry delay, priority weight) delegated to retry_policy.py and
weight_rule.py.

Run-time contract with the task runner: it calls
``render_template_fields(context)`` (which first loads template files named by
template fields and calls ``prepare_template()``, then resolves XComArgs found
in template fields), then ``pre_execute(context)``, ``execute(context)`` and
pushes the return value as XCom ``return_value`` when ``do_xcom_push``;
``on_kill()`` when the try is stopped.

Airflow 2's helpers for custom operators: ``self.log`` (a logger per operator
class under ``flowctl.task``, which the try's log captures), ``xcom_push`` /
``xcom_pull`` (delegated to ``context["ti"]``), ``render_template``,
``get_template_env`` and ``resolve_template_files`` (the machinery of
flowctl.core.templating).

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from flowctl.core.dag import DagContext, as_utc_datetime
from flowctl.core.deferral import DeferralMixin
from flowctl.core.dependencies import DependencyMixin
from flowctl.core.errors import DagDefinitionError
from flowctl.core.params import ParamsDict
from flowctl.core.retry_policy import compute_retry_delay
from flowctl.core.taskgroup import TaskGroup, current_group, validate_key
from flowctl.core.trigger_rules import TriggerRule, rule_named
from flowctl.core.weight_rule import parse_weight_rule, priority_weight_total
from flowctl.core.xcom_arg import XCOM_RETURN_KEY, XComArg, iter_resolvables

DEFAULT_OWNER = "flowctl"
DEFAULT_POOL = "default_pool"
DEFAULT_QUEUE = "default"
DEFAULT_RETRY_DELAY = timedelta(seconds=300)
#: Parent of every operator class's logger; the task runner sets its level and captures it per try.
OPERATOR_LOGGER_PREFIX = "flowctl.task.operators"


def apply_defaults(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` completed with the DAG, task group and default_args that apply to ``cls``."""
    kwargs = dict(kwargs)
    dag = kwargs.get("dag") or DagContext.current()
    group = kwargs.get("task_group") or current_group(dag)
    if dag is None and group is not None:
        dag = group.dag
    defaults: dict[str, Any] = dict(getattr(dag, "default_args", None) or {})
    for g in group.ancestry() if group is not None else []:
        defaults.update(g.default_args)
    defaults.update(kwargs.pop("default_args", None) or {})
    accepted = init_parameter_names(cls)
    for key, value in defaults.items():
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    if "params" in defaults and kwargs.get("params") is not defaults["params"]:
        kwargs["params"] = {**defaults["params"], **(kwargs.get("params") or {})}
    kwargs["dag"], kwargs["task_group"] = dag, group
    return kwargs


@functools.lru_cache(maxsize=None)
def init_parameter_names(cls: type) -> frozenset[str]:
    """Every keyword accepted by the ``__init__`` methods along ``cls``'s MRO."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and param.name != "self":
                names.add(param.name)
    return frozenset(names)


class OperatorMeta(type):
    """Applies default_args before ``__init__`` and wires XComArg arguments after it."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise DagDefinitionError(
                f"use keyword arguments when creating {cls.__name__} (got {len(args)} positional)"
            )
        operator = super().__call__(**apply_defaults(cls, kwargs))
        operator.wire_resolvable_arguments()
        return operator


class ClassLogger:
    """``operator.log``: the logger ``flowctl.task.operators.<module>.<class>`` of the operator's class.

    Not stored on the instance (copies and serialization never see it); an operator that assigns
    ``self.log`` itself keeps its own.
    """

    def __get__(self, instance: Any, owner: type) -> logging.Logger:
        return logging.getLogger(f"{OPERATOR_LOGGER_PREFIX}.{owner.__module__}.{owner.__name__}")


class BaseOperator(DependencyMixin, DeferralMixin, metaclass=OperatorMeta):
    """Base of every operator; subclasses implement ``execute(context)``."""

    log = ClassLogger()

    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color: ClassVar[str] = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"
    is_mapped: ClassVar[bool] = False
    inherits_from_empty_operator: ClassVar[bool] = False
    #: Setup / teardown roles (Airflow 2.7), set by as_setup() / as_teardown(): see setup_teardown.py.
    is_setup = is_teardown = on_failure_fail_dagrun = False
    #: One map index of a mapped task: its arguments' values from XCom, which are data, never rendered.
    _values_from_xcom: tuple[Any, ...] = ()

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = DEFAULT_OWNER,
        email: str | Sequence[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = DEFAULT_RETRY_DELAY,
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_downstream: bool = False,
        dag: Any = None,
        params: Mapping[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = DEFAULT_QUEUE,
        pool: str | None = None,
        pool_slots: int = 1,
        sla: timedelta | None = None,
        execution_timeout: timedelta | None = None,
        on_execute_callback: Any = None,
        on_failure_callback: Any = None,
        on_success_callback: Any = None,
        on_retry_callback: Any = None,
        on_skipped_callback: Any = None,
        pre_execute: Callable[[Any], Any] | None = None,
        post_execute: Callable[[Any, Any], Any] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        run_as_user: str | None = None,
        task_concurrency: int | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any = None,
        outlets: Any = None,
        task_group: TaskGroup | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        resources: Any = None,
        executor: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise DagDefinitionError(
                f"invalid arguments were passed to {type(self).__name__} (task_id: {task_id}): "
                + ", ".join(sorted(kwargs))
            )
        validate_key("task_id", task_id)
        self._upstream_ids: set[str] = set()
        self._downstream_ids: set[str] = set()
        self._dag: Any = None
        self.task_group: TaskGroup | None = task_group
        self._label = task_id
        self.task_id = task_group.child_id(task_id) if task_group is not None else task_id
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = _non_negative_int("retries", 0 if retries is None else retries, task_id)
        self.retry_delay = _as_timedelta(retry_delay)
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = None if max_retry_delay is None else _as_timedelta(max_retry_delay)
        self.start_date = as_utc_datetime(start_date)
        self.end_date = as_utc_datetime(end_date)
        self.wait_for_downstream = wait_for_downstream
        self.depends_on_past = depends_on_past or wait_for_downstream
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.params = ParamsDict(params)
        self.priority_weight = int(priority_weight)
        self.weight_rule = parse_weight_rule(weight_rule).value
        self.queue = queue
        self.pool = pool or DEFAULT_POOL
        self.pool_slots = pool_slots
        if pool_slots < 1:
            raise DagDefinitionError(f"pool_slots for {task_id!r} must be at least 1, got {pool_slots}")
        self.sla = sla
        self.execution_timeout = execution_timeout
        if execution_timeout is not None and not isinstance(execution_timeout, timedelta):
            raise DagDefinitionError(f"execution_timeout for {task_id!r} must be a timedelta")
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self._pre_execute_hook = pre_execute  # Airflow's names; called by pre_execute() / post_execute()
        self._post_execute_hook = post_execute
        self.trigger_rule = _parse_trigger_rule(trigger_rule, task_id)
        self.run_as_user = run_as_user
        self.max_active_tis_per_dag = max_active_tis_per_dag or task_concurrency
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor_config = executor_config or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.inlets = _as_list(inlets)
        self.outlets = _as_list(outlets)
        self.doc, self.doc_md, self.doc_json, self.doc_yaml, self.doc_rst = (
            doc, doc_md, doc_json, doc_yaml, doc_rst,
        )
        self.task_display_name = task_display_name
        self.resources = resources
        self.executor = executor
        if dag is not None:
            dag.add_task(self)
        if task_group is not None:
            task_group.add(self)

    # --- identity -------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<Task({self.task_type}): {self.task_id}>"

    @property
    def task_type(self) -> str:
        """The operator class name (``BashOperator``)."""
        return type(self).__name__

    @property
    def operator_name(self) -> str:
        return self.task_type

    @property
    def operator_module(self) -> str:
        """The module defining the operator class."""
        return type(self).__module__

    @property
    def label(self) -> str:
        """The task id as written, without task-group prefixes."""
        return self._label

    @property
    def node_id(self) -> str:
        return self.task_id

    @property
    def dag(self) -> Any:
        """The DAG this task belongs to (None until assigned)."""
        return self._dag

    @dag.setter
    def dag(self, dag: Any) -> None:
        if dag is self._dag:
            return
        if self._dag is not None:
            raise DagDefinitionError(f"task {self.task_id!r} already belongs to DAG {self._dag.dag_id!r}")
        dag.add_task(self)

    def attach_to_dag(self, dag: Any) -> None:
        """Set the DAG reference only (used by ``DAG.add_task`` and by mapping/subsetting)."""
        self._dag = dag

    def has_dag(self) -> bool:
        return self._dag is not None

    @property
    def dag_id(self) -> str:
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    # --- edges ----------------------------------------------------------------
    @property
    def upstream_task_ids(self) -> set[str]:
        return self._upstream_ids

    @property
    def downstream_task_ids(self) -> set[str]:
        return self._downstream_ids

    @property
    def upstream_list(self) -> list[BaseOperator]:
        """Direct upstream tasks, in DAG insertion order."""
        return self._tasks_in_dag_order(self._upstream_ids)

    @property
    def downstream_list(self) -> list[BaseOperator]:
        """Direct downstream tasks, in DAG insertion order."""
        return self._tasks_in_dag_order(self._downstream_ids)

    def _tasks_in_dag_order(self, ids: set[str]) -> list[BaseOperator]:
        if self._dag is None:
            raise DagDefinitionError(f"task {self.task_id!r} is not in a DAG; its relatives are unknown")
        return [t for t in self._dag.tasks if t.task_id in ids]

    @property
    def roots(self) -> list[BaseOperator]:
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self]

    def edge_roots(self) -> list[BaseOperator]:
        return [self]

    def edge_leaves(self) -> list[BaseOperator]:
        return [self]

    def link_downstream(self, other: BaseOperator) -> None:
        """Record the edge ``self -> other`` on both tasks, joining them to one DAG."""
        if other is self:
            raise DagDefinitionError(f"task {self.task_id!r} cannot depend on itself")
        dag = self._dag or other._dag
        if self._dag is not None and other._dag is not None and self._dag is not other._dag:
            raise DagDefinitionError(
                f"tried to link {self.task_id!r} (DAG {self._dag.dag_id!r}) and "
                f"{other.task_id!r} (DAG {other._dag.dag_id!r}): tasks must be in the same DAG"
            )
        for task in (self, other):
            if dag is not None and task._dag is None:
                dag.add_task(task)
        self._downstream_ids.add(other.task_id)
        other._upstream_ids.add(self.task_id)

    def wire_resolvable_arguments(self) -> None:
        """Make tasks whose XComs feed a template field upstream of this task."""
        for field in self.template_fields:
            for ref in iter_resolvables(getattr(self, field, None)):
                for operator in ref.referenced_operators():
                    operator.link_downstream(self)

    @property
    def output(self) -> XComArg:
        """This task's return value, as an argument for other tasks."""
        return XComArg(self)

    # --- policies ---------------------------------------------------------------
    def retry_delay_for_try(self, try_number: int, jitter_key: str | None = None) -> timedelta:
        """Wait after try ``try_number`` failed (formula in flowctl.core.retry_policy)."""
        return compute_retry_delay(
            try_number,
            retry_delay=self.retry_delay,
            exponential=self.retry_exponential_backoff,
            max_retry_delay=self.max_retry_delay,
            jitter_key=jitter_key if jitter_key is not None else f"{self.dag_id}.{self.task_id}",
        )

    @property
    def priority_weight_total(self) -> int:
        """Effective priority under ``weight_rule`` (see flowctl.core.weight_rule)."""
        return priority_weight_total(self)

    # --- run time ---------------------------------------------------------------
    def render_template_fields(self, context: Mapping[str, Any], jinja_env: Any = None) -> dict[str, Any]:
        """Load template files, then render template fields with Jinja, in place. XComArgs are
        resolved and values from XCom are left as they are (Airflow renders no XCom value)."""
        from flowctl.core import templating  # lazy: jinja2 is only needed at run time

        self.resolve_template_files()
        keep = templating.nested_ids(self._values_from_xcom)
        return templating.render_template_fields(self, context, jinja_env, keep)

    def render_template(self, content: Any, context: Mapping[str, Any], jinja_env: Any = None,
                        seen_oids: set[int] | None = None) -> Any:
        """``content`` rendered like a template field: strings (files ending with ``template_ext``),
        containers item by item, templated objects in place; XComArgs resolved, their values not rendered.

        Objects whose ``id`` is in ``seen_oids`` are returned as they are; a templated object
        rendered here is added to it.
        """
        from flowctl.core import templating  # lazy: jinja2 is only needed at run time

        env = jinja_env if jinja_env is not None else self.get_template_env()
        return templating.render_template(content, context, env, template_ext=self.template_ext, seen=seen_oids)

    def get_template_env(self, dag: Any = None) -> Any:
        """The Jinja environment of ``dag`` (default: this task's DAG; a plain one without a DAG)."""
        from flowctl.core import templating

        return templating.make_environment(dag if dag is not None else self._dag)

    def prepare_template(self) -> None:
        """Hook: change template fields after ``resolve_template_files`` loaded file contents, before rendering."""

    def resolve_template_files(self) -> None:
        """Replace template fields naming a file (ending with ``template_ext``) by the file's
        content, then call ``prepare_template()``. A file that cannot be read is left named:
        rendering reports it. Values from XCom are not file names."""
        from flowctl.core.templating import nested_ids

        exts = tuple(self.template_ext)
        if exts:
            env = None
            keep = nested_ids(self._values_from_xcom)
            for field in self.template_fields:
                value = getattr(self, field, None)
                if id(value) in keep:
                    continue
                if isinstance(value, str) and value.endswith(exts):
                    env = env or self.get_template_env()
                    setattr(self, field, self._template_file_source(env, field, value))
                elif isinstance(value, list) and any(isinstance(v, str) and v.endswith(exts) for v in value):
                    env = env or self.get_template_env()
                    # a new list: the task may be a shallow copy sharing its lists with the DAG's task
                    setattr(self, field, [self._template_file_source(env, field, v)
                                          if isinstance(v, str) and v.endswith(exts) and id(v) not in keep else v
                                          for v in value])
        self.prepare_template()

    def _template_file_source(self, env: Any, field: str, name: str) -> str:
        try:
            return str(env.loader.get_source(env, name)[0])
        except OSError as exc:  # jinja2.TemplateNotFound is an OSError
            self.log.warning("Template file %r of field %r of task %r could not be read: %s",
                             name, field, self.task_id, exc)
            return name

    @staticmethod
    def xcom_push(context: Mapping[str, Any], key: str, value: Any, execution_date: datetime | None = None
                  ) -> None:
        """Store ``value`` as XCom ``key`` of this try (``context["ti"].xcom_push``)."""
        context["ti"].xcom_push(key=key, value=value, execution_date=execution_date)

    @staticmethod
    def xcom_pull(context: Mapping[str, Any], task_ids: str | Sequence[str] | None = None,
                  dag_id: str | None = None, key: str = XCOM_RETURN_KEY, include_prior_dates: bool = False
                  ) -> Any:
        """An XCom pushed in this run (``context["ti"].xcom_pull``; a list for several task_ids)."""
        return context["ti"].xcom_pull(task_ids=task_ids, dag_id=dag_id, key=key,
                                       include_prior_dates=include_prior_dates)

    def pre_execute(self, context: Mapping[str, Any]) -> None:
        """Called right before ``execute``: calls the ``pre_execute=`` argument with the context."""
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Do the work; the return value becomes the ``return_value`` XCom."""
        raise NotImplementedError(f"{self.task_type} must implement execute(context)")

    def post_execute(self, context: Mapping[str, Any], result: Any = None) -> None:
        """Called right after ``execute`` succeeded: calls the ``post_execute=`` argument with the
        context and ``execute``'s result."""
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self) -> None:
        """Release external resources when the try is stopped."""

    # --- mapping ------------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Start a mapped task: fixed arguments now, ``.expand(...)`` the mapped ones."""
        from flowctl.core.mapping import OperatorPartial  # mapping.py imports this module

        return OperatorPartial(cls, kwargs)


def _non_negative_int(name: str, value: Any, task_id: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DagDefinitionError(f"{name} for {task_id!r} must be an integer, got {value!r}") from None
    if number < 0:
        raise DagDefinitionError(f"{name} for {task_id!r} must not be negative, got {number}")
    return number


def _as_timedelta(value: timedelta | float) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def _as_list(value: Any) -> list[Any]:
    """``inlets`` / ``outlets`` as a list: a single object (``outlets=Dataset(...)``) is a list of one."""
    if not value:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _parse_trigger_rule(value: str, task_id: str) -> TriggerRule:
    try:
        return rule_named(value)
    except ValueError:
        allowed = ", ".join(rule.value for rule in TriggerRule)
        raise DagDefinitionError(
            f"trigger_rule {value!r} for task {task_id!r} is not one of: {allowed}"
        ) from None


Callback = Callable[[Mapping[str, Any]], None]
