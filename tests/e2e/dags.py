"""DAG file sources the end-to-end tests write into a deployment's dags folder.

``{out}`` in a source is replaced by the deployment's side-effect folder
(:meth:`Deployment.write_dag`). Every task that matters appends one line to a
file there with O_APPEND (one ``write`` per line, so concurrent workers never
interleave), which is how the tests count side effects, not only states.
"""
from __future__ import annotations

from datetime import datetime

PRELUDE = '''
import os
import time
from datetime import datetime, timedelta, timezone

from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import BranchPythonOperator, PythonOperator
from flowctl.utils.trigger_rule import TriggerRule

OUT = "{out}"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def append(name, line):
    fd = os.open(os.path.join(OUT, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


def effect(ti, **_):
    append("effects.log", f"{ti.dag_id} {ti.task_id} {ti.try_number} {os.getpid()} {time.time():.6f} {ti.run_id}")


def slow_effect(ti, seconds=0.3, **_):
    """Write a start line, sleep, write an end line (for overlap and ordering checks)."""
    append("spans.log", f"{ti.dag_id} {ti.task_id} {ti.run_id} start {time.time():.6f}")
    time.sleep(seconds)
    append("spans.log", f"{ti.dag_id} {ti.task_id} {ti.run_id} end {time.time():.6f}")
'''


def catchup_dags(start: datetime) -> str:
    """Two @daily DAGs starting at ``start``: one catches up, one does not."""
    return PRELUDE + f'''
for dag_id, catchup in (("catchup_on", True), ("catchup_off", False)):
    with DAG(dag_id, schedule="@daily", start_date=datetime.fromisoformat("{start.isoformat()}"),
             catchup=catchup, max_active_runs=5) as dag:
        PythonOperator(task_id="work", python_callable=effect)
    globals()[dag_id] = dag
'''


RETRIES = PRELUDE + '''
def fail_twice(ti, **_):
    effect(ti)
    if ti.try_number < 3:
        raise RuntimeError(f"failing on purpose, try {ti.try_number}")


with DAG("retries", schedule=None, start_date=START) as retries_dag:
    PythonOperator(task_id="flaky", python_callable=fail_twice, retries=3,
                   retry_delay=timedelta(seconds=1), retry_exponential_backoff=True,
                   max_retry_delay=timedelta(seconds=30))
'''

TIMEOUT = PRELUDE + '''
def sleep_long(ti, **_):
    append("timeout.log", f"started {time.time():.6f}")
    time.sleep(60)
    append("timeout.log", "finished")


with DAG("timeout", schedule=None, start_date=START) as timeout_dag:
    slow = PythonOperator(task_id="slow", python_callable=sleep_long,
                          execution_timeout=timedelta(seconds=1), retries=0)
    slow >> PythonOperator(task_id="after", python_callable=effect)
'''

TRIGGER_RULES = PRELUDE + '''
def boom(ti, **_):
    effect(ti)
    raise RuntimeError("boom")


with DAG("trigger_rules", schedule=None, start_date=START) as trigger_rules_dag:
    fails = PythonOperator(task_id="fails", python_callable=boom)
    ok = PythonOperator(task_id="ok", python_callable=effect)
    normal = PythonOperator(task_id="normal", python_callable=effect)
    alert = PythonOperator(task_id="alert", python_callable=effect, trigger_rule=TriggerRule.ONE_FAILED)
    cleanup = PythonOperator(task_id="cleanup", python_callable=effect, trigger_rule="all_done")
    [fails, ok] >> normal
    [fails, ok] >> alert
    [fails, ok] >> cleanup
'''

BRANCHING = PRELUDE + '''
with DAG("branching", schedule=None, start_date=START) as branching_dag:
    choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "left")
    left = PythonOperator(task_id="left", python_callable=effect)
    right = PythonOperator(task_id="right", python_callable=effect)
    after_right = PythonOperator(task_id="after_right", python_callable=effect)
    join = PythonOperator(task_id="join", python_callable=effect,
                          trigger_rule="none_failed_min_one_success")
    choose >> [left, right]
    right >> after_right
    [left, after_right] >> join
'''

POOLS = PRELUDE + '''
with DAG("pools", schedule=None, start_date=START, max_active_tasks=16) as pools_dag:
    for weight in (1, 5, 3, 4, 2):
        PythonOperator(task_id=f"w{weight}", python_callable=slow_effect, op_kwargs={"seconds": 0.3},
                       pool="single", priority_weight=weight, weight_rule="absolute")
'''

DEPENDS_ON_PAST = PRELUDE + '''
with DAG("depends_on_past", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         end_date=datetime(2024, 1, 3, tzinfo=timezone.utc), catchup=True, max_active_runs=3) as dop_dag:
    PythonOperator(task_id="step", python_callable=slow_effect, op_kwargs={"seconds": 0.4},
                   depends_on_past=True)
'''

CHAIN = PRELUDE + '''
with DAG("chain", schedule=None, start_date=START) as chain_dag:
    previous = None
    for i in range(5):
        task = PythonOperator(task_id=f"t{i}", python_callable=effect)
        if previous is not None:
            previous >> task
        previous = task
'''

DAILY_CHAIN = PRELUDE + '''
with DAG("daily_chain", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         catchup=False, max_active_runs=4) as daily_chain_dag:
    a = PythonOperator(task_id="a", python_callable=effect)
    b = PythonOperator(task_id="b", python_callable=effect)
    a >> b
'''

SLEEPER = PRELUDE + '''
def sleep_and_record(ti, **_):
    append(f"pid-{ti.task_id}", str(os.getpid()))
    time.sleep(120)


with DAG("sleeper", schedule=None, start_date=START) as sleeper_dag:
    first = PythonOperator(task_id="first", python_callable=sleep_and_record)
    first >> PythonOperator(task_id="second", python_callable=effect)
'''

WORKER_CRASH = PRELUDE + '''
def killable(ti, **_):
    append("pids.log", f"{ti.try_number} {os.getpid()}")
    if ti.try_number == 1:
        time.sleep(120)
    effect(ti)


with DAG("worker_crash", schedule=None, start_date=START) as worker_crash_dag:
    victim = PythonOperator(task_id="victim", python_callable=killable, retries=2,
                            retry_delay=timedelta(seconds=0))
    victim >> PythonOperator(task_id="after", python_callable=effect)
'''


ZYGOTE_DIES_AS_TRY_ENDS = PRELUDE + '''
def last_words(ti, **_):
    if ti.try_number == 1:  # the worker parent dies while this try is ending: its end is its own to write
        os.kill(os.getppid(), 9)  # SIGKILL
        time.sleep(0.3)
    effect(ti)


with DAG("zygote_dies", schedule=None, start_date=START) as zygote_dies_dag:
    PythonOperator(task_id="ending", python_callable=last_words, retries=1, retry_delay=timedelta(seconds=0))
'''


def wide_dag(dag_id: str, width: int, seconds: float = 0.0, retries: int = 0) -> str:
    """start >> ``width`` parallel tasks that each record one side effect (after sleeping) >> end."""
    return PRELUDE + f'''
def late_effect(ti, **_):
    time.sleep({seconds})
    effect(ti)


with DAG("{dag_id}", schedule=None, start_date=START, max_active_tasks=64) as wide_dag:
    start = PythonOperator(task_id="start", python_callable=effect)
    end = PythonOperator(task_id="end", python_callable=effect)
    for i in range({width}):
        start >> PythonOperator(task_id=f"t{{i:03d}}", python_callable=late_effect,
                                retries={retries}, retry_delay=timedelta(seconds=0)) >> end
'''


#: A DAG in a subfolder that imports a helper module from the dags folder's root, as Airflow
#: projects do (the dags folder is on sys.path in every process that imports DAG files).
HELPER = '''
def greeting():
    return "hello from common.helpers"
'''
NESTED = PRELUDE + '''
from common.helpers import greeting

with DAG("nested", schedule=None, start_date=START):
    PythonOperator(task_id="greet", python_callable=lambda: append("nested.log", greeting()))
'''

#: TaskFlow tasks passing datetimes, dates and timedeltas through XCom: a return value, a
#: ``multiple_outputs`` dict, a mapped expansion over a list of dates and a template pull. Each
#: consumer writes the type and value it received to ``dates.log``.
DATES = PRELUDE + '''
from datetime import date
from flowctl.decorators import task


@task
def interval_start(**context):
    return context["data_interval_start"]


@task(multiple_outputs=True)
def window(first):
    return {"days": [first.date(), (first + timedelta(days=1)).date()], "span": timedelta(days=2)}


@task(templates_dict={"pulled": "{{ ti.xcom_pull(task_ids='interval_start').isoformat() }}"})
def report(first, span, **context):
    append("dates.log", f"first {type(first).__name__} {first.isoformat()}")
    append("dates.log", f"span {type(span).__name__} {span.days}")
    append("dates.log", f"template str {context['templates_dict']['pulled']}")


@task
def each(day):
    append("dates.log", f"each {type(day).__name__} {day.isoformat()}")


with DAG("dates", schedule=None, start_date=START) as dates_dag:
    first = interval_start()
    parts = window(first)
    report(first, parts["span"])
    each.expand(day=parts["days"])
'''

#: Airflow's repeated mapping: a mapped task over a mapped task's output (one index per value its
#: indexes pushed: a None return adds none), ``expand_kwargs`` over a mapped task, and a reduce.
#: The kwargs carry "{{ ds }}" from XCom, which is data: it reaches the task unrendered.
REPEATED_MAPPING = PRELUDE + '''
from flowctl.decorators import task


@task
def add_one(x):
    return x + 1


@task
def odd_only(x):
    return x if x % 2 else None


@task
def as_kwargs(x):
    return {"x": x, "note": "{{ ds }}"}


@task
def record(x, note):
    append("mapping.log", f"kwargs {x} {note}")


@task
def total(values):
    append("mapping.log", f"total {sum(values)} of {len(values)}")


with DAG("repeated_mapping", schedule=None, start_date=START):
    first = add_one.expand(x=[1, 2, 3])
    second = add_one.expand(x=first)
    total(second)
    record.expand_kwargs(as_kwargs.expand(x=odd_only.expand(x=second)))
'''

#: XComArg.map() (chained, over a list and over a dict's items, into a classic operator),
#: .zip(fillvalue=...), .concat() and expand_kwargs over a map. ``shout`` logs the pid it runs in and
#: each instance the value it got with its own pid: the tests check the callable ran in the
#: instance's worker, once per instance, never in the scheduler. ``nothing`` expands to no instance.
XCOMARG_TRANSFORMS = PRELUDE + '''
import json

from flowctl.decorators import task
from flowctl.operators.bash import BashOperator


def shout(word):
    append("transforms.log", f"called {word} {os.getpid()}")
    return word.upper()


def exclaim(word):
    return word + "!"


def as_command(item):
    key, value = item
    return f"echo bash {key}={value} >> {OUT}/transforms.log"


@task
def words():
    return ["a", "b", "c"]


@task
def numbers():
    return [1, 2]


@task
def settings():
    return {"x": 1, "y": 2}


@task
def nothing():
    return []


@task
def receive(value, label):
    append("transforms.log", f"{label} {json.dumps(value, separators=(',', ':'))} {os.getpid()}")


with DAG("xcomarg_transforms", schedule=None, start_date=START):
    w, n, s = words(), numbers(), settings()
    receive.partial(label="map").expand(value=w.map(shout).map(exclaim))
    receive.partial(label="zip").expand(value=w.zip(n, fillvalue=0))
    receive.partial(label="concat").expand(value=n.concat(s, w))
    receive.expand_kwargs(n.map(lambda x: {"value": x * 10, "label": "kwargs"}))
    BashOperator.partial(task_id="bash_items").expand(bash_command=s.map(as_command))
    receive.override(task_id="receive_empty").partial(label="empty").expand(value=nothing().map(shout))
'''

#: A mapped task group: ``check`` then ``keep`` per number, with ``check``'s output passed to ``keep``
#: (the same map index's value) and an all_done reduce over the group's output. check fails for 2 on
#: every try (retries=1) until a file "fixed" exists in OUT: keep for that index alone is
#: upstream_failed. check fails for 3 on its first try only: that index retries on its own and goes on.
MAPPED_GROUP = PRELUDE + '''
from flowctl.decorators import task, task_group


@task
def numbers():
    return [1, 2, 3]


@task(retries=1, retry_delay=timedelta(seconds=0.3))
def check(x, ti=None):
    append("group.log", f"check {x} {ti.map_index} {ti.try_number}")
    fixed = os.path.exists(os.path.join(OUT, "fixed"))
    if (x == 2 and not fixed) or (x == 3 and ti.try_number == 1):
        raise ValueError("failing on purpose")
    return x * 10


@task
def keep(y, x):
    append("group.log", f"keep {x} {y}")
    return y + x


@task(trigger_rule="all_done")
def collect(values):
    append("group.log", f"collect {list(values)}")


@task_group
def per_number(x):
    return keep(check(x), x)


with DAG("mapped_group", schedule=None, start_date=START):
    collect(per_number.expand(x=numbers()))
'''
