"""``flowctl users create | list | delete | reset-password | add-role``: web UI and API accounts.

Passwords are hashed by the Store; there is no default user. A password comes
from ``--password``, a prompt (typed twice, not echoed), or
``--use-random-password`` (printed once, here and never again).
"""
from __future__ import annotations

from datetime import datetime, timezone

import click

from flowctl.cli.admin_cmd import audit
from flowctl.cli.app import OUTPUT_OPTION, CliContext, cli, emit, pass_ctx
from flowctl.core.errors import UserNotFound

# flowctl.db (and SQLAlchemy) is imported inside the commands, so `flowctl --help` stays fast.
ROLE_HELP = "One of Admin, Op, User, Viewer."


def _password_options(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option("--use-random-password", "--random-password", "random_pw", is_flag=True,
                      help="Generate a random password and print it once.")(fn)
    return click.option("--password", "-p", default=None, help="The password (prompted for when omitted).")(fn)


def _choose_password(password: str | None, random_pw: bool) -> tuple[str, bool]:
    """The password to set, and whether it was generated (so it must be printed)."""
    if password is not None and random_pw:
        raise click.UsageError("give --password or --use-random-password, not both")
    if random_pw:
        from flowctl.db.users import random_password

        return random_password(), True
    if password is not None:
        return password, False
    return click.prompt("Password", hide_input=True, confirmation_prompt=True), False


@cli.group("users")
def users_group() -> None:
    """Manage web UI and API users."""


@users_group.command("create")
@click.option("--username", "-u", required=True)
@click.option("--email", "-e", default=None)
@click.option("--firstname", "-f", default=None)
@click.option("--lastname", "-l", default=None)
@click.option("--role", "-r", default="Viewer", show_default=True, help=ROLE_HELP)
@_password_options
@pass_ctx
def users_create(ctx: CliContext, username: str, email: str | None, firstname: str | None,
                 lastname: str | None, role: str, password: str | None, random_pw: bool) -> None:
    """Create a user with one role."""
    from flowctl.db.users import NewUser

    new = NewUser(username=username, email=email, first_name=firstname, last_name=lastname, role=role)
    ctx.store.check_new_user(new)  # a taken username or e-mail, a bad role: fail before prompting
    secret, generated = _choose_password(password, random_pw)
    user = ctx.store.create_user(new, secret, datetime.now(timezone.utc))
    audit(ctx, "user.create", username=username, role=role)
    click.echo(f"User {user.username} created with role {', '.join(user.roles)}")
    if generated:
        click.echo(f"Password (shown only now): {secret}")


@users_group.command("list")
@OUTPUT_OPTION
@pass_ctx
def users_list(ctx: CliContext, output: str) -> None:
    """List users and their roles."""
    rows = [{"id": u.id, "username": u.username, "email": u.email or "", "first_name": u.first_name or "",
             "last_name": u.last_name or "", "roles": list(u.roles), "active": u.active,
             "last_login": u.last_login} for u in ctx.store.list_users()]
    emit(rows, output, ["id", "username", "email", "first_name", "last_name", "roles", "active"])


@users_group.command("delete")
@click.option("--username", "-u", required=True)
@pass_ctx
def users_delete(ctx: CliContext, username: str) -> None:
    """Delete a user."""
    if not ctx.store.delete_user(username):
        raise UserNotFound(f"user {username!r} does not exist")
    audit(ctx, "user.delete", username=username)
    click.echo(f"User {username} deleted")


@users_group.command("reset-password")
@click.option("--username", "-u", required=True)
@_password_options
@pass_ctx
def users_reset_password(ctx: CliContext, username: str, password: str | None, random_pw: bool) -> None:
    """Set a new password for a user."""
    ctx.store.get_user(username)  # fail before prompting for a password nobody can use
    secret, generated = _choose_password(password, random_pw)
    ctx.store.reset_password(username, secret)
    audit(ctx, "user.reset_password", username=username)
    click.echo(f"Password of {username} reset")
    if generated:
        click.echo(f"Password (shown only now): {secret}")


@users_group.command("add-role")
@click.option("--username", "-u", required=True)
@click.option("--role", "-r", required=True, help=ROLE_HELP)
@pass_ctx
def users_add_role(ctx: CliContext, username: str, role: str) -> None:
    """Give a user one more role."""
    user = ctx.store.add_role(username, role)
    audit(ctx, "user.add_role", username=username, role=role)
    click.echo(f"User {username} now has role(s) {', '.join(user.roles)}")


#: The longest token lifetime: a hundred years (a larger one would pass the calendar's end, year 9999).
MAX_TOKEN_DAYS = 36_500


@users_group.command("create-token")
@click.option("--username", "-u", required=True)
@click.option("--expires-in-days", type=click.IntRange(min=1, max=MAX_TOKEN_DAYS), default=None,
              help="Days until it stops working (default: never; revoke with revoke-tokens).")
@click.option("--description", default=None, help="What it is for.")
@pass_ctx
def users_create_token(ctx: CliContext, username: str, expires_in_days: int | None, description: str | None) -> None:
    """Make an API token for a user (`Authorization: Bearer TOKEN` on /api/v1); printed only now."""
    from datetime import timedelta

    lifetime = timedelta(days=expires_in_days) if expires_in_days else None
    token = ctx.store.create_api_token(username, datetime.now(timezone.utc), lifetime, description)
    audit(ctx, "user.create_token", username=username, expires_in_days=expires_in_days)
    click.echo(f"API token of {username} (shown only now; only its hash is stored):", err=True)
    click.echo(token)


@users_group.command("revoke-tokens")
@click.option("--username", "-u", required=True)
@pass_ctx
def users_revoke_tokens(ctx: CliContext, username: str) -> None:
    """Revoke every API token of a user."""
    count = ctx.store.revoke_api_tokens(username)
    audit(ctx, "user.revoke_tokens", username=username, count=count)
    click.echo(f"Revoked {count} API token(s) of {username}")
