"""Multi-turn self-correction (RISE, "Recursive Introspection", Qu et al. 2024): the policy learns
to revise its own failed attempts into verified ones.

Each round draws fresh training problems and samples one first attempt at each with the current
policy, on-policy: the mistakes it learns to repair are the ones it makes now. Every failed attempt
becomes a revision prompt in the format ``ponder.search.revise`` defines (the problem, the attempt
up to its first wrong line, ``✗`` with the critique's reason when there is one, the problem
again), and ``group`` revisions are sampled from it. The verified revisions (right, ended by
themselves, every step valid: ``kept_solutions``) are the round's training data: the revision is
trained, the prompt with the failed attempt is not. Where none of an attempt's revisions is
verified, the task's solver writes one (``teacher``). Verified first attempts are trained alongside,
``mix`` of them per kept revision, so that learning to revise does not pull the first answer away
from what it was. The round loop, replay buffer, optimisation, checkpoints and exact resume are
expert iteration's (``expert.train_rounds``); so are Ray workers (``workers``).

From RISE this keeps the on-policy rollout of a failed turn and training the next turn on the
best of several self-generated revisions (its self-distillation variant, with the verifier's 0/1
reward as the filter: reward-weighted regression with 0/1 weights), and its distillation variant,
a stronger model's revision where the policy's own fail, with the solver as that model. The
teacher is needed to begin: the shipped policy, never shown text before a prompt, cannot yet
revise in this format at all (its revisions garble the problem's numbers with the failed
attempt's; none of 12 revisions of 6 failed Countdown-3 attempts was right, with or without a
``<bos>`` before the restated prompt), so self-distillation alone would never get a first
example. The solver writes its search trace, the kind of text the policy was fine-tuned on, with
no deliberate slips (all of it is trained). Dropped: the whole history in the prompt (only the
latest attempt is shown: the context is 1536 tokens and one Countdown-4 search ~800) and turns
past the second: the test-time loop repeats the one revision step the trainer taught.

Critiques. With ``critique`` the revision prompt says why the attempt failed, in the words of the
text critic ``critic``: by default the shipped critic, the one ``revise`` consults at test time,
so training sees its mistakes as the strategy will; or ``rule``: the critique that critic is
trained to write, from the rules (exact and free). The attempt is then cut at the line the
critique names; without a critique, at the first line the task's rule checker finds invalid.

Metrics. Each round's line has the first attempts' ``rollout/...`` (``reward_mean`` is turn-1
accuracy on the training problems), the revisions' ``revision/...`` (``reward_mean``: turn-2
accuracy on failed attempts; ``solved_groups``: failed attempts with a verified revision),
``revision/failed``, ``revision/kept`` (the policy's own), ``revision/taught`` (the solver's),
``rollout/kept_first`` and ``rollout/kept`` (all trained on), and ``revision/critic_tokens`` spent
by a learned critic. The held-out line before the first
round and after each has greedy ``eval/TASK/accuracy`` and ``eval/TASK+revision/accuracy``: right
at once or after one greedy revision of the failed answers (in the trained format, with the same
critique source; what ``ponder report`` plots as the task "TASK+revision"), with
``eval/TASK+revision/fixed``, the share of failed answers the revision fixed.

The model's metadata carries ``revision`` (format, critique, shown_tokens): ``revise`` reads it
and revises in this format (``revision_style``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ponder.errors import UserError
from ponder.search.revise import SHOWN_TOKENS, revision_context
from ponder.train.config import Section
from ponder.train.expert import ExpertConfig, kept_solutions, sample_chunks, train_rounds
from ponder.train.run import Metrics
from ponder.train.rollout import Rollout, RolloutStats, rollouts, write_held_out
from ponder.train.workers import rollout_workers
from ponder.types import Problem


@dataclass
class RiseConfig(Section):
    """What revising adds to the expert iteration it runs (in ``expert``)."""

    expert: ExpertConfig = field(default_factory=lambda: ExpertConfig(out="runs/rise", group=4))
    """The rounds: problems, sampling, kept solutions, replay, optimisation, evaluation, workers,
    run directory. In RISE, ``problems_per_round`` first attempts are sampled a round (one a
    problem, at ``temperature``), ``group`` revisions of each failed one, and ``keep`` verified
    revisions a failed attempt are kept (the shortest first)."""
    critique: bool = False
    """Show the critique's reason in the revision prompt (and cut the attempt at the line it names)."""
    critic: str = "critic"
    """Who writes the critique, with ``critique``: a text critic (a reward name or a model
    directory; ``critic``: the shipped one, which ``revise`` consults) or ``rule``: what that
    critic is trained to write, from the rules (exact, free; Countdown and Game of 24)."""
    teacher: bool = True
    """Where none of a failed attempt's revisions is verified, train on the task solver's trace as
    its revision (the untrained policy cannot revise yet: see the module doc)."""
    mix: float = 1.0
    """Verified first attempts trained on per revision trained on (0: revisions only)."""
    shown_tokens: int = SHOWN_TOKENS
    """Most tokens of a failed attempt a revision prompt shows (its end, up to the first wrong line)."""

    def __post_init__(self) -> None:
        self.at_least(0, "mix")
        self.at_least(1, "shown_tokens")
        if self.critique and not self.critic:
            raise UserError("critique needs a critic: a text critic's name or directory, or 'rule'")

    @property
    def revision(self) -> dict:
        """What the model's metadata records of how it learned to revise (read by ``revise``)."""
        return {"format": "rise", "critique": self.critique, "shown_tokens": self.shown_tokens}


class Critiques:
    """Who says why a failed attempt failed: the rules or a text critic. ``tokens``: what a
    learned critic has spent, read and written (the rules cost nothing)."""

    def __init__(self, task, critic: str):
        if not task.rule_judged:
            raise UserError(f"critiques are written for Countdown and Game of 24, not {task.name}")
        self.task, self.reward = task, None
        if critic != "rule":
            from ponder.rewards import get_reward

            self.reward = get_reward(critic, task)
            if not self.reward.writes_critiques:
                raise UserError(f"{critic} is not a text critic (train one with: ponder train rm --kind critic)")

    def __call__(self, problem: Problem, texts: list[str]) -> list[str]:
        if self.reward is None:
            from ponder.tasks.countdown.judge import critique

            return [critique(self.task, problem, t)[0] for t in texts]
        return [j.reasoning for j in self.reward.critiques(problem, texts)]

    @property
    def tokens(self) -> int:
        return self.reward.usage.reward_tokens if self.reward is not None else 0


def revision_prefixes(policy, task, failed: list[Rollout], critiques: Critiques | None, shown_tokens: int) -> list[str]:
    """The revision context (after the prompt) of each failed attempt."""
    notes = [critiques(a.problem, [a.text])[0] for a in failed] if critiques else [None] * len(failed)
    return [revision_context(task, a.problem, a.text, policy.count_tokens, critique=note, shown_tokens=shown_tokens)
            for a, note in zip(failed, notes)]


def sample_revisions(sample, policy, task, failed: list[Rollout], critiques: Critiques | None, shown_tokens: int,
                     group: int, temperature: float, max_tokens: int, seed: int, desc: str = "revising",
                     progress: bool = False) -> list[list[Rollout]]:
    """``group`` revisions of each failed attempt, each graded alone: the revision is the answer,
    as at test time, so an answer line in the shown attempt never counts for it."""
    if not failed:
        return []
    prefixes = revision_prefixes(policy, task, failed, critiques, shown_tokens)
    groups = sample_chunks(sample, policy, task, [a.problem for a in failed], group, temperature, max_tokens, seed,
                           desc, progress, prefixes=prefixes)
    return [[replace(x, reward=task.verify(x.problem, x.text)) for x in g] for g in groups]


def solver_revision(policy, task, like: Rollout, seed: str) -> Rollout | None:
    """The task's solver's trace as a revision, in the place of ``like`` (a revision of the same
    failed attempt: its prompt, prefix and problem); None when it does not fit the context. A
    search trace is written without deliberate slips, since the whole of it is trained."""
    import random

    rng = random.Random(seed)
    segments = (task.search_trace(like.problem, rng, p_slip=0.0) if task.writes_search
                else task.trace(like.problem, rng=rng))
    text = "".join(s for s, _ in segments)
    ids = tuple(policy.tokenizer.encode(text)) + (policy.tokenizer.eos_id,)
    if not all(trained for _, trained in segments) or len(like.prompt_ids) + len(ids) > policy.max_context:
        return None
    return replace(like, completion_ids=ids, text=text, reward=task.verify(like.problem, text), finish_reason="stop")


def train_rise(cfg: RiseConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run RISE; returns the directory of the final model (the checkpoint's when ``stop_after``
    optimizer steps ended it early, as a crash would)."""
    from ponder.tasks import get_task

    e = cfg.expert
    task = get_task(e.task)
    critiques = Critiques(task, cfg.critic) if cfg.critique else None
    with rollout_workers(e.workers, e.ray_address) as sample:
        return train_rounds(
            e, resume, progress, stop_after, sample,
            sample_round=lambda policy, task, _, *rest: _sample_round(policy, task, cfg, *rest, critiques=critiques),
            evaluate=lambda policy, task, _, *rest: held_out_revision(policy, task, cfg, *rest, critiques=critiques),
            metadata={"revision": cfg.revision}, record=cfg)


def _sample_round(policy, task, cfg: RiseConfig, r: int, state: dict, metrics: Metrics, progress: bool, sample,
                  critiques: Critiques | None) -> list[Rollout]:
    started, spent = time.perf_counter(), critiques.tokens if critiques else 0
    e = cfg.expert
    seed = e.seed * 1000 + r
    problems = task.problems("train", e.problems_per_round, seed=seed + 1)
    firsts = sample_chunks(sample, policy, task, problems, 1, e.temperature, e.max_tokens, seed,
                           f"round {r + 1}/{e.rounds}: first attempts", progress)
    failed = [g[0] for g in firsts if not g[0].correct]
    revisions = sample_revisions(sample, policy, task, failed, critiques, cfg.shown_tokens, e.group, e.temperature,
                                 e.max_tokens, seed, f"round {r + 1}/{e.rounds}: revisions", progress)
    clean = task if e.clean else None
    kept = kept_solutions(revisions, e.keep, clean)
    fixed = {x.problem.id for x in kept}  # one first attempt a problem: the id names the failed attempt
    taught = []
    for g in revisions if cfg.teacher else []:
        if g[0].problem.id not in fixed and (t := solver_revision(policy, task, g[0], f"{seed}-{g[0].problem.id}")):
            taught.append(t)
    steady = kept_solutions(firsts, 1, clean)[:round(cfg.mix * (len(kept) + len(taught)))]
    generated = sum(len(x.completion_ids) for g in firsts + revisions for x in g)
    seconds = time.perf_counter() - started
    state["rollout_tokens"] += generated
    state["wall_time_s"] += seconds
    first = {k: v for k, v in RolloutStats.of(firsts).to_metrics().items()
             if not k.endswith(("zero_advantage_groups", "solved_groups"))}  # groups of one: nothing to say
    second = RolloutStats.of(revisions).to_metrics("revision/") if revisions else {}
    metrics.write({"step": state["step"], "round": r + 1, **first, **second, "revision/failed": len(failed),
                   "revision/kept": len(kept), "revision/taught": len(taught), "rollout/kept_first": len(steady),
                   "rollout/kept": len(kept) + len(taught) + len(steady),
                   "revision/critic_tokens": (critiques.tokens - spent) if critiques else 0,
                   "rollout/tokens": generated, "rollout/tokens_per_s": generated / seconds,
                   "time/elapsed_s": state["wall_time_s"]})
    return kept + taught + steady


def held_out_revision(policy, task, cfg: RiseConfig, state: dict, metrics: Metrics, progress: bool = False,
                      critiques: Critiques | None = None) -> None:
    """Write greedy accuracy on ``eval_problems`` problems of ``eval_split`` (``cfg.expert``'s), at
    once and after one greedy revision of the failed answers, with the training compute spent so far."""
    policy.reset_cache()
    problems = task.problems(cfg.expert.eval_split, cfg.expert.eval_problems)
    first = [g[0] for g in rollouts(policy, task, problems, 1, temperature=0.0)]
    failed = [a for a in first if not a.correct]
    revised = sample_revisions(rollouts, policy, task, failed, critiques, cfg.shown_tokens, 1, 0.0, 0, 0)
    right, fixed = sum(a.correct for a in first), sum(g[0].correct for g in revised)
    name = task.name
    write_held_out(metrics, policy, state, {
        f"eval/{name}/accuracy": right / len(problems),
        f"eval/{name}/tokens_per_problem": sum(len(a.completion_ids) for a in first) / len(problems),
        f"eval/{name}+revision/accuracy": (right + fixed) / len(problems),
        f"eval/{name}+revision/fixed": fixed / len(failed) if failed else 0.0})
