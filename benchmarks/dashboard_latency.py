"""How quick the dashboard feels: first page interactive, and one step plus redraw.

Starts the dashboard server on a free port on 127.0.0.1, drives it with Playwright in Debian's
Chromium (non-local requests blocked), and prints:

* server up: seconds from starting the server process until it answers HTTP;
* first page interactive: seconds from navigation (right after the server is up) until the
  Step button is enabled and every chart is drawn, for the first session and a second one;
* step plus redraw: milliseconds from the click on Step until the new month is shown and
  every chart whose data changed has been redrawn (the five time series and the supply
  graph; the network sample is redrawn only in months when a sampled developer changes
  state), measured inside the page on animation frames, over ``--steps`` clicks (median,
  90th percentile, max).

With ``--runs N`` (1-20) the page first resets to an ensemble of N runs of ``--developers``
developer agents, so the step is N models' months and the redraw is of N runs' bands: the
ensemble target is a median under 300 ms for 20 runs of 2,000 developers.

Run: ``.venv/bin/python benchmarks/dashboard_latency.py [--steps 30] [--runs 20 --developers 2000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from agentmarket.bench import count_at_least
from agentmarket.visualization.browser import RequestLog, launch_chromium, running_server

OUT = Path(__file__).resolve().parents[1] / "test-output"

ALL_CHARTS_DRAWN = """
() => {
    const charts = [...document.querySelectorAll('.am-chart')];
    const button = document.querySelector('.am-step');
    return charts.length >= 7 && charts.every(c => c.querySelector('[data-draws]')) && button && !button.disabled;
}
"""

MARK_BEFORE_STEP = """
() => {
    window.__amOld = new Map([...document.querySelectorAll('.am-chart [data-draws]')].map(e => [e, e.dataset.draws]));
    window.__amDate = document.querySelector('.am-date .am-value').innerText;
    window.__amDone = null;
    window.__amDate0 = null;
    window.__amStart = performance.now();
}
"""

STEP_DRAWN = """
() => {
    const date = document.querySelector('.am-date .am-value').innerText;
    if (date !== window.__amDate && window.__amDate0 === null) window.__amDate0 = performance.now() - window.__amStart;
    const charts = [...document.querySelectorAll('.am-chart:not(.am-chart-network)')];
    const redrawn = charts.every(c => {
        const drawn = c.querySelector('[data-draws]');
        return drawn && window.__amOld.get(drawn) !== drawn.dataset.draws;
    });
    if (date !== window.__amDate && redrawn) {
        if (window.__amDone === null) window.__amDone = performance.now() - window.__amStart;
        return true;
    }
    return false;
}
"""


def first_interactive_s(context, url: str, requests: RequestLog) -> float:
    """Seconds from navigation until the page can be used (Step enabled, all charts drawn)."""
    page = context.new_page()
    page.route("**/*", requests.route)
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(ALL_CHARTS_DRAWN, polling="raf", timeout=60_000)
    elapsed = time.perf_counter() - start
    return elapsed, page


def set_up_ensemble(page, runs: int, developers: int | None) -> None:
    """Reset the page to ``runs`` runs of ``developers`` developer agents each."""
    settings = [("runs", runs)] + ([("developers", developers)] if developers is not None else [])
    for control, value in settings:
        box = page.locator(f".am-control-{control} input").first
        box.fill(str(value))
        box.press("Enter")
    page.click(".am-reset")
    page.wait_for_function(
        f"document.querySelector('.am-run-label').innerText.includes('{runs} runs') || {runs} === 1",
        timeout=120_000,
    )
    page.wait_for_function(ALL_CHARTS_DRAWN, polling="raf", timeout=120_000)


def step_and_redraw_ms(page) -> tuple[float, float]:
    """Milliseconds from a click on Step until the new month's date shows, and until every chart shows it."""
    page.evaluate(MARK_BEFORE_STEP)
    page.click(".am-step")
    page.wait_for_function(STEP_DRAWN, polling="raf", timeout=30_000)
    return float(page.evaluate("window.__amDate0")), float(page.evaluate("window.__amDone"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=count_at_least(1), default=30, help="Step clicks to time")
    parser.add_argument(
        "--runs", type=count_at_least(1), default=1, help="runs stepping together (ensemble mode), 1-20"
    )
    parser.add_argument("--developers", type=count_at_least(1), default=None, help="developer agents per run")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    requests = RequestLog()
    with running_server(OUT) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1500, "height": 1400})
        first_s, page = first_interactive_s(context, server.url, requests)
        second_s, second = first_interactive_s(context, server.url, requests)
        second.close()
        if args.runs != 1 or args.developers is not None:
            set_up_ensemble(page, args.runs, args.developers)
        for _ in range(3):  # warm-up: first draws of each chart compile Vega's code paths
            step_and_redraw_ms(page)
        pairs = [step_and_redraw_ms(page) for _ in range(args.steps)]
        dates = sorted(date for date, _ in pairs)
        times = sorted(done for _, done in pairs)
        browser.close()

    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(f"runs stepping together:        {args.runs} ({args.developers or 'default'} developer agents each)")
    print(f"server up (HTTP 200):          {server.startup_s:.2f} s")
    print(f"first page interactive:        {first_s:.2f} s (first session), {second_s:.2f} s (second session)")
    print(
        f"step plus redraw ({len(times)} steps):  median {statistics.median(times):.0f} ms, "
        f"p90 {p90:.0f} ms, max {times[-1]:.0f} ms"
    )
    print(f"  of which the new date shown:  median {statistics.median(dates):.0f} ms")
    print(f"requests: {len(requests.local)} local, {len(requests.blocked)} blocked")
    return 0 if not requests.blocked else 1


if __name__ == "__main__":
    sys.exit(main())
