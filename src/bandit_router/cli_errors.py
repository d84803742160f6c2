"""One line, never a traceback, for the mistakes a user can make at the command line: a bad
setting, a broken models file, a database that is down, missing or unreadable.

``Cli`` is the ``typer.Typer`` of the ``bandit-router`` command: an exception that
:func:`explain` recognises ends the command with ``bandit-router: error: …`` on stderr and
exit code 2; anything else is a bug and keeps its traceback. Database URLs are described by
:func:`describe_database` — host, port, database and user, never the password.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from bandit_router.routing.catalog import CatalogError

# Settings whose values are never echoed back in an error.
_SECRET_SETTINGS = {"database_url", "admin_key"}
_URL_SHAPES = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB"
# The database the running command uses, set by announce_database (for the error messages).
_current: dict[str, str] = {}


class StartupError(RuntimeError):
    """A start that cannot go on, with a message that says what to do."""


def describe_database(url: str) -> str:
    """``SQLite file /abs/path`` or ``PostgreSQL database 'db' on host:port as user``."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:
        return "an unparseable database URL"
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            return "SQLite in memory"
        return f"SQLite file {Path(u.database).expanduser().resolve()}"
    name = "PostgreSQL" if u.get_backend_name() == "postgresql" else u.get_backend_name()
    port = f":{u.port}" if u.port else ""
    user = f" as {u.username}" if u.username else ""
    return f"{name} database {u.database!r} on {u.host or 'localhost'}{port}{user}"


def announce_database(url: str) -> None:
    """Say on stderr which database this command uses (stdout stays for its output)."""
    _current["url"] = url
    typer.echo(f"bandit-router: database: {describe_database(url)}", err=True)


def _redacted(text: str) -> str:
    from sqlalchemy import make_url

    url = _current.get("url")
    password = make_url(url).password if url else None
    first = text.strip().splitlines()[0] if text.strip() else text
    return first.replace(password, "***") if password else first


def _database_error(exc) -> str:
    from sqlalchemy import make_url

    url = _current.get("url")
    where = describe_database(url) if url else "the database"
    reason = _redacted(str(exc.orig) if exc.orig is not None else str(exc))
    low = reason.lower()
    if url and make_url(url).get_backend_name() == "sqlite":
        return (f"cannot use {where}: {reason}; check that its folder exists and is writable, "
                "or set BANDIT_ROUTER_DATABASE_URL")
    u = make_url(url) if url else None
    if "does not exist" in low and "role" in low and u is not None:
        return (f"the user {u.username!r} does not exist on {u.host or 'localhost'}: create it "
                "(`createuser`) or put another user in BANDIT_ROUTER_DATABASE_URL")
    if "does not exist" in low and "database" in low and u is not None:
        port = f" -p {u.port}" if u.port else ""
        user = f" -U {u.username}" if u.username else ""
        return (f"{where} does not exist: create it with `createdb -h {u.host or 'localhost'}"
                f"{port}{user} {u.database}`, then start again")
    if "password" in low or "authentication" in low:
        return f"{where} refused the login ({reason}); check the user and password in "\
               "BANDIT_ROUTER_DATABASE_URL"
    return (f"cannot reach {where} ({reason}); is the server running and reachable? "
            "Start it, or point BANDIT_ROUTER_DATABASE_URL at another database")


def _setting_error(exc) -> str:
    parts = []
    for e in exc.errors():
        name = str(e["loc"][0]) if e.get("loc") else "?"
        shown = "" if name in _SECRET_SETTINGS else f"={e.get('input')!r}"
        parts.append(f"BANDIT_ROUTER_{name.upper()}{shown}: {e['msg']}")
    return "invalid setting " + "; ".join(parts)


def explain(exc: BaseException) -> str | None:
    """The one line that tells the user what failed and what to do, or None for a bug."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, CatalogError):
        return f"{exc} (check a models file with `bandit-router models FILE`)"
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _setting_error(exc)
    if isinstance(exc, (OperationalError, InterfaceError)):  # reaching it, not a query's bug
        return _database_error(exc)
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return f"BANDIT_ROUTER_DATABASE_URL is not a usable database URL; use {_URL_SHAPES}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}; choose a writable location"
    return None


class Cli(typer.Typer):
    """``typer.Typer`` whose commands end a user's mistake with one line, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is a user's mistake
            line = explain(exc)
            if line is None:
                raise
            typer.echo(f"bandit-router: error: {line}", err=True)
            sys.exit(2)
