"""An ASGI app served by uvicorn in a background thread on a loopback port.

Used by ``bandit-router demo`` (the service and its simulated upstreams run in one process)
and by the tests, which put real HTTP between the client, the router and its upstreams.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class LoopbackServer:
    """Serves ``app`` on 127.0.0.1:``port`` (0: a free port) until :meth:`stop`."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))  # OSError when the port is taken
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical",
                                                    timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        daemon=True)

    def start(self) -> "LoopbackServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
