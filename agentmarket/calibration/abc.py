"""A posterior over the free parameters by approximate Bayesian computation (ABC-SMC, pyabc).

Each free parameter of ``free_parameters.toml`` has a prior (uniform or log-uniform over its
range). A particle is one draw of every free parameter; it is run over ``seeds`` model seeds
(drawn for the particle) and its summary is the mean of each held fact's model quantity. Its
distance to the record is the root mean square of the facts' errors in units of their
tolerance bands (:func:`~agentmarket.calibration.validate.tolerance_errors`): a distance of 1
puts a typical fact at the edge of its band. pyabc's median-epsilon schedule tightens the
acceptance threshold generation by generation.

Simulations run on the project's executor (:func:`~agentmarket.experiments.executor.open_executor`)
through :class:`ExecutorSampler`. Every evaluation's random state is seeded from the
calibration seed, the generation and the evaluation's index, and a generation keeps the first
``particles`` accepted evaluations in index order, so a calibration gives the same posterior
on one worker or many. pyabc records each finished generation in ``DIR/abc.db`` (SQLite); a
killed calibration resumes from the last finished generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agentmarket import __version__
from agentmarket.calibration.calibrate import (
    PRIORS,
    FreeParameter,
    load_free_parameters,
    run_developers,
    write_calibrated_scenario,
)
from agentmarket.calibration.validate import Target, fact_month, held_facts, model_values, tolerance_errors
from agentmarket.errors import InputError
from agentmarket.output import refuse_file_as_folder, refuse_foreign_folder
from agentmarket.params import month_index

DB_FILE = "abc.db"
SETTINGS_FILE = "abc.json"
POSTERIOR_FILE = "posterior.parquet"
CALIBRATED_FILE = "calibrated.toml"
PAIR_PLOT_FILE = "posterior.png"
INTERVAL = 0.9
"""Central credible (and predictive) interval reported: 5% to 95%."""


# ----- priors ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorSpace:
    """The free parameters as pyabc sees them: log-uniform ones in log10, integers continuous.

    An integer parameter is sampled uniformly over ``[low - 0.5, high + 0.5)`` and rounded to
    the nearest whole value when the model runs, so each whole value is equally likely.
    """

    parameters: tuple[FreeParameter, ...]

    def __post_init__(self) -> None:
        for p in self.parameters:
            if p.prior not in PRIORS:
                raise ValueError(
                    f"free_parameters.toml: {p.key} needs prior = one of {', '.join(PRIORS)} (got {p.prior!r})"
                )
            if not p.reason:
                raise ValueError(f"free_parameters.toml: {p.key} needs a reason for its prior")
            if p.prior == "log-uniform" and (p.low <= 0 or p.integer):
                raise ValueError(
                    f"free_parameters.toml: {p.key}: a log-uniform prior needs positive, non-integer bounds"
                )
            if not p.low < p.high:
                raise ValueError(f"free_parameters.toml: {p.key}: low must be below high")

    @property
    def keys(self) -> list[str]:
        """The parameters' dotted scenario keys."""
        return [p.key for p in self.parameters]

    @staticmethod
    def name(p: FreeParameter) -> str:
        """The parameter's name inside pyabc (no dots)."""
        return p.key.replace(".", "__")

    @staticmethod
    def support(p: FreeParameter) -> tuple[float, float]:
        """The prior's range in pyabc's coordinates."""
        if p.prior == "log-uniform":
            return math.log10(p.low), math.log10(p.high)
        if p.integer:
            return p.low - 0.5, p.high + 0.5
        return p.low, p.high

    def distribution(self):
        """The joint prior, independent across parameters, as a pyabc ``Distribution``."""
        import pyabc

        rvs = {}
        for p in self.parameters:
            lo, hi = self.support(p)
            rvs[self.name(p)] = pyabc.RV("uniform", lo, hi - lo)
        return pyabc.Distribution(**rvs)

    def to_values(self, theta: dict[str, float]) -> dict[str, float | int]:
        """Map pyabc coordinates to scenario values, keyed by dotted key."""
        out: dict[str, float | int] = {}
        for p in self.parameters:
            x = float(theta[self.name(p)])
            if p.prior == "log-uniform":
                out[p.key] = 10.0**x
            elif p.integer:
                out[p.key] = int(min(max(round(x), p.low), p.high))
            else:
                out[p.key] = x
        return out

    def table(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A pyabc population table (one column per pyabc name) in scenario values."""
        rows = [self.to_values(r) for r in frame.to_dict("records")]
        return pd.DataFrame(rows, columns=self.keys)

    def prior_interval(self, p: FreeParameter, level: float = INTERVAL) -> tuple[float, float]:
        """The prior's central ``level`` interval in scenario values."""
        lo, hi = self.support(p)
        a, b = lo + (hi - lo) * (1 - level) / 2, hi - (hi - lo) * (1 - level) / 2
        return (10.0**a, 10.0**b) if p.prior == "log-uniform" else (a, b)


def prior_space(keys: Sequence[str] | None = None) -> PriorSpace:
    """The free parameters of ``free_parameters.toml`` (or the named subset), with their priors."""
    free = load_free_parameters()
    if keys is not None:
        known = {p.key: p for p in free}
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise InputError(f"not a free parameter: {', '.join(unknown)}; free parameters: {', '.join(known)}")
        free = [known[k] for k in keys]
    return PriorSpace(tuple(free))


# ----- the simulator and the distance -----------------------------------------------------------
@dataclass(frozen=True)
class Simulator:
    """pyabc's model: a particle's parameters to the mean of each fact's model quantity over seeds.

    The run seeds are drawn from numpy's global generator, which the sampler seeds for every
    evaluation, so that a particle's result depends on its evaluation's seed alone.
    """

    raw: dict[str, Any]
    space: PriorSpace
    fact_ids: tuple[str, ...]
    seeds: int
    fixed: dict[str, Any] = field(default_factory=dict)

    def __call__(self, theta: dict[str, float]) -> dict[str, float]:
        """Run the particle over its seeds; one number per fact (NaN where the model has none)."""
        from agentmarket.output import run_scenario
        from agentmarket.scenarios import apply_overrides, validate

        overrides = {**self.space.to_values(theta), **self.fixed}
        params = validate(apply_overrides(self.raw, overrides), origin="ABC particle")
        run_seeds = np.random.randint(0, 2**31 - 1, size=self.seeds)
        tables = [run_scenario(params, int(s))[1] for s in run_seeds]
        values = model_values(tables, self.fact_ids)
        out = {}
        for fid in self.fact_ids:
            v = values[fid]
            out[fid] = float(np.mean(v)) if v.size and np.isfinite(v).all() else math.nan
        return out


@dataclass(frozen=True)
class ToleranceDistance:
    """Root mean square of the facts' errors in units of their tolerance bands; inf if any is missing."""

    facts: tuple[tuple[Target, float], ...]

    def __call__(self, x: dict[str, float], x_0: dict[str, float]) -> float:
        """Distance between a particle's summary ``x`` and the record ``x_0``."""
        errs = np.array(list(tolerance_errors(x, list(self.facts)).values()), dtype=float)
        if not np.isfinite(errs).all():
            return math.inf
        return float(np.sqrt(np.mean(errs**2)))


def observed(facts: Sequence[tuple[Target, float]]) -> dict[str, float]:
    """The record: each fact's value by id."""
    return {t.id: float(t.value) for t, _ in facts}


# ----- the sampler on the executor --------------------------------------------------------------
def evaluation_seed(seed: int, t: int, index: int) -> int:
    """The random seed of evaluation ``index`` of generation ``t`` (``t = -1``: the prior sample)."""
    ss = np.random.SeedSequence(seed, spawn_key=(t + 1, index))
    return int(ss.generate_state(1, np.uint32)[0])


def simulate_item(item: tuple[bytes, int]) -> Any:
    """Worker side: one pyabc evaluation (draw, simulate, compare) under its own seed.

    numpy's and Python's global generators are seeded for the evaluation and restored after
    it, so that running in this process leaves the caller's random state as it was.
    """
    import cloudpickle

    payload, seed = item
    simulate_one = cloudpickle.loads(payload)
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        return simulate_one()
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _sampler_class():
    from pyabc.sampler import Sampler

    class ExecutorSampler(Sampler):
        """A pyabc sampler on the project's executor, reproducible across worker counts.

        Evaluations are sent in batches; each carries its own seed. A generation keeps the
        evaluations up to its ``n``-th acceptance in index order, whatever the batch size or
        the order in which workers finish: evaluations after it are discarded.
        """

        def __init__(self, executor, seed: int = 0, progress: Callable[[int, int, int], None] | None = None):
            super().__init__()
            self.executor = executor
            self.seed = seed
            self.progress = progress

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
            import cloudpickle

            payload = cloudpickle.dumps(simulate_one)
            sample = self._create_empty_sample()
            accepted = evaluations = start = 0
            rate = 1.0
            while accepted < n and evaluations < max_eval:
                need = n - accepted
                size = need if all_accepted else int(min(4 * n, max(self.executor.workers, math.ceil(need / rate))))
                items = [(payload, evaluation_seed(self.seed, t, i)) for i in range(start, start + size)]
                results = self.executor.map(simulate_item, items)
                start += size
                batch_accepted = 0
                for particle in results:
                    evaluations += 1
                    sample.append(particle)
                    if particle.accepted:
                        accepted += 1
                        batch_accepted += 1
                        if accepted == n:
                            break
                rate = max(batch_accepted / size, 0.05)
                if self.progress is not None:
                    self.progress(t, accepted, evaluations)
            self.nr_evaluations_ = evaluations
            if sample.n_accepted < n:
                sample.ok = False
            return sample

    return ExecutorSampler


# ----- the calibration folder --------------------------------------------------------------------
@dataclass(frozen=True)
class AbcSettings:
    """What defines a calibration: a folder resumes only a calibration with the same settings.

    ``generations`` is not among them: a finished calibration can be continued further.
    """

    scenario: str
    facts: dict[str, float]
    priors: list[dict[str, Any]]
    fixed: dict[str, Any]
    particles: int
    seeds: int
    developers: int
    months: int
    seed: int

    def digest(self) -> str:
        """A short hash of the settings."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AbcResult:
    """A finished calibration: the posterior (scenario values and ``weight``) and its history."""

    out: Path
    posterior: pd.DataFrame
    generations: int
    evaluations: int
    epsilon: float
    resumed_from: int
    files: tuple[Path, ...]


def check_out_dir(out: Path, settings: AbcSettings) -> bool:
    """Refuse a folder this calibration may not write into; tell whether it holds this one already."""
    refuse_file_as_folder(out, "the calibration")
    saved = out / SETTINGS_FILE
    if saved.is_file():
        try:
            before = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{str(saved)!r} cannot be read: {exc}") from None
        if before.get("digest") != settings.digest():
            changed = [k for k, v in asdict(settings).items() if before.get("settings", {}).get(k) != v]
            raise InputError(
                f"--out {str(out)!r} holds a calibration with other settings ({', '.join(changed) or 'version'}); "
                "choose another folder or repeat its settings to resume it"
            )
        return True
    refuse_foreign_folder(out, "calibration")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {str(out)!r} cannot be created: {exc.strerror or exc}") from None
    return False


def months_until(scenario_raw: dict[str, Any], month: str) -> int:
    """Months from the scenario's start up to and including ``month``."""
    from agentmarket.scenarios import validate

    start = validate(scenario_raw).simulation.start
    return month_index(month) - month_index(start) + 1


def run_abc(
    scenario: str = "baseline",
    *,
    particles: int = 100,
    generations: int = 4,
    seeds: int = 3,
    developers: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path = "runs/abc",
    seed: int = 0,
    facts: Sequence[tuple[Target, float]] | None = None,
    keys: Sequence[str] | None = None,
    fixed: dict[str, Any] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> AbcResult:
    """Calibrate a posterior of the free parameters to ``facts`` (default: every held fact).

    ``keys`` limits the free parameters (default: all of ``free_parameters.toml``); ``fixed``
    sets other parameters for every particle (the recovery test uses it). The runs cover the
    months up to the last fact. Writes ``posterior.parquet``, ``calibrated.toml`` and
    ``posterior.png`` into ``out``, beside pyabc's database.
    """
    import pyabc

    from agentmarket.experiments.executor import open_executor
    from agentmarket.scenarios import apply_overrides, load_raw

    logging.getLogger("ABC").setLevel(logging.WARNING)

    if particles < 1:
        raise InputError(f"--particles must be at least 1 (got {particles})")
    if generations < 1:
        raise InputError(f"--generations must be at least 1 (got {generations})")
    developers = run_developers(scenario, developers)
    if seeds < 1 or developers < 1:
        raise InputError("--seeds and --developers must be at least 1")
    facts = list(held_facts() if facts is None else facts)
    if not facts:
        raise InputError("no held facts to calibrate on")
    space = prior_space(keys)
    raw = load_raw(scenario)
    months = months_until(raw, max(fact_month(t) for t, _ in facts))
    raw = apply_overrides(raw, {"simulation.months": months, "simulation.developer_agents": developers})
    settings = AbcSettings(
        scenario=scenario,
        facts={t.id: float(t.value) for t, _ in facts},
        priors=[asdict(p) for p in space.parameters],
        fixed=dict(fixed or {}),
        particles=particles,
        seeds=seeds,
        developers=developers,
        months=months,
        seed=seed,
    )
    out = Path(out)
    resuming = check_out_dir(out, settings)
    db_path = out / DB_FILE
    if not resuming:
        (out / SETTINGS_FILE).write_text(
            json.dumps({"digest": settings.digest(), "settings": asdict(settings), "version": __version__}, indent=2)
            + "\n",
            encoding="utf-8",
        )
    fact_ids = tuple(t.id for t, _ in facts)
    simulator = Simulator(raw, space, fact_ids, seeds, dict(fixed or {}))
    with open_executor(workers, scheduler) as ex:
        sampler = _sampler_class()(ex, seed=seed, progress=progress)
        abc = pyabc.ABCSMC(
            simulator,
            space.distribution(),
            ToleranceDistance(tuple(facts)),
            population_size=particles,
            sampler=sampler,
            eps=pyabc.MedianEpsilon(),
        )
        db = f"sqlite:///{db_path.resolve()}"
        done = 0
        if resuming and db_path.is_file():
            history = abc.load(db, 1)
            done = history.max_t + 1 if history.n_populations > 0 else 0
            if done == 0:
                db_path.unlink()
        if done == 0:
            history = abc.new(db, observed(facts))
        if generations > done:
            history = abc.run(max_nr_populations=generations - done)
    return finish(out, scenario, space, history, resumed_from=done)


def finish(out: Path, scenario: str, space: PriorSpace, history, resumed_from: int = 0) -> AbcResult:
    """Write the posterior, the calibrated scenario and the pair plot from pyabc's history."""
    from agentmarket.files import write_atomic

    frame, weights = history.get_distribution(m=0, t=history.max_t)
    posterior = space.table(frame)
    posterior["weight"] = np.asarray(weights, dtype=float) / float(np.sum(weights))
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    epsilon = float(pops["epsilon"].iloc[-1])
    evaluations = int(history.total_nr_simulations)
    write_atomic(out / POSTERIOR_FILE, lambda tmp: posterior.to_parquet(tmp, index=False))
    medians = {
        p.key: (round(v) if p.integer else v)
        for p in space.parameters
        for v in [weighted_quantile(posterior[p.key], posterior["weight"], 0.5)]
    }
    n_particles = len(posterior)
    write_calibrated_scenario(
        scenario,
        medians,
        epsilon,
        out / CALIBRATED_FILE,
        description=(
            f"{scenario} at the posterior median of its free parameters (ABC-SMC, {n_particles} particles, "
            f"{history.max_t + 1} generations, final epsilon {epsilon:.3g} in tolerance units)."
        ),
    )
    plot = pair_plot(posterior, space, out / PAIR_PLOT_FILE)
    return AbcResult(
        out,
        posterior,
        history.max_t + 1,
        evaluations,
        epsilon,
        resumed_from,
        (out / POSTERIOR_FILE, out / CALIBRATED_FILE, plot),
    )


# ----- reading a posterior ------------------------------------------------------------------------
def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The ``q`` quantile of weighted values (the inverse of the weighted empirical distribution)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w) / w.sum()
    return float(v[min(np.searchsorted(cum, q, side="left"), len(v) - 1)])


def credible_intervals(posterior: pd.DataFrame, level: float = INTERVAL) -> pd.DataFrame:
    """Per parameter: the weighted median and the central ``level`` interval."""
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for key in [c for c in posterior.columns if c != "weight"]:
        w = posterior["weight"]
        rows.append(
            {
                "parameter": key,
                "median": weighted_quantile(posterior[key], w, 0.5),
                "low": weighted_quantile(posterior[key], w, lo_q),
                "high": weighted_quantile(posterior[key], w, hi_q),
            }
        )
    return pd.DataFrame(rows)


def pair_plot(posterior: pd.DataFrame, space: PriorSpace, path: Path) -> Path:
    """Weighted histograms on the diagonal, particles (shaded by weight) below it; prior ranges as axes.

    Log-uniform parameters are drawn in log10 units. Only the outer axes carry tick labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = list(space.parameters)
    k = len(params)
    cell = max(0.9, min(2.4, 14 / k))
    fig = plt.figure(figsize=(cell * k + 1.5, cell * k + 1.0))
    grid = fig.add_gridspec(k, k, hspace=0.08, wspace=0.08, left=0.14, bottom=0.12, right=0.99, top=0.95)
    w = posterior["weight"].to_numpy(float)
    shade = 0.15 + 0.85 * w / w.max() if w.max() > 0 else np.full_like(w, 0.5)

    def coords(p: FreeParameter) -> tuple[np.ndarray, tuple[float, float], str]:
        x = posterior[p.key].to_numpy(float)
        if p.prior == "log-uniform":
            return np.log10(x), (math.log10(p.low), math.log10(p.high)), f"log10 {p.key}"
        return x, (p.low, p.high), p.key

    data = [coords(p) for p in params]
    for i in range(k):
        for j in range(i + 1):
            ax = fig.add_subplot(grid[i, j])
            xj, (lo_j, hi_j), name_j = data[j]
            if i == j:
                ax.hist(xj, bins=np.linspace(lo_j, hi_j, 13), weights=w, color="tab:blue", alpha=0.8)
                ax.set_yticks([])
            else:
                xi, (lo_i, hi_i), _ = data[i]
                ax.scatter(xj, xi, s=4, c="tab:blue", alpha=shade, lw=0)
                ax.set_ylim(lo_i, hi_i)
            ax.set_xlim(lo_j, hi_j)
            if i == k - 1:
                ax.set_xticks([lo_j, hi_j], [f"{lo_j:.3g}", f"{hi_j:.3g}"], fontsize=5)
                ax.set_xlabel(name_j, fontsize=5, rotation=30, ha="right")
            else:
                ax.set_xticks([])
            if j == 0 and i > 0:
                _, (lo_i, hi_i), name_i = data[i]
                ax.set_yticks([lo_i, hi_i], [f"{lo_i:.3g}", f"{hi_i:.3g}"], fontsize=5)
                ax.set_ylabel(name_i, fontsize=5, rotation=0, ha="right", va="center")
            elif i != j:
                ax.set_yticks([])
    fig.suptitle(f"posterior of {k} free parameters ({len(posterior)} particles; shade: weight)", fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
