"""agentmarket as an EMA Workbench model: uncertainties from the schema, outcomes from the registry."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from agentmarket.calibration.calibrate import load_free_parameters
from agentmarket.ema import ema_model, import_workbench, run_experiment, scenario_entities
from agentmarket.errors import InputError
from agentmarket.scenarios import load_scenario

ema = import_workbench()


def test_perform_experiments_returns_each_experiment_with_its_outcomes() -> None:
    model = ema_model("baseline", months=12, developers=500)
    experiments, outcomes = ema.perform_experiments(model, 4)
    assert len(experiments) == 4
    free = {p.key.replace(".", "__") for p in load_free_parameters()}
    assert free <= set(experiments.columns), "the calibrated parameters are the default uncertainties"
    params = load_scenario("baseline")
    expected = {
        f"{entity}.{metric}".replace(".", "__") for entity, ms in scenario_entities(params).items() for metric in ms
    }
    assert set(outcomes) == expected, "every metric of every entity is an outcome"
    for name in ("market__adoption_share", "lab_a__revenue", "grid__binding"):
        assert outcomes[name].shape == (4, 12)
        assert np.isfinite(outcomes[name]).all()
    assert np.ptp(outcomes["lab_a__revenue"][:, -1]) > 0, "different parameters, different runs"


def test_the_calibrated_ranges_lie_inside_the_schema_and_are_used() -> None:
    model = ema_model("baseline", months=1, developers=10)
    spans = {u.variable_name[0]: (u.lower_bound, u.upper_bound) for u in model.uncertainties}
    for p in load_free_parameters():
        assert spans[p.key] == pytest.approx((p.low, p.high))
    whole = [p.key for p in load_free_parameters() if p.integer]
    assert whole, "no whole-number free parameter to check"
    for key in whole:
        assert isinstance(next(u for u in model.uncertainties if u.variable_name[0] == key), ema.IntegerParameter)


def test_requested_keys_span_their_schema_bounds_and_ranges_are_checked() -> None:
    model = ema_model("baseline", months=1, developers=10, uncertainties=["adoption.imitation", "churn.enabled"])
    imitation, churn = model.uncertainties
    from agentmarket.ema import schema_bounds

    assert (imitation.lower_bound, imitation.upper_bound) == schema_bounds("adoption.imitation")
    assert isinstance(churn, ema.BooleanParameter)
    with pytest.raises(InputError, match=r"unknown key 'adoption.imitatoin'.*imitation"):
        ema_model("baseline", uncertainties=["adoption.imitatoin"])
    with pytest.raises(InputError, match=r"adoption\.imitation"):
        ema_model("baseline", uncertainties={"adoption.imitation": (0.1, 99.0)})
    with pytest.raises(InputError, match=r"matches no entity\.metric"):
        ema_model("baseline", series=["lab_a.nothing"])
    with pytest.raises(InputError, match="stat one of"):
        ema_model("baseline", summaries=["grid.binding.median"])


def test_summaries_are_scalar_outcomes_named_as_sweeps_name_them() -> None:
    model = ema_model(
        "baseline",
        months=6,
        developers=200,
        uncertainties={"adoption.imitation": (0.2, 0.5)},
        series=["market.adoption_share"],
        summaries=["*.binding.sum", "lab_a.cash.min"],
    )
    names = {o.name for o in model.outcomes}
    assert names == {
        "market__adoption_share",
        "memory__binding__sum",
        "packaging__binding__sum",
        "power__binding__sum",
        "grid__binding__sum",
        "lab_a__cash__min",
    }
    experiments, outcomes = ema.perform_experiments(model, 2)
    assert outcomes["lab_a__cash__min"].shape == (2,)
    direct = run_experiment(
        load_scenario_raw(6, 200),
        0,
        (("market", "adoption_share"),),
        (("lab_a", "cash", "min"),),
        **{"adoption.imitation": float(experiments["adoption__imitation"].iloc[0])},
    )
    assert outcomes["lab_a__cash__min"][0] == direct["lab_a.cash.min"], "the same seed gives the same run"


def load_scenario_raw(months: int, developers: int) -> dict:
    from agentmarket.scenarios import apply_overrides, load_raw

    return apply_overrides(
        load_raw("baseline"), {"simulation.months": months, "simulation.developer_agents": developers}
    )


def test_the_model_pickles_and_runs_on_emas_multiprocessing_evaluator() -> None:
    model = ema_model(
        "baseline", months=3, developers=100, uncertainties={"adoption.imitation": (0.2, 0.5)}, series=["market.*"]
    )
    assert pickle.loads(pickle.dumps(model)).function is run_experiment
    with ema.MultiprocessingEvaluator(model, n_processes=2) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(2)
    assert len(experiments) == 2
    assert outcomes["market__adoption_share"].shape == (2, 3)
