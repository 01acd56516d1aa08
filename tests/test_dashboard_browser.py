"""The dashboard in Debian's Chromium: loads offline, steps, plays, resets, keeps sessions apart.

One server (a subprocess on a free port on 127.0.0.1) serves the whole module; each test opens
its own pages, and so its own sessions. Every request that would leave the machine is blocked
and recorded. Screenshots go to test-output/.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agentmarket.scenarios import load_scenario
from agentmarket.visualization.browser import (
    CHROMIUM,
    RequestLog,
    launch_chromium,
    running_server,
)

BASELINE_AGENTS = f"{load_scenario('baseline').simulation.developer_agents:,} developer agents"
"""The run label's agent count for the dashboard's default run, the baseline's own."""

OUT = Path(__file__).resolve().parents[1] / "test-output"


def month_label(date: str, later: int = 0) -> str:
    """The month ``later`` months after the one shown, as YYYY-MM."""
    n = month_number(date) + later
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def month_number(date: str) -> int:
    """Months since year 0 of the last simulated month shown (the one before the start, at the start)."""
    year, month = int(date[:4]), int(date[5:7])
    return year * 12 + month - 1 - (1 if date.endswith("(start)") else 0)


pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI", "").lower() != "true",
        reason=f"{CHROMIUM} is absent (run scripts/install-browser.sh); required in CI",
    ),
]


@pytest.fixture(scope="module")
def server():
    with running_server(OUT) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1400})
    yield ctx
    ctx.close()


class Tab:
    """One dashboard page and what it logged."""

    def __init__(self, context, url: str):
        self.requests = RequestLog()
        self.console_errors: list[str] = []
        self.page = context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_page_error)
        self.page.route("**/*", self.requests.route)
        self.page.goto(url)
        self.page.wait_for_selector(".am-chart-adoption [data-draws]", state="attached", timeout=30_000)

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_page_error(self, error) -> None:
        self.console_errors.append(str(error))

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text().strip()

    @property
    def date(self) -> str:
        return self.text(".am-date .am-value")

    @property
    def run_label(self) -> str:
        return self.text(".am-run-label")

    def click(self, selector: str) -> None:
        self.page.locator(selector).first.click()

    def wait_for_date_change(self, before: str, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = self.date
            if now != before:
                return now
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the date stayed {before!r}")

    def wait_for_quiet_date(self, quiet_s: float = 1.5, timeout_s: float = 15.0) -> str:
        """The date once it has not changed for ``quiet_s`` (a month in flight has landed)."""
        deadline = time.monotonic() + timeout_s
        last, since = self.date, time.monotonic()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            now = self.date
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return now
        raise AssertionError(f"the date kept changing (last {last!r})")

    def step(self, months: int = 1) -> str:
        for _ in range(months):
            before = self.date
            self.click(".am-step")
            self.wait_for_date_change(before)
        return self.date

    def chart_png(self, hook: str) -> bytes:
        return self.page.locator(f".am-chart-{hook}").first.screenshot()

    def wait_for_chart_change(self, hook: str, before: bytes, timeout_s: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = self.chart_png(hook)
            if now != before:
                return now
            self.page.wait_for_timeout(100)
        raise AssertionError(f"the {hook} chart did not change")

    def set_input(self, control: str, value: str) -> None:
        field = self.page.locator(f".am-control-{control} input").first
        field.fill(value)
        field.press("Enter")

    def shot(self, name: str) -> None:
        OUT.mkdir(exist_ok=True)
        self.page.screenshot(path=str(OUT / name), full_page=True)


def test_page_loads_offline_without_console_errors(server, context):
    tab = Tab(context, server.url)
    tab.page.wait_for_selector(".am-chart-supply [data-draws]", state="attached")
    tab.page.wait_for_selector(".am-chart-network [data-draws]", state="attached")
    tab.shot("dashboard-loaded.png")
    assert tab.requests.blocked == [], "the page asked for files outside 127.0.0.1"
    assert tab.requests.local, "no request was recorded"
    assert tab.console_errors == []
    assert tab.date.endswith("(start)")


def test_reset_step_and_play_advance_the_date_and_redraw(server, context):
    tab = Tab(context, server.url)
    start = tab.date
    chart_before = tab.chart_png("adoption")

    first = tab.step()
    assert first != start
    chart_after_step = tab.wait_for_chart_change("adoption", chart_before)

    tab.click(".am-play")
    tab.page.wait_for_function(  # play moves on by itself, at least two months
        f"document.querySelector('.am-date .am-value').innerText.slice(0, 7) >= '{month_label(first, 2)}'",
        timeout=30_000,
    )
    tab.click(".am-play")  # pause
    tab.page.locator(".am-play", has_text="Play").wait_for(timeout=5_000)
    # the month in flight when Pause came lands; after it, a paused run moves only when stepped
    tab.wait_for_quiet_date()
    after_pause = tab.step()
    assert month_number(tab.step()) == month_number(after_pause) + 1, "the run went on playing after Pause"
    played_to = tab.date
    tab.wait_for_chart_change("adoption", chart_after_step)
    tab.shot("dashboard-played.png")

    tab.click(".am-reset")
    # a month still in flight when Reset is clicked may show first; the reset run's start must follow
    tab.page.wait_for_function(f"document.querySelector('.am-date .am-value').innerText === {start!r}", timeout=10_000)
    assert tab.date == start != played_to
    assert tab.console_errors == []


def test_changed_control_takes_effect_after_reset(server, context):
    tab = Tab(context, server.url)
    assert BASELINE_AGENTS in tab.run_label
    start = tab.date
    tab.set_input("developers", "2000")
    stepped = tab.step()  # handled after the new value: the page has taken it in
    assert BASELINE_AGENTS in tab.run_label, "the run changed before Reset"
    assert month_number(stepped) == month_number(start) + 1, "the run was replaced before Reset"
    tab.click(".am-reset")
    tab.page.wait_for_function(
        "document.querySelector('.am-run-label').innerText.includes('2,000 developer agents')", timeout=10_000
    )
    tab.step(2)


def test_picking_another_scenario_starts_a_new_run(server, context):
    tab = Tab(context, server.url)
    tab.step()
    tab.click(".am-scenario")
    tab.page.locator(".v-menu__content .v-list-item", has_text="grid-crunch").first.click()
    tab.page.wait_for_function(
        "document.querySelector('.am-run-label').innerText.includes('grid-crunch')", timeout=15_000
    )
    # the label and the month are separate widgets, drawn one after the other
    tab.page.wait_for_function(
        "document.querySelector('.am-date .am-value').innerText.endsWith('(start)')", timeout=10_000
    )
    assert tab.date.endswith("(start)")
    tab.step(3)
    tab.shot("dashboard-grid-crunch.png")


def test_two_pages_keep_separate_models(server, context):
    first = Tab(context, server.url)
    second = Tab(context, server.url)
    start = second.date
    first.step(3)
    assert month_number(second.step()) == month_number(start) + 1, "stepping one page moved the other"
    second.set_input("developers", "3000")
    second.click(".am-reset")
    second.page.wait_for_function("document.querySelector('.am-run-label').innerText.includes('3,000')", timeout=10_000)
    assert BASELINE_AGENTS in first.run_label


def test_invalid_value_shows_message_and_keeps_the_run(server, context):
    tab = Tab(context, server.url)
    stepped = tab.step(2)
    tab.set_input("grid_growth", "-1")
    message = tab.page.locator(".am-error-grid_growth")
    message.wait_for(timeout=10_000)
    assert "expansion_per_year" in message.inner_text()
    tab.click(".am-reset")
    after = tab.step()  # handled after the Reset
    assert month_number(after) == month_number(stepped) + 1, "a rejected value replaced the run"
    assert message.is_visible()
    tab.set_input("developers", "0")
    tab.page.locator(".am-error-developers").wait_for(timeout=10_000)
    assert message.is_visible(), "a second bad value hid the first one's message"
    tab.shot("dashboard-invalid-value.png")
    assert tab.console_errors == []


# ----- ensemble mode, the explorer, and several sessions at once -----------------------------------
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
UPDATE_DOCS_IMAGES = os.environ.get("AGENTMARKET_UPDATE_DOCS_IMAGES") == "1"
"""Write the README's ensemble screenshot into docs/img (else into test-output/, so a test run leaves the tree clean)."""


def test_ensemble_of_five_seeds_steps_together_and_draws_a_band(server, context):
    tab = Tab(context, server.url)
    tab.set_input("developers", "2000")
    tab.set_input("runs", "5")
    tab.click(".am-reset")
    tab.page.wait_for_function(
        "document.querySelector('.am-run-label').innerText.includes('of 5 runs, seeds 0-4')", timeout=30_000
    )
    assert "median and 5-95% band of 5 runs" in tab.run_label
    tab.step(14)
    tab.page.locator(".am-control-selected input").wait_for(timeout=10_000)
    tab.set_input("selected", "3")
    tab.page.wait_for_function(
        "document.querySelector('.am-run-label').innerText.includes('seed 2 (selected)')", timeout=10_000
    )
    events = tab.page.locator(".am-event")
    assert events.count() >= 1, "no event listed for the selected run"
    assert tab.text(".am-events .am-label").startswith("Events of the selected run")
    tab.page.set_viewport_size({"width": 1500, "height": 1500})
    folder = DOCS_IMG if UPDATE_DOCS_IMAGES else OUT
    folder.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(folder / "dashboard-ensemble.png"), full_page=True)
    assert tab.requests.blocked == []
    assert tab.console_errors == []


def test_a_posterior_given_in_the_page_draws_each_runs_parameters(server, context, tmp_path):
    import pandas as pd

    from agentmarket.calibration.calibrate import load_free_parameters
    from agentmarket.calibration.posterior import load_posterior
    from agentmarket.visualization.state import read_key

    base = load_scenario("baseline")
    rows = [
        {**{p.key: float(read_key(base, p.key)) for p in load_free_parameters()}, "adoption.imitation": 0.2 + 0.05 * i}
        for i in range(6)
    ]
    post = tmp_path / "posterior.parquet"
    pd.DataFrame(rows).assign(weight=1 / 6).to_parquet(post, index=False)
    tab = Tab(context, server.url)
    tab.set_input("posterior", str(tmp_path / "nowhere.parquet"))
    tab.page.locator(".am-error-posterior").wait_for(timeout=10_000)
    assert "does not exist" in tab.text(".am-error-posterior")
    tab.set_input("posterior", str(post))
    tab.page.locator(".am-error-posterior").wait_for(state="detached", timeout=10_000)
    tab.set_input("developers", "500")
    tab.set_input("runs", "5")
    tab.click(".am-reset")
    tab.page.locator(".am-posterior-caption").wait_for(timeout=30_000)
    caption = tab.text(".am-posterior-caption")
    assert "parameter and seed uncertainty" in caption and "posterior.parquet (6 particles)" in caption
    drawn = load_posterior(post).draw(0)
    assert f"{drawn['adoption.imitation']:.4g}" in tab.text(".am-drawn")
    assert tab.page.locator(".am-drawn-step_size").count() == 1, "the drawn step size's lever is not marked"
    tab.step(1)
    assert tab.requests.blocked == []
    assert tab.console_errors == []


def test_a_rejected_ensemble_size_is_shown_and_keeps_the_runs(server, context):
    tab = Tab(context, server.url)
    stepped = tab.step(1)
    tab.set_input("runs", "21")
    tab.page.locator(".am-error-runs").wait_for(timeout=10_000)
    assert "from 1 to 20" in tab.text(".am-error-runs")
    tab.click(".am-reset")
    after = tab.step()  # handled after the Reset
    assert month_number(after) == month_number(stepped) + 1, "a rejected size replaced the run"
    assert "from 1 to 20" in tab.text(".am-error-runs")


def test_explore_view_opens_a_batch_folder(server, context, tmp_path):
    from agentmarket.cli import main

    out = tmp_path / "batch"
    assert (
        main(["batch", "--seeds", "2", "--months", "3", "--set", "simulation.developer_agents=100", "--out", str(out)])
        == 0
    )
    tab = Tab(context, server.url)
    tab.page.locator(".v-tab", has_text="Explore results").first.click()
    field = tab.page.locator(".am-explore-folder input").first
    field.fill(str(out))
    tab.click(".am-explore-open")
    tab.page.locator(".am-explored-title").wait_for(timeout=15_000)
    assert tab.text(".am-explored-title").startswith("batch:")
    tab.page.wait_for_selector(".am-chart-fan-0 [data-draws]", state="attached", timeout=15_000)
    assert tab.page.locator(".am-boxes-missing").count() == 1
    field.fill(str(tmp_path / "nowhere"))
    tab.click(".am-explore-open")
    tab.page.locator(".am-explore-error").wait_for(timeout=10_000)
    assert "is not a folder" in tab.text(".am-explore-error")
    assert tab.console_errors == []


def test_two_sessions_play_at_once_and_each_keeps_its_own_run(server, browser):
    """The load test in small: two browser sessions play their own runs at the same time."""
    from agentmarket.visualization.load import play_sessions

    result = play_sessions(browser, server.url, sessions=2, seconds=8.0, developers=2000)
    assert result.errors == [], result.errors
    assert result.blocked == []
    assert all(months >= 3 for months in result.months_played), result.months_played
    assert len(set(result.labels)) == 2, "the two sessions showed the same run"


def test_closing_a_tab_gives_its_models_memory_back(server, browser):
    """A session with the largest model the page allows; after its tab closes the server's
    memory is back within 10% of where it was before the tab opened."""
    from agentmarket.visualization.load import close_tab, server_rss_mb, wait_for_memory
    from agentmarket.visualization.state import MAX_DASHBOARD_DEVELOPERS

    warm_up = browser.new_context()
    close_tab(Tab(warm_up, server.url).page)  # the first page imports what every page needs
    warm_up.close()
    before = server_rss_mb(server.process.pid)
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    tab = Tab(context, server.url)
    tab.set_input("developers", str(MAX_DASHBOARD_DEVELOPERS))
    tab.set_input("runs", "2")
    tab.click(".am-reset")
    tab.page.wait_for_function(
        "document.querySelector('.am-run-label').innerText.includes('200,000 developer agents')", timeout=60_000
    )
    tab.step(2)
    grown = server_rss_mb(server.process.pid)
    assert grown > 1.10 * before, f"two runs of {MAX_DASHBOARD_DEVELOPERS:,} developers took no memory to free"
    close_tab(tab.page)
    after = wait_for_memory(server.process.pid, 1.10 * before, timeout_s=60.0)
    context.close()  # after the server freed the session: closing it sooner can drop the close beacon
    assert after <= 1.10 * before, f"memory {before:.0f} MiB before the tab, {grown:.0f} open, {after:.0f} after"
