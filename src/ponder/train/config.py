"""How trainers' configs are put together, and the parts they share.

A trainer's config is a dataclass whose parts are configs of their own (``Section``s): every
trainer's optimizer is an ``OptimConfig`` in its ``optim`` field, and the reverse curriculum's
config holds a whole GRPO config in ``grpo``. ``build(Config, values)`` makes one from flat or
dotted names (a recipe's fields, ``--set`` options, a run's ``config.json``): ``optim.lr`` names a
part's field by its path, and a name no field of the config has is looked for in its parts, so
``lr`` is short for ``optim.lr`` (and, for R^3, for ``grpo.optim.lr``).

``RunConfig`` is what every trainer's config has (batching by tokens, its JSON, range checks);
``PolicyConfig`` holds the fields of the trainers that improve a policy, ``Rollouts`` those of
trainers that sample attempts (how long one may be, and the Ray workers that may sample them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar, get_type_hints

from ponder.checks import value_problem
from ponder.errors import UserError
from ponder.train.optim import make_optimizer, warmup_constant, warmup_cosine


class Section:
    """A config, or a part of one, that ``build`` can compose: range checks and its JSON."""

    SECTIONS: ClassVar[tuple[str, ...]] = ()
    """Names of a recipe's tables that apply to one case only (``ponder.train.recipes``)."""

    def at_least(self, minimum: int, *names: str) -> None:
        for name in names:
            if getattr(self, name) < minimum:
                raise UserError(f"{name} must be at least {minimum}, got {getattr(self, name)}")

    def to_json(self) -> dict:
        return asdict(self)


def parts(config) -> dict[str, "Section"]:
    """The fields of ``config`` (a class or an instance) that are configs of their own, with their
    default values."""
    instance = config() if isinstance(config, type) else config
    return {f.name: getattr(instance, f.name) for f in fields(instance) if isinstance(getattr(instance, f.name), Section)}


def holds(config, name: str) -> bool:
    """Whether ``name`` is a field of ``config`` or of one of its parts, at any depth."""
    return name in {f.name for f in fields(config)} or any(holds(p, name) for p in parts(config).values())


def over(base: Section, values: dict) -> Section:
    """``base`` with ``values`` (flat, dotted or nested names) written over its fields."""
    own = {f.name for f in fields(base)}
    subs = parts(base)
    direct: dict = {}
    nested: dict[str, dict] = {name: {} for name in subs}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if dot and head in subs:
            nested[head][rest] = value
        elif key in subs and isinstance(value, dict):
            nested[key].update(value)
        elif key in own and not dot:
            direct[key] = value
        else:
            where = [name for name, part in subs.items() if holds(part, key)]
            if len(where) != 1:
                problem = "unknown field" if not where else f"field in {' and '.join(where)}; write which"
                raise UserError(f"{type(base).__name__}: {problem} {key!r}")
            nested[where[0]][key] = value
    for name, given in nested.items():
        if given:
            direct[name] = over(subs[name], given)
    hints = get_type_hints(type(base))
    for key, value in direct.items():
        if key not in subs and (problem := value_problem(hints.get(key), value)):
            raise UserError(f"{type(base).__name__}: {problem.replace('{field}', key)}")
    try:
        return replace(base, **direct)
    except TypeError as e:
        raise UserError(f"{type(base).__name__}: {e}") from None


def build(config: type, values: dict):
    """A ``config`` from ``values`` over its defaults (see the module doc for the names)."""
    return over(config(), values)


def leaves(config: Section) -> dict:
    """A config's fields by their own names, its parts' included (``optim.lr`` as ``lr``): the
    flat form a recipe may be written in, and the form configs were recorded in before parts."""
    out = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out.update(leaves(value) if isinstance(value, Section) else {f.name: value})
    return out


class RunConfig(Section):
    """What every trainer's config dataclass shares (it adds no fields): batching by tokens and
    the checks that go with it, its JSON, and the check that counts are at least a minimum."""

    def check_batching(self) -> None:
        if self.tokens_per_step < self.micro_tokens:
            raise UserError("tokens_per_step must be at least micro_tokens")

    @property
    def accumulation(self) -> int:
        """Micro-batches per optimizer step."""
        return self.tokens_per_step // self.micro_tokens



@dataclass(kw_only=True)
class PolicyConfig(RunConfig):
    """The fields every trainer that improves a policy (expert iteration, GRPO, self-play and those
    built on them) shares, their meaning written once; each trainer's config adds its own."""

    init: str | None = None
    """The policy to improve: a model directory or a shipped policy's name (nano-v2, nano-v2-sft, nano-rl,
    nano-sft); the shipped default (nano-v2) when None."""
    task: str = "countdown"
    """Task whose training problems are attempted."""
    temperature: float = 1.0
    """Of the policy's attempts."""
    micro_tokens: int = 8192
    """Most tokens in one forward and backward pass (an optimizer step accumulates several)."""
    seed: int = 0
    eval_problems: int = 100
    """Greedy accuracy on this many problems of the task's ``eval_split`` at each evaluation (0: none)."""
    eval_split: str = "val"
    recipe: str = ""
    """The recipe the config was loaded from (recorded in the model's metadata)."""


@dataclass(kw_only=True)
class Rollouts:
    """The fields of trainers that sample attempts at training problems (expert iteration, GRPO):
    how long an attempt may be, and where the sampling runs (here, or on Ray actors)."""

    max_tokens: int = 0
    """Most tokens an attempt may write (0: as many as the context holds); an attempt cut short fails."""
    workers: int = 0
    """Ray actors sampling the rollouts, each with its own copy of the policy (0: in this process)."""
    ray_address: str = ""
    """The Ray cluster the workers run on (e.g. ``auto``, ``ray://host:10001``); empty: start a local Ray."""


@dataclass(kw_only=True)
class OptimConfig(Section):
    """AdamW and its learning-rate schedule (``ponder.train.optim``)."""

    lr: float = 5e-5
    """Peak learning rate, reached after ``warmup`` steps."""
    min_lr: float | None = None
    """Where a cosine decay ends at the run's last step; None: the rate stays at ``lr`` after the
    warmup (fine-tuning a trained policy, as every RL trainer does)."""
    warmup: int = 5
    """Steps of linear warmup."""
    weight_decay: float = 0.0
    """AdamW's, on weight matrices only."""
    grad_clip: float = 1.0
    """Largest gradient norm (clipped to it)."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise UserError(f"lr must be positive, got {self.lr}")
        self.at_least(0, "warmup")

    def lr_at(self, step: int, steps: int) -> float:
        """The rate of optimizer step ``step`` (from 0) of a run of ``steps``."""
        if self.min_lr is None:
            return warmup_constant(step, lr=self.lr, warmup=self.warmup)
        return warmup_cosine(step, lr=self.lr, min_lr=self.min_lr, warmup=self.warmup, steps=steps)

    def optimizer(self, model):
        return make_optimizer(model, self.lr, self.weight_decay)
