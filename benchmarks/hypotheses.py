"""The seeds' three guesses at how o1 thinks, measured against each other at equal thinking tokens.

Reads sweep files (``ponder sweep``; each point records the problems it solved) and groups the
strategies by the hypothesis they stand for:

* ``chain``: one long chain of thought that backtracks by itself (seed 001): greedy, think, sample;
* ``vote``: several chains, one answer chosen by agreement or a judge: majority, best-of-n,
  weighted-vote, auto, adaptive;
* ``tree``: search over single steps outside the model, guided by a value model (seed 000): tot,
  beam, dvts, rebase, best-first, mcts;
* ``threads``: the policy hands sub-problems to threads decoded side by side and joins their
  results (seed 002): parallel.

For every budget of the sweep (multiples of greedy's cost) it prints the best point of each
hypothesis with its 95% interval (Wilson), tokens, sequential tokens (latency) and seconds per
problem, and the exact McNemar test of each pair of best points on the problems where they
disagree. Sweeps of several policies on the same problems are read together (each point names its
policy and context). Each
"best" is chosen from several points after the fact, so read the p-value as a guide, not a
pre-registered test.

    ponder sweep --task game24 --split tot --limit 100 --multiples 1,4,16 \\
        --strategies greedy,think,majority,auto,beam,best-first,mcts --output runs/hyp-game24.jsonl
    python benchmarks/hypotheses.py runs/hyp-game24.jsonl
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from ponder.report.scaling import by_task, label, load_rows
from ponder.rewards.metrics import mcnemar_exact, wilson

HYPOTHESES = {
    "chain": ("greedy", "think", "sample"),
    "vote": ("majority", "best-of-n", "weighted-vote", "auto", "adaptive"),
    "tree": ("tot", "beam", "dvts", "rebase", "best-first", "mcts"),
    "threads": ("parallel",),
}


def hypothesis(strategy: str) -> str | None:
    return next((h for h, names in HYPOTHESES.items() if strategy in names), None)


def describe(r: dict) -> str:
    lo, hi = wilson(r["correct"], r["n"])
    name = label(r)  # as the plots name its line
    where = f"{r.get('model') or ''}" + (f" @{r['context']}" if r.get("context") else "")
    steps = f"{r['steps_per_problem']:.0f}" if r.get("steps_per_problem") else "-"  # rows from before it was kept
    return (f"{name + ' ':<22}{where:<22}{100 * r['accuracy']:6.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}]"
            f"{r['tokens_per_problem']:>9.0f}{steps:>11}"
            f"{r.get('seconds_per_problem', 0):>8.2f}")


def compare(rows: list[dict]) -> None:
    greedy = [r for r in rows if r["strategy"] == "greedy" and r.get("budget") is None]
    cost = greedy[0]["tokens_per_problem"] if greedy else None
    by_budget: dict = defaultdict(list)
    for r in rows:
        by_budget[r.get("budget")].append(r)
    for budget in sorted(by_budget, key=lambda b: -1 if b is None else b):
        capped = any(r["strategy"] == "greedy" for r in by_budget[budget])  # greedy capped at this budget
        points = by_budget[budget] + (greedy if budget is not None and not capped else [])
        times = f" ({budget / cost:.1f}x greedy's {cost:.0f} tokens)" if budget and cost else ""
        print(f"\nbudget {budget or 'none'}{times}")
        print(f"  {'':<8}{'best point':<22}{'policy @context':<22}{'accuracy [95%]':>20}{'tokens':>9}{'sequential':>11}"
              f"{'s/prob':>8}")
        best = {}
        for h in HYPOTHESES:
            found = [r for r in points if hypothesis(r["strategy"]) == h]
            if found:
                best[h] = max(found, key=lambda r: (r["accuracy"], -r["tokens_per_problem"]))
                print(f"  {h:<8}{describe(best[h])}")
        names = [h for h in HYPOTHESES if h in best and "solved" in best[h]]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                paired(f"{a} vs {b}", best[a], best[b])


def paired(title: str, one: dict, other: dict) -> None:
    """Problems ``one`` solved that ``other`` did not and the other way round, and the exact McNemar
    test on them."""
    gained, lost = len(set(one["solved"]) - set(other["solved"])), len(set(other["solved"]) - set(one["solved"]))
    print(f"  {title}: {gained} problems gained, {lost} lost, exact McNemar p = {mcnemar_exact(gained, lost):.2g}")


def equal_latency(rows: list[dict]) -> None:
    """Threads against one chain capped at the threads' longest chain of sequential tokens: each
    unbudgeted ``parallel`` point beside its policy's ``greedy`` at that budget (same context)."""
    for t in (r for r in rows if r["strategy"] == "parallel" and r.get("budget") is None and r.get("steps_per_problem")):
        same = [r for r in rows if r["strategy"] == "greedy" and r.get("model") == t.get("model")
                and r.get("context") == t.get("context")]
        capped = next((r for r in same if r.get("budget") == round(t["steps_per_problem"])), None)
        if capped is None:
            continue
        print(f"\nat equal latency ({capped['budget']} sequential tokens, {t.get('model')} @{t.get('context')})")
        for r in (capped, t):
            print(f"  {hypothesis(r['strategy']):<8}{describe(r)}")
        if "solved" in t and "solved" in capped:
            paired("threads vs chain", t, capped)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweeps", nargs="+", help="sweep files (ponder sweep --output)")
    args = ap.parse_args()
    for title, rows in by_task(load_rows(args.sweeps)).items():
        print(f"== {title}")
        compare(rows)
        equal_latency(rows)


if __name__ == "__main__":
    main()
