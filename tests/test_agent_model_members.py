"""Agents read the month's market conditions and their own spec; they do not reach into the model.

The rule of issue 12: at most six members of ``MarketModel`` are used in ``agentmarket/agents/``
(Mesa's own ``Model`` API, such as ``rng``, ``steps`` or ``agents``, does not count).
"""

from __future__ import annotations

import ast
from pathlib import Path

import mesa

import agentmarket.agents
from agentmarket.model import MarketModel

AGENTS_DIR = Path(agentmarket.agents.__file__).parent
MAX_MODEL_MEMBERS = 6


def model_members_used(source: str) -> set[str]:
    """Names read as ``self.model.X``, ``model.X`` or ``m.X`` where ``m = self.model``, in one module."""
    tree = ast.parse(source)

    def is_model(node: ast.AST, aliases: set[str]) -> bool:
        if isinstance(node, ast.Attribute) and node.attr == "model":
            return isinstance(node.value, ast.Name) and node.value.id == "self"
        return isinstance(node, ast.Name) and node.id in aliases

    used: set[str] = set()
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        aliases = {"model"}
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and is_model(node.value, set()):
                aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            for target in getattr(node, "targets", []):
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for name, value in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(name, ast.Name) and is_model(value, set()):
                            aliases.add(name.id)
        for node in ast.walk(func):
            if isinstance(node, ast.Attribute) and is_model(node.value, aliases):
                used.add(node.attr)
    return used


def mesa_api() -> set[str]:
    """Members every Mesa model has: the class's and those ``mesa.Model.__init__`` sets."""
    return set(dir(mesa.Model)) | set(vars(mesa.Model()))


def market_model_members_in_agents() -> dict[str, set[str]]:
    """Each ``MarketModel`` member used in agents/, with the modules that use it."""
    mesa_names = mesa_api()
    found: dict[str, set[str]] = {}
    for path in sorted(AGENTS_DIR.glob("*.py")):
        for name in model_members_used(path.read_text(encoding="utf-8")) - mesa_names:
            found.setdefault(name, set()).add(path.name)
    return found


def test_the_counter_sees_every_way_of_reaching_the_model():
    source = """
class A:
    def f(self):
        m = self.model
        x, k = self.model, 1
        return self.model.alpha + m.beta + x.gamma + model.delta + self.model.rng.random()
"""
    assert model_members_used(source) == {"alpha", "beta", "gamma", "delta", "rng"}


def test_agents_use_at_most_six_market_model_members():
    used = market_model_members_in_agents()
    assert "rng" not in used and "steps" not in used
    assert all(hasattr(MarketModel(), name) for name in used), used
    assert len(used) <= MAX_MODEL_MEMBERS, f"agents use {len(used)} MarketModel members: {sorted(used)}"


def test_agents_do_not_call_the_models_price_helpers():
    helpers = {
        "hardware_deflator",
        "kw_per_acc",
        "compute_efficiency",
        "efficiency_trend",
        "accelerator_price_usd",
        "accelerator_cost_usd_per_month",
        "list_base_price",
        "market_base_price",
        "market_contract_price",
        "clouds_for",
    }
    assert not helpers & set(market_model_members_in_agents())


def mesa_private_names() -> set[str]:
    """Mesa's private set-up of models, agents and agent sets (and the data registry behind it)."""
    model = mesa.Model()
    names = set(dir(mesa.Model)) | set(vars(model)) | set(dir(mesa.Agent)) | set(dir(mesa.agent.AgentSet))
    private = {n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))}
    return private | {"data_registry", "register_agent", "deregister_agent"}


def test_nothing_in_the_package_touches_mesa_private_set_up():
    banned = mesa_private_names()
    assert {"_datasets", "data_registry", "_agents_by_type"} <= banned
    package = AGENTS_DIR.parent
    touched = {
        (path.relative_to(package).as_posix(), node.attr)
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in banned
    }
    assert not touched, f"Mesa's private set-up used: {sorted(touched)}"
