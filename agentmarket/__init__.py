"""agentmarket: an agent-based model of the market for AI coding agents."""

from agentmarket.errors import InputError
from agentmarket.model import MarketModel
from agentmarket.params import Params
from agentmarket.scenarios import load_scenario

__version__ = "0.1.0"

__all__ = ["InputError", "MarketModel", "Params", "__version__", "load_scenario"]
