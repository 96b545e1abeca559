"""Reverse curriculum RL (R^3, Xi et al. 2024): episodes start late in a solver's trace, and the
start moves earlier as the policy improves.

An outcome reward says whether a whole attempt was right, not where a wrong one went astray; from
the bare prompt, a long search that fails gives no hint which step failed. R^3 gets step-level
signal from the outcome alone by starting episodes from states of a correct demonstration: first
the policy only has to finish a solution that is nearly done, then more of it, at last all of it.

Episodes. The demonstration of a training problem is its solver trace, the text the SFT data is
made of (``task.trace`` in the trace ``style`` the policy was fine-tuned on, drawn with a seed of
the run's seed and the problem). It is split into lines; the answer line is never given. At a
stage whose start fraction is ``s``, an episode's prompt is the task's prompt followed by the first
``floor(s * n)`` of the trace's ``n`` reasoning lines; the policy writes the rest, the rule verifier
grades prefix and continuation together, and only the continuation is trained (``Rollout.prefix``
is part of the prompt ids). A problem whose trace does not fit the policy's context is passed over
for the next one drawn, as the SFT data passed such traces over: the policy never saw one whole.

Learning. GRPO's, not expert iteration's. The group of ``group`` continuations from one start is
the baseline the paper's PPO value network gave; the update is GRPO's clipped surrogate
(``grpo.learn``); the loop, checkpoints, evaluations and rollout workers are ``grpo.train_grpo``'s.
The stage schedule needs a reward after every optimizer step, which GRPO gives and expert
iteration's rounds do not; and late starts make successes nearly free, so keeping only successes
(expert iteration) would mostly retrain endings the policy already writes, where group-relative
advantages push only where a group disagrees. Process rewards are not supported: a step reward
model would score the continuation without the trace lines before it.

Schedule. ``stages`` lists start fractions from late to early (0.75, 0.5, 0.25, 0: the last is the
bare prompt, the task itself). The run moves to the next stage once the mean reward of its last
``window`` steps at the current stage reaches ``advance_at``, or after ``max_steps_per_stage``
steps there, and stays at the last stage until ``steps`` are done. The published R^3 also mixes
start states of all stages in one batch; stages here run in turn, so each step's metrics name one
start. Metrics: GRPO's, plus ``curriculum/stage``, ``curriculum/start`` (the fraction given),
``curriculum/reward_rolling`` and ``curriculum/prefix_tokens``; held-out accuracy is always greedy
from the bare prompt. The stage, its step count and rolling rewards are in the checkpoint's state,
so a resumed run ends with the same parameters as one that never stopped.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ponder.errors import UserError
from ponder.tasks.base import ANSWER_PREFIX
from ponder.train.config import Section
from ponder.train.grpo import GRPOConfig, first_kept, learn, train_grpo
from ponder.train.rollout import rollouts
from ponder.types import Problem


@dataclass
class R3Config(Section):
    """The curriculum's fields and, in ``grpo``, the GRPO run it drives (group, clip, kl, optim, ...)."""

    grpo: GRPOConfig = field(default_factory=lambda: GRPOConfig(out="runs/r3"))
    """The GRPO run: problems, attempts, advantages, optimisation, evaluation, run directory."""
    stages: tuple[float, ...] = (0.75, 0.5, 0.25, 0.0)
    """Share of the reference trace's reasoning lines an episode starts from, one per stage, late
    to early (strictly decreasing); 0 is the bare prompt."""
    advance_at: float = 0.8
    """Move to the next stage once the mean reward of the last ``window`` steps reaches this."""
    window: int = 4
    """Steps at a stage whose rewards are averaged to decide whether to move on."""
    max_steps_per_stage: int = 20
    """Move on after this many steps at a stage whatever the reward (the last stage has no end)."""
    style: str = "search"
    """Trace style of the reference solutions: the one the policy was fine-tuned on."""

    def __post_init__(self) -> None:
        try:
            self.stages = tuple(float(s) for s in self.stages)
        except (TypeError, ValueError):
            raise UserError(f"stages must be a list of numbers, got {self.stages!r}") from None
        if not self.stages or not all(0 <= s < 1 for s in self.stages):
            raise UserError(f"stages must be fractions in [0, 1) of the trace given, got {list(self.stages)}")
        if self.grpo.long_search:
            raise UserError("long_search is GRPO's choice of problems; R^3 starts from any problem whose trace fits")
        if any(a <= b for a, b in zip(self.stages, self.stages[1:])):
            raise UserError(f"stages must start later than the next (strictly decreasing), got {list(self.stages)}")
        if not 0 <= self.advance_at <= 1:
            raise UserError(f"advance_at is a mean reward in [0, 1], got {self.advance_at}")
        self.at_least(1, "window", "max_steps_per_stage")
        if self.grpo.process_reward:
            raise UserError("r3 trains on outcome rewards only: a step reward model would score the "
                            "continuation without the trace lines before it")


# --------------------------------------------------------------------------- episodes


def reference_trace(task, problem: Problem, style: str, seed: int) -> str:
    """The solver's trace of a problem as the SFT data writes it, drawn with its own seed."""
    return "".join(text for text, _ in task.trace(problem, style, random.Random(f"{seed}-{problem.id}")))


def start_prefix(trace: str, start: float) -> str:
    """The first ``floor(start * n)`` of the trace's ``n`` reasoning lines, newlines included (the
    lines before the answer; the answer is never given)."""
    lines = trace.splitlines(keepends=True)
    n = next((i for i, line in enumerate(lines) if line.startswith(ANSWER_PREFIX)), len(lines))
    return "".join(lines[:math.floor(start * n + 1e-9)])


def episodes(policy, task, cfg: R3Config, step: int, start: float) -> tuple[list[Problem], list[str]]:
    """A step's training problems (GRPO's at the same step, when their traces fit) and the prefix
    each episode starts from. Problems whose prompt and trace overflow the policy's context are
    passed over for the next ones drawn, up to eight times as many as wanted."""
    want, seed = cfg.grpo.problems_per_step, cfg.grpo.seed

    def fitting(p: Problem) -> tuple[Problem, str] | None:
        trace = reference_trace(task, p, cfg.style, seed)
        return (p, trace) if policy.count_tokens(task.prompt(p) + trace) + 2 <= policy.max_context else None  # + <bos>, <eos>

    chosen = first_kept(task, seed * 1_000_003 + step + 1, want, fitting, most=8 * want)
    if not chosen:
        raise UserError(f"no {cfg.style} trace of {task.name} fits the policy's context of {policy.max_context} tokens")
    return [p for p, _ in chosen], [start_prefix(t, start) for _, t in chosen]


# --------------------------------------------------------------------------- schedule


def next_stage(stage: int, rewards: list[float], steps_here: int, cfg: R3Config) -> int:
    """The stage of the next step: one start earlier once the last ``window`` step rewards at this
    stage average ``advance_at`` or more, or after ``max_steps_per_stage`` steps; the last stays."""
    if stage + 1 >= len(cfg.stages):
        return stage
    mastered = len(rewards) >= cfg.window and float(np.mean(rewards[-cfg.window:])) >= cfg.advance_at
    return stage + 1 if mastered or steps_here >= cfg.max_steps_per_stage else stage


def _step(r3: R3Config, policy, reference, optimizer, task, prm, cfg: GRPOConfig, state: dict, sample=rollouts) -> dict:
    """One step at the current stage: episodes from its start (sampled by ``sample``, in this
    process or on rollout workers), GRPO's update, then the schedule."""
    stage = state.setdefault("stage", 0)
    rewards = state.setdefault("stage_rewards", [])
    start = r3.stages[stage]
    t0 = time.perf_counter()
    problems, prefixes = episodes(policy, task, r3, state["step"], start)
    groups = sample(policy, task, problems, cfg.group, cfg.temperature, seed=cfg.seed * 1_000_003 + state["step"],
                    max_tokens=cfg.max_tokens, prefixes=prefixes)
    row = learn(policy, reference, optimizer, task, prm, cfg, state, groups, time.perf_counter() - t0)

    rewards.append(float(np.mean([r.reward for g in groups for r in g])))
    del rewards[:-r3.window]
    state["stage_steps"] = state.get("stage_steps", 0) + 1
    rolling = float(np.mean(rewards))
    state["stage"] = next_stage(stage, rewards, state["stage_steps"], r3)
    if state["stage"] != stage:
        state["stage_rewards"], state["stage_steps"] = [], 0
    return {**row, "curriculum/stage": stage, "curriculum/start": start, "curriculum/reward_rolling": round(rolling, 5),
            "curriculum/prefix_tokens": float(np.mean([policy.count_tokens(p) for p in prefixes]))}


def train_r3(cfg: R3Config, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run the reverse curriculum; returns the directory of the final model (the checkpoint's when
    ``stop_after`` steps ended it early, as a crash would)."""
    from ponder.tasks import get_task

    task = get_task(cfg.grpo.task)
    seed = cfg.grpo.seed
    reference_trace(task, task.problems("train", 1, seed=seed)[0], cfg.style, seed)  # a bad style fails now
    return train_grpo(cfg.grpo, resume, progress, stop_after, step=partial(_step, cfg), desc="r3", record=cfg)
