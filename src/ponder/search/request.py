"""What a caller asks a search for, checked once: ``StrategyRequest`` and the ``Plan`` it makes.

The command line and the server each read their own input (flags, a JSON body) into a
``StrategyRequest``; ``plan()`` decides, here and nowhere else, what runs: the strategy (named, or
picked by the effort level, or greedy), its reward model (named, or the effort's, or the shipped
default for the kind the strategy needs) and the budget.

A refusal is a ``RequestError`` that names the request's field at fault (``budget``, ``samples``,
``options.width``, ...). Each surface words it in its own terms: the command line says
``--budget`` and ``--set width``, the server ``budget`` and ``strategy_options.width`` (with
OpenAI's ``param``)::

    except RequestError as e:
        raise UserError(e.worded(FLAGS.get(e.field, e.field)))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping, Sequence

from ponder.errors import UserError
from ponder.search.base import FieldError, OptionError, Strategy, get_strategy
from ponder.search.effort import EFFORTS, effort

DEFAULT_REWARDS = {"outcome": "genrm-cot", "process": "prm", "critic": "critic"}
"""The shipped reward model a strategy uses when none is named, by the kind it needs."""


REQUEST_FIELDS = {"samples": "n", "temperature": "temperature"}
"""The request's own fields that set a strategy field, by name."""


class RequestError(FieldError):
    """A request ``plan()`` refuses. ``field`` is the request's field at fault (``options.KEY``
    for a strategy option, ``options`` for the options together)."""


@dataclass(frozen=True)
class Plan:
    """What runs: a strategy, the name of its reward model (None: it needs none) and the budget."""

    strategy: Strategy
    reward: str | None
    budget: int | None
    effort: str | None = None
    """The effort level that picked the strategy (None when the request named one)."""


@dataclass(frozen=True)
class StrategyRequest:
    """A strategy or an effort level, a reward model, a budget and the strategy's options, as
    asked for (unchecked until ``plan``)."""

    strategy: str | None = None
    """A registered strategy's name; None: the effort level's, or greedy."""
    effort: str | None = None
    """A ``reasoning_effort`` level (``EFFORTS``): a strategy, reward model and budget in one word."""
    reward: str | None = None
    """A reward model's name or directory; None: the effort's, or the strategy's shipped default."""
    budget: int | None = None
    """Most thinking tokens per problem; None: the effort's (unbounded for all of today's)."""
    samples: int | None = None
    """The strategy's ``n``: how many texts it samples."""
    temperature: float | None = None
    """The temperature of the strategy's samples."""
    options: Mapping[str, object] = None  # type: ignore[assignment]
    """Any other field of the strategy, by name (``ponder solve --set``, the API's ``strategy_options``)."""
    optional: tuple[str, ...] = ()
    """Of ``samples`` and ``temperature``, those dropped rather than refused where the strategy has no
    such field (a chat client sends ``temperature`` whatever the strategy)."""

    def plan(self, rewards: Sequence[str] | None = None, task: str | None = None,
             styles: tuple[str, ...] = ()) -> Plan:
        """Decide what runs, or raise ``RequestError``. ``rewards``: the reward names this caller may
        use (None: any name or directory); ``task`` and ``styles``: the task's name and the trace
        styles the policy writes (``trace_styles``), for what an effort level runs (``TASK_EFFORTS``)."""
        name = "greedy" if self.strategy is None else self.strategy  # "" is a name, and no strategy's
        chosen, reward, budget = {}, self.reward, self.budget
        if self.effort is not None:
            if self.effort not in EFFORTS:
                raise RequestError("effort", f"{{field}} must be one of {', '.join(EFFORTS)}, got {self.effort!r}")
            level = effort(self.effort, task, styles)
            if self.strategy is None:
                name, chosen = level.strategy, dict(level.options)
                reward = level.reward if reward is None else reward
            budget = budget if budget is not None else level.budget
        if budget is not None and budget < 1:
            raise RequestError("budget", f"{{field}} must be a positive number of tokens, got {budget}")
        known = self._fields(name)
        for field, key in REQUEST_FIELDS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if key in known:
                chosen[key] = value
            elif field not in self.optional:
                raise RequestError(field, f"{{field}} does not apply to strategy {name}")
        for key, value in (self.options or {}).items():
            if key not in known:
                raise RequestError(f"options.{key}", f"{{field}}: strategy {name} has no such option; "
                                                     f"it has: {', '.join(sorted(known))}")
            chosen[key] = value
        try:
            strategy = get_strategy(name, **chosen)
        except OptionError as e:  # a value of the wrong type or out of bounds: named as the caller gave it
            raise RequestError(self._source(e.field), e.message) from None
        except UserError as e:
            raise RequestError("options", str(e)) from None
        if reward is None and strategy.reward_kind:
            reward = DEFAULT_REWARDS[strategy.reward_kind]
        if reward == "oracle":
            raise RequestError("reward", "the oracle is the rule verifier: strategies may not use it "
                                         "(ponder report draws it as the ceiling)")
        if reward == "":
            raise RequestError("reward", "{field} must name a reward model, got an empty name")
        if rewards is not None and reward is not None and reward not in rewards:
            raise RequestError("reward", f"unknown {{field}} {reward!r}; choose one of: {', '.join(rewards)}")
        return Plan(strategy, reward, budget, self.effort if self.strategy is None else None)

    def _source(self, key: str) -> str:
        """The request's field that set the strategy's field ``key``."""
        if key in (self.options or {}):
            return f"options.{key}"
        return next((f for f, k in REQUEST_FIELDS.items() if k == key and getattr(self, f) is not None), "options")

    @staticmethod
    def _fields(name: str) -> set[str]:
        try:
            return {f.name for f in fields(get_strategy(name))}
        except UserError as e:
            raise RequestError("strategy", str(e)) from None
