"""Shortcuts taken for speed give exactly what the general routines they replace give."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmarket.market import clamp, ordered_mean, ordered_sum
from agentmarket.model import linear_quantiles


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=1, max_size=80),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=5),
)
def test_linear_quantiles_are_numpys_percentiles_to_the_last_bit(values, fractions):
    values = np.array(values)
    expected = np.percentile(values, [100 * q for q in fractions])
    assert np.array_equal(linear_quantiles(values, tuple(fractions)), expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e12, allow_nan=False), max_size=20))
def test_ordered_sum_is_numpys_sum_to_the_last_bit(values):
    assert ordered_sum(values) == float(np.sum(np.array(values, dtype=np.float64)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=20))
def test_ordered_mean_is_numpys_mean_to_the_last_bit(values):
    assert ordered_mean(values) == float(np.mean(np.array(values, dtype=np.float64)))


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=-1e6, max_value=1e6),
)
def test_clamp_is_numpys_clip(value, low, high):
    expected = float(np.clip(value, low, high))
    got = clamp(value, low, high)
    assert got == expected or (np.isnan(got) and np.isnan(expected))
