"""``DAG.test()`` (flowctl/scheduler/dag_test.py): a DAG file run as ``python that_file.py`` runs one run
of its DAG in that process, against a fresh SQLite home, outside the DAG folder."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from flowctl import DAG
from flowctl.core.errors import ConnectionNotFound, FlowctlError, NotSupportedError
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.operators.empty import EmptyOperator

#: A DAG file for Airflow 2 (``airflow`` -> ``flowctl``) that debugs itself with ``dag.test()``. What each
#: task sees goes to ``seen.jsonl`` beside it; ``__CALL__`` is the dag.test(...) call of each test.
SCRIPT = '''
import json
import sys
from datetime import datetime
from pathlib import Path

from flowctl import DAG
from flowctl.hooks.base import BaseHook
from flowctl.models import Variable
from flowctl.operators.python import PythonOperator

SEEN = Path(__file__).with_name("seen.jsonl")


def record(name, **context):
    print(f"hello from {name}")
    with SEEN.open("a") as f:
        f.write(json.dumps([name, context["ds"], context["dag_run"].run_id, dict(context["dag_run"].conf)]) + "\\n")


def secrets():
    conn = BaseHook.get_connection("warehouse")
    with SEEN.open("a") as f:
        f.write(json.dumps(["secrets", Variable.get("greeting"), Variable.get("limits", deserialize_json=True),
                            conn.host, conn.login, conn.port]) + "\\n")


def boom():
    raise RuntimeError("boom on purpose")


with DAG("debugged", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    first = PythonOperator(task_id="first", python_callable=record, op_args=["first"])
    second = PythonOperator(task_id="second", python_callable=record, op_args=["second"])
    first >> second

with DAG("with_secrets", schedule=None, start_date=datetime(2024, 1, 1)) as secrets_dag:
    PythonOperator(task_id="secrets", python_callable=secrets)

with DAG("failing", schedule=None, start_date=datetime(2024, 1, 1)) as failing_dag:
    PythonOperator(task_id="fails", python_callable=boom) >> PythonOperator(task_id="after", python_callable=boom)

if __name__ == "__main__":
    run = __CALL__
    print("RESULT " + json.dumps([type(run).__name__, run.state, run.run_id,
                                  sorted((t.task_id, t.state) for t in run.get_task_instances())]))
    sys.exit(0 if run.state == "success" else 1)
'''


@pytest.fixture()
def home(tmp_path: Path, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FLOWCTL_HOME in a temporary folder with a migrated SQLite database and an empty dags folder, in this
    process's environment (and so in the scripts it starts)."""
    (tmp_path / "dags").mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    return tmp_path


@pytest.fixture()
def store(home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    """The home's database, to look at what a script's run left there."""
    opened = Store(make_engine(migrated_sqlite_url))
    yield opened
    opened.close()


def run_script(home: Path, call: str) -> tuple[int, str, Path]:
    """Write the DAG file, outside the dags folder, with ``call`` as its dag.test(...) call, and run it as
    ``python that_file.py``: its exit code, its output and the file."""
    folder = home / "scripts"
    folder.mkdir(exist_ok=True)
    path = folder / "debugged.py"
    path.write_text(SCRIPT.replace("__CALL__", call))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=home, timeout=120)
    return done.returncode, done.stdout + done.stderr, path


def seen(path: Path) -> list[list[object]]:
    return [json.loads(line) for line in path.with_name("seen.jsonl").read_text().splitlines()]


def result(out: str) -> list[object]:
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


@pytest.mark.parametrize("keyword", ["execution_date", "logical_date"])
def test_a_dag_file_run_as_a_script_runs_every_task_once_with_the_conf_and_date_given(
        home: Path, store: Store, keyword: str) -> None:
    code, out, path = run_script(home, f'dag.test({keyword}=datetime(2024, 3, 1), run_conf={{"k": "v"}})')
    assert code == 0, out
    run_id = "manual__2024-03-01T00:00:00+00:00"
    assert seen(path) == [["first", "2024-03-01", run_id, {"k": "v"}], ["second", "2024-03-01", run_id, {"k": "v"}]]
    assert result(out) == ["RunInfo", "success", run_id, [["first", "success"], ["second", "success"]]]
    assert out.index("first: success") < out.index("second: queued") < out.index("second: success")
    assert "hello from first" in out and "hello from second" in out  # the tries' log lines, on the terminal
    assert store.get_dag("debugged").fileloc == str(path)  # registered, though outside the dags folder
    [run] = store.list_runs("debugged")
    assert (run.run_id, run.state, dict(run.conf)) == (run_id, "success", {"k": "v"})


def test_a_second_test_at_the_same_date_makes_a_new_run_with_the_conf_given_now(home: Path, store: Store) -> None:
    """As in Airflow, the earlier run at that date is deleted (clearing it would keep its conf and its DAG)."""
    for value in ("before", "after"):
        code, out, path = run_script(home, f'dag.test(execution_date=datetime(2024, 3, 1), run_conf={{"k": "{value}"}})')
        assert code == 0, out
    assert [row[3] for row in seen(path)] == [{"k": "before"}] * 2 + [{"k": "after"}] * 2
    [run] = store.list_runs("debugged")
    assert dict(run.conf) == {"k": "after"}


def test_a_failing_task_makes_dag_test_return_the_run_failed(home: Path) -> None:
    code, out, _ = run_script(home, "failing_dag.test()")
    assert code == 1, out
    assert result(out)[1:2] == ["failed"]
    assert result(out)[3] == [["after", "upstream_failed"], ["fails", "failed"]]
    assert "RuntimeError: boom on purpose" in out
    assert "Run of failing at " in out and ": failed" in out


def test_the_tasks_see_the_variables_and_connections_of_local_files_which_stay_out_of_the_database(
        home: Path, store: Store) -> None:
    (home / "vars.yaml").write_text('greeting: "hello from the file"\nlimits: {rows: 5}\n')
    (home / "conns.yaml").write_text("warehouse: postgres://analyst:pw@db.example.com:5433/sales\n")
    code, out, path = run_script(home, f'secrets_dag.test(variable_file_path={str(home / "vars.yaml")!r}, '
                                       f'conn_file_path={str(home / "conns.yaml")!r})')
    assert code == 0, out
    assert seen(path) == [["secrets", "hello from the file", {"rows": 5}, "db.example.com", "analyst", 5433]]
    with pytest.raises(ConnectionNotFound):
        store.get_connection("warehouse")
    assert store.list_variables() == []


def test_the_files_values_win_over_the_variables_and_connections_in_the_database(
        home: Path, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowctl.core.connection import parse_uri
    from flowctl.db.secrets import generate_key

    key = generate_key()
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", key)
    store = Store(make_engine(migrated_sqlite_url), fernet_key=key)
    store.set_variable("greeting", "hello from the database")
    store.set_variable("limits", '{"rows": 1}')
    store.add_connection(parse_uri("warehouse", "postgres://dbuser:dbpw@db.internal:5432/prod"))
    (home / "vars.env").write_text("# only one of the two\ngreeting='hello from the file'\n")
    (home / "conns.json").write_text(json.dumps({"warehouse": {"conn_type": "postgres", "host": "file.example.com",
                                                               "login": "fileuser", "port": 6000}}))
    code, out, path = run_script(home, f'secrets_dag.test(variable_file_path={str(home / "vars.env")!r}, '
                                       f'conn_file_path={str(home / "conns.json")!r})')
    assert code == 0, out
    assert seen(path) == [["secrets", "hello from the file", {"rows": 1}, "file.example.com", "fileuser", 6000]]
    assert store.get_variable("greeting") == "hello from the database"
    assert store.get_connection("warehouse").host == "db.internal"
    store.close()


def test_tasks_matching_mark_success_pattern_are_marked_success_without_running(home: Path) -> None:
    code, out, path = run_script(home, 'dag.test(mark_success_pattern="sec.*")')
    assert code == 0, out
    assert [row[0] for row in seen(path)] == ["first"]
    assert "second: marked success without running (mark_success_pattern)" in out


def test_a_dag_test_called_when_the_file_is_imported_is_refused_in_the_tries(home: Path) -> None:
    """Without the ``__main__`` guard each try's import of the file would start a run again."""
    script = SCRIPT.replace('if __name__ == "__main__":\n    run = __CALL__', "if True:\n    run = dag.test()")
    (home / "unguarded.py").write_text(script)
    done = subprocess.run([sys.executable, str(home / "unguarded.py")], capture_output=True, text=True, cwd=home,
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "must do it under `if __name__ == \"__main__\":`" in done.stdout
    assert result(done.stdout)[1] == "failed"


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"use_executor": True}, "use_executor"),
    ({"session": object()}, "session"),
    ({"run_after": datetime(2024, 1, 1)}, "run_after"),
    ({"use_executor": True, "run_after": datetime(2024, 1, 1)}, "use_executor, run_after"),
])
def test_an_airflow_keyword_flowctl_cannot_honour_is_refused_naming_it(kwargs: dict[str, object], named: str) -> None:
    dag = DAG("refused", schedule=None, start_date=datetime(2024, 1, 1))
    with pytest.raises(NotSupportedError, match=f"DAG.test\\(\\) does not support {named} in flowctl"):
        dag.test(**kwargs)  # type: ignore[arg-type]


def test_both_names_of_the_logical_date_at_once_are_refused() -> None:
    dag = DAG("both", schedule=None, start_date=datetime(2024, 1, 1))
    with pytest.raises(FlowctlError, match="execution_date or logical_date"):
        dag.test(execution_date=datetime(2024, 1, 1), logical_date=datetime(2024, 1, 2))


def test_a_dag_not_made_by_a_file_is_refused_saying_why() -> None:
    dag = DAG("typed_in", schedule=None, start_date=datetime(2024, 1, 1), full_filepath="<stdin>")
    with pytest.raises(FlowctlError, match="define the DAG in a .py file"):
        dag.test()


def test_without_an_initialised_database_dag_test_says_to_run_db_migrate(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.delenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    with DAG("no_database", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="nothing")
    with pytest.raises(FlowctlError, match=r"is not initialised: run `flowctl db migrate` first"):
        dag.test()
    assert not (tmp_path / "flowctl.db").exists()  # the check made no empty database file either
    (tmp_path / "flowctl.db").touch()  # an empty file: no tables
    with pytest.raises(FlowctlError, match=r"is not initialised: run `flowctl db migrate` first"):
        dag.test()


AMSTERDAM_SCRIPT = '''
import json
from datetime import datetime
from pathlib import Path

from flowctl import DAG
from flowctl.operators.python import PythonOperator


def report(dag, data_interval_start, data_interval_end, ts):
    Path(__file__).with_name("seen.jsonl").write_text(json.dumps(
        [dag.timezone, data_interval_start.in_timezone(dag.timezone).isoformat(),
         data_interval_end.in_timezone(dag.timezone).isoformat(), ts]))


with DAG("amsterdam", schedule="0 6 * * *", start_date=datetime(2024, 1, 1)) as dag:
    PythonOperator(task_id="report", python_callable=report)

if __name__ == "__main__":
    print("BUILT IN " + dag.timezone)
    print("RESULT " + json.dumps(dag.test(logical_date=datetime(2024, 3, 31, 6)).run_id))
'''


def test_a_script_runs_its_dag_with_naive_dates_in_the_configured_default_timezone(
        home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python my_dag.py`` builds the DAG before flowctl reads its settings (in UTC); DAG.test() takes it
    from the file again in ``[core] default_timezone``, as the tries and the DAG processor do."""
    monkeypatch.setenv("FLOWCTL__CORE__DEFAULT_TIMEZONE", "Europe/Amsterdam")
    path = home / "amsterdam.py"
    path.write_text(AMSTERDAM_SCRIPT)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=home, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BUILT IN UTC" in done.stdout  # what the script's own import gave, before DAG.test()
    assert result(done.stdout) == "manual__2024-03-31T04:00:00+00:00"  # 06:00 summer time: naive date read there
    assert json.loads(path.with_name("seen.jsonl").read_text()) == [
        "Europe/Amsterdam", "2024-03-30T06:00:00+01:00", "2024-03-31T06:00:00+02:00", "2024-03-31T04:00:00+00:00"]
    stored = store.latest_serialized_dag("amsterdam").data
    assert stored["timezone"] == "Europe/Amsterdam" and stored["start_date"] == "2024-01-01T00:00:00+01:00"
