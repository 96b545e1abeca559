"""``ponder demo``: the o1 story on screen, on a shipped policy, in about 4 minutes on 2 idle cores.

First a puzzle solved at rising effort, with what the search tried; then the seeds' guesses at how
o1 thinks, measured against each other at equal thinking tokens on Tree of Thoughts' 100 Game of 24
puzzles (never trained on): one long chain, votes over chains, and tree search over single steps
guided by the value model. A table, a paired test and a plot.

The voting points share their samples: sample i of a prompt with a given seed is the same sample
whoever asks (``ponder.engine``), so ``MemoPolicy`` hands a vote at 4x the draws a vote at 1x
already made. Each point is still charged every token of every sample it uses; only the wall-clock
time is shared, so the demo shows tokens, not seconds.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

PUZZLES = (("game24", (2, 5, 8, 11), 24),)
"""The first puzzle of Tree of Thoughts' Game of 24 benchmark (the ``tot`` split, never trained on)
that greedy decoding gets wrong and ``high`` effort right (``tot-903``; docs/results.md#the-demo)."""
THINKER = "nano-v2-sft"
"""The demo's policy: trained on single steps as well as on its written-out search, so it can think
each way the seeds guess, and ``high`` effort searches over its steps with the value model."""
BENCHMARK = ("game24", "tot")
"""Task and split of the second part: Tree of Thoughts' own 100 puzzles."""
CURVE = (("one chain", "greedy", None), ("votes", "majority", 1), ("tree search", "high", 1),
         ("votes", "majority", 4), ("tree search", "high", 4))
"""The second part's points: (hypothesis, strategy, budget as a multiple of greedy's tokens a puzzle).
Greedy comes first: what it spends sets the others' budgets. "high" is the search ``--effort high``
runs (``TASK_EFFORTS``), here at the point's budget."""


class MemoPolicy:
    """A policy that remembers completions by (prompt, sampling parameters, sample index)."""

    def __init__(self, policy):
        self.policy, self.name, self.max_context, self.meta = policy, policy.name, policy.max_context, policy.meta
        self.memo: dict = {}

    def count_tokens(self, text: str) -> int:
        return self.policy.count_tokens(text)

    def generate(self, prompts, params):
        from ponder.types import SamplingParams

        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        keys = [(p, replace(sp, n=1)) for p, sp in zip(prompts, each)]
        missing = [i for i, (k, sp) in enumerate(zip(keys, each))
                   if len(self.memo.get(k, ())) < sp.n or sp.seed is None]
        if missing:
            fresh = self.policy.generate([prompts[i] for i in missing], [each[i] for i in missing])
            for i, out in zip(missing, fresh):
                if each[i].seed is not None:
                    self.memo[keys[i]] = out
                else:
                    return self.policy.generate(prompts, params)
        return [self.memo[k][:sp.n] for k, sp in zip(keys, each)]


def run_demo(problems: int = 100, out: str | Path = "runs/demo", say=print) -> dict:
    from ponder.backends.nano import NanoPolicy
    from ponder.report import plot_scaling
    from ponder.rewards import get_reward
    from ponder.search.base import trace_styles
    from ponder.search.request import StrategyRequest
    from ponder.tasks import get_task

    started = time.perf_counter()
    thinker = NanoPolicy.load(THINKER)
    styles = trace_styles(thinker)
    say("ponder demo: a small policy trained here on 2 CPU cores thinks before it answers.\n")
    say(f"1. A puzzle from Tree of Thoughts' benchmark at rising reasoning effort, by {thinker.name} "
        f"(every answer checked by rule):\n")
    judges: dict = {}
    for task_name, numbers, target in PUZZLES:
        task = get_task(task_name)
        problem = task.make_problem(list(numbers), target)
        say(f"   {task.prompt(problem).strip()}")
        for level in ("low", "medium", "high"):
            plan = StrategyRequest(effort=level).plan(task=task.name, styles=styles)
            if plan.reward and plan.reward not in judges:
                judges[plan.reward] = get_reward(plan.reward, task)
            strategy = plan.strategy
            t0 = time.perf_counter()
            r = strategy(problem, thinker, judges.get(plan.reward), budget=plan.budget, task=task)
            ok = "right" if task.check(problem, r.answer) else ("wrong" if r.answer else "no answer")
            say(f"   effort {level:<6} {r.answer or '-':<22} {ok:<9} {r.usage.thinking_tokens:>6} thinking tokens "
                f"{time.perf_counter() - t0:5.1f} s  ({strategy.name})")
            say(f"      {r.reasoning_summary}")
        say("")
    rows = compare_hypotheses(thinker, problems, judges, say, progress=sys.stderr.isatty())
    png = plot_scaling(rows, Path(out) / "scaling.png",
                       f"ponder demo: {BENCHMARK[0]}, {BENCHMARK[1]} split, {thinker.name}")
    say(f"\n   plot: {png}   ({time.perf_counter() - started:.0f} s in all)")
    return {"rows": rows, "plot": str(png)}


def compare_hypotheses(policy, problems: int, judges: dict, say=print, progress: bool = False) -> list[dict]:
    """The second part: each point of ``CURVE`` on the benchmark's first ``problems`` puzzles
    (``judges``: reward models by name, loaded as they are needed)."""
    from ponder.evaluate import evaluate
    from ponder.rewards import get_reward
    from ponder.rewards.metrics import mcnemar_exact, wilson
    from ponder.search.base import trace_styles
    from ponder.search.request import StrategyRequest
    from ponder.tasks import get_task

    task = get_task(BENCHMARK[0])
    batch = task.problems(BENCHMARK[1], problems, seed=0)
    memo = MemoPolicy(policy)
    say(f"2. The seeds' guesses at equal thinking tokens: {len(batch)} puzzles of Tree of Thoughts' Game of 24 "
        f"benchmark ({BENCHMARK[1]} split), by {policy.name}\n")
    say(f"   {'way of thinking':<13} {'strategy':<18} {'budget':>7} {'solved [95% interval]':>23} {'tokens/puzzle':>14}")
    styles, rows, greedy_cost = trace_styles(policy), [], None
    for hypothesis, name, multiple in CURVE:
        budget = None if multiple is None else round(multiple * greedy_cost)
        request = (StrategyRequest(effort="high", budget=budget) if name == "high"
                   else StrategyRequest(strategy=name, budget=budget))
        plan = request.plan(task=task.name, styles=styles)
        if plan.reward and plan.reward not in judges:
            judges[plan.reward] = get_reward(plan.reward, task)
        report = evaluate(task, batch, memo, plan.strategy, judges.get(plan.reward), budget=plan.budget,
                          progress=progress)
        row = {**report.summary(), "reward": plan.reward, "budget": plan.budget, "hypothesis": hypothesis,
               "solved": {r["id"] for r in report.records if r["correct"]}}
        rows.append(row)
        greedy_cost = greedy_cost or max(1.0, report.tokens_per_problem)
        lo, hi = wilson(row["correct"], row["n"])
        label = plan.strategy.name + (f" + {plan.reward}" if plan.reward else "")
        say(f"   {hypothesis:<13} {label:<18} {f'{multiple}x' if multiple else '-':>7} "
            f"{f'{report.accuracy:.0%} [{lo:.0%}, {hi:.0%}]':>23} {report.tokens_per_problem:>14,.0f}")
    for multiple in sorted({m for _, _, m in CURVE if m}):
        tree, vote = (next(r for r, (h, _, m) in zip(rows, CURVE) if h == hypothesis and m == multiple)
                      for hypothesis in ("tree search", "votes"))
        gained, lost = len(tree["solved"] - vote["solved"]), len(vote["solved"] - tree["solved"])
        say(f"   at {multiple}x greedy's tokens, tree search against votes: {gained} puzzles gained, {lost} lost "
            f"(exact McNemar p = {mcnemar_exact(gained, lost):.2g})")
    return rows
