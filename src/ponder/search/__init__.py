"""Test-time strategies behind one interface, in a registry."""

from ponder.search import sampling  # noqa: F401  (registers greedy and sample)
from ponder.search.base import Strategy, get_strategy, register, strategy_names

__all__ = ["Strategy", "get_strategy", "register", "strategy_names"]
