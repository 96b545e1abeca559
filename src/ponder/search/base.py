"""Strategies: how a problem's answer is found with a policy (and, later, reward models).

A strategy is a small dataclass in a registry, called as
``strategy(problem, policy, reward, budget, seed) -> SearchResult``. ``run`` does the same for
many problems at once; strategies that can batch their model calls across problems override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

from ponder.errors import UserError
from ponder.tasks import get_task
from ponder.types import Problem, SearchResult

_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make a strategy available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str, **options) -> "Strategy":
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown strategy {name!r}; choose one of: {', '.join(strategy_names())}") from None
    return cls(**options)


@dataclass
class Strategy:
    name: ClassVar[str] = ""

    def __call__(self, problem: Problem, policy, reward=None, budget: int | None = None, seed: int = 0,
                 task=None) -> SearchResult:
        return self.run([problem], policy, reward, budget, seed, task)[0]

    def run(self, problems: Sequence[Problem], policy, reward=None, budget: int | None = None, seed: int = 0,
            task=None) -> list[SearchResult]:
        raise NotImplementedError


def task_of(problem: Problem, task=None):
    return task if task is not None else get_task(problem.task)


def completion_budget(policy, prompt_tokens: int, budget: int | None) -> int:
    """Most new tokens: the budget if given, else what the context has room for."""
    room = policy.max_context - prompt_tokens
    return max(1, min(room, budget) if budget else room)


StrategyFactory = Callable[..., Strategy]
