"""Driving the dashboard in a real browser, for the browser tests and the latency benchmark.

Chromium is Debian's (``/usr/bin/chromium``), run headless with the flags that keep it from
phoning home; every request that would leave the local machine is blocked and recorded, so a
test can assert that the page needed none. Playwright is imported only here, on use.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from agentmarket.visualization.server import server_command, server_environment

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
READY_SELECTOR = ".am-chart-adoption [data-draws]"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 180.0) -> float:
    """Poll ``url`` until it answers 200; returns the seconds waited."""
    start = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"the dashboard did not answer at {url} within {timeout_s:.0f} s")
        time.sleep(0.1)


@dataclass
class Server:
    """A dashboard server subprocess on 127.0.0.1."""

    port: int
    process: subprocess.Popen
    log_path: Path
    startup_s: float = 0.0

    @property
    def url(self) -> str:
        """The dashboard's address on this machine."""
        return f"http://127.0.0.1:{self.port}/"


@contextmanager
def running_server(log_dir: Path, port: int | None = None):
    """Start the dashboard on a free port, wait until it answers, stop it afterwards."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            server_command("127.0.0.1", port), env=server_environment(), stdout=log, stderr=subprocess.STDOUT
        )
        server = Server(port, process, log_path)
        try:
            server.startup_s = wait_until_up(server.url)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class RequestLog:
    """Requests a page made: all of them, and the ones blocked for leaving the machine."""

    local: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def route(self, route) -> None:
        """Playwright route handler: let local requests through, abort the rest."""
        url = route.request.url
        host = urlparse(url).hostname or ""
        if host in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            self.local.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


def launch_chromium(playwright):
    """Debian's Chromium, headless, never downloaded by Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_dashboard(context, url: str, requests: RequestLog, timeout_ms: float = 30_000):
    """A new page on the dashboard with non-local requests blocked; waits for the first chart."""
    page = context.new_page()
    page.route("**/*", requests.route)
    page.goto(url)
    page.wait_for_selector(READY_SELECTOR, state="attached", timeout=timeout_ms)
    return page


def main() -> int:
    """Screenshot the dashboard with non-local requests blocked: ``python -m agentmarket.visualization.browser OUT.png``."""
    from playwright.sync_api import sync_playwright

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "test-output/dashboard.png")
    steps = int(os.environ.get("AGENTMARKET_SCREENSHOT_STEPS", "40"))
    requests = RequestLog()
    with running_server(out.parent) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1500, "height": 1500})
        page = open_dashboard(context, server.url, requests)
        for _ in range(steps):
            page.click(".am-step")
            page.wait_for_timeout(30)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out}; {len(requests.local)} local requests, {len(requests.blocked)} blocked: {requests.blocked}")
    return 0 if not requests.blocked else 1


if __name__ == "__main__":
    sys.exit(main())
