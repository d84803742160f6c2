"""Many replicas through PgBouncer in transaction pooling mode: two ``serve`` processes and a
``refit --every`` process share one Postgres through a PgBouncer this test starts itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.faults.conftest import Server, free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    """PgBouncer in ``pool_mode = transaction`` on a free loopback port, in front of the
    test's Postgres; fewer server connections than clients, so transactions of one client
    connection really run on different server sessions."""

    def __init__(self, directory: Path, upstream_port: int = 5432, pool_size: int = 6) -> None:
        if not os.path.exists(PGBOUNCER):
            pytest.fail("pgbouncer is not installed: `apt-get install pgbouncer` (.ci/run does); "
                        "the pooler tests never skip", pytrace=False)
        self.dir, self.port = directory, free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "userlist.txt").write_text('"postgres" ""\n')
        (directory / "pgbouncer.ini").write_text(f"""
[databases]
* = host=127.0.0.1 port={upstream_port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = {directory}/pgbouncer.log
""")
        cmd = [PGBOUNCER, str(directory / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(directory, "postgres", "postgres")
            for f in directory.iterdir():
                shutil.chown(f, "postgres", "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=open(directory / "stdout.log", "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            assert self.proc.poll() is None, (directory / "stdout.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("pgbouncer did not start")

    def url(self, direct_url: str) -> str:
        return direct_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{self.port}/")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def pgbouncer():
    # Its own directory outside pytest's (which only root may enter): pgbouncer runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="br-pgbouncer-"))
    bouncer = PgBouncer(directory)
    yield bouncer
    bouncer.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _pair(server: Server, headers: dict, i: int) -> tuple[str, str | None, float, list[str]]:
    """Route then give feedback; returns (decision id, feedback status, reward, errors)."""
    errors = []
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as c:
        r = c.post("/v1/route", json={"prompt": f"request {i}: " + ("fix my python" if i % 2
                                                                      else "write a poem")})
        if r.status_code != 200:
            return "", None, 0.0, [f"route {r.status_code} {r.text[:200]}"]
        d = r.json()["decision_id"]
        reward = (i % 4) / 4
        f = c.post("/v1/feedback", json={"decision_id": d, "reward": reward})
        if f.status_code != 201:
            errors.append(f"feedback {f.status_code} {f.text[:200]}")
        return d, f.json().get("status") if f.status_code == 201 else None, reward, errors


@pytest.mark.postgres
@pytest.mark.slow
def test_two_servers_and_a_refit_loop_through_pgbouncer_transaction_pooling(pg_url, pgbouncer,
                                                                           tmp_path):
    pooled = pgbouncer.url(pg_url)
    env = dict(database_pooler="transaction", refit_interval_s="0.5", posterior_poll_s="0.5",
               lifecycle_interval_s="1")
    servers = [Server(pooled, free_port(), tmp_path / f"serve{i}.log", **env) for i in range(2)]
    for s in servers:
        s.start()
    refit_log = tmp_path / "refit.log"
    refitter = subprocess.Popen(
        [sys.executable, "-m", "bandit_router.cli", "refit", "--every", "0.3"],
        env=dict(servers[0].env), stdout=open(refit_log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        headers = servers[0].app_key()
        n = 400
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: _pair(servers[i % 2], headers, i), range(n)))
        time.sleep(1.5)  # let a few more refits run against the finished load
    finally:
        for s in servers:
            s.kill(signal.SIGTERM)
        os.killpg(refitter.pid, signal.SIGTERM)
        refitter.wait(30)
    errors = [e for *_, errs in results for e in errs]
    assert errors == [], errors[:5]
    acknowledged = {d: reward for d, status, reward, _ in results if status == "recorded"}
    assert len(acknowledged) == n

    direct = sa.create_engine(pg_url)  # past the pooler: what is really committed
    with direct.connect() as c:
        stored = dict(c.execute(sa.text("SELECT decision_id, reward FROM feedback")).all())
        decisions = set(c.scalars(sa.text("SELECT id FROM decisions")))
        refits = c.execute(sa.text(
            "SELECT version, created_at, fit_seconds, watermark, n_feedback FROM posteriors "
            "ORDER BY version")).all()
    direct.dispose()
    assert set(acknowledged) <= decisions
    assert {d: stored.get(d) for d in acknowledged} == acknowledged
    # Three processes refit every 0.3-0.5 s; only one at a time: no two refits overlap in
    # time, and each version starts from the one before it (watermarks never go back).
    assert len(refits) >= 3
    for prev, cur in zip(refits, refits[1:]):
        started = cur.created_at.timestamp() - cur.fit_seconds
        assert started >= prev.created_at.timestamp() - 0.01, (prev, cur)
        assert cur.watermark >= prev.watermark and cur.n_feedback >= prev.n_feedback
    assert refits[-1].n_feedback == n
    lines = [json.loads(x) for x in refit_log.read_text().splitlines() if x.startswith("{")]
    assert lines and all(x["reason"] in ("refitted", "up to date", "locked") for x in lines)
    for log in [refit_log, *(s.log for s in servers)]:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def test_the_pooler_setting_is_refused_for_sqlite(tmp_path):
    from pydantic import ValidationError

    from bandit_router.config import Settings

    with pytest.raises(ValidationError, match="PostgreSQL only"):
        Settings(database_url=f"sqlite:///{tmp_path}/x.db", database_pooler="transaction")


@pytest.mark.postgres
def test_a_vanished_prepared_statement_is_explained_with_the_setting_to_change(pg_url, caplog):
    from bandit_router.store.db import make_engine

    engine = make_engine(pg_url)
    with pytest.raises(sa.exc.ProgrammingError), engine.connect() as conn:
        conn.exec_driver_sql("EXECUTE _pg3_0")  # what a pooler's other session answers
    engine.dispose()
    assert "BANDIT_ROUTER_DATABASE_POOLER=transaction" in caplog.text
