"""The home page's pager and status counts follow the filters: a page past the end shows the last one,
and All / Active / Paused count the DAGs the search, tag and last-run filters leave."""
from __future__ import annotations

import re

from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.db.samples import serialized
from tests.web.webdata import T0


def _dags(store: Store, n: int) -> None:
    for i in range(n):
        store.sync_dag(serialized(f"dag_{i:03d}", tags=["even" if i % 2 == 0 else "odd"]), f"/dags/d{i}.py", T0)


def counts(page: str) -> dict[str, int]:
    return {k.lower(): int(v) for k, v in re.findall(r'>(All|Active|Paused) <span class="muted">(\d+)</span>', page)}


def test_a_page_past_the_end_shows_the_last_page(admin_client: FlaskClient, web_store: Store) -> None:
    _dags(web_store, 11)
    page = admin_client.get("/?page=5&page_size=5").get_data(as_text=True)
    assert "11–11 of 11" in page and "dag_010" in page
    page = admin_client.get("/?page=5").get_data(as_text=True)
    assert "1–11 of 11" in page and "101–100" not in page


def test_the_status_counts_follow_search_and_tag(admin_client: FlaskClient, web_store: Store) -> None:
    _dags(web_store, 6)
    web_store.set_paused("dag_001", True)
    assert counts(admin_client.get("/").get_data(as_text=True)) == {"all": 6, "active": 5, "paused": 1}
    assert counts(admin_client.get("/?tag=odd").get_data(as_text=True)) == {"all": 3, "active": 2, "paused": 1}
    assert counts(admin_client.get("/?search=dag_00&tag=even").get_data(as_text=True)) == {
        "all": 3, "active": 3, "paused": 0}
    assert counts(admin_client.get("/?search=nothing-like-it&status=paused").get_data(as_text=True)) == {
        "all": 0, "active": 0, "paused": 0}
