"""/docs in a real headless browser (Debian's Chromium) with the network unplugged: Swagger UI
comes from the service itself, renders the API with its Authorize button, and the page asks
nothing of any host but the service."""

from __future__ import annotations

import re
import socket
import threading

import httpx

from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import _serve, _wait_ready
from tests.test_status_page_browser import _dom


# Chromium's own services, which it calls whatever page it shows (time, updates, sign-in):
# not requests of the page. Anything else the browser asks for while showing /docs is.
BROWSER_OWN = {"clients2.google.com", "update.googleapis.com", "accounts.google.com",
               "clientservices.googleapis.com", "redirector.gvt1.com"}
QUIET = ("--no-pings", "--disable-domain-reliability", "--disable-default-apps",
         "--disable-client-side-phishing-detection",
         "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter")


def _host(request_line: str) -> str:
    """The host of a proxy request line: ``CONNECT h:443 …`` or ``GET http://h/… …``."""
    target = request_line.split(" ")[1] if " " in request_line else request_line
    return re.sub(r"^[a-z]+://", "", target).split("/")[0].split(":")[0]


class Unplugged:
    """The browser's proxy for every host but loopback: it records what was asked for and
    answers nothing, as a machine without network would."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.asked.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def test_docs_render_offline_with_every_route_and_an_authorize_button(tmp_path):
    proc, url = _serve(tmp_path, "--models", str(EXAMPLE_MODELS),
                       env={"BANDIT_ROUTER_ADMIN_KEY": "docs-operator-key"})
    net = Unplugged()
    try:
        _wait_ready(url, proc)
        page = httpx.get(url + "/docs").text
        assert "/static-offline-docs/swagger-ui-bundle.js" in page
        assert not re.search(r"(src|href)=['\"]?https?://", page)  # no CDN, no external asset

        dom = _dom(url + "/docs", tmp_path / "profile", f"--proxy-server=127.0.0.1:{net.port}",
                   *QUIET)
        paths = set(re.findall(r'class="opblock-summary-path"[^>]*data-path="([^"]+)"', dom))
        assert {"/v1/route", "/v1/feedback", "/v1/models/{model_id}"} <= paths, paths
        assert re.search(r'<button[^>]*class="btn authorize', dom)  # the bearer scheme
        assert [r for r in net.asked if _host(r) not in BROWSER_OWN] == []  # the page: nothing
    finally:
        net.close()
        proc.terminate()
        proc.wait(10)
