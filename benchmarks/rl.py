"""Does RL sharpen what the policy knew, or widen it? Greedy, pass@1 and pass@k, before and after.

For each policy (the baseline first, by default the shipped SFT policy nano-sft, then every
``--models`` directory a trainer wrote or shipped policy)
and each task, on the same problems, side by side in one run:

* greedy accuracy (single sample, temperature 0);
* pass@1: the mean share of correct samples among ``k`` drawn at temperature 1 (the unbiased
  estimate of one sample's accuracy);
* pass@k: the share of problems with at least one correct sample among the ``k``;
* truncation: the share of samples cut at the context's end;

and the change of each from the baseline. Every answer is checked by the rule verifier.
If RL only sharpens, pass@1 and greedy rise while pass@k stays; if it widens, pass@k rises too.

    python benchmarks/rl.py --models runs/ei/model runs/grpo/model
    python benchmarks/rl.py --models nano-rl --problems 32 --tasks countdown:test-unseen
    python benchmarks/rl.py --models runs/ei/model --tasks countdown:test-unseen --problems 100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ponder.backends.nano import NanoPolicy
from ponder.evaluate import evaluate
from ponder.search import get_strategy
from ponder.tasks import get_task
from ponder.train.rollout import rollouts


def measure(policy, task, problems, k: int, seed: int) -> dict:
    started = time.perf_counter()
    greedy = evaluate(task, problems, policy, get_strategy("greedy"))
    groups = []
    for start in range(0, len(problems), max(1, 64 // k)):
        groups += rollouts(policy, task, problems[start:start + max(1, 64 // k)], k, 1.0, seed=seed)
    correct = np.array([[r.correct for r in g] for g in groups], dtype=float)
    return {"greedy": greedy.accuracy, "pass@1": float(correct.mean()), f"pass@{k}": float(correct.max(1).mean()),
            "truncated": float(np.mean([r.finish_reason == "length" for g in groups for r in g])),
            "tokens_per_sample": float(np.mean([len(r.completion_ids) for g in groups for r in g])),
            "seconds": time.perf_counter() - started}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=[], help="trained policy directories (or shipped names), compared with the baseline")
    ap.add_argument("--baseline", default="nano-sft", help="the policy before RL (default: nano-sft)")
    ap.add_argument("--tasks", nargs="+", default=["countdown:test-unseen", "game24:test"], metavar="TASK:SPLIT")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--k", type=int, default=16, help="samples per problem at temperature 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="write every figure to this file")
    args = ap.parse_args()

    names = [args.baseline, *args.models]
    rows = []
    for spec in args.tasks:
        name, _, split = spec.partition(":")
        task = get_task(name)
        problems = task.problems(split or "test", args.problems)
        base = None
        for model in names:
            policy = NanoPolicy.load(model, max_batch=128)
            row = {"task": f"{name}:{split or 'test'}", "model": model, "problems": len(problems),
                   **measure(policy, task, problems, args.k, args.seed)}
            base = base or row
            rows.append(row)
            gains = "" if row is base else "   (" + ", ".join(
                f"{m} {100 * (row[m] - base[m]):+.1f}" for m in ("greedy", "pass@1", f"pass@{args.k}")) + " points)"
            print(f"{row['task']:<22} {model:<28} greedy {row['greedy']:.3f}  pass@1 {row['pass@1']:.3f}  "
                  f"pass@{args.k} {row[f'pass@{args.k}']:.3f}  truncated {row['truncated']:.3f}  "
                  f"{row['seconds']:.0f} s{gains}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
