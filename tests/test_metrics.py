"""The metric registry names every metric of the results table, with its unit, once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentmarket.metrics import ENTITY_KINDS, METRICS, markdown_table, metrics_for, unit_of
from agentmarket.model import MarketModel
from agentmarket.output import entity_kinds, tidy, with_units
from agentmarket.params import Params

DOCS = Path(__file__).parents[1] / "docs" / "model.md"


def test_docs_metric_table_is_the_registry():
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- metric table:[^\n]*-->\n(.*?)<!-- end of metric table -->", text, re.S)
    assert found, "docs/model.md has lost the markers around its metric table"
    assert found.group(1) == markdown_table(), "regenerate the table with agentmarket.metrics.markdown_table()"


def test_each_metric_is_named_once_with_a_unit_and_a_meaning():
    keys = [(m.entity, m.name) for m in METRICS]
    assert len(keys) == len(set(keys))
    assert {m.entity for m in METRICS} == set(ENTITY_KINDS)
    assert all(m.unit and m.description for m in METRICS)


def test_unknown_metrics_and_entity_kinds_raise():
    assert unit_of("lab", "revenue") == "USD/month"
    with pytest.raises(KeyError, match="no lab metric 'revenu'"):
        unit_of("lab", "revenu")
    with pytest.raises(ValueError, match="unknown entity kind"):
        metrics_for("labs")


def test_the_table_holds_exactly_the_registered_metrics_with_their_units():
    params = Params()
    model = MarketModel(params, rng=0).run(3)
    table = with_units(tidy(model), params)
    kinds = entity_kinds(params)
    for entity, rows in table.groupby("entity"):
        assert set(rows["metric"]) == {m.name for m in metrics_for(kinds[entity])}, entity
    row = table[(table["entity"] == "market") & (table["metric"] == "compute_price")].iloc[0]
    assert row["unit"] == "USD/accelerator-hour"
