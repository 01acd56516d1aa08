"""The typed parameter schema: every parameter with its unit, valid range and meaning.

A scenario is a TOML document whose tables mirror :class:`Params`. Entities (labs, clouds,
suppliers) are tables keyed by name, so ``--set labs.lab_a.target_gross_margin=0.6``
reaches any of them. Each field carries its unit and a one-line description; a source is
named where a public figure set the value, and "calibrated" where none did.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentmarket.market import decaying_growth as decaying_growth
from agentmarket.market import month_index as month_index
from agentmarket.market import month_label as month_label

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
OPTIONAL_MONTH_PATTERN = r"^(\d{4}-(0[1-9]|1[0-2]))?$"


def P(default: Any, unit: str, description: str, **bounds: Any) -> Any:
    """A schema field with its unit and one-line description (``ge``/``le``/... bounds)."""
    return Field(default, description=description, json_schema_extra={"unit": unit}, **bounds)


class Schema(BaseModel):
    """Base of every parameter table: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetworkKind(StrEnum):
    """Shape of the developers' social network."""

    SMALL_WORLD = "small_world"
    COMPLETE = "complete"


class PricingPolicy(StrEnum):
    """How a lab sets its subscription price index each month."""

    HOLD = "hold"
    COST_PLUS = "cost_plus"
    ADAPTIVE = "adaptive"
    UNDERCUT = "undercut"


class ApiPriceBasis(StrEnum):
    """What a lab's API price per accelerator-month of work is a multiple of."""

    LIST = "list"  # a price per unit of work: falls with hardware price-performance and at a new generation
    COST = "cost"  # this month's cloud cost-plus price per accelerator-month, upstream scarcity included


class Layer(StrEnum):
    """The upstream supply layers, in the order compute flows through them."""

    MEMORY = "memory"
    PACKAGING = "packaging"
    POWER = "power"
    GRID = "grid"


class Simulation(Schema):
    """Length, start and size of a run."""

    start: str = P("2023-01", "YYYY-MM", "first simulated month", pattern=MONTH_PATTERN)
    months: int = P(96, "months", "number of monthly steps", ge=1, le=1200)
    developer_agents: int = P(
        10_000, "agents", "developer agents; each stands for population / agents real developers", ge=1, le=5_000_000
    )
    collect_data: bool = P(True, "flag", "collect the monthly table with Mesa's DataCollector")


class Market(Schema):
    """The market around the simulated agents: real developers, work days, other AI demand."""

    developer_population: float = P(
        30e6, "developers", "real professional developers in the world (Evans Data, SlashData: 27-47 M)", ge=1, le=1e9
    )
    workdays_per_month: float = P(21.7, "days/month", "paid working days in a month", gt=0, le=31)
    other_ai_demand_acc: float = P(
        3.0e6,
        "accelerators",
        "compute bought at spot by all other AI workloads in the first month (calibrated)",
        ge=0,
        le=1e9,
    )
    other_ai_growth_per_year: float = P(
        0.6, "1/year", "growth of other AI workloads' compute demand in the first year (calibrated)", ge=-0.9, le=10
    )
    other_ai_growth_half_life_years: float = P(
        4.0, "years", "the growth rate of other AI workloads' demand halves this often", gt=0, le=1000
    )
    other_ai_max_price_usd_per_acc_month: float = P(
        4000.0,
        "USD/accelerator-month",
        "the most other AI workloads pay for spot compute (baseline: the 2023 on-demand list price of an H100, "
        "AWS p5 98.32 USD/h for 8)",
        ge=0,
        le=1e6,
    )


class Developers(Schema):
    """Developers' wages, suitability for agents, channels, clients and choice noise."""

    wage_median_usd_per_day: float = P(
        300.0,
        "USD/day",
        "median daily pay over the world's developers (350-500 for an ordinary developer in rich markets)",
        gt=0,
        le=1e4,
    )
    wage_sigma: float = P(0.5, "log-units", "spread of the lognormal daily wage", ge=0, le=3)
    affinity_shape: float = P(
        2.0,
        "1",
        "gamma shape of how much of a developer's work suits agents (mean 1; larger is more alike)",
        ge=0.01,
        le=1e6,
    )
    review_overhead: float = P(
        0.3, "fraction", "share of the time an agent saves that goes back into reviewing its work", ge=0, lt=1
    )
    reliability_half_capability: float = P(
        0.25,
        "fraction",
        "capability at which delegated work saves half the time it would, the rest going into fixing it (calibrated)",
        gt=0,
        le=1,
    )
    reliability_width: float = P(
        0.04, "fraction", "how sharply reliability rises around that capability (logistic width)", gt=0, le=1
    )
    api_channel_share: float = P(
        0.55,
        "fraction",
        "share of developers whose employer or tool buys agent work through a lab's API (calibrated)",
        ge=0,
        le=1,
    )
    api_usage_multiple: float = P(
        2.5,
        "1",
        "work handed to agents by API users relative to their automatable share (no plan cap; calibrated)",
        ge=0,
        le=100,
    )
    compute_acc_per_work_share: float = P(
        0.6,
        "accelerator-months/month",
        "compute that a developer handing all work to agents uses, at 2023 efficiency (calibrated)",
        ge=0,
        le=1e3,
    )
    choice_noise_usd: float = P(
        25.0, "USD/month", "scale of the idiosyncratic taste in the choice of lab and plan (Gumbel)", gt=0, le=1e5
    )
    review_rate_per_month: float = P(
        0.15, "1/month", "chance an adopter reviews its lab and plan in a month", ge=0, le=1
    )
    switching_cost_usd: float = P(
        20.0, "USD", "net value a better option must beat the current one by before a switch", ge=0, le=1e5
    )
    client_count: int = P(
        20_000, "clients", "tools and enterprises through which API developers buy (Zipf sizes)", ge=1, le=10_000_000
    )
    client_zipf_exponent: float = P(
        1.1, "1", "Zipf exponent of client sizes: larger concentrates developers in a few clients", gt=0, le=5
    )


class Adoption(Schema):
    """Bass adoption with a return-on-investment gate."""

    innovation: float = P(0.004, "1/month", "Bass innovation coefficient p (calibrated)", ge=0, le=1)
    imitation: float = P(
        0.35, "1/month", "Bass imitation coefficient q on the adopting share of peers (calibrated)", ge=0, le=5
    )
    roi_gate: bool = P(True, "flag", "adoption requires a return on investment; off means it always pays (Bass limit)")
    roi_threshold: float = P(
        4.0,
        "ratio",
        "return (value of time saved over price) at which half of developers are willing to adopt (calibrated)",
        gt=0,
        le=1e4,
    )
    roi_spread: float = P(0.6, "log-units", "spread of willingness around the threshold", gt=0, le=10)


class Churn(Schema):
    """When adopters give up their coding agent."""

    enabled: bool = P(True, "flag", "adopters may churn")
    base_rate_per_month: float = P(0.01, "1/month", "churn that happens whatever the return", ge=0, le=1)
    roi_threshold: float = P(1.5, "ratio", "return below which an adopter may leave", ge=0, le=1e4)
    rate_when_unprofitable: float = P(0.3, "1/month", "churn rate while the return is below its threshold", ge=0, le=1)


class Network(Schema):
    """The developers' social network."""

    kind: NetworkKind = P(NetworkKind.SMALL_WORLD, "choice", "social network of developers: small_world or complete")
    mean_degree: int = P(10, "peers", "peers per developer in the small-world network", ge=2, le=200)
    rewire_prob: float = P(0.1, "fraction", "share of lattice links rewired to random developers", ge=0, le=1)


class Capability(Schema):
    """How the labs' agents improve with training compute, and the capability step."""

    max_share: float = P(0.9, "fraction", "share of work a perfect agent could take over", gt=0, le=1)
    half_compute_acc_months: float = P(
        3.0e6,
        "accelerator-months",
        "effective training compute at which capability is half its maximum (calibrated)",
        gt=0,
        le=1e15,
    )
    elasticity: float = P(0.6, "1", "how fast capability grows in log training compute", gt=0, le=10)
    algorithmic_gain_per_year: float = P(
        1.0, "1/year", "growth of training efficiency: effective compute per accelerator-month", ge=0, le=20
    )
    step_month: str = P(
        "2025-12", "YYYY-MM", "month of the capability step (the late-2025 jump)", pattern=MONTH_PATTERN
    )
    step_size: float = P(
        0.12, "fraction", "capability added in the step month and after (0: no step; calibrated)", ge=0, le=1
    )
    stall_month: str = P(
        "",
        "YYYY-MM or empty",
        "after this month training adds no capability (empty: never)",
        pattern=OPTIONAL_MONTH_PATTERN,
    )
    efficiency_gain_per_year: float = P(
        0.35, "1/year", "yearly fall in compute per unit of agent work at the frontier", ge=0, le=0.99
    )
    step_compute_factor: float = P(
        1.0,
        "1",
        "compute per unit of agent work from the step month on, relative to before it: the new "
        "generation does the same work with fewer tokens (1: no change)",
        gt=0,
        le=10,
    )


class Plan(Schema):
    """One subscription plan: its list price and usage limit."""

    price_usd_per_month: float = P(100.0, "USD/month", "list price of the plan", ge=0, le=1e5)
    work_share_cap: float = P(0.1, "fraction", "most of a developer's work the plan's usage limit allows", gt=0, le=1)


def _default_plans() -> dict[str, Plan]:
    return {
        "pro": Plan(price_usd_per_month=20.0, work_share_cap=0.04),
        "max": Plan(price_usd_per_month=100.0, work_share_cap=0.2),
    }


class Lab(Schema):
    """One lab: money, training, prices, capacity booking, funding and standing."""

    initial_cash_usd: float = P(5e9, "USD", "cash in the first month", ge=0, le=1e13)
    initial_training_acc_months: float = P(
        5e5, "accelerator-months", "effective training compute behind the first month's model", ge=0, le=1e15
    )
    training_share_of_revenue: float = P(
        0.9, "fraction", "training spend over trailing revenue (labs spend over half; >0.5 claim)", ge=0, le=10
    )
    training_lookahead_months: int = P(
        6, "months", "training is budgeted on revenue expected this far ahead (0: on trailing revenue)", ge=0, le=36
    )
    training_floor_usd_per_month: float = P(1e8, "USD/month", "training spend whatever the revenue", ge=0, le=1e12)
    other_cost_share_of_revenue: float = P(0.25, "fraction", "staff, sales and overhead over revenue", ge=0, le=10)
    other_cost_fixed_usd_per_month: float = P(1e8, "USD/month", "overhead whatever the revenue", ge=0, le=1e12)
    other_revenue_usd_per_month: float = P(
        2e7, "USD/month", "revenue outside coding agents (chat, other API) in the first month", ge=0, le=1e12
    )
    other_revenue_growth_per_year: float = P(
        1.0, "1/year", "growth of revenue outside coding agents in the first year", ge=-0.9, le=20
    )
    other_revenue_growth_half_life_years: float = P(
        2.0, "years", "the growth rate of revenue outside coding agents halves this often", gt=0, le=1000
    )
    other_api_share: float = P(
        0.6,
        "fraction",
        "share of revenue outside coding agents sold through the API; the rest is chat subscriptions",
        ge=0,
        le=1,
    )
    other_compute_vs_api: float = P(
        1.0,
        "1",
        "compute a USD of revenue outside coding agents takes, relative to what a USD of the lab's API buys "
        "(1: its other products are sold on the same price list)",
        ge=0,
        le=100,
    )
    free_users: float = P(0.0, "users", "free users served on the lab's own compute", ge=0, le=1e10)
    free_user_acc_per_user: float = P(2e-4, "accelerator-months/month", "compute one free user takes", ge=0, le=10)
    pricing_policy: PricingPolicy = P(
        PricingPolicy.ADAPTIVE, "choice", "hold, cost_plus, adaptive (cost, scarcity, rivals) or undercut"
    )
    target_gross_margin: float = P(0.5, "fraction", "gross margin the price policy aims at", ge=-1, lt=1)
    price_adjust_per_month: float = P(0.05, "fraction", "largest change of the price index in one month", ge=0, le=1)
    scarcity_response: float = P(
        0.15, "1", "monthly log price rise per unit share of demand left unserved", ge=0, le=10
    )
    list_price_pull: float = P(
        0.2, "1/month", "share of the log gap to the list price closed each month when not scarce", ge=0, le=1
    )
    rival_response: float = P(
        0.2, "1/month", "share of the log gap to rivals' average price index closed each month", ge=0, le=1
    )
    coding_focus: float = P(
        1.0, "1", "capability of the lab's coding agent relative to its general capability (calibrated)", gt=0, le=10
    )
    undercut: float = P(0.3, "fraction", "an undercutting lab prices this far below its cheapest rival", ge=0, lt=1)
    min_price_index: float = P(0.3, "1", "floor of the price index", ge=0, le=100)
    max_price_index: float = P(3.0, "1", "ceiling of the price index", ge=0, le=100)
    api_price_multiple: float = P(
        2.0, "1", "API price per accelerator-month of work over the basis price (see api_price_basis)", ge=0, le=100
    )
    api_price_basis: ApiPriceBasis = P(
        ApiPriceBasis.LIST,
        "name",
        "list: a list price per unit of work that falls with hardware price-performance and at the "
        "capability step, scarcity reaching API users through the price index only; cost: a multiple of "
        "the clouds' cost-plus price per accelerator-month each month",
    )
    plans: dict[str, Plan] = Field(default_factory=_default_plans, description="subscription plans by name")
    reference_plan: str = P("max", "name", "plan whose price is reported as the lab's price")
    booking_lead_months: int = P(6, "months", "capacity is booked this far ahead", ge=0, le=60)
    contract_months: int = P(12, "months", "length of a capacity contract", ge=1, le=120)
    booking_buffer: float = P(0.1, "fraction", "extra capacity booked over the forecast", ge=0, le=5)
    forecast_smoothing: float = P(0.3, "fraction", "weight of the newest month in the demand forecast", gt=0, le=1)
    max_spot_multiple: float = P(
        3.0, "1", "the most a lab pays for spot compute, as a multiple of its average contract price", ge=0, le=100
    )
    funding_runway_months: float = P(12.0, "months", "raise when cash covers fewer months of burn", ge=0, le=240)
    funding_round_revenue_multiple: float = P(
        2.0, "years of revenue", "size of a round as a multiple of annualised revenue", ge=0, le=1000
    )
    funding_min_growth_per_year: float = P(
        0.5, "1/year", "investors fund a lab whose revenue grows faster than this", ge=-1, le=100
    )
    funding_min_usd: float = P(1e9, "USD", "smallest round", ge=0, le=1e13)
    distress_months_to_exit: int = P(
        6,
        "months",
        "a lab with negative cash and no round for this many months in a row leaves the market",
        ge=1,
        le=240,
    )
    revenue_trailing_months: int = P(
        3,
        "months",
        "revenue is averaged over this many latest months for the training budget and compared with the same "
        "months a year earlier for funding",
        ge=1,
        le=24,
    )
    revenue_growth_window_months: int = P(
        6, "months", "the pace of revenue growth expected for training is that of this many latest months", ge=1, le=36
    )
    training_max_growth_factor: float = P(
        2.0,
        "1",
        "expected revenue over the training lookahead is at most this multiple of trailing revenue",
        ge=1,
        le=100,
    )
    clouds: list[str] = P([], "names", "clouds the lab may buy from (empty: all non-captive clouds)")

    @model_validator(mode="after")
    def _check(self) -> Lab:
        if self.reference_plan not in self.plans:
            raise ValueError(f"reference_plan {self.reference_plan!r} is not one of the plans {sorted(self.plans)}")
        if self.min_price_index > self.max_price_index:
            raise ValueError("min_price_index must not exceed max_price_index")
        return self


class Cloud(Schema):
    """One cloud (or a lab's own fleet): places, capital budget, prices and building."""

    initial_capacity_acc: float = P(
        1e6, "accelerators", "data-centre places fitted with accelerators in the first month", ge=0, le=1e10
    )
    capex_usd_per_year: float = P(
        1e11,
        "USD/year",
        "capital budget for new places in the first year (baseline: each hyperscaler's 2023 capital spending, "
        "company reports)",
        ge=0,
        le=1e14,
    )
    capex_growth_per_year: float = P(
        0.3,
        "1/year",
        "growth of the capital budget (baseline: from the 2023 figure to the 2026 plan, targets capex_2026_*)",
        ge=-0.9,
        le=10,
    )
    capex_usd_per_acc: float = P(
        17_500.0,
        "USD/accelerator",
        "building, cooling and networking one place, besides the accelerator (Epoch AI: 29e9 USD/GW all-in at 1.5 kW, less the accelerator)",
        ge=1.0,
        le=1e7,
    )
    build_lead_months: int = P(12, "months", "from order to a place in service", ge=0, le=120)
    pipeline_growth_per_year: float = P(
        0.0,
        "1/year",
        "growth already under construction when the run starts, arriving over the first build_lead_months",
        ge=0,
        le=100,
    )
    margin: float = P(0.2, "fraction", "markup of the compute price over cost", ge=0, le=10)
    scarcity_premium: float = P(
        1.5,
        "1",
        "how steeply compute prices rise as what is asked nears what the cloud can deliver (calibrated)",
        ge=0,
        le=100,
    )
    utilization_knee: float = P(0.8, "fraction", "utilisation above which the spot price rises", ge=0, lt=1)
    forward_share: float = P(
        0.9,
        "fraction",
        "share of expected capacity sold forward under contracts; the rest is kept for spot (and builds aim at "
        "bookings over this share)",
        gt=0,
        le=1,
    )
    spot_adjustment: float = P(
        0.35, "1/month", "share of the log gap between the spot price and its target closed each month", gt=0, le=1
    )
    contract_tightness_cap: float = P(
        1.0, "1", "most tightness (see utilization_knee) priced into new contracts", ge=0, le=100
    )
    spot_tightness_cap: float = P(
        2.0, "1", "most tightness priced into the spot price (2: demand well beyond capacity)", ge=0, le=100
    )
    forecast_smoothing: float = P(
        0.5, "fraction", "weight of the newest month in the forecast of compute asked of the cloud", gt=0, le=1
    )
    build_headroom: float = P(
        0.3,
        "fraction",
        "places built beyond forecast demand: demand grows and part of it is priced out when scarce",
        ge=0,
        le=10,
    )
    facility_life_months: int = P(
        120, "months", "a place's building cost is spread over this many months", ge=1, le=1200
    )
    upstream: list[str] = P([], "names", "suppliers feeding the cloud (empty: every grid supplier)")
    owner: str = P("", "lab name or empty", "a lab that owns this fleet and alone buys from it, at cost")
    capex_start_month: str = P(
        "",
        "YYYY-MM or empty",
        "first month the capital budget is spent (empty: from the start)",
        pattern=OPTIONAL_MONTH_PATTERN,
    )


class Supplier(Schema):
    """One upstream supplier: its layer, capacity, expansion, prices and shocks."""

    layer: Layer = P(Layer.MEMORY, "choice", "memory, packaging, power or grid")
    capacity: float = P(
        1e5,
        "accelerators/month (memory, packaging) or MW (power, grid)",
        "output per month, or power that can be used, in the first month (calibrated in the baseline: no 2023 "
        "figure; checks: TrendForce 75-80k CoWoS wafers/month at 2025-12, LBNL 176 TWh/yr of US data-centre "
        "electricity in 2023)",
        ge=0,
        le=1e12,
    )
    initial_in_service_acc: float = P(
        0.0,
        "accelerators",
        "accelerators in service that this supplier's output equips (memory, packaging)",
        ge=0,
        le=1e12,
    )
    expansion_per_year: float = P(
        0.5,
        "1/year",
        "largest yearly capacity growth that orders may add (baseline: 1.36 for every link, Epoch AI's 2.36-fold "
        "growth of AI-chip component spend 2024->2025; the links differ by their lead times)",
        ge=0,
        le=100,
    )
    pipeline_growth_per_year: float = P(
        0.0,
        "1/year",
        "growth already on order when the run starts, arriving over the first lead_months (packaging: TrendForce "
        "+60%/year of CoWoS wafers; power and grid: LBNL US data-centre electricity 13-27%/year to 2028; memory "
        "calibrated)",
        ge=0,
        le=100,
    )
    expansion_trigger: float = P(
        0.85, "fraction", "utilisation above which a supplier orders expansion (assumed; no figure)", ge=0, le=1
    )
    lead_months: int = P(
        18,
        "months",
        "from an expansion order to capacity in service (grid: LBNL Queued Up 2024, median 5 years from "
        "interconnection request to operation; packaging assumed one year; power calibrated, memory the same)",
        ge=0,
        le=240,
    )
    base_price: float = P(
        1000.0,
        "USD/accelerator (memory, packaging), USD/MWh (power), USD/kW-month (grid)",
        "price when slack",
        ge=0,
        le=1e9,
    )
    tightness_premium: float = P(1.0, "1", "price rise as utilisation goes from the knee to full", ge=0, le=100)
    utilization_knee: float = P(
        0.8, "fraction", "utilisation of last month above which the supplier's price rises", ge=0, lt=1
    )
    tightness_cap: float = P(
        2.0, "1", "most tightness priced in (2: demand 1.2 times capacity at a knee of 0.8)", ge=0, le=100
    )
    price_adjustment: float = P(
        0.25,
        "1/month",
        "share of the log gap between price and target closed each month (supply contracts are sticky)",
        gt=0,
        le=1,
    )
    market_power: float = P(
        0.0, "fraction", "Lerner markup from concentration (share over demand elasticity)", ge=0, lt=1
    )
    shock_month: str = P(
        "", "YYYY-MM or empty", "month a capacity shock starts (empty: none)", pattern=OPTIONAL_MONTH_PATTERN
    )
    shock_months: int = P(0, "months", "length of the shock", ge=0, le=1200)
    shock_capacity_loss: float = P(0.0, "fraction", "share of capacity lost during the shock", ge=0, le=1)
    upstream: list[str] = P([], "names", "suppliers feeding this one (empty: the whole previous layer)")


class Hardware(Schema):
    """The H100-class accelerator: power, cost, life and yearly price-performance gain."""

    kw_per_acc: float = P(
        1.5, "kW", "all-in power of one accelerator in service (SemiAnalysis: 150 MW per 100k)", ge=0.001, le=100
    )
    logic_cost_usd_per_acc: float = P(
        1500.0,
        "USD/accelerator",
        "logic die and board, besides memory and packaging (Epoch AI component shares)",
        ge=0,
        le=1e7,
    )
    vendor_margin: float = P(3.0, "1", "accelerator vendor's markup over its component cost", ge=0, le=100)
    lifetime_months: int = P(60, "months", "service life of an accelerator", ge=1, le=600)
    price_performance_gain_per_year: float = P(
        0.25,
        "1/year",
        "yearly fall in cost, power and packaging/memory use per H100-class unit of compute (Epoch AI: GPU price-performance doubles in about 2.5 years)",
        ge=0,
        lt=1,
    )
    hours_per_month: float = P(730.0, "h/month", "hours in a month of service", ge=1, le=745)


class Params(Schema):
    """Every parameter of a run. ``Params()`` alone is a small valid market."""

    name: str = P("custom", "text", "scenario name")
    description: str = P("", "text", "the question the scenario answers")
    simulation: Simulation = Field(default_factory=Simulation)
    market: Market = Field(default_factory=Market)
    developers: Developers = Field(default_factory=Developers)
    adoption: Adoption = Field(default_factory=Adoption)
    churn: Churn = Field(default_factory=Churn)
    network: Network = Field(default_factory=Network)
    capability: Capability = Field(default_factory=Capability)
    hardware: Hardware = Field(default_factory=Hardware)
    labs: dict[str, Lab] = Field(default_factory=lambda: {"lab_a": Lab(), "lab_b": Lab()})
    clouds: dict[str, Cloud] = Field(default_factory=lambda: {"cloud": Cloud()})
    suppliers: dict[str, Supplier] = Field(default_factory=lambda: default_suppliers())

    @model_validator(mode="after")
    def _check_entities(self) -> Params:
        if not self.labs:
            raise ValueError("labs: at least one lab is needed")
        names = [*self.labs, *self.clouds, *self.suppliers]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ValueError(f"names used twice across labs, clouds and suppliers: {clash}")
        for name, lab in self.labs.items():
            for c in lab.clouds:
                if c not in self.clouds:
                    raise ValueError(f"labs.{name}.clouds: unknown cloud {c!r}; allowed: {sorted(self.clouds)}")
        for name, cloud in self.clouds.items():
            if cloud.owner and cloud.owner not in self.labs:
                raise ValueError(f"clouds.{name}.owner: unknown lab {cloud.owner!r}; allowed: {sorted(self.labs)}")
            for s in cloud.upstream:
                if s not in self.suppliers:
                    raise ValueError(
                        f"clouds.{name}.upstream: unknown supplier {s!r}; allowed: {sorted(self.suppliers)}"
                    )
        for name, sup in self.suppliers.items():
            for s in sup.upstream:
                if s not in self.suppliers:
                    raise ValueError(
                        f"suppliers.{name}.upstream: unknown supplier {s!r}; allowed: {sorted(self.suppliers)}"
                    )
        for layer in Layer:
            if not any(s.layer == layer for s in self.suppliers.values()):
                raise ValueError(f"suppliers: no supplier in layer {layer.value!r}; every layer needs one")
        cycle = _upstream_cycle(self.suppliers)
        if cycle:
            raise ValueError(
                f"suppliers: the upstream lists form a cycle ({' <- '.join(cycle)}); "
                "a supplier may not feed, directly or through others, a supplier it depends on"
            )
        if not any(not c.owner for c in self.clouds.values()) and any(not lab.clouds for lab in self.labs.values()):
            raise ValueError("clouds: at least one cloud without an owner is needed")
        return self

    @property
    def start_index(self) -> int:
        """Month index of the first simulated month."""
        return month_index(self.simulation.start)

    @property
    def developer_weight(self) -> float:
        """Real developers that one developer agent stands for."""
        return self.market.developer_population / self.simulation.developer_agents


def _upstream_cycle(suppliers: dict[str, Supplier]) -> list[str]:
    """A cycle of suppliers feeding each other, or [] (empty ``upstream``: the whole previous layer)."""
    layers = list(Layer)
    feeders = {
        name: sup.upstream
        or [
            n
            for n, s in suppliers.items()
            if layers.index(sup.layer) > 0 and s.layer == layers[layers.index(sup.layer) - 1]
        ]
        for name, sup in suppliers.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return []
        for feeder in feeders[name]:
            if cycle := visit(feeder, [*path, name]):
                return cycle
        done.add(name)
        return []

    for name in suppliers:
        if cycle := visit(name, []):
            return cycle
    return []


def default_suppliers() -> dict[str, Supplier]:
    """The small default supply chain: two memory makers, one packaging line, power and grid."""
    return {
        "memory_a": Supplier(layer=Layer.MEMORY, capacity=1e5, initial_in_service_acc=5e5, market_power=0.3),
        "memory_b": Supplier(layer=Layer.MEMORY, capacity=1e5, initial_in_service_acc=5e5, market_power=0.3),
        "packaging": Supplier(layer=Layer.PACKAGING, capacity=2e5, initial_in_service_acc=1e6),
        "power": Supplier(layer=Layer.POWER, capacity=3000.0, base_price=80.0),
        "grid": Supplier(layer=Layer.GRID, capacity=3000.0, base_price=10.0),
    }
