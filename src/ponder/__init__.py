"""ponder: an open o1-style reasoning system.

    >>> import ponder
    >>> result = ponder.solve([25, 3, 7, 10], target=66)          # the shipped default policy, nano-v2
    >>> result.answer, result.reasoning_summary, result.usage.completion_tokens

Heavy modules (torch) load on first use, so ``import ponder`` is instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ponder.errors import UserError
from ponder.types import Completion, Problem, SamplingParams, SearchResult, Usage

__version__ = "0.1.0"
__all__ = ["Completion", "Problem", "SamplingParams", "SearchResult", "Usage", "UserError", "get_task", "load", "solve"]

if TYPE_CHECKING:
    from ponder.backends.nano import NanoPolicy


def load(model: str | None = None) -> "NanoPolicy":
    """A policy from a model directory or a shipped policy's name (nano-v2, the default; nano-v2-sft, nano-v2-par, nano-rl, nano-sft)."""
    from ponder.backends.nano import NanoPolicy

    return NanoPolicy.load(model)


def get_task(name: str):
    """A task from the registry: ``countdown``, ``countdown-3`` .. ``countdown-6``, ``game24``, ``arith``."""
    from ponder.tasks import get_task as _get_task

    return _get_task(name)


def solve(numbers, target=None, task: str = "countdown", strategy: str = "greedy", policy=None,
          budget: int | None = None, seed: int = 0) -> SearchResult:
    """Solve one problem and return the answer, a summary of the reasoning and the tokens spent."""
    from ponder.search import get_strategy

    t = get_task(task)
    problem = t.make_problem(numbers, target) if not isinstance(numbers, Problem) else numbers
    return get_strategy(strategy)(problem, policy or load(), budget=budget, seed=seed, task=t)
