"""The Store's admin verbs: variables, pools, fernet keys; composes connections and users.

Owns :class:`AdminVerbs` (the mixin the Store inherits: it needs the Store's
``self._session()``), :class:`VariableVerbs`, :class:`PoolVerbs` and their
records. Variable values are encrypted at rest whenever a fernet key is
configured (as Airflow does); :meth:`AdminVerbs.rotate_fernet_key` re-encrypts
every secret with the first key. Must not import web or cli.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowctl.core.errors import AlreadyExistsError, FlowctlError, PoolNotFound, VariableNotFound
from flowctl.core.masking import should_mask
from flowctl.core.states import TI_FINISHED
from flowctl.db.connections import ConnectionVerbs
from flowctl.db.secrets import FernetBox, FernetKeyError, NO_KEY_HINT, optional_box, split_keys
from flowctl.db.tables import ID_LEN, PoolRow, TaskInstanceRow, VariableRow
from flowctl.db.triggers import rotate_trigger_kwargs
from flowctl.db.users import UserVerbs

DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128
UNLIMITED_SLOTS = -1
MAX_SLOTS = 2**31 - 1  # the slots column is a 32-bit INTEGER on PostgreSQL
_FINISHED_STATES = sorted(str(state.value) for state in TI_FINISHED)


@dataclass(frozen=True, slots=True)
class VariableRecord:
    """One variable, decrypted."""

    key: str
    val: str | None
    description: str | None
    is_encrypted: bool


@dataclass(frozen=True, slots=True)
class Pool:
    """A pool of task slots; ``slots == -1`` means unlimited."""

    name: str
    slots: int
    description: str | None
    include_deferred: bool


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """How many slots of a pool are taken; ``open_slots`` is None for an unlimited pool.

    ``occupied`` is running + queued (+ deferred when the pool counts them); ``scheduled``
    task instances wait for a slot and take none yet (Airflow's ``scheduled_slots``)."""

    pool: str
    slots: int
    running: int
    queued: int
    deferred: int
    open_slots: int | None
    scheduled: int
    occupied: int


def pool_open_slots(slots: int, occupied: int) -> int | None:
    """Slots left in a pool (None when unlimited); never below zero."""
    if slots == UNLIMITED_SLOTS:
        return None
    return max(slots - occupied, 0)


class _NeedsStore:
    """What the verbs use from the Store and from AdminVerbs (declared for type checkers only,
    so that no stub shadows the Store's real ``_session`` whatever the base-class order)."""

    if TYPE_CHECKING:
        fernet_key: str

        def _session(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

        def _fernet(self) -> FernetBox: ...

        def _fernet_or_none(self) -> FernetBox | None: ...


class VariableVerbs(_NeedsStore):
    """Get, set, delete, list, import and export variables."""

    def get_variable(self, key: str) -> str | None:
        """The value of a variable; VariableNotFound (a KeyError) when there is none."""
        return self.get_variable_record(key).val

    def get_variable_record(self, key: str) -> VariableRecord:
        """One variable with its description."""
        with self._read() as s:
            row = s.scalar(select(VariableRow).where(VariableRow.key == key))
            if row is None:
                raise VariableNotFound(f"variable {key!r} does not exist")
            return self._variable(row)

    def set_variable(self, key: str, value: str | None, description: str | None = None) -> None:
        """Create or replace a variable (the description is kept when not given)."""
        _check_key("variable key", key)
        box = self._fernet_or_none()
        with self._session() as s:
            row = s.scalar(select(VariableRow).where(VariableRow.key == key))
            if row is None:
                row = VariableRow(key=key)
                s.add(row)
            row.val, row.is_encrypted = _variable_cell(box, key, value)
            if description is not None:
                row.description = description

    def update_variable(self, key: str, changes: Mapping[str, Any]) -> VariableRecord:
        """Change ``value`` and/or ``description`` (None clears it) of an existing variable;
        VariableNotFound when there is none."""
        unknown = set(changes) - {"value", "description"}
        if unknown:
            raise FlowctlError(f"a variable has no field(s) {', '.join(sorted(unknown))}")
        box = self._fernet_or_none()
        with self._session() as s:
            row = s.scalar(select(VariableRow).where(VariableRow.key == key))
            if row is None:
                raise VariableNotFound(f"variable {key!r} does not exist")
            if "value" in changes:
                row.val, row.is_encrypted = _variable_cell(box, key, changes["value"])
            if "description" in changes:
                row.description = changes["description"]
            return self._variable(row)

    def delete_variable(self, key: str) -> bool:
        """Delete a variable; False when there was none."""
        with self._session() as s:
            row = s.scalar(select(VariableRow).where(VariableRow.key == key))
            if row is None:
                return False
            s.delete(row)
            return True

    def list_variables(self) -> list[VariableRecord]:
        """Every variable, decrypted, by key."""
        with self._read() as s:
            return [self._variable(r) for r in s.scalars(select(VariableRow).order_by(VariableRow.key))]

    def import_variables(self, values: Mapping[str, Any]) -> int:
        """Set each key; values that are not strings are stored as JSON. Returns how many."""
        box = self._fernet_or_none()
        for key, value in values.items():  # refused before any is written
            _check_storable(box, str(key), value)
        for key, value in values.items():
            self.set_variable(str(key), value if isinstance(value, str) else json.dumps(value))
        return len(values)

    def export_variables(self) -> dict[str, Any]:
        """Every variable; values that are JSON come back parsed (the inverse of import)."""
        out: dict[str, Any] = {}
        for var in self.list_variables():
            try:
                out[var.key] = json.loads(var.val) if var.val is not None else None
            except ValueError:
                out[var.key] = var.val
        return out

    def _variable(self, row: VariableRow) -> VariableRecord:
        val = self._fernet().decrypt(row.val) if row.is_encrypted and row.val is not None else row.val
        return VariableRecord(key=row.key, val=val, description=row.description,
                              is_encrypted=bool(row.is_encrypted))

    def _rotate_variables(self, s: Session, box: FernetBox) -> int:
        count = 0
        for row in s.scalars(select(VariableRow).where(VariableRow.val.is_not(None))).all():
            row.val = box.rotate(row.val) if row.is_encrypted else box.encrypt(row.val or "")
            row.is_encrypted = True
            count += 1
        return count


class PoolVerbs(_NeedsStore):
    """Set, get, delete and list pools, and how full they are."""

    def set_pool(self, name: str, slots: int, description: str | None = None,
                 include_deferred: bool = False) -> Pool:
        """Create or update a pool; slots is a whole number >= 0, or -1 for unlimited."""
        _check_key("pool name", name)
        _check_slots(name, slots)
        with self._session() as s:
            return _put_pool(s, Pool(name, slots, description, include_deferred))

    def import_pools(self, pools: Mapping[str, Any]) -> int:
        """Create or update every pool of ``{name: {"slots": n, "description": "...", "include_deferred": b}}``
        in one transaction (a description not given is kept); FlowctlError naming the first bad entry
        before anything is written. Returns how many."""
        checked = [_pool_from_spec(name, spec) for name, spec in pools.items()]
        with self._session() as s:
            for pool in checked:
                _put_pool(s, pool)
        return len(checked)

    def add_pool(self, name: str, slots: int, description: str | None = None,
                 include_deferred: bool = False) -> Pool:
        """Create a pool; AlreadyExistsError when one has this name."""
        _check_key("pool name", name)
        _check_slots(name, slots)
        with self._session() as s:
            if s.scalar(select(PoolRow.id).where(PoolRow.pool == name)) is not None:
                raise AlreadyExistsError(f"pool {name!r} exists already")
            row = PoolRow(pool=name, slots=slots, description=description, include_deferred=include_deferred)
            s.add(row)
            return _pool(row)

    def update_pool(self, name: str, changes: Mapping[str, Any]) -> Pool:
        """Change ``slots``, ``description`` (None clears it), ``include_deferred`` and/or ``name`` of
        an existing pool; PoolNotFound when there is none.

        A new ``name`` renames the pool (never default_pool; AlreadyExistsError when the name is
        taken) and, in the same transaction, the pool of its unfinished task instances, so that
        what runs, waits or retries keeps its slots in it; finished tries keep the name they ran in."""
        unknown = set(changes) - {"name", "slots", "description", "include_deferred"}
        if unknown:
            raise FlowctlError(f"a pool has no field(s) {', '.join(sorted(unknown))}")
        if "slots" in changes:
            _check_slots(name, changes["slots"])
        new_name = changes.get("name", name)
        if new_name != name:
            _check_rename(name, new_name)
        try:
            with self._session() as s:
                row = s.scalar(select(PoolRow).where(PoolRow.pool == name))
                if row is None:
                    raise PoolNotFound(f"pool {name!r} does not exist")
                if new_name != name:
                    _rename_pool(s, row, new_name)
                for field_name, value in changes.items():
                    if field_name != "name":
                        setattr(row, field_name, value)
                return _pool(row)
        except IntegrityError:  # another session took the name between our check and our commit
            raise AlreadyExistsError(f"pool {new_name!r} exists already") from None

    def get_pool(self, name: str) -> Pool:
        """One pool; PoolNotFound when there is none."""
        with self._read() as s:
            row = s.scalar(select(PoolRow).where(PoolRow.pool == name))
            if row is None:
                raise PoolNotFound(f"pool {name!r} does not exist")
            return _pool(row)

    def list_pools(self) -> list[Pool]:
        """Every pool, by name."""
        with self._read() as s:
            return [_pool(r) for r in s.scalars(select(PoolRow).order_by(PoolRow.pool))]

    def delete_pool(self, name: str) -> bool:
        """Delete a pool (never default_pool); False when there was none."""
        if name == DEFAULT_POOL:
            raise FlowctlError(f"{DEFAULT_POOL} cannot be deleted (set its slots instead)")
        with self._session() as s:
            row = s.scalar(select(PoolRow).where(PoolRow.pool == name))
            if row is None:
                return False
            s.delete(row)
            return True

    def pool_usage(self) -> list[PoolUsage]:
        """Slots taken by running, queued and deferred task instances (and wanted by scheduled ones), per pool."""
        query = (select(TaskInstanceRow.pool, TaskInstanceRow.state, func.sum(TaskInstanceRow.pool_slots))
                 .where(TaskInstanceRow.state.in_(("running", "queued", "deferred", "scheduled")))
                 .group_by(TaskInstanceRow.pool, TaskInstanceRow.state))
        with self._read() as s:
            taken: dict[tuple[str, str], int] = {(p, st): int(n or 0) for p, st, n in s.execute(query)}
            pools = [_pool(r) for r in s.scalars(select(PoolRow).order_by(PoolRow.pool))]
        return [_usage(p, taken) for p in pools]


def _usage(pool: Pool, taken: Mapping[tuple[str, str], int]) -> PoolUsage:
    running = taken.get((pool.name, "running"), 0)
    queued = taken.get((pool.name, "queued"), 0)
    deferred = taken.get((pool.name, "deferred"), 0)
    occupied = running + queued + (deferred if pool.include_deferred else 0)
    return PoolUsage(pool=pool.name, slots=pool.slots, running=running, queued=queued,
                     deferred=deferred, open_slots=pool_open_slots(pool.slots, occupied),
                     scheduled=taken.get((pool.name, "scheduled"), 0), occupied=occupied)


def _put_pool(s: Session, pool: Pool) -> Pool:
    """Create or update a checked pool (a description of None keeps the stored one)."""
    row = s.scalar(select(PoolRow).where(PoolRow.pool == pool.name))
    if row is None:
        row = PoolRow(pool=pool.name)
        s.add(row)
    row.slots = pool.slots
    row.include_deferred = pool.include_deferred
    if pool.description is not None:
        row.description = pool.description
    s.flush()
    return _pool(row)


def _pool_from_spec(name: str, spec: Any) -> Pool:
    """One entry of an import as a Pool; FlowctlError naming the pool when it is not one."""
    _check_key("pool name", name)
    if not isinstance(spec, Mapping):
        raise FlowctlError(f"pool {name!r}: expected an object with a whole number 'slots', not {spec!r}")
    _check_slots(name, spec.get("slots"))
    description, include_deferred = spec.get("description"), spec.get("include_deferred", False)
    if description is not None and not isinstance(description, str):
        raise FlowctlError(f"pool {name!r}: description must be text (got {description!r})")
    if not isinstance(include_deferred, bool):
        raise FlowctlError(f"pool {name!r}: include_deferred must be true or false (got {include_deferred!r})")
    return Pool(name, spec["slots"], description, include_deferred)


def _pool(row: PoolRow) -> Pool:
    return Pool(name=row.pool, slots=row.slots, description=row.description,
                include_deferred=bool(row.include_deferred))


def _check_slots(name: str, slots: Any) -> None:
    if isinstance(slots, bool) or not isinstance(slots, int):
        raise FlowctlError(f"pool {name!r}: slots must be a whole number, or -1 for unlimited (got {slots!r})")
    if not UNLIMITED_SLOTS <= slots <= MAX_SLOTS:
        raise FlowctlError(f"pool {name!r}: slots must be from 0 to {MAX_SLOTS}, or -1 for unlimited (got {slots})")


def _check_rename(name: str, new_name: Any) -> None:
    if name == DEFAULT_POOL:
        raise FlowctlError(f"{DEFAULT_POOL} cannot be renamed (tasks without a pool use it)")
    if not isinstance(new_name, str):
        raise FlowctlError(f"pool {name!r}: the new name must be text (got {new_name!r})")
    _check_key("pool name", new_name)


def _rename_pool(s: Session, row: PoolRow, new_name: str) -> None:
    """Rename ``row`` and move the pool's unfinished task instances with it (one transaction: the
    caller's)."""
    if s.scalar(select(PoolRow.id).where(PoolRow.pool == new_name)) is not None:
        raise AlreadyExistsError(f"pool {new_name!r} exists already")
    s.execute(update(TaskInstanceRow)
              .where(TaskInstanceRow.pool == row.pool, TaskInstanceRow.state.not_in(_FINISHED_STATES))
              .values(pool=new_name))
    row.pool = new_name
    s.flush()


def _check_storable(box: FernetBox | None, key: str, value: Any) -> None:
    """A secret is encrypted at rest: without a fernet key, a variable whose key says it is one
    (``password``, ``token``, ``api_key``...: what logs mask) is refused, as a connection's password is."""
    if box is None and value is not None and should_mask(key):
        raise FernetKeyError(f"no fernet key is configured, so the sensitive variable {key!r} cannot be "
                             f"stored encrypted: {NO_KEY_HINT}")


def _variable_cell(box: FernetBox | None, key: str, value: str | None) -> tuple[str | None, bool]:
    """(val, is_encrypted) of a variable as stored: encrypted with a key; in clear without one,
    unless it is sensitive (refused)."""
    _check_storable(box, key, value)
    if box is None or value is None:
        return value, False
    return box.encrypt(value), True


def _check_key(what: str, key: str) -> None:
    if not key or not key.strip():
        raise FlowctlError(f"the {what} must not be empty")
    if len(key) > ID_LEN:
        raise FlowctlError(f"the {what} {key[:40]!r}... is longer than {ID_LEN} characters")


class AdminVerbs(VariableVerbs, PoolVerbs, ConnectionVerbs, UserVerbs):
    """Everything admin the Store does; secrets use the Store's ``fernet_key``."""

    def use_fernet_key(self, keys: str | Sequence[str]) -> None:
        """Use these key(s) (``[core] fernet_key``: comma-separated, newest first) from now on."""
        optional_box(keys)  # fail now, not at the first secret, when a key is malformed
        self.fernet_key = ",".join(split_keys(keys))

    def _fernet(self) -> FernetBox:
        box = self._fernet_or_none()
        if box is None:
            raise FernetKeyError(f"no fernet key is configured, so secrets cannot be stored or read: {NO_KEY_HINT}")
        return box

    def _fernet_or_none(self) -> FernetBox | None:
        return optional_box(getattr(self, "fernet_key", "") or "")

    def rotate_fernet_key(self) -> int:
        """Re-encrypt every secret with the first key, in one transaction; returns how many."""
        box = self._fernet()
        with self._session() as s:
            return self._rotate_variables(s, box) + self._rotate_connections(s, box) + rotate_trigger_kwargs(s, box)
