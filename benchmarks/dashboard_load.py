"""Many users at once: browser sessions each playing their own run, and memory after they close.

Starts the dashboard on a free port on 127.0.0.1 and opens ``--sessions`` browser sessions in
Debian's Chromium (each its own context, so its own solara kernel and model; non-local requests
blocked). Session ``i`` resets to seed ``i`` with ``--developers`` developer agents, then all
play for ``--seconds``. It prints, over all sessions' months: step plus redraw (the gap between
two fully redrawn months, less the play loop's pause) median and 90th percentile; whether every
session kept its own run and showed no error; and the server's resident memory before the
sessions opened, while they played, and after their tabs were closed (the target: back within
10% of before).

Run: ``.venv/bin/python benchmarks/dashboard_load.py [--sessions 8] [--seconds 30] [--developers 2000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agentmarket.bench import count_at_least
from agentmarket.visualization.browser import RequestLog, launch_chromium, open_dashboard, running_server
from agentmarket.visualization.load import close_tab, play_sessions, server_rss_mb, wait_for_memory

OUT = Path(__file__).resolve().parents[1] / "test-output"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=count_at_least(1), default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--developers", type=count_at_least(1), default=2000)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with running_server(OUT) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        warm = browser.new_context()
        close_tab(open_dashboard(warm, server.url, RequestLog()))
        warm.close()
        time.sleep(5.0)
        before = server_rss_mb(server.process.pid)
        result = play_sessions(browser, server.url, args.sessions, args.seconds, args.developers)
        during = server_rss_mb(server.process.pid)
        after = wait_for_memory(server.process.pid, 1.10 * before, timeout_s=60.0)
        browser.close()

    print(f"sessions: {args.sessions}, {args.developers:,} developer agents each, {args.seconds:.0f} s of play")
    print(f"months played per session: {result.months_played}")
    print(
        f"step plus redraw over {len(result.step_redraw_ms)} months: median {result.median_ms:.0f} ms, "
        f"p90 {result.p90_ms:.0f} ms"
    )
    print(f"every session kept its own run and showed no error: {not result.errors}")
    for error in result.errors:
        print(f"  {error}")
    print(f"server memory: {before:.0f} MiB before, {during:.0f} MiB while playing, {after:.0f} MiB after closing")
    print(f"memory back within 10% of before: {after <= 1.10 * before}")
    print(f"requests blocked for leaving the machine: {len(result.blocked)}")
    return 0 if not result.errors and not result.blocked and after <= 1.10 * before else 1


if __name__ == "__main__":
    sys.exit(main())
