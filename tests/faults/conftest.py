"""Real processes for fault tests: ``bandit-router serve`` and a throwaway Postgres cluster
of our own (never the machine's shared one), which a test may stop and start."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import OPERATOR_KEY

ADMIN = {"Authorization": f"Bearer {OPERATOR_KEY}"}
MODELS = Path(__file__).resolve().parents[2] / "examples" / "models.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


class Cluster:
    """``initdb`` + ``pg_ctl`` in a temporary directory, on a free port."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            pytest.fail("no PostgreSQL binaries under /usr/lib/postgresql/*/bin", pytrace=False)
        self.bin = Path(bins[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="br-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U",
                                    "postgres", "--auth=trust", "-E", "UTF8"),
                       check=True, capture_output=True)
        self.start()
        subprocess.run(_as_postgres(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p",
                                    str(self.port), "-U", "postgres", "br"),
                       check=True, capture_output=True)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/br"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w",
                                    "-t", "30", *args), check=True, capture_output=True)

    def start(self) -> None:
        self._ctl("-l", str(self.dir / "log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def destroy(self) -> None:
        try:
            self._ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.destroy()


class Server:
    """``bandit-router serve`` (one worker unless told) in its own process group."""

    def __init__(self, url: str, port: int, log: Path, workers: int = 1, **env: str) -> None:
        self.url, self.port, self.log, self.workers = url, port, log, workers
        self.env = dict(os.environ, BANDIT_ROUTER_DATABASE_URL=url,
                        BANDIT_ROUTER_ADMIN_KEY=OPERATOR_KEY, BANDIT_ROUTER_LOG_LEVEL="WARNING",
                        **{f"BANDIT_ROUTER_{k.upper()}": str(v) for k, v in env.items()})
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bandit_router.cli", "serve", "--models", str(MODELS),
             "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become ready:\n" + self.log.read_text()[-3000:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)

    def app_key(self, tenant: str = "acme") -> dict[str, str]:
        r = httpx.post(self.base + "/v1/tenants", json={"id": tenant, "name": tenant},
                       headers=ADMIN)
        assert r.status_code == 201, r.text
        key = httpx.post(f"{self.base}/v1/tenants/{tenant}/keys", headers=ADMIN).json()["key"]
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_server(tmp_path) -> Iterator:
    servers: list[Server] = []

    def factory(url: str, port: int | None = None, **env) -> Server:
        s = Server(url, port or free_port(), tmp_path / f"server{len(servers)}.log", **env)
        servers.append(s)
        return s

    yield factory
    for s in servers:
        s.kill(signal.SIGTERM)
