"""Who may do what in the web UI: roles, permissions and a DAG's ``access_control``, as pure functions.

Roles (Airflow's): Viewer reads; User also acts on DAGs (trigger, clear, mark,
pause, backfill, delete history, kill runs); Op also manages variables,
connections and pools; Admin also manages users and sees every DAG. A DAG's
``access_control`` (``{"Role": {"can_read", "can_edit"}}``, or the newer
``{"Role": {"DAGs": {...}}}``) can only narrow: when a DAG sets one, roles not
named there do not see it, and a role never gains more than its own rights.
Pure: no Flask, no database.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import Enum
from typing import Any


class Perm(str, Enum):
    """A permission a role grants."""

    READ = "read"
    DAG_EDIT = "dag_edit"
    CONFIG = "config"
    USERS = "users"

    def __str__(self) -> str:
        return self.value


ADMIN = "Admin"
ROLE_PERMS: Mapping[str, frozenset[Perm]] = {
    "Viewer": frozenset({Perm.READ}),
    "User": frozenset({Perm.READ, Perm.DAG_EDIT}),
    "Op": frozenset({Perm.READ, Perm.DAG_EDIT, Perm.CONFIG}),
    ADMIN: frozenset(Perm),
}
_READ_WORDS = frozenset({"can_read", "can_dag_read", "menu_access"})
_EDIT_WORDS = frozenset({"can_edit", "can_dag_edit", "can_delete"})


def permissions_of(roles: Iterable[str]) -> frozenset[Perm]:
    """The union of what the roles grant (unknown roles grant nothing)."""
    out: set[Perm] = set()
    for role in roles:
        out |= ROLE_PERMS.get(role, frozenset())
    return frozenset(out)


def _words(value: Any) -> set[str]:
    """Every permission word in an access_control value, however nested."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        return set().union(*(_words(v) for v in value.values())) if value else set()
    if isinstance(value, Iterable):
        return set().union(*(_words(v) for v in value)) if value else set()
    return set()


def dag_permissions(roles: Iterable[str], access_control: Mapping[str, Any] | None) -> frozenset[Perm]:
    """What these roles may do on a DAG with this access_control: READ and/or DAG_EDIT."""
    roles = tuple(roles)
    base = permissions_of(roles) & {Perm.READ, Perm.DAG_EDIT}
    if not access_control or ADMIN in roles:
        return frozenset(base)
    granted: set[Perm] = set()
    for role in roles:
        words = _words(access_control.get(role))
        if words & (_READ_WORDS | _EDIT_WORDS):
            granted.add(Perm.READ)
        if words & _EDIT_WORDS:
            granted.add(Perm.DAG_EDIT)
    return frozenset(base & granted)


def hidden_dag_ids(roles: Iterable[str], access_controls: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The DAGs (of those that set access_control) these roles may not see."""
    roles = tuple(roles)
    if ADMIN in roles:
        return frozenset()
    return frozenset(dag_id for dag_id, ac in access_controls.items()
                     if Perm.READ not in dag_permissions(roles, ac))


def import_error_visible(dag_ids_of_file: Collection[str], hidden: Collection[str]) -> bool:
    """Whether a user who may not see the ``hidden`` DAGs may read a file's import error (its traceback
    quotes the file): as in Airflow 2, one who sees every DAG reads every error; anyone else only the
    errors of files whose DAGs they all see, not those of files that never defined a DAG."""
    if not hidden:
        return True
    return bool(dag_ids_of_file) and not set(dag_ids_of_file) & set(hidden)
