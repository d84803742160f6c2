"""``bandit-router`` command line: wiring only; the work lives in the packages."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Online LLM routing with contextual bandits.", no_args_is_help=True,
                  add_completion=False)


def _settings(**flags):
    from bandit_router.config import Settings

    return Settings(**{k: v for k, v in flags.items() if v is not None})


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    models: Optional[Path] = typer.Option(None, "--models", help="models TOML to register on start"),
    host: Optional[str] = typer.Option(None, help="bind address [127.0.0.1]"),
    port: Optional[int] = typer.Option(None, help="port [8000]"),
    workers: Optional[int] = typer.Option(None, help="uvicorn worker processes [1]"),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="SQLAlchemy URL [sqlite:///./bandit-router.db]"),
) -> None:
    """Run the HTTP API (migrates the database first)."""
    import uvicorn

    from bandit_router.service import Service
    from bandit_router.store import migrate

    # Flags become environment variables so that every uvicorn worker sees the same settings.
    for name, value in (("MODELS_FILE", models), ("HOST", host), ("PORT", port),
                        ("WORKERS", workers), ("DATABASE_URL", database_url)):
        if value is not None:
            os.environ[f"BANDIT_ROUTER_{name}"] = str(value)
    settings = _settings()
    _logging(settings.log_level)
    migrate.upgrade(Service(settings).engine)
    uvicorn.run("bandit_router.api.app:create_app", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, log_level=settings.log_level.lower())


@app.command("migrate")
def migrate_cmd(database_url: Optional[str] = typer.Option(None, "--database-url")) -> None:
    """Create or upgrade the database schema to the newest version."""
    from bandit_router.store import migrate
    from bandit_router.store.db import make_engine

    settings = _settings(database_url=database_url)
    migrate.upgrade(make_engine(settings.database_url.get_secret_value()))
    typer.echo("database is at the newest schema version")


@app.command()
def refit(database_url: Optional[str] = typer.Option(None, "--database-url"),
          force: bool = typer.Option(False, help="store a new version even without new feedback")
          ) -> None:
    """Refit the posteriors once from the logged feedback and print the result."""
    from bandit_router.service import Service

    settings = _settings(database_url=database_url)
    _logging(settings.log_level)
    service = Service(settings)
    service.start(scheduler=False)
    result = service.refit(force=force)
    typer.echo(json.dumps(result.__dict__))
    service.stop()


@app.command("models")
def models_cmd(file: Path = typer.Argument(..., help="models TOML to check and print")) -> None:
    """Validate a models TOML file and print the line-up with a sample call price."""
    from bandit_router.catalog import CatalogError, load_catalog

    try:
        line_up = load_catalog(file)
    except CatalogError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for m in line_up:
        typer.echo(f"{m.id:32s} in ${m.input_price_per_mtok:>7.3f}/M  out ${m.output_price_per_mtok:>7.3f}/M"
                   f"  ctx {m.context_window:>8d}  1k+300 tokens ${m.cost_usd(1000, 300):.5f}"
                   f"  tags {','.join(m.tags)}")


try:  # the simulations package ships in the same wheel
    from simulations.cli import simulate as _simulate

    app.command("simulate")(_simulate)
except ImportError:  # pragma: no cover - only when simulations is not installed
    pass


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
