"""The metric registry: every metric of the results table, with its entity kind, unit and meaning.

One place names the metrics. From it come the model's DataCollector reporters, the tidy
table's units (:func:`unit_of`), the sweep spec's check of metric names, the dashboard's
snapshot and the metric table in docs/model.md (:func:`markdown_table`). A new metric is one
``Metric(...)`` row here plus the model, lab or cloud attribute of the same name it reads
(layer metrics are the model's ``layer_stats``).
"""

from __future__ import annotations

from dataclasses import dataclass

ENTITY_KINDS = ("market", "lab", "cloud", "layer")
"""Kinds of entity in the results table: the market, each lab, each cloud, each supply layer."""


@dataclass(frozen=True)
class Metric:
    """One metric: the kind of entity it describes, its name in the table, its unit and meaning."""

    entity: str
    name: str
    unit: str
    description: str


METRICS: tuple[Metric, ...] = (
    Metric("market", "adoption_share", "fraction", "share of developers who have adopted a coding agent"),
    Metric("market", "agent_work_share", "fraction", "share of all developers' work done by agents, after rationing"),
    Metric("market", "adopters", "developers", "real developers holding a coding agent"),
    Metric("market", "subscription_price", "USD/month", "average price of the subscription plans held"),
    Metric("market", "compute_price", "USD/accelerator-hour", "capacity-weighted spot price of open clouds"),
    Metric(
        "market",
        "h100_rental_price",
        "USD/H100-hour",
        "what an H100-hour rented for: open clouds' compute payments (contracts and spot) over compute served (see 3.5)",
    ),
    Metric("market", "memory_price", "USD/accelerator", "capacity-weighted price of one accelerator's HBM"),
    Metric("market", "developer_payments", "USD/month", "paid by all developers to labs"),
    Metric("market", "compute_served", "accelerators", "accelerator-months per month served to all buyers"),
    Metric("market", "compute_requested", "accelerators", "accelerator-months per month asked of clouds"),
    Metric("market", "max_flow", "accelerators", "most compute the supply graph could deliver this month"),
    Metric("market", "cloud_binding", "0/1", "1 when a cloud's places are on the minimum cut"),
    Metric("market", "adopter_wage_p25", "USD/day", "25th percentile of adopting developers' daily wage"),
    Metric("market", "adopter_wage_p50", "USD/day", "median daily wage of adopting developers"),
    Metric("market", "adopter_wage_p75", "USD/day", "75th percentile of adopting developers' daily wage"),
    Metric("market", "memory_top2_share", "fraction", "share of memory output held by the two largest makers"),
    Metric("lab", "revenue", "USD/month", "subscriptions, coding-agent API and revenue outside coding agents"),
    Metric("lab", "subscription_revenue", "USD/month", "paid by subscribing developers"),
    Metric("lab", "api_revenue", "USD/month", "paid by developers through the coding-agent API"),
    Metric("lab", "api_share", "fraction", "share of revenue sold through the API"),
    Metric("lab", "inference_cost", "USD/month", "compute paid for, less its training share"),
    Metric(
        "lab", "inference_cost_planned", "USD/month", "inference demand planned for this month at the contract price"
    ),
    Metric("lab", "gross_margin", "fraction", "(revenue - inference cost) / revenue; 0 without revenue"),
    Metric("lab", "training_cost", "USD/month", "compute paid for training"),
    Metric("lab", "other_cost", "USD/month", "staff, sales and overhead"),
    Metric("lab", "ebitda", "USD/month", "revenue less inference, training and other cost"),
    Metric("lab", "cash", "USD", "cash at the end of the month"),
    Metric("lab", "funding", "USD", "raised this month"),
    Metric("lab", "funding_rounds", "count", "rounds raised to date"),
    Metric("lab", "price", "USD/month", "price of the reference plan"),
    Metric("lab", "api_price_usd_per_acc", "USD/accelerator-month", "API price per accelerator-month of agent work"),
    Metric("lab", "service_level", "fraction", "share of demanded compute served"),
    Metric("lab", "subscribers", "developers", "real developers holding one of the lab's options"),
    Metric("lab", "capability", "fraction", "share of work the lab's agent can do for an average developer"),
    Metric("lab", "demand", "accelerators", "compute demanded: coding agents, other products, training"),
    Metric("lab", "served", "accelerators", "compute served"),
    Metric("lab", "agent_work_share", "fraction", "share of all developers' work done by this lab's agents"),
    Metric("lab", "clients_over_100m", "count", "API clients spending over 100 M USD a year with the lab"),
    Metric("lab", "exited", "0/1", "1 once the lab has left the market"),
    Metric("cloud", "compute_price", "USD/accelerator-hour", "spot price"),
    Metric("cloud", "contract_price_per_hour", "USD/accelerator-hour", "price of new contracts"),
    Metric("cloud", "utilization", "fraction", "served compute over places"),
    Metric("cloud", "capacity", "accelerators", "places fitted with accelerators"),
    Metric("cloud", "served", "accelerators", "compute served"),
    Metric("cloud", "revenue", "USD/month", "contracts and spot paid by buyers"),
    Metric("cloud", "capex", "USD/month", "spent on new places and their accelerators"),
    Metric(
        "layer",
        "capacity",
        "accelerators/month (memory, packaging); MW (power, grid)",
        "output this month, or power that can be used",
    ),
    Metric("layer", "demand", "same unit as capacity", "new accelerators' worth wanted, or MW wanted"),
    Metric("layer", "utilization", "fraction", "served over capacity"),
    Metric("layer", "binding", "0/1", "1 in a month the layer is on the minimum cut"),
    Metric(
        "layer",
        "price",
        "USD/accelerator (memory, packaging); USD/MWh (power); USD/kW-month (grid)",
        "capacity-weighted price of the layer's suppliers",
    ),
)


def metrics_for(entity: str) -> tuple[Metric, ...]:
    """The metrics of one entity kind (``market``, ``lab``, ``cloud`` or ``layer``), in table order."""
    if entity not in ENTITY_KINDS:
        raise ValueError(f"unknown entity kind {entity!r}; allowed: {', '.join(ENTITY_KINDS)}")
    return tuple(m for m in METRICS if m.entity == entity)


def names_for(entity: str) -> tuple[str, ...]:
    """The metric names of one entity kind, in table order."""
    return tuple(m.name for m in metrics_for(entity))


def unit_of(entity: str, name: str) -> str:
    """The unit of metric ``name`` of an entity kind; an unknown metric raises ``KeyError``."""
    for m in metrics_for(entity):
        if m.name == name:
            return m.unit
    raise KeyError(f"no {entity} metric {name!r}; known: {', '.join(names_for(entity))}")


ENTITY_LABELS = {
    "market": "`market`",
    "lab": "each lab",
    "cloud": "each cloud",
    "layer": "`memory`, `packaging`, `power`, `grid`",
}


def markdown_table() -> str:
    """The metric table of docs/model.md, generated from :data:`METRICS`."""
    lines = ["| entity | metric | unit | meaning |", "|---|---|---|---|"]
    for entity in ENTITY_KINDS:
        for m in metrics_for(entity):
            lines.append(f"| {ENTITY_LABELS[entity]} | `{m.name}` | {m.unit} | {m.description} |")
    return "\n".join(lines) + "\n"
