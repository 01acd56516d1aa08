"""Several browser sessions playing their own runs at once, for the load test and its benchmark.

Each session is its own browser context (its own cookie, so its own solara kernel and model).
Session ``i`` runs seed ``i``, so every page must keep showing its own run. While all of them
play, a script in each page records when the month shown changes and when every time-series
chart has been redrawn for it; the gap between two redrawn months, less the play loop's pause,
is the session's step plus redraw. The server's resident memory is read from ``/proc`` before
the sessions open, while they play, and after their tabs are closed.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentmarket.visualization.app import PLAY_PAUSE_S
from agentmarket.visualization.browser import READY_SELECTOR, RequestLog

WATCH_MONTHS = """
() => {
    window.__amTimes = [];
    let last = document.querySelector('.am-date .am-value').innerText;
    let seen = new Map();
    const charts = () => [...document.querySelectorAll('.am-chart:not(.am-chart-network):not(.am-chart-supply)')];
    const poll = () => {
        const date = document.querySelector('.am-date .am-value').innerText;
        if (date !== last) {
            last = date;
            seen = new Map(charts().map(c => [c, (c.querySelector('[data-draws]') || {dataset: {}}).dataset.draws]));
            window.__amPending = true;
        }
        if (window.__amPending && charts().every(c => {
            const d = c.querySelector('[data-draws]');
            return d && d.dataset.draws !== seen.get(c);
        })) {
            window.__amPending = false;
            window.__amTimes.push(performance.now());
        }
        requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
}
"""


def server_rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB, from ``/proc/PID/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class LoadResult:
    """What the sessions showed: months played, labels, errors and step-plus-redraw times (ms)."""

    months_played: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    step_redraw_ms: list[float] = field(default_factory=list)

    @property
    def p90_ms(self) -> float:
        """90th percentile of step plus redraw over all sessions' months (ms)."""
        times = sorted(self.step_redraw_ms)
        return times[min(len(times) - 1, int(0.9 * len(times)))] if times else float("nan")

    @property
    def median_ms(self) -> float:
        """Median of step plus redraw over all sessions' months (ms)."""
        return statistics.median(self.step_redraw_ms) if self.step_redraw_ms else float("nan")


def _open_session(browser, url: str, seed: int, developers: int, requests: RequestLog, errors: list[str]):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"session {seed}: {exc}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"session {seed}: {m.text}"))
    page.route("**/*", requests.route)
    page.goto(url)
    page.wait_for_selector(READY_SELECTOR, state="attached", timeout=60_000)
    for control, value in (("developers", developers), ("seed", seed)):
        box = page.locator(f".am-control-{control} input").first
        box.fill(str(value))
        box.press("Enter")
    page.locator(".am-reset").first.click()
    page.wait_for_function(
        f"document.querySelector('.am-run-label').innerText.includes('seed {seed},')", timeout=60_000
    )
    return context, page


def play_sessions(browser, url: str, sessions: int = 2, seconds: float = 30.0, developers: int = 2000) -> LoadResult:
    """Open ``sessions`` sessions, play them all for ``seconds``, pause, check each kept its own run."""
    requests = RequestLog()
    result = LoadResult()
    opened = [_open_session(browser, url, i, developers, requests, result.errors) for i in range(sessions)]
    starts = []
    for _, page in opened:
        page.evaluate(WATCH_MONTHS)
        starts.append(page.locator(".am-date .am-value").first.inner_text())
        page.locator(".am-play").first.click()
    for _, page in opened:
        page.locator(".am-play", has_text="Pause").first.wait_for(timeout=60_000)
    time.sleep(seconds)
    for i, (_context, page) in enumerate(opened):
        pause = page.locator(".am-play", has_text="Pause")
        if pause.count():
            pause.first.click()
            page.locator(".am-play", has_text="Play").first.wait_for(timeout=60_000)
        elif not page.locator(".am-step").first.is_disabled():
            result.errors.append(f"session {i} stopped playing before its run ended")
        times = page.evaluate("window.__amTimes")
        gaps = [b - a - 1000.0 * PLAY_PAUSE_S for a, b in itertools.pairwise(times)]
        result.step_redraw_ms.extend(gaps)
        result.months_played.append(len(times))
        result.labels.append(page.locator(".am-run-label").first.inner_text())
        if page.locator(".am-step-error").count():
            result.errors.append(f"session {i}: {page.locator('.am-step-error').first.inner_text()}")
        if f"seed {i}," not in result.labels[-1]:
            result.errors.append(f"session {i} shows another run: {result.labels[-1]!r}")
    for context, page in opened:
        close_tab(page)
        context.close()
    result.blocked = list(requests.blocked)
    return result


def close_tab(page) -> None:
    """Close ``page`` as a user closing its tab does: its unload handlers run and send the close beacon.

    Playwright does not wait for a page whose unload handlers run to be gone; closing its
    browser context before then can drop the beacon on a busy machine, and the server would
    keep the session until it is culled. So this waits for the page's ``close`` event.
    """
    page.unroute("**/*")  # the close beacon is sent while the page goes away, past any route handler
    with page.expect_event("close"):
        page.close(run_before_unload=True)


def wait_for_memory(pid: int, target_mb: float, timeout_s: float = 60.0) -> float:
    """Poll the server's memory until it is at most ``target_mb`` or the time runs out; the last reading."""
    deadline = time.monotonic() + timeout_s
    rss = server_rss_mb(pid)
    while rss > target_mb and time.monotonic() < deadline:
        time.sleep(1.0)
        rss = server_rss_mb(pid)
    return rss
