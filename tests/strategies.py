"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st


def subset(names: list[str]) -> st.SearchStrategy:
    """Any subset of ``names``, in any order, without repeats (the empty list when there are none)."""
    return st.lists(st.sampled_from(names), unique=True, max_size=len(names)) if names else st.just([])
