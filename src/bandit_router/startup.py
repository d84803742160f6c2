"""What ``bandit-router serve`` checks before it starts the HTTP server, in this order: the
settings, the process count the database allows, the address to listen on, the models file,
the database (reachable, migrated). Only when all of that has passed is a new operator key issued and printed, so a
failed start never shows (and loses) one; a start on a database that already has a key says
how to get another. A failure is raised as an exception that ``cli_errors`` turns into one
line saying what failed and what to do.
"""

from __future__ import annotations

import ctypes
import gc
import socket
from pathlib import Path

import typer

from bandit_router.routing.catalog import load_catalog
from bandit_router.cli_errors import StartupError, announce_database
from bandit_router.config import Settings, default_database_url


# A request allocates a few thousand objects, nearly all freed at once by reference counting;
# at Python's default (a young collection every 700 allocations) each request paid several
# collections. Measured in process (benchmarks/asgi_cost.py --gc-threshold, alternated): about
# −9 % of a route's CPU at 20,000 (benchmarks/README.md, 2026-12-06).
GC_YOUNG_THRESHOLD = 20_000


# glibc serves a block of more than its mmap threshold with its own mapping, returned to the
# system when freed, but it raises that threshold to the size of every such block freed (up
# to 32 MiB): after the first refits and posterior loads, their multi-MB arrays come from the
# heap, and what they leave there stays with the process. Fixed at 1 MiB (which keeps a
# decision's ~200 KB arrays on the heap), a serving process grew 110–118 MiB over 40,000
# route+feedback pairs instead of 171–213, and ended ~90 MiB lower (`python -m
# benchmarks.memory`, alternated; benchmarks/README.md, "fourth session: memory").
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def settle_malloc() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD`; False where the C library is not
    glibc (its allocator has no such threshold, or another meaning for it)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (glibc only; musl has mallopt as a no-op)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def settle_gc() -> None:
    """Once a process has started: everything alive now (libraries, app, posterior, word
    cache) lives as long as the process, so it leaves the collector's view (``gc.freeze``)
    and full collections scan only what requests leave behind, instead of stalling a
    decision for tens of ms; and young collections run every ``GC_YOUNG_THRESHOLD``
    allocations instead of 700. Called by the app's lifespan and by the decision
    benchmarks before they time anything, so that both measure the same process. Also
    settles the C allocator (:func:`settle_malloc`)."""
    settle_malloc()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def check_process_count(settings: Settings) -> None:
    """SQLite is one process: several workers would refit at once (the refit lock is a
    Postgres advisory lock) and contend for the file's single writer."""
    if settings.is_sqlite and settings.workers > 1:
        raise StartupError(
            f"--workers {settings.workers} needs PostgreSQL: the embedded SQLite database "
            "serves one process; use --workers 1, or set BANDIT_ROUTER_DATABASE_URL="
            "postgresql+psycopg://USER@HOST/DB (see the README's PostgreSQL section)")


def check_port(settings: Settings) -> None:
    """The address serve will listen on is free (else uvicorn would fail after the key)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        with socket.create_server((settings.host, settings.port), family=family):
            pass
    except OSError as exc:
        raise StartupError(f"cannot listen on {settings.host}:{settings.port} "
                           f"({exc.strerror or exc}): "
                           "stop what uses that port, or choose another with --port") from None


def note_old_default(settings: Settings) -> None:
    """The default database used to be ./bandit-router.db, wherever serve ran: say so when
    such a file is here and the default (now in the user's data folder) is in use."""
    old = Path("bandit-router.db")
    if old.is_file() and settings.database_url.get_secret_value() == default_database_url():
        typer.echo(f"bandit-router: note: {old.resolve()} (the former default database) is not "
                   f"used; to keep it, set BANDIT_ROUTER_DATABASE_URL=sqlite:///{old.resolve()}",
                   err=True)


def prepare(settings: Settings) -> str | None:
    """Validate everything a start needs; returns a newly issued operator key, if any."""
    from bandit_router.service import Service
    from bandit_router.store import migrate

    url = settings.database_url.get_secret_value()
    announce_database(url)
    note_old_default(settings)
    check_process_count(settings)
    check_port(settings)
    if settings.models_file is not None:
        load_catalog(settings.models_file)  # the workers register it; a bad file stops us here
    service = Service(settings)
    try:
        migrate.upgrade(service.engine)
        key = service.ensure_operator_key()
    finally:
        service.engine.dispose()
    if key is None and settings.admin_key is None:
        typer.echo("bandit-router: this database's operator key was printed when it was "
                   "created and is not shown again; `bandit-router operator-key` issues "
                   "another", err=True)
    return key
