"""``ponder demo``: the o1 story on screen, on the shipped models, in about a minute on 2 cores.

First a few puzzles solved at rising effort, with what the search tried; then accuracy against
thinking compute on 100 problems for a few strategies, as a table and a plot.

The curve's strategies share their samples: sample i of a prompt with a given seed is the same
sample whoever asks (``ponder.engine``), so ``MemoPolicy`` hands a strategy that asks for 2 the
first 2 of the 4 another already drew. Each strategy is still charged every token of every
sample it uses; only the wall-clock time is shared.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

PUZZLES = (("game24", (2, 5, 8, 11), 24),)
"""The first puzzle of Tree of Thoughts' Game of 24 benchmark (the ``tot`` split, never trained on)
that greedy decoding gets wrong and ``high`` effort right (``tot-903``; docs/results.md#the-demo)."""
THINKER = "nano-v2-sft"
"""The policy of the first part: trained on single steps as well as on its written-out search, so
``high`` effort searches over its steps with the value model (``TASK_EFFORTS``)."""
CURVE = (("greedy", {}), ("majority", {"n": 4}), ("majority", {"n": 2}), ("majority", {"n": 1}),
         ("adaptive", {"batch": 2}))


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


def run_demo(problems: int = 100, task_name: str = "countdown-3", out: str | Path = "runs/demo", say=print) -> dict:
    from ponder.backends.nano import NanoPolicy
    from ponder.evaluate import evaluate
    from ponder.report import plot_scaling
    from ponder.rewards import get_reward
    from ponder.search import get_strategy
    from ponder.search.base import trace_styles
    from ponder.search.request import StrategyRequest
    from ponder.tasks import get_task

    started = time.perf_counter()
    thinker = NanoPolicy.load(THINKER)
    say("ponder demo: small policies trained here on 2 CPU cores think before they answer.\n")
    say(f"1. A puzzle from Tree of Thoughts' benchmark at rising reasoning effort, by {thinker.name} "
        f"(every answer checked by rule):\n")
    judges: dict = {}
    for task_name_, numbers, target in PUZZLES:
        task = get_task(task_name_)
        problem = task.make_problem(list(numbers), target)
        say(f"   {task.prompt(problem).strip()}")
        for level in ("low", "medium", "high"):
            plan = StrategyRequest(effort=level).plan(task=task.name, styles=trace_styles(thinker))
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
    policy = NanoPolicy.load()
    task = get_task(task_name)
    batch = task.problems("test", problems, seed=0)
    memo = MemoPolicy(policy)
    say(f"2. Accuracy against thinking compute: {len(batch)} {task.name} test problems, by {policy.name}\n")
    say(f"   {'strategy':<22} {'accuracy':>9} {'tokens/problem':>15}")
    rows = []
    for name, options in CURVE:
        report = evaluate(task, batch, memo, get_strategy(name, **options))
        label = f"{name}" + (f" n={options['n']}" if "n" in options else "")
        row = {**report.summary(), "label": label, "reward": None, "budget": None}
        rows.append(row)
        say(f"   {label:<22} {report.accuracy:>9.1%} {report.tokens_per_problem:>15,.0f}")
    png = plot_scaling(rows, Path(out) / "scaling.png", f"ponder demo, {task.name}")
    say(f"\n   plot: {png}   ({time.perf_counter() - started:.0f} s in all)")
    return {"rows": rows, "plot": str(png)}
