"""agentmarket as an EMA Workbench model, for exploratory modelling in EMA's own workflows."""

from __future__ import annotations

import warnings
from types import ModuleType


def import_workbench() -> ModuleType:
    """``ema_workbench``, imported without its notice that the optional ipyparallel is missing."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ipyparallel not installed")
        import ema_workbench
    return ema_workbench
