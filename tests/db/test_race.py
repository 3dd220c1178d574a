"""N processes race to move the same queued task instance to running: exactly one wins, every time."""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.db.race_worker import claim_loop
from tests.db.samples import make_run, queued_ti

RACERS = 8
ROUNDS = 50


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def race_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"migrated_{'pg' if request.param == 'postgres' else 'sqlite'}_url"))


@pytest.fixture
def racers(race_url: str) -> Iterator[tuple[list[Any], Any]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(RACERS)]
    procs = [ctx.Process(target=claim_loop, args=(race_url, q, barrier, results), daemon=True) for q in inboxes]
    for p in procs:
        p.start()
    yield inboxes, results
    for q in inboxes:
        q.put(None)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"racer {p.pid} exited with {p.exitcode}"


@pytest.mark.slow
def test_exactly_one_of_eight_processes_claims_a_queued_task_in_every_round(
        race_url: str, racers: tuple[list[Any], Any]) -> None:
    inboxes, results = racers
    store = Store(make_engine(race_url))
    try:
        for round_no in range(ROUNDS):
            key = queued_ti(store, make_run(store, day=round_no))
            for q in inboxes:
                q.put((key.dag_id, key.run_id, key.task_id, key.map_index))
            outcomes = [results.get(timeout=60) for _ in range(RACERS)]
            winners = [pid for pid, won in outcomes if won]
            assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
            ti = store.get_task_instance(key)
            assert (ti.state, ti.try_number, ti.pid) == ("running", 1, winners[0])
    finally:
        store.close()
