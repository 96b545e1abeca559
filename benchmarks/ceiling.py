"""How far tree search over the policy's own steps could go: each tree strategy with a perfect value
model (the rule oracle's exact prefix outcomes) in place of a learned one.

A learned value model can at best reach these figures. What they miss of 100% is lost by the
policy's proposals: no line it proposed kept the problem solvable, or the search ran out of
budget first. What a learned model misses of them is what a better value model could still win.
The tokens are the policy's alone: the oracle reads none, where a value model reads each new line
once (about as many tokens again). Run it on a validation split, where tree search's settings are
chosen; never tune on test.

    python benchmarks/ceiling.py --task game24 --split val --model nano-v2-sft
    python benchmarks/ceiling.py --task countdown --split val --limit 100 beam:width=2,expand=4 beam:width=2,expand=4,widen=0.5
"""

from __future__ import annotations

import argparse
import ast
import time

from ponder.backends.nano import NanoPolicy
from ponder.evaluate import evaluate
from ponder.rewards import OracleReward
from ponder.rewards.metrics import wilson
from ponder.search import get_strategy
from ponder.tasks import get_task

DEFAULT = ["beam:width=2,expand=4", "beam:width=2,expand=8", "beam:width=2,expand=4,widen=0.5",
           "best-first:expand=4,batch=1,widen=0.5", "mcts:simulations=32,widen=0.5"]


class OracleValues(OracleReward):
    """The oracle as a value model: a partial text's value is its last step's exact prefix outcome."""

    gives_values = True

    def values(self, problem, texts):
        partial = OracleReward(self.task, partial=True, room=self.room)
        return [scores[-1] for scores in partial.score(problem, texts)]


def strategy_of(spec: str):
    """``beam:width=2,expand=4`` -> the strategy ``beam`` with those fields."""
    name, _, options = spec.partition(":")
    fields = dict(pair.split("=", 1) for pair in options.split(",") if pair)
    return get_strategy(name, **{k: ast.literal_eval(v) for k, v in fields.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("strategies", nargs="*", default=DEFAULT, help=f"NAME[:FIELD=VALUE,...] (default: {' '.join(DEFAULT)})")
    ap.add_argument("--model", default="nano-v2-sft")
    ap.add_argument("--task", default="game24")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--budget", type=int, help="thinking tokens a problem (default: none; the strategy's own size)")
    args = ap.parse_args()
    if args.split.startswith("test") or args.split == "tot":
        print(f"note: {args.split} is a test split; choose settings on val")
    task = get_task(args.task)
    policy = NanoPolicy.load(args.model, max_batch=128)
    problems = task.problems(args.split, args.limit)
    print(f"{policy.name} on {len(problems)} {task.name} {args.split} problems, values from the oracle "
          f"(budget {args.budget or 'none'})")
    print(f"{'strategy':<28}{'accuracy [95%]':>24}{'any line right':>16}{'tokens':>8}{'s/prob':>8}")
    for spec in args.strategies:
        strategy = strategy_of(spec)
        t0 = time.perf_counter()
        report = evaluate(task, problems, policy, strategy, OracleValues(task), args.budget)
        seconds = (time.perf_counter() - t0) / len(problems)
        right = sum(r["correct"] for r in report.records)
        lo, hi = wilson(right, len(problems))
        print(f"{spec:<28}{100 * report.accuracy:>9.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}]"
              f"{100 * (report.ceiling or 0):>15.1f}%{report.tokens_per_problem:>8.0f}{seconds:>8.2f}")


if __name__ == "__main__":
    main()
