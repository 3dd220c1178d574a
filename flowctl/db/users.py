"""Store verbs for web/API users: accounts, roles, password checks and API tokens.

Owns password hashing (``hashlib.scrypt`` with a random salt per password,
compared in constant time), :class:`User`, and :class:`UserVerbs`, a mixin of
the Store (it uses ``self._session()``). API tokens are random; only their
sha256 is stored. Roles ``Admin``, ``Op``, ``User`` and ``Viewer`` are created
on first use. There is no default user. A user's session stamp (see
:func:`session_stamp`) changes with their password and on :meth:`UserVerbs.end_sessions`:
the web server keeps it in the browser session and refuses a session whose
stamp is no longer the user's. Must not import web or cli.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, delete, select, update
from sqlalchemy.orm import Session

from flowctl.core.errors import AlreadyExistsError, FlowctlError, UserNotFound
from flowctl.db.tables import ApiTokenRow, RoleRow, UserRoleRow, UserRow

STANDARD_ROLES: tuple[str, ...] = ("Admin", "Op", "User", "Viewer")

# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MiB, the usual interactive-login setting.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
#: An e-mail address as far as a check can tell without sending mail: something, one @, a domain; no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: The most characters each text field of a user holds, from the table (SQLite stores more, PostgreSQL does not).
USER_FIELD_LENGTHS = {column.name: column.type.length for column in UserRow.__table__.columns
                      if isinstance(column.type, String) and column.type.length and column.name != "password_hash"}


class PasswordPolicyError(FlowctlError, ValueError):
    """A new password is too weak; the message says why."""


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of the password, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.urlsafe_b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def check_password_policy(password: str) -> None:
    """Refuse passwords shorter than MIN_PASSWORD_LENGTH."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def random_password() -> str:
    """A random password people can type (16 url-safe characters)."""
    return secrets.token_urlsafe(12)


def token_hash(token: str) -> str:
    """The sha256 (hex) under which an API token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_stamp(user_id: int, session_epoch: int, password_hash: str | None) -> str:
    """What a browser session of this user must carry: a digest of the user's id, session epoch and
    password hash, so a new password or a logout (a new epoch) ends every session made before it.
    The hash's random salt is in it: the stamp tells nothing about the password."""
    material = f"{user_id}:{session_epoch}:{password_hash or ''}".encode("utf-8")
    return hashlib.sha256(material).hexdigest()[:32]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class User:
    """A web/API user (never carries the password hash; ``session_stamp`` is a digest of it, see
    :func:`session_stamp`)."""

    id: int
    username: str
    email: str | None
    first_name: str | None
    last_name: str | None
    active: bool
    roles: tuple[str, ...]
    created: datetime
    last_login: datetime | None
    failed_login_count: int
    session_stamp: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class NewUser:
    """What ``create_user`` needs besides the password."""

    username: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: str = "Viewer"


class UserVerbs:
    """Users, roles, authentication and API tokens; mixed into the Store."""

    if TYPE_CHECKING:  # provided by the Store; no runtime stub to shadow it
        def _session(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

    def create_user(self, new: NewUser, password: str, now: datetime) -> User:
        """Create a user with one role; AlreadyExistsError when the username or the e-mail address
        (either in any case) is taken."""
        check_password_policy(password)
        check_new_user_fields(new)
        with self._session() as s:
            _check_unused(s, new)
            role = _role(s, new.role)
            row = UserRow(username=new.username, email=new.email, first_name=new.first_name,
                          last_name=new.last_name, password_hash=hash_password(password), active=True,
                          created=now, failed_login_count=0)
            s.add(row)
            s.flush()
            s.add(UserRoleRow(user_id=row.id, role_id=role.id))
            s.flush()
            return _user(s, row)

    def check_new_user(self, new: NewUser) -> None:
        """What :meth:`create_user` would refuse besides the password (a taken username or e-mail
        address, an unknown role, a field :func:`check_new_user_fields` refuses), checked before anyone is
        asked for one."""
        check_new_user_fields(new)
        with self._read() as s:
            _check_unused(s, new)
        self.check_role(new.role)

    def check_role(self, name: str) -> None:
        """FlowctlError naming the roles unless ``name`` is one a user can be given (the CLI asks
        before prompting for a password)."""
        with self._read() as s:
            if s.scalar(select(RoleRow.id).where(RoleRow.name == name)) is None:
                _standard_role(name)

    def get_user(self, username: str) -> User:
        """One user; UserNotFound when there is none."""
        with self._read() as s:
            return _user(s, _user_row(s, username))

    def list_users(self) -> list[User]:
        """Every user, by username."""
        with self._read() as s:
            rows = s.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [_user(s, row) for row in rows]

    def delete_user(self, username: str) -> bool:
        """Delete a user (and their roles and tokens); False when there was none."""
        with self._session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                return False
            s.execute(delete(UserRoleRow).where(UserRoleRow.user_id == row.id))
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == row.id))
            s.delete(row)
            return True

    def reset_password(self, username: str, password: str) -> None:
        """Set a new password and clear the failed-login count; the new hash ends the user's browser
        sessions (see :func:`session_stamp`)."""
        check_password_policy(password)
        with self._session() as s:
            row = _user_row(s, username)
            row.password_hash = hash_password(password)
            row.failed_login_count = 0

    def end_sessions(self, username: str) -> bool:
        """End every browser session of the user (logout): a new session stamp. False when there is
        no such user. API tokens are not sessions and stay."""
        with self._session() as s:
            result: Any = s.execute(update(UserRow).where(UserRow.username == username)
                                    .values(session_epoch=UserRow.session_epoch + 1))
            return bool(result.rowcount)

    def add_role(self, username: str, role: str) -> User:
        """Give a user one more role (a no-op when they have it)."""
        with self._session() as s:
            row = _user_row(s, username)
            role_row = _role(s, role)
            has = s.scalar(select(UserRoleRow.id).where(UserRoleRow.user_id == row.id,
                                                        UserRoleRow.role_id == role_row.id))
            if has is None:
                s.add(UserRoleRow(user_id=row.id, role_id=role_row.id))
                s.flush()
            return _user(s, row)

    def authenticate(self, username: str, password: str, now: datetime) -> User | None:
        """The user when the password is right and the account active, else None."""
        with self._session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                # Same work as a real check, so timing does not reveal which usernames exist.
                verify_password(password, _DUMMY_HASH)
                return None
            if not verify_password(password, row.password_hash) or not row.active:
                row.failed_login_count = (row.failed_login_count or 0) + 1
                return None
            row.last_login = now
            row.failed_login_count = 0
            return _user(s, row)

    def create_api_token(self, username: str, now: datetime, lifetime: timedelta | None = None,
                         description: str | None = None) -> str:
        """A new API token for the user; shown once, only its sha256 is stored."""
        token = secrets.token_urlsafe(32)
        with self._session() as s:
            row = _user_row(s, username)
            s.add(ApiTokenRow(user_id=row.id, token_hash=token_hash(token), description=description,
                              created=now, expires=now + lifetime if lifetime else None))
        return token

    def revoke_api_tokens(self, username: str) -> int:
        """Delete every API token of the user; how many."""
        with self._session() as s:
            row = _user_row(s, username)
            result: Any = s.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == row.id))
            return int(result.rowcount)

    def verify_api_token(self, token: str, now: datetime) -> User | None:
        """The active user the token belongs to, unless it is unknown or expired."""
        with self._session() as s:
            tok = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash(token)))
            if tok is None or (tok.expires is not None and tok.expires <= now):
                return None
            row = s.get(UserRow, tok.user_id)
            if row is None or not row.active:
                return None
            tok.last_used = now
            return _user(s, row)


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def check_new_user_fields(new: NewUser) -> None:
    """FlowctlError unless the username is neither blank nor padded with spaces nor holding a line break,
    the e-mail address (when given) looks like one, and every field fits its column."""
    name = new.username
    if not name.strip():
        raise FlowctlError("the username must not be empty or blank")
    if name != name.strip():
        raise FlowctlError(f"the username {name[:40]!r} has spaces at its ends")
    if any(not ch.isprintable() for ch in name):
        raise FlowctlError(f"the username {name[:40]!r} holds a line break or another control character")
    email = (new.email or "").strip()
    if email and not EMAIL.fullmatch(email):
        raise FlowctlError(f"{email[:60]!r} is not an e-mail address (expected name@domain)")
    for field_name, limit in USER_FIELD_LENGTHS.items():
        value = getattr(new, field_name, None)
        if value is not None and len(value) > limit:
            raise FlowctlError(f"the {field_name} has {len(value)} characters; at most {limit} fit in the database")


def _check_unused(s: Session, new: NewUser) -> None:
    """AlreadyExistsError when the username or the e-mail address, each compared without case, is taken.

    Compared in Python (``casefold``), not with SQL ``lower()``: SQLite's folds only A-Z, so there
    'ZOË' and 'zoë' would be two users. A user table is small enough to read whole."""
    taken = s.execute(select(UserRow.username, UserRow.email).order_by(UserRow.id)).all()
    if any(name == new.username for name, _ in taken):
        raise AlreadyExistsError(f"user {new.username!r} exists already")
    holder = next((name for name, _ in taken if name.casefold() == new.username.casefold()), None)
    if holder is not None:
        raise AlreadyExistsError(f"the username {new.username!r} is already used by user {holder!r}")
    email = (new.email or "").strip()
    holder = next((name for name, used in taken if email and (used or "").strip().casefold() == email.casefold()),
                  None)
    if holder is not None:
        raise AlreadyExistsError(f"the e-mail address {email!r} is already used by user {holder!r}")


def _user_row(s: Session, username: str) -> UserRow:
    row = s.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        raise UserNotFound(f"user {username!r} does not exist")
    return row


def _role(s: Session, name: str) -> RoleRow:
    """The role row, created on demand for the standard roles."""
    row = s.scalar(select(RoleRow).where(RoleRow.name == name))
    if row is not None:
        return row
    canonical = _standard_role(name)
    if canonical != name:
        return _role(s, canonical)
    row = RoleRow(name=canonical)
    s.add(row)
    s.flush()
    return row


def _standard_role(name: str) -> str:
    """The standard role ``name`` names (any case); FlowctlError naming them if none."""
    standard = {r.lower(): r for r in STANDARD_ROLES}
    if name.lower() not in standard:
        raise FlowctlError(f"role {name!r} does not exist; roles: {', '.join(STANDARD_ROLES)}")
    return standard[name.lower()]


def _roles_of(s: Session, user_id: int) -> Iterator[str]:
    query = (select(RoleRow.name).join(UserRoleRow, UserRoleRow.role_id == RoleRow.id)
             .where(UserRoleRow.user_id == user_id).order_by(RoleRow.name))
    yield from s.scalars(query)


def _user(s: Session, row: UserRow) -> User:
    return User(id=row.id, username=row.username, email=row.email, first_name=row.first_name,
                last_name=row.last_name, active=bool(row.active), roles=tuple(_roles_of(s, row.id)),
                created=row.created, last_login=row.last_login,
                failed_login_count=row.failed_login_count or 0,
                session_stamp=session_stamp(row.id, row.session_epoch or 0, row.password_hash))
