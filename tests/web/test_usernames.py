"""The user form refuses a username that differs only in case from a taken one, as the CLI does."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.web.conftest import BOTH_DATABASES, post, store_on


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """Usernames are compared without case by the database's own lower()."""
    return store_on(request)


def test_a_username_that_differs_only_in_case_from_a_taken_one_is_a_400(admin_client: FlaskClient,
                                                                        web_store: Store) -> None:
    for taken in ("Admin", "ADMIN", "vIEWER"):
        response = post(admin_client, "/admin/users", {"username": taken, "role": "Viewer",
                                                       "password": "long-enough-pw"})
        assert response.status_code == 400, taken
        assert f"already used by user &#39;{taken.lower()}&#39;" in response.get_data(as_text=True)
    assert [u.username for u in web_store.list_users()] == ["admin", "op", "user", "viewer"]


def test_case_is_ignored_beyond_ascii_too(admin_client: FlaskClient, web_store: Store) -> None:
    """SQLite's lower() knows only A-Z: 'ZOË' and 'zoë' must still be the same name (and address)."""
    form = {"username": "ZOË", "role": "Viewer", "password": "long-enough-pw", "email": "ZOË@Example.com"}
    assert post(admin_client, "/admin/users", form).status_code == 302
    for username, email in (("zoë", ""), ("zoe2", "zoë@example.com")):
        response = post(admin_client, "/admin/users", {**form, "username": username, "email": email})
        assert response.status_code == 400, username
        assert "already used by user &#39;ZOË&#39;" in response.get_data(as_text=True)
    assert sorted(u.username for u in web_store.list_users()) == ["ZOË", "admin", "op", "user", "viewer"]


def test_a_new_username_is_still_created(admin_client: FlaskClient, web_store: Store) -> None:
    response = post(admin_client, "/admin/users", {"username": "Admina", "role": "Viewer",
                                                   "password": "long-enough-pw"})
    assert response.status_code == 302
    assert web_store.get_user("Admina").roles == ("Viewer",)
