"""Test-time strategies behind one interface, in a registry; ``reasoning_effort`` levels."""

from ponder.search import effort, language, parallel, revise, sampling, think, tree, vote  # noqa: F401  (register strategies)
from ponder.search.base import Search, Strategy, drive, get_strategy, register, strategy_names
from ponder.search.effort import EFFORTS, Effort

__all__ = ["EFFORTS", "Effort", "Search", "Strategy", "drive", "get_strategy", "register", "strategy_names"]
