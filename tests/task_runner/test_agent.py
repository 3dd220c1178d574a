"""The task agent: values on the wire, verbs served by a real agent process, and what a client does
when the agent is gone."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.connection import Connection
from flowctl.core.errors import ConnectionNotFound, DagRunAlreadyExists, XComTooLargeError
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.records import ClaimedTry, TryEnd
from flowctl.settings import Settings
from flowctl.task_runner import wire
from flowctl.task_runner.agent import Agent, fork_agent
from flowctl.task_runner.agent_client import AgentProcess, AgentSeat, AgentStore

from tests.task_runner.conftest import World

DAG_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
with DAG("one", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="t")
'''
NOW = datetime(2024, 3, 1, 12, 30, tzinfo=timezone.utc)


def _settings_for(world: World) -> Settings:
    url = world.store.engine.url.render_as_string(hide_password=False)
    return world.settings.replace(database__sql_alchemy_conn=url)


@pytest.fixture
def agent(world: World) -> Any:
    process = AgentProcess(_settings_for(world))
    yield process
    process.close()


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, "text", [1, "a", None], {"a": {"b": [1, 2]}},
    NOW, date(2024, 1, 2), timedelta(minutes=90), (1, "two", NOW), {1, 2, 3}, {(1, 2): "pair", 3: "int"},
    {"__t": "not a tag", "v": 1}, TaskInstanceState.UP_FOR_RETRY,
    TaskInstanceKey("d", "r", "t", 4), RunKey("d", "r"), Connection("db", "postgres", host="h", port=5432),
    TryEnd(TaskInstanceKey("d", "r", "t"), TaskInstanceState.SUCCESS, NOW, 2, NOW, {"next_retry_at": NOW},
           {"return_value": {"rows": 3}}),
])
def test_a_value_comes_out_of_the_wire_as_it_went_in(value: Any) -> None:
    sent = json.loads(json.dumps(wire.encode(value)))
    assert wire.decode(sent) == value
    assert type(wire.decode(sent)) is type(value)


def test_a_type_the_wire_does_not_know_is_refused_both_ways() -> None:
    with pytest.raises(TypeError, match="cannot be sent"):
        wire.encode(object())
    with pytest.raises(ValueError, match="unknown value tag 'os.system'"):
        wire.decode({"__t": "os.system", "v": "rm -rf /"})


def test_flowctl_errors_travel_as_themselves_and_others_as_agent_errors() -> None:
    assert isinstance(wire.error_from(wire.error_message(XComTooLargeError("big"))), XComTooLargeError)
    assert isinstance(wire.error_from(wire.error_message(KeyError("k"))), KeyError)
    other = wire.error_from(wire.error_message(ZeroDivisionError("oops")))
    assert isinstance(other, wire.AgentError) and "ZeroDivisionError: oops" in str(other)


def test_the_agent_serves_only_its_verbs(world: World) -> None:
    answer = json.loads(Agent(world.store, listener=None).handle(b'{"m": "delete_dag", "a": ["one"]}'))  # type: ignore[arg-type]
    assert answer == {"e": {"type": "PermissionError", "message": "'delete_dag' is not a task agent verb"}}


def test_a_try_is_claimed_and_ended_through_the_agent(world: World, agent: AgentProcess) -> None:
    fileloc = world.write_dags("one", DAG_SOURCE)
    workload = world.queue(world.make_run("one"), "t", fileloc)
    claim = agent.store.start_tries([(workload.key, workload.try_number)], "host", 123, NOW)[0]
    assert isinstance(claim, ClaimedTry) and claim.ti.try_number == 1 and claim.ti.state == "running"
    end = TryEnd(workload.key, TaskInstanceState.SUCCESS, NOW, 1, claim.ti.start_date, {}, {"return_value": [1]})
    assert agent.store.finish_tries([end], "task finished") == [True]
    assert world.store.get_task_instance(workload.key).state == "success"
    assert agent.store.xcom_pull(workload.key.run_key, "t") == [1]


def test_errors_of_a_verb_reach_the_caller_as_themselves(world: World, agent: AgentProcess) -> None:
    with pytest.raises(ConnectionNotFound):
        agent.store.get_connection("nowhere")
    with pytest.raises(XComTooLargeError):
        agent.store.check_xcom(TaskInstanceKey("d", "r", "t"), "k", "x" * 100_000)


def test_a_verb_the_agent_does_not_serve_goes_to_a_store_of_our_own(world: World, agent: AgentProcess) -> None:
    agent.store.set_variable("greeting", "hello")  # served by the agent
    assert agent.store.get_variable_record("greeting").val == "hello"  # not an agent verb
    assert agent.store._own is not None


def test_a_forked_try_connects_anew_and_leaves_the_parents_connection_alone(
        world: World, agent: AgentProcess) -> None:
    world.store.set_variable("k", "v")
    assert agent.store.get_variable("k") == "v"
    parent_socket = agent.store._sock
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit code
        ok = False
        try:
            agent.leave_to_parent()
            ok = agent.store.get_variable("k") == "v" and agent.store._sock is not parent_socket
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert agent.store._sock is parent_socket
    assert agent.store.get_variable("k") == "v"


def test_threads_sharing_a_client_each_get_the_answer_to_their_own_request(
        world: World, agent: AgentProcess) -> None:
    """A try's heartbeat thread calls the agent while its task reads XComs and variables on the same
    connection. Before: their requests and answers crossed (a variable read got a heartbeat's
    ``[True]``, or two answers arrived as one line: ``JSONDecodeError: Extra data``)."""
    for n in range(4):
        world.store.set_variable(f"k{n}", f"value-{n}")
    wrong: list[str] = []

    def read(n: int) -> None:
        for _ in range(150):
            try:
                got = agent.store.get_variable(f"k{n}")
            except Exception as exc:  # noqa: BLE001 - a crossed answer may fail to decode
                got = repr(exc)
            if got != f"value-{n}":
                wrong.append(f"k{n}: {got!r}")

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert wrong == []
    assert agent.store.get_variable("k0") == "value-0"  # the connection is still in step


def test_a_call_after_a_begin_whose_answer_was_never_taken_gets_its_own_answer(
        world: World, agent: AgentProcess) -> None:
    """Before: the zygote's claims sent with begin() and never waited for (a fork failed between)
    left their answer on the connection, and the next call took it for its own."""
    world.store.set_variable("k", "v")
    untaken = agent.store.begin("get_variable", "nowhere")
    assert agent.store.get_variable("k") == "v"
    with pytest.raises(ConnectionError, match="dropped"):
        untaken()
    assert agent.store.begin("get_variable", "k")() == ("v", "v")


def kill_agent_after_a_call(world: World, agent: AgentProcess) -> None:
    """The agent answered once, then is killed: the call in flight then fails (it is not sent again)."""
    world.store.set_variable("k", "v")
    assert agent.store.get_variable("k") == "v"
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait()
    with pytest.raises(ConnectionError):
        agent.store.get_variable("k")


def test_a_dead_agent_is_replaced_and_its_clients_carry_on(world: World, agent: AgentProcess) -> None:
    kill_agent_after_a_call(world, agent)
    agent.ensure_running()
    assert agent.store.get_variable("k") == "v"


def test_the_zygotes_next_call_after_its_agent_died_starts_a_new_agent_instead_of_waiting_forever(
        world: World, agent: AgentProcess) -> None:
    """Before: only the calls that write ends and claims restarted the agent; the zygote's next
    heartbeat connected to the socket it still listens on, which no agent accepted any more, and
    waited for an answer for ever: no try was reaped or started again until a restart."""
    import threading

    kill_agent_after_a_call(world, agent)
    answers: list[Any] = []
    caller = threading.Thread(target=lambda: answers.append(agent.store.get_variable("k")), daemon=True)
    caller.start()
    caller.join(20)
    assert answers == ["v"]


def test_without_an_agent_a_client_uses_a_database_connection_of_its_own(world: World, tmp_path: Any) -> None:
    world.store.set_variable("k", "v")
    store = AgentStore(str(tmp_path / "no-agent.sock"), _settings_for(world))
    try:
        assert store.get_variable("k") == "v"
        assert store._sock is None and store._own is not None
    finally:
        store.close()


def _gone(pid: int, timeout: float) -> bool:
    """Whether ``pid`` exits within ``timeout`` (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def adopted(world: World) -> Any:
    """A zygote's AgentProcess (here, in this process) adopting the agent forked into a seat."""
    settings = _settings_for(world)
    seat = AgentSeat()
    adopt = [seat.path, *(str(os.dup(fd)) for fd in seat.zygote_fds())]  # the zygote's copies
    seat.zygote_started()
    fork_agent(seat, settings)
    process = AgentProcess(settings, adopt)
    yield process
    process.close()


def test_an_agent_forked_into_a_seat_serves_the_zygote_that_adopts_it_and_ends_with_it(
        world: World, adopted: AgentProcess) -> None:
    world.store.set_variable("k", "v")
    assert adopted.store.get_variable("k") == "v"
    adopted.ensure_running()
    pid = adopted.adopted_pid
    assert adopted.proc is None and pid is not None and pid != os.getpid()  # adopted, not replaced
    with open(f"/proc/{pid}/comm") as comm:
        assert comm.read().strip() == "flowctl agent"
    adopted.close()  # EOF on its stop pipe: it ends
    assert _gone(pid, 5)
    assert not os.path.exists(adopted.folder)


def test_an_adopted_agent_that_died_is_replaced_by_a_child_of_the_zygote(
        world: World, adopted: AgentProcess) -> None:
    world.store.set_variable("k", "v")
    assert adopted.store.get_variable("k") == "v"
    adopted.ensure_running()
    assert adopted.adopted_pid is not None
    os.kill(adopted.adopted_pid, signal.SIGKILL)
    assert _gone(adopted.adopted_pid, 5)
    with pytest.raises(ConnectionError):
        adopted.store.get_variable("k")  # the request was sent: it is not sent again
    adopted.ensure_running()
    assert adopted.proc is not None and adopted.proc.poll() is None
    assert adopted.store.get_variable("k") == "v"


def test_a_task_triggers_another_run_through_the_agent_without_a_connection_of_its_own(
        world: World, agent: AgentProcess) -> None:
    """TriggerDagRunOperator's writes: a store of the task's own would import SQLAlchemy and connect."""
    world.write_dags("one", DAG_SOURCE)
    world.make_run("one")
    run = agent.store.trigger_dag("one", now=NOW, run_id="from_a_task", logical_date=NOW, conf={"n": 1})
    agent.store.notify_scheduler("trigger one")
    assert run.run_id == "from_a_task" and world.store.get_run("one", "from_a_task").conf == {"n": 1}
    with pytest.raises(DagRunAlreadyExists):
        agent.store.trigger_dag("one", now=NOW, run_id="from_a_task", logical_date=NOW, conf={})
    assert agent.store._own is None


def test_an_agent_that_cannot_warm_up_on_an_unmigrated_database_says_so_in_one_line(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from flowctl.db.engine import make_engine
    from flowctl.db.store import Store
    from flowctl.task_runner.agent import warm_or_say_why

    store = Store(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))  # no tables: every statement fails
    try:
        warm_or_say_why(store)
    finally:
        store.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "no such table" in err and "flowctl db migrate" in err, err
