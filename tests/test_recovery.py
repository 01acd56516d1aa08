"""Parameter recovery: the calibration finds known parameter values back from targets the model made.

A small budget (two parameters, 300 developer agents, facts up to 2025-12, 20 particles, two
generations); ``docs/validation.md`` shows a larger one. The truth is the baseline with its
adoption coefficients moved inside their priors: a truth on a prior's edge (the baseline's
imitation, 0.6, is the prior's upper bound) never lies inside an equal-tailed 90% interval.
"""

from __future__ import annotations

import pytest

from agentmarket.calibration.recovery import recover

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("recovery")]

KEYS = ["adoption.innovation", "adoption.imitation"]
TRUTH = 'extends = "baseline"\nname = "recovery-truth"\n\n[adoption]\ninnovation = 0.002\nimitation = 0.35\n'


def test_the_posterior_holds_the_known_values_and_narrows_the_prior(tmp_path):
    truth = tmp_path / "truth.toml"
    truth.write_text(TRUTH)
    r = recover(
        KEYS,
        scenario=str(truth),
        until="2025-12",
        particles=20,
        generations=2,
        seeds=1,
        developers=300,
        truth_seeds=2,
        workers=2,
        out=tmp_path / "recovery",
    )
    print(r.table.to_string(index=False))
    # each 90% interval holds the truth with chance 0.9 or more if the posterior is calibrated;
    # both missing at once has a chance of about 1%
    assert r.share_inside >= 0.5, r.table
    # the facts carry information on adoption: a posterior no narrower than the prior learnt nothing
    assert r.narrowed >= 1, r.table
