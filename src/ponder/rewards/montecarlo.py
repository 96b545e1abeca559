"""Monte Carlo step labels (Math-Shepherd, AlphaMath): how good is a prefix of a solution?

For each chosen step of a sampled solution, the policy continues the text from the end of that
step ``k`` times; the step's soft label is the fraction of continuations whose answer the rule
verifier accepts, its hard label whether any is. No human and no step checker is involved, so
this works for any task with a verifier. The nano tasks also know the exact answer
(``task.prefix_outcomes``); ``agreement`` compares the two.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from tqdm import tqdm

from ponder.types import Problem, SamplingParams, Usage


@dataclass(frozen=True)
class StepLabel:
    step: int
    """Index into ``task.steps(text)``: the prefix ends with this step."""
    outcomes: tuple[bool, ...]
    """Whether each rollout reached a verified answer."""
    lengths: tuple[int, ...] = ()
    """Tokens each rollout generated, when known (what the label cost)."""

    @property
    def successes(self) -> int:
        return sum(self.outcomes)

    @property
    def rollouts(self) -> int:
        return len(self.outcomes)

    def first(self, k: int) -> "StepLabel":
        """The label the first ``k`` rollouts alone would give."""
        return StepLabel(self.step, self.outcomes[:k], self.lengths[:k])

    @property
    def soft(self) -> float:
        return self.successes / self.rollouts

    @property
    def hard(self) -> bool:
        return self.successes > 0


def prefix_text(text: str, steps: Sequence[str], step: int) -> str:
    """The text up to and including the line of ``steps[step]``, with its newline."""
    at = 0
    for k, s in enumerate(steps):
        at = text.index(s, at) + len(s)
        if k == step:
            break
    return text[:at] + "\n"


def choose_steps(n_steps: int, most: int | None, rng: random.Random) -> list[int]:
    """Which steps to label: all, or ``most`` of them spread evenly with a random offset."""
    if most is None or n_steps <= most:
        return list(range(n_steps))
    stride = n_steps / most
    offset = rng.random() * stride
    return sorted({min(n_steps - 1, int(offset + j * stride)) for j in range(most)})


def monte_carlo_labels(policy, task, items: Sequence[tuple[Problem, str]], k: int = 4,
                       steps_per_text: int | None = None, temperature: float = 1.0, seed: int = 0,
                       usage: Usage | None = None, progress: bool = False,
                       chunk: int = 64, style: str = "", max_tokens: int = 0) -> list[list[StepLabel]]:
    """Label steps of each (problem, solution) by ``k`` rollouts of ``policy`` from each prefix.

    ``steps_per_text`` caps how many steps of a solution are labelled (rollouts cost about
    ``k`` times the solution's remaining length each). Rollouts run in batches of ``chunk``
    prefixes of like length, each with all the room the context leaves it (at most ``max_tokens``
    when given), asked for ``style`` (the style the solutions were written in). Every token spent
    is added to ``usage``.
    """
    rng = random.Random(seed)
    jobs = []  # (item index, step, prompt text, prefix)
    for i, (problem, text) in enumerate(items):
        steps = task.steps(text)
        prompt = task.prompt(problem, style)
        for s in choose_steps(len(steps), steps_per_text, rng):
            prefix = prefix_text(text, steps, s)
            jobs.append((i, s, prompt + prefix, prefix))
    # Prefixes of like length go together: a batch shares one token budget, set by its longest
    # prompt, so mixing lengths would cut the rollouts of short prefixes short.
    jobs.sort(key=lambda job: policy.count_tokens(job[2]))
    out: list[list[StepLabel]] = [[] for _ in items]
    with tqdm(total=len(jobs), desc=f"rollouts (k={k})", unit="prefix", disable=not progress) as bar:
        for start in range(0, len(jobs), chunk):
            batch = jobs[start:start + chunk]
            room = max(1, policy.max_context - max(policy.count_tokens(p) for _, _, p, _ in batch) - 1)
            params = SamplingParams(n=k, temperature=temperature, max_tokens=min(room, max_tokens) if max_tokens else room,
                                    seed=seed * 1_000_003 + start)
            for (i, s, _, prefix), completions in zip(batch, policy.generate([p for _, _, p, _ in batch], params)):
                problem = items[i][0]
                wins = tuple(task.verify(problem, prefix + c.text) == 1.0 for c in completions)
                out[i].append(StepLabel(s, wins, tuple(len(c.token_ids) for c in completions)))
                if usage is not None:
                    usage.add_completions(completions)
            bar.update(len(batch))
    for labels in out:
        labels.sort(key=lambda label: label.step)
    return out


def agreement(labels: Sequence[Sequence[StepLabel]], exact: Sequence[Sequence[bool]],
              soft_threshold: float = 0.5) -> dict:
    """How often Monte Carlo labels match exact ones, over all labelled steps.

    ``exact[i]`` holds the exact outcome of every step of solution ``i``. Returns the fraction
    of steps where the hard label equals the exact one, the same for the soft label thresholded
    at ``soft_threshold``, and the count of steps.
    """
    hard = soft = n = 0
    for lab, ex in zip(labels, exact):
        for sl in lab:
            truth = bool(ex[sl.step])
            hard += sl.hard == truth
            soft += (sl.soft >= soft_threshold) == truth
            n += 1
    return {"steps": n, "hard": hard / n if n else 0.0, "soft": soft / n if n else 0.0}
