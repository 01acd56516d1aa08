"""A short mutation pass over the rules that matter most: hand-made mutants, each run against
the fast tests of its rule.

Each mutant replaces one exact piece of source text with a wrong rule. The script copies
``agentmarket/``, ``tests/`` and ``pyproject.toml`` into a temporary folder once per job,
applies a mutant there (the working tree is never touched), runs the mutant's tests on the
copy (``PYTHONPATH`` puts the copy first) and restores the file. A mutant is *killed* when a
test fails, *survived* when all pass, *stale* when its text is no longer in the file (the
code moved: update the target). The golden hashes (tests/test_golden.py) are left out on
purpose: they catch any change at all and would hide which rule tests are blind.

    .venv/bin/python scripts/mutate.py                 # every mutant, one job
    .venv/bin/python scripts/mutate.py --jobs 2 --out docs/mutants.md
    .venv/bin/python scripts/mutate.py --only books-fill --only ration-spot-cap
    .venv/bin/python scripts/mutate.py --list

Two stages: each mutant first meets the fast tests of its area; a model mutant that survives
them then meets the property tests (``INVARIANTS``), under the Hypothesis profile
``mutation`` (registered in the copy only: 15 examples; a mutant missed there may still be
found by the ``ci`` profile's 60).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900

# ----- the tests each area's mutants run (fast ones first; pytest stops at the first failure) -----
CAPACITY = [
    "tests/test_model_core.py::test_compute_served_never_exceeds_capacity_at_any_layer_or_cloud",
    "tests/test_model_core.py::test_clearing_serves_what_the_maximum_flow_allows_in_the_baseline_graph",
]
MONEY = [
    "tests/test_model_core.py::test_developers_pay_exactly_what_labs_book_as_revenue_from_them_each_month",
    "tests/test_model_core.py::test_what_labs_pay_for_compute_is_what_clouds_earn_from_them_each_month",
]
INVARIANTS = ["tests/test_properties.py::test_every_month_holds_the_invariants"]
"""Run only on the mutants that the first, faster tests of their area missed (second stage)."""
CLEARING_UNITS = [
    "tests/test_units.py::test_clearing_serves_what_the_narrowest_node_allows_and_names_it_on_the_cut",
    "tests/test_units.py::test_min_cut_of_the_three_node_graph_is_its_smallest_capacity",
    "tests/test_clearing_rules.py::test_upstream_capacity_goes_to_the_clouds_that_can_use_it",
]
RATIONING_UNITS = [
    "tests/test_units.py::test_cloud_rationing_serves_contracts_in_full_then_spot_pro_rata",
    "tests/test_units.py::test_cloud_rationing_short_of_contracts_cuts_them_pro_rata_and_serves_no_spot",
    "tests/test_clearing_rules.py",
]
PRICING_UNITS = [
    "tests/test_units.py::test_hold_keeps_the_price_index",
    "tests/test_units.py::test_undercut_prices_a_share_below_the_cheapest_rival",
    "tests/test_units.py::test_cost_plus_moves_the_index_by_the_margin_gap_within_the_monthly_limit",
    "tests/test_units.py::test_adaptive_rises_with_unserved_demand_and_moves_towards_rivals",
    "tests/test_units.py::test_adaptive_and_cost_plus_prices_stay_within_the_index_bounds",
    "tests/test_units.py::test_a_distressed_lab_prices_at_cost_plus_whatever_its_policy",
]
CLEARING = [
    *CLEARING_UNITS,
    "tests/test_model_core.py::test_a_lab_asks_the_clouds_for_no_more_than_its_demand_and_gets_no_more",
    *CAPACITY,
    "tests/test_edge_cases.py::test_zero_capacity_at_one_layer_serves_nothing_and_binds",
]
NETWORKX_CUT = "tests/test_min_cut.py::test_networkx_min_cut_is_used_beyond_the_candidate_limit"
"""The networkx cut is the fallback for graphs with too many candidate cuts: only this test reaches it."""
CANDIDATE_CUT = "tests/test_min_cut.py::test_min_cut_is_networkx_flow_and_cut"
BOOKS = [
    "tests/test_units.py::test_a_labs_books_split_compute_by_use_and_cash_moves_by_ebitda",
    "tests/test_clearing_rules.py::test_take_or_pay_is_scaled_down_by_what_a_short_cloud_delivers",
    *MONEY,
    "tests/test_edge_cases.py::test_a_lab_that_runs_out_of_cash_is_distressed_then_exits",
]
RATIONING = [*RATIONING_UNITS, *CAPACITY, *MONEY]
PRICING = [
    *PRICING_UNITS,
    "tests/test_model_core.py::test_doubling_demand_raises_compute_prices_and_subscription_prices_or_tightens_rationing",
    "tests/test_scenarios_library.py::test_price_war_puts_lab_b_below_its_rival_and_wins_it_subscribers",
    "tests/test_edge_cases.py::test_a_lab_that_runs_out_of_cash_is_distressed_then_exits",
]
ADOPTION = [
    "tests/test_units.py::test_the_roi_gate_is_one_half_at_its_threshold_and_symmetric_in_log_return",
    "tests/test_model_core.py::test_the_roi_gate_holds_back_developers_whose_return_is_far_below_its_threshold",
    "tests/test_model_core.py::test_adopters_whose_return_is_below_the_churn_threshold_leave",
    "tests/test_model_core.py::test_no_developer_adopts_or_stays_when_no_lab_is_active",
    "tests/test_bass_limit.py::test_each_months_new_adopters_are_the_bass_hazards_binomial_draw[0.01-0.3]",
    "tests/test_bass_limit.py::test_each_months_new_adopters_are_the_bass_hazards_binomial_draw[0.001-0.8]",
    "tests/test_model_core.py::test_removing_the_capability_step_flattens_adoption",
    "tests/test_edge_cases.py::test_one_developer_agent_stands_for_the_whole_population",
]
STORE = [
    "tests/test_experiments.py::test_the_manifest_table_shows_each_runs_latest_record",
    "tests/test_experiments.py::test_folder_rules",
    "tests/test_experiments.py::test_manifest_survives_a_line_cut_short",
    "tests/test_experiments.py::test_an_interrupted_sweep_resumes_without_rerunning_finished_runs",
]


MUTATION_PROFILE = """
from hypothesis import HealthCheck as _HealthCheck, settings as _settings
_settings.register_profile(
    "mutation", max_examples=15, deadline=None, suppress_health_check=[_HealthCheck.too_slow, _HealthCheck.data_too_large]
)
_settings.load_profile("mutation")
"""
"""Appended to the copy's tests/conftest.py: few examples per property, for a pass that ends in minutes."""


@dataclass(frozen=True)
class Mutant:
    """One wrong rule: in ``file``, the exact text ``old`` becomes ``new``."""

    id: str
    file: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]


def m(id: str, file: str, old: str, new: str, description: str, tests: list[str]) -> Mutant:
    return Mutant(id, file, old, new, description, tuple(tests))


SG, MODEL, LABS = "agentmarket/supply_graph.py", "agentmarket/model.py", "agentmarket/agents/labs.py"
CLOUDS, DEVS, STORE_PY = (
    "agentmarket/agents/clouds.py",
    "agentmarket/agents/developers.py",
    "agentmarket/experiments/store.py",
)

MUTANTS: list[Mutant] = [
    # the clearing
    m(
        "clear-cloud-cap",
        SG,
        "take[k], take_kind[k] = kept_min(cap[k], GIVEN, asked[k], PLAIN)",
        "take[k], take_kind[k] = asked[k], PLAIN",
        "a cloud passes on all it is asked, past its capacity",
        CLEARING,
    ),
    m(
        "clear-supplier-cap",
        SG,
        "take[k], take_kind[k] = kept_min(cap[k], GIVEN, incoming[k], NUMPY if reached[k] else PLAIN)",
        "take[k], take_kind[k] = incoming[k], NUMPY if reached[k] else PLAIN",
        "a supplier takes all it is asked, past its capacity",
        CLEARING,
    ),
    m(
        "clear-served-cap",
        SG,
        "s, s_kind = kept_min(cap[k], GIVEN, inflow[k], inflow_kind)",
        "s, s_kind = inflow[k], inflow_kind",
        "served no longer capped by the node's capacity",
        CLEARING,
    ),
    m(
        "clear-split-equal",
        SG,
        "w = caps[p - lo] / total if total > 0 else 1.0 / (hi - lo)",
        "w = 1.0 / (hi - lo)",
        "asks split equally among suppliers, not pro rata to capacity",
        CLEARING,
    ),
    m(
        "clear-shortcut",
        SG,
        "requested * (1.0 - 1e-12)",
        "requested * 0.5",
        "the no-cut shortcut taken when half the requests are met",
        CLEARING,
    ),
    m(
        "clear-cut-side",
        SG,
        'if "node" in d and u in reachable and w not in reachable}',
        'if "node" in d and u in reachable}',
        "binding nodes: every node reachable from the source, not those on the cut",
        [*CLEARING, NETWORKX_CUT],
    ),
    m(
        "cut-tie-last",
        SG,
        "k = int(np.argmax(totals <= value + value * TIE_REL))",
        "k = int(len(totals) - 1 - np.argmax((totals <= value + value * TIE_REL)[::-1]))",
        "of the tied minimum cuts, the largest sink side, not networkx's smallest",
        [*CLEARING, CANDIDATE_CUT],
    ),
    m(
        "cut-demand-ignored",
        SG,
        "totals = self.crossing @ weights",
        "totals = self.crossing[:, : self.capacity_crossed.shape[1]] @ weights[: self.capacity_crossed.shape[1]]",
        "candidate cuts priced without the demand edges they cross",
        [*CLEARING, CANDIDATE_CUT],
    ),
    m(
        "market-contract-end",
        MODEL,
        "if k.start <= self.month < k.end:",
        "if k.start <= self.month <= k.end:",
        "a contract delivers one month past its end",
        CLEARING,
    ),
    m(
        "market-spot-shortfall",
        MODEL,
        "shortfall = max(0.0, lab.demand - booked[:, j].sum())",
        "shortfall = lab.demand",
        "a lab asks the spot market for all its demand on top of its contracts",
        CLEARING,
    ),
    # the books
    m(
        "books-fill",
        MODEL,
        "paid = self._contract_value * fill[:, None]",
        "paid = self._contract_value",
        "take-or-pay not scaled down when a cloud fails to deliver",
        BOOKS,
    ),
    m(
        "books-other-ai",
        MODEL,
        "self.other_ai_paid = float(paid[:, -1].sum())",
        "self.other_ai_paid = float(paid[:, 0].sum())",
        "other AI buyers' payment read from the first lab's column",
        BOOKS,
    ),
    m(
        "books-lab-paid-order",
        MODEL,
        "lab_paid = paid[:, : len(self.labs)].sum(axis=0)",
        "lab_paid = paid.sum(axis=0)[: len(self.labs)]",
        "labs' payments: slice after summing (same numbers)",
        BOOKS,
    ),
    m(
        "lab-revenue-other",
        LABS,
        "self.revenue = subscription_usd + api_usd + other",
        "self.revenue = subscription_usd + api_usd",
        "revenue outside coding agents left out of revenue",
        BOOKS,
    ),
    m(
        "lab-inference-cost",
        LABS,
        "self.inference_cost = compute_paid_usd - self.training_cost",
        "self.inference_cost = compute_paid_usd",
        "training compute counted in inference cost too",
        BOOKS,
    ),
    m(
        "lab-ebitda-training",
        LABS,
        "self.ebitda = self.revenue - self.inference_cost - self.training_cost - self.other_cost",
        "self.ebitda = self.revenue - self.inference_cost - self.other_cost",
        "training cost left out of EBITDA",
        BOOKS,
    ),
    m(
        "lab-cash-funding",
        LABS,
        "self.cash += self.ebitda\n",
        "self.cash += self.ebitda + self.funding\n",
        "funding added with EBITDA (it is 0 until raise_funding)",
        BOOKS,
    ),
    m(
        "lab-service-cap",
        LABS,
        "self.service_level = min(1.0, (served_acc - self.training_served) / users)",
        "self.service_level = (served_acc - self.training_served) / users",
        "service level not capped at 1",
        BOOKS,
    ),
    # rationing
    m(
        "ration-spot-cap",
        CLOUDS,
        "spot = spot_req * (min(1.0, rest / total_spot)",
        "spot = spot_req * ((rest / total_spot)",
        "spot buyers get the whole remainder, more than they asked",
        RATIONING,
    ),
    m(
        "ration-contract-cap",
        CLOUDS,
        "contract = contract_req * (available / total_contract if total_contract > 0 else 0.0)",
        "contract = contract_req.copy()",
        "contracts served in full when compute is short",
        RATIONING,
    ),
    m(
        "ration-spot-when-short",
        CLOUDS,
        "            spot = np.zeros_like(spot_req)\n",
        "            spot = spot_req.copy()\n",
        "spot served in full even when contracts are short",
        RATIONING,
    ),
    m(
        "ration-boundary",
        CLOUDS,
        "if available >= total_contract:",
        "if available > total_contract:",
        "the contracts-first branch taken only strictly above the contracts",
        RATIONING,
    ),
    # the pricing policies
    m(
        "price-clip-step",
        LABS,
        "step = float(np.clip(step, -s.price_adjust_per_month, s.price_adjust_per_month))",
        "step = float(step)",
        "no monthly limit on price moves",
        PRICING,
    ),
    m(
        "price-scarcity-sign",
        LABS,
        "step = s.scarcity_response * (1.0 - self.service_level)",
        "step = s.scarcity_response * self.service_level",
        "adaptive prices rise when service is good, not when it is short",
        PRICING,
    ),
    m(
        "price-rival-sign",
        LABS,
        "step += s.rival_response * (math.log(rival) - own)",
        "step -= s.rival_response * (math.log(rival) - own)",
        "adaptive prices move away from the rivals'",
        PRICING,
    ),
    m(
        "price-cost-plus-sign",
        LABS,
        "step = s.target_gross_margin - max(self.gross_margin, -1.0)",
        "step = max(self.gross_margin, -1.0) - s.target_gross_margin",
        "cost-plus prices fall when the margin is short",
        PRICING,
    ),
    m(
        "price-bounds",
        LABS,
        "self.price_index = float(np.clip(self.price_index * math.exp(step), s.min_price_index, s.max_price_index))",
        "self.price_index = float(self.price_index * math.exp(step))",
        "price index not kept within its bounds",
        PRICING,
    ),
    m(
        "price-undercut-bounds",
        LABS,
        "self.price_index = float(np.clip(target, s.min_price_index, s.max_price_index))",
        "self.price_index = float(target)",
        "undercutting ignores the price bounds",
        PRICING,
    ),
    # adoption
    m(
        "adopt-imitation",
        DEVS,
        "bass = a.innovation + a.imitation * peer_share",
        "bass = a.innovation + 0.9 * a.imitation * peer_share",
        "a tenth less imitation",
        ADOPTION,
    ),
    m(
        "adopt-maybe-filter",
        DEVS,
        "maybe = np.flatnonzero(u_adopt < bass)",
        "maybe = np.flatnonzero(u_adopt <= 1.0)",
        "gate computed for every decider, not only those under the Bass hazard",
        ADOPTION,
    ),
    m(
        "adopt-gate-off",
        DEVS,
        "if a.roi_gate else 1.0",
        "if False else 1.0",
        "the return-on-investment gate ignored",
        ADOPTION,
    ),
    m(
        "adopt-gate-sign",
        DEVS,
        "z = (np.log(np.maximum(roi, 1e-12)) - np.log(threshold)) / spread",
        "z = (np.log(np.maximum(roi, 1e-12)) + np.log(threshold)) / spread",
        "gate centred on 1/threshold",
        ADOPTION,
    ),
    m(
        "adopt-unavailable",
        DEVS,
        "join = maybe[(u_adopt[maybe] < hazard) & np.isfinite(best_cost[maybe])]",
        "join = maybe[u_adopt[maybe] < hazard]",
        "developers adopt options no lab offers",
        ADOPTION,
    ),
    m(
        "churn-sign",
        DEVS,
        "c.rate_when_unprofitable * (roi < c.roi_threshold)",
        "c.rate_when_unprofitable * (roi > c.roi_threshold)",
        "churn when the return is high, not low",
        ADOPTION,
    ),
    # the store
    m("store-finished-status", STORE_PY, 'if r.get("status") == "ok"}', "}", "failed runs count as finished", STORE),
    m(
        "store-other-sweep",
        STORE_PY,
        'if existing.get("spec_hash") != digest:',
        "if False:",
        "a folder of another sweep is continued",
        STORE,
    ),
    m(
        "store-repair-tail",
        STORE_PY,
        'if fh.read(1) != b"\\n":',
        "if False:",
        "a cut-short manifest line is not ended",
        STORE,
    ),
    m(
        "store-latest-record",
        STORE_PY,
        'drop_duplicates("run_id", keep="last")',
        'drop_duplicates("run_id", keep="first")',
        "the manifest table keeps a run's first record, not its latest",
        STORE,
    ),
]


def copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.pyc")
    shutil.copytree(ROOT / "agentmarket", dest / "agentmarket", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    with open(dest / "tests" / "conftest.py", "a", encoding="utf-8") as fh:
        fh.write(MUTATION_PROFILE)
    return dest


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """pytest on the copy; returns (status, last line of output, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"timeout after {TIMEOUT_S} s", time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    failed = next((line for line in lines if line.startswith("FAILED")), "")
    return done.returncode, failed or (lines[-1] if lines else done.stderr.strip()[-200:]), time.monotonic() - started


def apply_and_test(tree: Path, mutant: Mutant, second_stage: bool) -> dict:
    path = tree / mutant.file
    text = path.read_text(encoding="utf-8")
    if text.count(mutant.old) != 1:
        return {"mutant": mutant, "result": "stale", "detail": f"target found {text.count(mutant.old)} times", "s": 0.0}
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
    try:
        code, detail, seconds = run_tests(tree, mutant.tests)
        if code == 0 and second_stage and not mutant.file.startswith("agentmarket/experiments"):
            code, detail, more = run_tests(tree, tuple(INVARIANTS))
            seconds += more
    finally:
        path.write_text(text, encoding="utf-8")
    result = {0: "survived", 1: "killed", -1: "timeout"}.get(code, f"error {code}")
    return {"mutant": mutant, "result": result, "detail": detail, "s": seconds}


def table(results: list[dict]) -> str:
    rows = ["| mutant | file | mutation | result | first failing test |", "|---|---|---|---|---|"]
    for r in results:
        mu = r["mutant"]
        detail = r["detail"].removeprefix("FAILED ").split(" - ")[0] if r["result"] == "killed" else r["detail"]
        rows.append(
            f"| `{mu.id}` | `{mu.file.removeprefix('agentmarket/')}` | {mu.description} | {r['result']} | {detail} |"
        )
    counts = {k: sum(r["result"] == k for r in results) for k in ("killed", "survived", "stale", "timeout")}
    rows.append("")
    rows.append(", ".join(f"{v} {k}" for k, v in counts.items()) + f" of {len(results)} mutants")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run only this mutant id (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once, each in its own copy")
    parser.add_argument("--out", type=Path, help="also write the results table to this file")
    parser.add_argument("--interleave", action="store_true", help="test the areas' mutants in turn")
    parser.add_argument("--list", action="store_true", help="list the mutants and whether their targets exist")
    parser.add_argument("--no-baseline", action="store_true", help="skip checking the tests pass unmutated")
    parser.add_argument(
        "--no-invariants", action="store_true", help="do not run the property tests on the first stage's survivors"
    )
    args = parser.parse_args()
    chosen = [mu for mu in MUTANTS if not args.only or mu.id in args.only]
    if args.interleave:  # one area after another, so that a pass cut short still covers every area
        areas: dict[tuple[str, ...], list[Mutant]] = {}
        for mu in chosen:
            areas.setdefault(mu.tests, []).append(mu)
        chosen = [mu for group in itertools.zip_longest(*areas.values()) for mu in group if mu is not None]
    if args.list:
        for mu in chosen:
            found = (ROOT / mu.file).read_text(encoding="utf-8").count(mu.old)
            print(f"{mu.id:24s} {'ok' if found == 1 else f'STALE ({found})':10s} {mu.description}")
        return 0
    with tempfile.TemporaryDirectory(prefix="agentmarket-mutants-") as tmp:
        trees = [copy_tree(Path(tmp) / f"job{i}") for i in range(max(1, args.jobs))]
        if not args.no_baseline:
            tests = tuple(dict.fromkeys(t for mu in chosen for t in mu.tests))
            code, detail, seconds = run_tests(trees[0], tests)
            print(f"baseline ({seconds:.0f} s): {detail}", flush=True)
            if code != 0:
                print("the selected tests fail without any mutant; fix them first", file=sys.stderr)
                return 1
        free = list(trees)

        def work(mutant: Mutant) -> dict:
            tree = free.pop()
            try:
                r = apply_and_test(tree, mutant, not args.no_invariants)
            finally:
                free.append(tree)
            print(f"{mutant.id:24s} {r['result']:9s} {r['s']:5.0f} s  {r['detail'][:110]}", flush=True)
            return r

        with ThreadPoolExecutor(max_workers=len(trees)) as pool:
            results = list(pool.map(work, chosen))
    text = table(results)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
