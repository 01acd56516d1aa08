"""Fit the free parameters to the fact targets with optuna, over several seeds.

The objective is :func:`~agentmarket.calibration.validate.calibration_loss`: each held
target's error in units of its tolerance, squared and summed. The result is written as a
scenario file that extends the scenario it started from and states the fitted values.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import tomli_w

from agentmarket.calibration.validate import calibration_loss, run_seeds
from agentmarket.errors import InputError
from agentmarket.experiments.executor import Executor, check_workers, open_executor
from agentmarket.files import write_atomic
from agentmarket.params import month_index
from agentmarket.scenarios import load_scenario

FREE_PARAMETERS_TOML = Path(__file__).parent / "free_parameters.toml"
LAST_TARGET_MONTH = "2026-12"


PRIORS = ("uniform", "log-uniform")
"""Prior distributions a free parameter may have, each over its [low, high] range."""


@dataclass(frozen=True)
class FreeParameter:
    """One degree of freedom: a parameter key, its search range, its prior, and keys tied to it.

    ``also`` maps further keys to their fixed ratio to this one (one value that sets several
    parameters, e.g. a layer's capacity split over its makers by their market shares). ``prior`` and
    ``reason`` are the distribution ``--method abc`` starts from and why its bounds are what they are.
    """

    key: str
    low: float
    high: float
    log: bool
    integer: bool = False
    also: tuple[tuple[str, float], ...] = ()
    prior: str = ""
    reason: str = ""

    def suggest(self, trial: optuna.Trial) -> float | int:
        """The value the optimiser's ``trial`` proposes for this parameter, on its range and scale."""
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def settings(self, value: float | int) -> dict[str, float | int]:
        """Every parameter this one sets to ``value``: its own key and the keys tied to it."""
        return {self.key: value, **{key: value * ratio for key, ratio in self.also}}


def load_free_parameters(path: Path = FREE_PARAMETERS_TOML) -> list[FreeParameter]:
    """Every entry of free_parameters.toml, in the order of the file."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)["parameters"]
    return [
        FreeParameter(
            k,
            float(v["low"]),
            float(v["high"]),
            bool(v.get("log", False)),
            bool(v.get("integer", False)),
            tuple((key, float(ratio)) for key, ratio in v.get("also", {}).items()),
            str(v.get("prior", "")),
            str(v.get("reason", "")),
        )
        for k, v in raw.items()
    ]


def expand(free: list[FreeParameter], values: dict[str, float | int]) -> dict[str, float | int]:
    """The settings of every free parameter in ``values``, tied keys included."""
    by_key = {p.key: p for p in free}
    out: dict[str, float | int] = {}
    for key, value in values.items():
        out.update(by_key[key].settings(value) if key in by_key else {key: value})
    return out


def horizon_months(scenario: str) -> int:
    """Months from the scenario's start to the last month a fact target names."""
    start = load_scenario(scenario).simulation.start
    return month_index(LAST_TARGET_MONTH) - month_index(start) + 1


def run_developers(scenario: str, developers: int | None = None) -> int:
    """Developer agents per calibration run: ``developers`` if given, else the scenario's own count.

    The baseline's count is the smallest whose outputs agree with four times as many; fewer
    agents bias the early margins (docs/validation.md, "Convergence in agent count").
    """
    return load_scenario(scenario).simulation.developer_agents if developers is None else developers


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a.b.c": 1} -> {"a": {"b": {"c": 1}}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def calibrate(
    scenario: str = "baseline",
    trials: int = 60,
    seeds: int = 3,
    developers: int | None = None,
    workers: int | None = 1,
    sampler_seed: int = 0,
    show_progress_bar: bool = True,
    storage: str | None = None,
    study_name: str | None = None,
    scheduler: str | None = None,
) -> tuple[dict[str, float], float]:
    """Search the free parameters; return the best values and their loss.

    Each trial's seeds run on one executor opened for the whole search with ``workers`` and
    ``scheduler`` (see :func:`~agentmarket.experiments.executor.open_executor`), so a
    cluster starts once, not once per trial. With an optuna ``storage`` and a
    ``study_name``, a search resumes where it stopped, and several processes may search the
    same study at once.
    """
    check_workers(workers, scheduler)
    free = load_free_parameters()
    months = horizon_months(scenario)
    developers = run_developers(scenario, developers)

    def trial_loss(trial: optuna.Trial, executor: Executor) -> float:
        values = expand(free, {p.key: p.suggest(trial) for p in free})
        overrides = {**values, "simulation.months": months, "simulation.developer_agents": developers}
        params = load_scenario(scenario, overrides)
        return calibration_loss(run_seeds(params, range(seeds), executor=executor))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        storage=storage,
        study_name=study_name,
        load_if_exists=study_name is not None,
    )
    start = load_scenario(scenario)
    if not study.trials:
        study.enqueue_trial({p.key: _current(start, p.key) for p in free if p.low <= _current(start, p.key) <= p.high})
    with open_executor(workers, scheduler, runs=seeds) as executor:
        study.optimize(lambda trial: trial_loss(trial, executor), n_trials=trials, show_progress_bar=show_progress_bar)
    return expand(free, dict(study.best_params)), float(study.best_value)


def _current(params: Any, key: str) -> float:
    node: Any = params
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return float(node)


def write_calibrated_scenario(
    scenario: str, values: dict[str, float], loss: float, path: str | os.PathLike, description: str | None = None
) -> Path:
    """Write a scenario that extends ``scenario`` with the fitted values (atomically)."""
    out = Path(path)
    if out.suffix != ".toml":
        raise InputError(f"--out {str(out)!r}: the scenario file must end in .toml")
    doc = {
        "extends": scenario,
        "name": out.stem,
        "description": description
        or f"{scenario} with its free parameters fitted to the fact targets (loss {loss:.3g}).",
        **nest({k: v if isinstance(v, int) else float(f"{v:.6g}") for k, v in values.items()}),
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            tomli_w.dump(doc, fh)

    return write_atomic(out, write)
