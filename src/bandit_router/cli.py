"""``bandit-router`` command line: wiring only; the work lives in the packages.

Past 300 lines on purpose: seventeen commands, each its option declarations and a call into
the package that does the work. The command table in one file is the map of what the tool
does; a command that grows logic moves it into its package, not here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from bandit_router.cli_errors import Cli, announce_database

app = Cli(help="Online LLM routing with contextual bandits.", no_args_is_help=True,
          add_completion=False)


def _settings(**flags):
    from bandit_router.config import Settings

    return Settings(**{k: v for k, v in flags.items() if v is not None})


def _logging(level: str) -> dict:
    from bandit_router import logs

    return logs.configure(level)


@app.command()
def serve(
    models: Optional[Path] = typer.Option(None, "--models", help="models TOML to register on start"),
    host: Optional[str] = typer.Option(None, help="bind address [127.0.0.1]"),
    port: Optional[int] = typer.Option(None, help="port [8000]"),
    workers: Optional[int] = typer.Option(None, help="uvicorn worker processes [1]"),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="SQLAlchemy URL [SQLite in the user's data "
                                                    "folder]"),
) -> None:
    """Run the HTTP API (migrates the database first)."""
    import uvicorn

    from bandit_router import startup

    # Flags become environment variables so that every uvicorn worker sees the same settings.
    for name, value in (("MODELS_FILE", models), ("HOST", host), ("PORT", port),
                        ("WORKERS", workers), ("DATABASE_URL", database_url)):
        if value is not None:
            os.environ[f"BANDIT_ROUTER_{name}"] = str(value)
    settings = _settings()
    log_config = _logging(settings.log_level)
    if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Several workers: /metrics must add up every worker's counters.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bandit-router-metrics-")
    key = startup.prepare(settings)  # settings, models file, database: then the key
    if key is not None:
        _show_key("operator key (guards the admin endpoints; shown once, store it safely)", key)
    uvicorn.run("bandit_router.api.app:create_app", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, log_level=settings.log_level.lower(),
                log_config=log_config)


@app.command("migrate")
def migrate_cmd(database_url: Optional[str] = typer.Option(None, "--database-url")) -> None:
    """Create or upgrade the database schema to the newest version."""
    from bandit_router.store import migrate
    from bandit_router.store.db import engine_for

    settings = _settings(database_url=database_url)
    announce_database(settings.database_url.get_secret_value())
    migrate.upgrade(engine_for(settings))
    typer.echo("database is at the newest schema version")


@app.command()
def refit(database_url: Optional[str] = typer.Option(None, "--database-url"),
          force: bool = typer.Option(False, help="store a new version even without new feedback"),
          every: Optional[float] = typer.Option(
              None, min=0.1, help="keep running: refit every this many seconds until stopped "
                                  "(one process for the whole deployment, instead of cron)"),
          ) -> None:
    """Refit the posteriors from the logged feedback and print the result (a JSON line)."""
    import signal
    import threading

    from bandit_router.service import Service

    settings = _settings(database_url=database_url)
    _logging(settings.log_level)
    announce_database(settings.database_url.get_secret_value())
    service = Service(settings)
    service.start(scheduler=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if every is None:
            typer.echo(json.dumps(service.refit(force=force).__dict__))
        else:
            from bandit_router.jobs.loop import run_refit_loop

            run_refit_loop(lambda: service.refit(force=force), every, stop,
                           lambda result: typer.echo(json.dumps(result.__dict__)))
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@app.command("warm-start")
def warm_start_cmd(
    data: Path = typer.Option(..., "--data", help="offline evaluations: a CSV file or a "
                              "directory of them, a 'prompt' column and one score column "
                              "per model (the format of `bandit-router simulate --data`)"),
    weight: float = typer.Option(1.0, "--weight", help="what one offline observation counts "
                                 "against one live feedback event"),
    database_url: Optional[str] = typer.Option(None, "--database-url"),
) -> None:
    """Fit the posterior on offline evaluations and store it as a new version (the refit
    job continues from it)."""
    from simulations.data import DataError, read_responses

    from bandit_router.jobs.warm_start import WarmStartError, warm_start

    if not weight > 0:
        typer.echo("error: --weight must be positive", err=True)
        raise typer.Exit(2)
    try:
        table = read_responses(data)
    except (DataError, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {data}: {exc}", err=True)
        raise typer.Exit(2) from None
    service = _service(database_url)
    try:
        result = warm_start(service.engine, service.refit_config, service.router.featurizer,
                            table.prompts, table.models, table.quality, weight,
                            charged=table.cost,
                            output_tokens=service.router.default_output_tokens)
    except WarmStartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        service.engine.dispose()
    if result.ignored:
        typer.echo(f"warning: ignoring models that are not registered: "
                   f"{', '.join(result.ignored)}", err=True)
    if result.version is None:
        typer.echo("error: a refit is running; try again when it has finished", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(result.__dict__))


@app.command("models")
def models_cmd(file: Path = typer.Argument(..., help="models TOML to check and print")) -> None:
    """Validate a models TOML file and print the line-up with a sample call price."""
    from bandit_router.routing.catalog import CatalogError, checked_for_registration, load_catalog

    try:  # the checks `serve` makes when it registers the file
        allowed = _settings().upstream_key_env_allow
        line_up = [checked_for_registration(m, allowed) for m in load_catalog(file)]
    except CatalogError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for m in line_up:
        typer.echo(f"{m.id:32s} in ${m.input_price_per_mtok:>7.3f}/M  out ${m.output_price_per_mtok:>7.3f}/M"
                   f"  ctx {m.context_window:>8d}  1k+300 tokens ${m.cost_usd(1000, 300):.5f}"
                   f"  tags {','.join(m.tags)}")


def _show_key(what: str, key: str) -> None:
    # Printed to the terminal, never logged: logs are shipped and kept, terminals are not.
    typer.echo(f"bandit-router: {what}:\n\n    {key}\n", err=False)


def _service(database_url: str | None):
    from bandit_router.service import Service
    from bandit_router.store import migrate

    settings = _settings(database_url=database_url)
    announce_database(settings.database_url.get_secret_value())
    service = Service(settings)
    migrate.upgrade(service.engine)
    return service


tenants_app = typer.Typer(help="Create tenants and app keys, set budgets and latency SLAs "
                               "(works on the database directly; no server needed).",
                          no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
DbOpt = typer.Option(None, "--database-url", help="defaults to BANDIT_ROUTER_DATABASE_URL")


def _store_call(database_url, fn):
    from bandit_router.store.db import transaction
    from bandit_router.store.errors import StoreError

    service = _service(database_url)
    try:
        with transaction(service.sessions) as s:
            return fn(s)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        service.engine.dispose()


@tenants_app.command("create")
def tenants_create(name: str, tenant_id: Optional[str] = typer.Option(None, "--id"),
                   p95_latency_ms: Optional[float] = typer.Option(None, "--p95-latency-ms"),
                   database_url: Optional[str] = DbOpt) -> None:
    """Create a tenant and print its id."""
    from bandit_router.store import tenants as t

    def go(s):
        row = t.create_tenant(s, tenant_id, name)
        if p95_latency_ms is not None:
            t.set_latency_sla(s, row.id, p95_latency_ms)
        return row.id

    typer.echo(_store_call(database_url, go))


@tenants_app.command("list")
def tenants_list(database_url: Optional[str] = DbOpt) -> None:
    """List tenants with their budget and latency SLA."""
    from bandit_router.store import tenants as t

    for row in _store_call(database_url, t.list_tenants):
        budget = (f"{row.budget_limit_usd} USD/{row.budget_period} ({row.budget_on_exhausted})"
                  if row.budget_period else "no budget")
        sla = f"p95 ≤ {row.p95_latency_ms} ms" if row.p95_latency_ms else "no latency SLA"
        typer.echo(f"{row.id}\t{row.name}\t{budget}\t{sla}")


@tenants_app.command("key")
def tenants_key(tenant_id: str, name: Optional[str] = typer.Option(None, "--name"),
                database_url: Optional[str] = DbOpt) -> None:
    """Issue an app key for a tenant (printed once)."""
    from bandit_router.store import tenants as t

    key = _store_call(database_url, lambda s: t.issue_key(s, tenant_id, "app", name))
    typer.echo(f"key id: {key.id}")
    _show_key(f"app key for tenant {tenant_id} (shown once)", key.secret)


@tenants_app.command("revoke")
def tenants_revoke(key_id: str, database_url: Optional[str] = DbOpt) -> None:
    """Revoke a key at once."""
    from bandit_router.store import tenants as t

    _store_call(database_url, lambda s: t.revoke_key(s, key_id))
    typer.echo(f"revoked {key_id}")


@tenants_app.command("budget")
def tenants_budget(tenant_id: str,
                   period: str = typer.Option(..., help="hour, day or month"),
                   limit_usd: float = typer.Option(..., "--limit-usd", min=0.0),
                   on_exhausted: str = typer.Option(
                       "cheapest", help="cheapest, reject, or fallback (the budget fallback "
                       "line-up of the rules)"),
                   database_url: Optional[str] = DbOpt) -> None:
    """Set a tenant's budget (servers pick it up within BANDIT_ROUTER_POSTERIOR_POLL_S)."""
    from bandit_router.policy.pacing import PERIODS
    from bandit_router.store import tenants as t

    if (period not in PERIODS or on_exhausted not in ("cheapest", "reject", "fallback")
            or limit_usd <= 0):
        typer.echo("error: --period must be hour|day|month, --on-exhausted cheapest|reject|fallback, "
                   "--limit-usd > 0", err=True)
        raise typer.Exit(2)
    _store_call(database_url, lambda s: t.set_budget(s, tenant_id, period, limit_usd,
                                                     on_exhausted))
    typer.echo(f"{tenant_id}: {limit_usd} USD per {period}, when exhausted: {on_exhausted}")


@tenants_app.command("feedback-window")
def tenants_feedback_window(
    tenant_id: str,
    window_s: Optional[float] = typer.Option(None, "--window-s", min=0.001,
                                             help="seconds feedback is awaited; omit to switch off"),
    default_reward: Optional[float] = typer.Option(None, "--default-reward", min=0.0, max=1.0,
                                                   help="reward recorded when the window closes"),
    late: str = typer.Option("reject", "--late", help="later feedback: reject (409) or replace"),
    database_url: Optional[str] = DbOpt,
) -> None:
    """Set a tenant's feedback window and default reward (missing feedback)."""
    from bandit_router.store.missing import LATE_POLICIES, set_feedback_window

    if (window_s is None) != (default_reward is None) or late not in LATE_POLICIES:
        typer.echo("error: give both --window-s and --default-reward (or neither, to switch the "
                   "window off), and --late reject|replace", err=True)
        raise typer.Exit(2)
    _store_call(database_url, lambda s: set_feedback_window(s, tenant_id, window_s,
                                                            default_reward, late))
    typer.echo(f"{tenant_id}: " + (f"default reward {default_reward} after {window_s:g} s "
                                   f"without feedback; late feedback: {late}"
                                   if window_s is not None else "no feedback window"))


@app.command("operator-key")
def operator_key(database_url: Optional[str] = DbOpt) -> None:
    """Issue an additional operator key (printed once)."""
    from bandit_router.store import tenants as t

    key = _store_call(database_url, lambda s: t.issue_key(s, None, "admin", "operator"))
    _show_key(f"operator key {key.id} (shown once)", key.secret)


@app.command()
def demo(
    duration: float = typer.Option(90.0, min=5.0, help="seconds of simulated traffic"),
    port: int = typer.Option(8000, min=0, max=65535, help="port of the demo's router "
                                                          "(a free one if taken; 0: any)"),
    keep_serving: bool = typer.Option(False, "--keep-serving",
                                      help="keep the router and its status page up afterwards"),
    clients: int = typer.Option(4, min=1, max=64, help="concurrent simulated app clients"),
    seed: int = typer.Option(0, help="seed of the questions and the simulated answers"),
    outage: bool = typer.Option(True, help="give mid-value a short outage (503s) mid-run"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the figures here"),
) -> None:
    """See the whole loop work, with no API key and no network: simulated models behind the
    real proxy, graded feedback, and how routing moved to the model that earns its price."""
    from bandit_router.demo import run_demo

    try:
        run_demo(duration_s=duration, port=port, keep_serving=keep_serving, clients=clients,
                 seed=seed, outage=outage, json_out=json_out, echo=typer.echo)
    except KeyboardInterrupt:
        typer.echo("\nbandit-router demo: interrupted; it stopped everything it started and "
                   "deleted its database", err=True)
        raise typer.Exit(130) from None


def _when(value: Optional[str], flag: str):
    """An ISO date or time (UTC unless it says otherwise), or a clear error."""
    from datetime import datetime, timezone

    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {flag} {value!r} is not an ISO date or time, e.g. 2026-12-01 or "
                   "2026-12-01T12:00:00+00:00", err=True)
        raise typer.Exit(2) from None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


@app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", help="the archive to write, FILE.parquet "
                             "(FILE.posteriors.parquet is written beside it)"),
    since: Optional[str] = typer.Option(None, "--since", help="decisions made at or after"),
    until: Optional[str] = typer.Option(None, "--until", help="decisions made before"),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="only this tenant's decisions"),
    database_url: Optional[str] = DbOpt,
) -> None:
    """Archive decisions (propensities, features, candidates, feedback, usage) to Parquet."""
    from bandit_router.jobs.archive import export_decisions
    from bandit_router.store.db import engine_for

    lo, hi = _when(since, "--since"), _when(until, "--until")
    if out.suffix != ".parquet":
        typer.echo("error: --out must name a .parquet file", err=True)
        raise typer.Exit(2)
    engine = engine_for(_settings(database_url=database_url))
    try:
        result = export_decisions(engine, lo, hi, out, tenant_id=tenant)
    except OSError as exc:
        typer.echo(f"error: cannot write {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"wrote {result.rows} decisions to {result.path} "
               f"({result.posteriors} posterior versions beside it)")


@app.command("retention")
def retention_cmd(
    days: Optional[float] = typer.Option(None, "--days", min=0.001,
                                         help="keep this many days [BANDIT_ROUTER_RETENTION_DAYS]"),
    export_dir: Optional[Path] = typer.Option(
        None, "--export-dir", help="export each range to DIR before dropping it "
                                   "[BANDIT_ROUTER_RETENTION_EXPORT_DIR]"),
    database_url: Optional[str] = DbOpt,
) -> None:
    """Create partitions ahead and drop decisions past the retention window, once (cron)."""
    from bandit_router.jobs.lifecycle import maintain_partitions, run_retention

    settings = _settings(database_url=database_url)
    days = days if days is not None else settings.retention_days
    if days is None:
        typer.echo("error: give --days or set BANDIT_ROUTER_RETENTION_DAYS", err=True)
        raise typer.Exit(2)
    service = _service(database_url)
    try:
        made = maintain_partitions(service.engine, settings.partition_ahead_days)
        result = run_retention(service.engine, days,
                               export_dir=export_dir or settings.retention_export_dir)
    finally:
        service.engine.dispose()
    typer.echo(json.dumps({"cutoff": result.cutoff.isoformat(), "dropped": result.dropped,
                           "days": result.days, "kept_unlearnt": result.kept_unlearnt,
                           "partitions_created": made, "skipped": result.skipped}))


from bandit_router.ope.cli import evaluate  # noqa: E402

app.command("evaluate")(evaluate)


def _simulation_contexts(path: Path, costs: list[str], catalogs: list[Path],
                         output_tokens: int):
    """``evaluate --data``: the simulations package reads the data a simulation replayed."""
    from bandit_router.ope.data import LogError
    from simulations.data import DataError, load_responses, parse_costs

    try:
        ds = load_responses(path, costs=parse_costs(costs), catalogs=catalogs,
                            output_tokens=output_tokens)
    except DataError as exc:
        raise LogError(str(exc)) from None
    return ds.models, ds.X, ds.cost


@dataclass(frozen=True)
class _Wiring:
    load_contexts: Callable = _simulation_contexts


@app.callback()
def _wire(ctx: typer.Context) -> None:
    ctx.obj = _Wiring()


# simulations/ is a sibling package built on bandit_router (policy/, features/); it is
# imported only when this command runs, so no other command loads it, and the dependency
# points from simulations to bandit_router everywhere else. Its options and --help are its
# own (simulations/cli.py), passed through unchanged.
@app.command("simulate", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def simulate(ctx: typer.Context) -> None:
    """Replay traffic through the service's policies and compare them offline (see --help)."""
    try:
        from simulations.cli import command
    except ImportError as exc:  # pragma: no cover - the wheel ships simulations
        typer.echo(f"error: simulate needs the simulations package ({exc})", err=True)
        raise typer.Exit(2) from None
    command().main(ctx.args, prog_name=f"{ctx.find_root().info_name} simulate")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
