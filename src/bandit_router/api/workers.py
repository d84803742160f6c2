"""Serving an ASGI app from several uvicorn worker processes, each with its own listening
socket (``SO_REUSEPORT``), so that the kernel spreads new connections evenly over them.

With one shared listening socket (uvicorn's ``--workers``) every worker waits on the same
accept queue and Linux wakes the one that waited last: a worker that has just finished a
request is first in line for the next connection, and a keep-alive connection stays with the
worker that accepted it. One worker then served 80–97 % of a client's requests while the
other idled (benchmarks/README.md, 2026-12-06, "the open-loop tail"). With one socket per
worker in an ``SO_REUSEPORT`` group the kernel picks the socket by a hash of the connection's
addresses: each worker gets its share of the connections whatever it is doing, a busy one
too. Measured, it shared the CPU no more evenly than the shared socket with
``Connection: close`` every 100th answer, and the open-loop tail did not improve
(benchmarks/README.md, 2026-12-06, "one listening socket per worker"): opt-in
(``BANDIT_ROUTER_REUSE_PORT=true``), kept for measuring it on other machines.

The parent binds every socket and keeps them for the life of the server: a worker that dies
is replaced on the same socket, so the connections queued on it wait for the replacement
instead of being refused. SIGTERM or SIGINT to the parent: each worker gets SIGTERM and shuts
down gracefully (uvicorn finishes the requests in flight, the app's lifespan drains its
writers); the parent waits for all of them. A worker that fails to start (uvicorn's exit code
3) stops the server, as with uvicorn's own supervisor. One worker, or a platform without
``SO_REUSEPORT``, or ``per_worker_sockets=False``: plain ``uvicorn.run``.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from typing import Any

import uvicorn
from uvicorn._subprocess import get_subprocess

log = logging.getLogger("uvicorn.error")
STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` in the address's ``SO_REUSEPORT`` group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Workers:
    """``config.workers`` uvicorn worker processes, worker ``i`` serving ``sockets[i]``."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config, self.sockets = config, sockets
        self.processes: list = [None] * len(sockets)
        self.should_exit = threading.Event()
        self.exit_code = 0

    def _start(self, slot: int) -> None:
        server = uvicorn.Server(self.config)
        process = get_subprocess(self.config, target=server.run, sockets=[self.sockets[slot]])
        process.start()
        self.processes[slot] = process

    def _watch(self) -> None:
        for slot, process in enumerate(self.processes):
            if process.is_alive() or self.should_exit.is_set():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("Child process [%s] failed to start, stopping the server.", process.pid)
                self.exit_code = STARTUP_FAILURE
                self.should_exit.set()
                return
            log.warning("Child process [%s] died (exit code %s); starting another on its "
                        "socket", process.pid, process.exitcode)
            self._start(slot)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, lambda *_: self.should_exit.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in range(len(self.sockets)):
                self._start(slot)
            while not self.should_exit.wait(0.5):
                self._watch()
            for process in self.processes:
                if process.exitcode is None:
                    process.terminate()  # SIGTERM: uvicorn's graceful shutdown
            for process in self.processes:
                process.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return self.exit_code


def run(app: str, *, host: str, port: int, workers: int, per_worker_sockets: bool = True,
        **uvicorn_options: Any) -> None:
    """Serve ``app`` (an import string) like ``uvicorn.run``; with several workers and
    ``per_worker_sockets`` (on Linux), each worker on its own ``SO_REUSEPORT`` socket."""
    if workers <= 1 or not per_worker_sockets or not reuse_port_supported():
        uvicorn.run(app, host=host, port=port, workers=workers, **uvicorn_options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **uvicorn_options)
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(listening_socket(host, port))
    except OSError as exc:
        for sock in sockets:
            sock.close()
        log.error("cannot listen on %s:%s (%s)", host, port, exc)
        sys.exit(1)
    log.info("Started parent process, %d workers, one SO_REUSEPORT socket each on %s:%d",
             workers, host, port)
    code = Workers(config, sockets).run()
    if code:
        sys.exit(code)
