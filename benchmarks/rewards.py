"""Which reward model picks best? AUROC, best-of-16 and cost of every reward model, side by side.

On solutions the default policy samples for held-out Countdown problems (4 numbers, the test
split; 16 samples each at temperature 1, so 128 problems make 2,048 solutions; with 64, majority
vote and the ceiling were one problem apart, too close to measure how much of the gap a reward
model closes):

1. AUROC of each reward model's score for final-answer correctness (the rule verifier decides),
   for the PRM under each aggregator: over all solutions, and averaged within each problem that
   has both right and wrong solutions (what best-of-n needs);
2. best-of-16 accuracy when each reward model picks, next to majority vote over the 16 answers
   (no verifier), the policy's mean single-sample accuracy, and the oracle's pass@16 (the
   ceiling), with the share of the majority-to-oracle gap each reward model closes, how many
   of its picks have no answer at all, and the accuracy of a vote weighted by its scores;
3. step-level judgement of each process reward model (the PRM; the oracle as a check) against the
   exact prefix outcomes (a faultless search from the step must reach the answer within the
   policy's context): agreement (score >= 0.5), AUROC over steps, and ProcessBench's first-error
   F1 (Zheng et al. 2024): the first step scored under 0.5 must be the first whose exact outcome
   is lost, on traces that have one, and none may be flagged on traces that have none;
4. cost: reward tokens and seconds per scored solution;
5. with ``--mc``: agreement of Monte Carlo step labels with the exact prefix outcomes, as a
   function of the number of rollouts k (the PRM's training labels, read from the cache that
   ``ponder train rm --kind prm`` filled, or computed).

    python benchmarks/rewards.py                           # the shipped reward models
    python benchmarks/rewards.py --rewards orm prm=runs/prm/model --problems 32 --json out.json
    python benchmarks/rewards.py --model DIR --style direct --max-tokens 128 --rewards oracle prm   # direct traces
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

from ponder.backends.nano import NanoPolicy
from ponder.rewards import aggregate, get_reward
from ponder.rewards.metrics import auroc, best_of, first_below, first_error_f1, majority
from ponder.search.base import trace_styles
from ponder.tasks import get_task
from ponder.train.samples import exact_outcomes, problem_of, sampled_solutions

AGGREGATES = {"prm": ("last", "min", "product", "mean")}


def normal(answer: str | None) -> str | None:
    return None if answer is None else answer.replace(" ", "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="nano-sft",
                    help="the policy whose solutions are judged: a model directory or a shipped name (default: nano-sft, "
                         "whose samples the shipped reward models learned from)")
    ap.add_argument("--task", default="countdown")
    ap.add_argument("--split", default="test", help="problems from this split (default: test)")
    ap.add_argument("--problems", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--style", default="", help="the trace style the policy is asked for (default: its task's)")
    ap.add_argument("--max-tokens", type=int, default=0,
                    help="cap each sampled text at this many tokens, as reward-model training does (0: the context); "
                         "a direct trace that drifts into a written-out search otherwise fills the context, and its "
                         "dozens of steps outweigh the rest")
    ap.add_argument("--problem-seed", type=int, default=7)
    ap.add_argument("--rewards", nargs="+", default=["oracle", "orm", "prm", "genrm", "genrm-cot", "critic"])
    ap.add_argument("--mc", action="store_true", help="also report Monte Carlo label agreement against k")
    ap.add_argument("--json", metavar="FILE", help="write every figure to this file")
    args = ap.parse_args()

    task = get_task(args.task)
    policy = NanoPolicy.load(args.model, max_batch=256)
    if args.style and args.style not in trace_styles(policy):
        raise SystemExit(f"{args.model} was not trained on the {args.style!r} style (its metadata's trace_styles)")
    problems = task.problems(args.split, args.problems, seed=args.problem_seed)
    rows = sampled_solutions(policy, task, problems, args.samples, chunk=len(problems), style=args.style,
                             max_tokens=args.max_tokens)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["problem"]["id"]].append(r)
    labels = [bool(r["correct"]) for r in rows]
    report: dict = {"task": task.name, "problems": len(groups), "solutions": len(rows), "samples": args.samples,
                    "policy_accuracy": sum(labels) / len(labels),
                    "pass@n": sum(any(r["correct"] for r in g) for g in groups.values()) / len(groups)}
    maj = 0
    for g in groups.values():
        pick = majority([normal(task.answer(r["text"])) for r in g])
        maj += pick is not None and g[pick]["correct"]
    report["majority@n"] = maj / len(groups)
    gap = report["pass@n"] - report["majority@n"]
    print(f"{len(rows)} solutions to {len(groups)} {task.name} {args.split} problems: policy accuracy "
          f"{report['policy_accuracy']:.3f}, majority@{args.samples} {report['majority@n']:.3f}, "
          f"oracle pass@{args.samples} {report['pass@n']:.3f}")

    report["rewards"] = {}
    print(f"\n{'reward':<12}{'agg':<9}{'AUROC':>7}{'AUROC/pb':>9}{'best-of-' + str(args.samples):>12}{'gap closed':>12}"
          f"{'no answer':>11}{'wtd vote':>10}{'tokens/sol':>12}{'s/sol':>9}")
    for name in args.rewards:
        rm = get_reward(name, task=task)
        t0 = time.perf_counter()
        scores = {}
        for g in groups.values():
            for r, s in zip(g, rm.score(problem_of(g[0]), [r["text"] for r in g])):
                scores[id(r)] = s
        seconds = time.perf_counter() - t0
        tokens = rm.usage.reward_tokens / len(rows)
        for how in AGGREGATES.get(name.split("=")[0], ("last",)):
            flat = [aggregate(scores[id(r)], how) for r in rows]
            picked = no_answer = voted = 0
            within = []
            for g in groups.values():
                s = [aggregate(scores[id(r)], how) for r in g]
                choice = g[best_of(s)]
                picked += choice["correct"]
                no_answer += task.answer(choice["text"]) is None
                voted += weighted_vote(task, g, s)
                if 0 < sum(r["correct"] for r in g) < len(g):
                    within.append(auroc(s, [r["correct"] for r in g]))
            bon = picked / len(groups)
            closed = (bon - report["majority@n"]) / gap if gap > 0 else float("nan")
            entry = {"auroc": auroc(flat, labels), "auroc_within_problem": sum(within) / len(within) if within else 0.5,
                     "best_of_n": bon, "gap_closed": closed, "picked_no_answer": no_answer,
                     "weighted_vote": voted / len(groups),
                     "tokens_per_solution": tokens, "seconds_per_solution": seconds / len(rows)}
            report["rewards"][f"{name}/{how}"] = entry
            print(f"{name:<12}{how:<9}{entry['auroc']:>7.3f}{entry['auroc_within_problem']:>9.3f}{bon:>12.3f}"
                  f"{closed:>12.2f}{no_answer:>11}{entry['weighted_vote']:>10.3f}{tokens:>12.0f}"
                  f"{seconds / len(rows):>9.3f}")
        if rm.kind == "process":
            steps = report["rewards"][f"{name}/last"]["steps"] = step_judgement(task, policy, rows, scores)
            print(f"{'':<12}steps against exact prefix outcomes: agreement {steps['agreement']:.3f}, AUROC "
                  f"{steps['auroc']:.3f} over {steps['steps']} steps; first-error F1 {steps['f1']:.3f} (found on "
                  f"{steps['erroneous']:.3f} of {steps['traces_with_error']} traces with one, none flagged on "
                  f"{steps['correct']:.3f} of {steps['traces_without']} without)")

    if args.mc:
        report["monte_carlo"] = mc_agreement(task, policy)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def weighted_vote(task, group, scores) -> bool:
    """Whether the answer with the largest summed score is right (votes weighted by the reward)."""
    totals: dict[str, float] = defaultdict(float)
    first: dict[str, dict] = {}
    for r, s in zip(group, scores):
        a = normal(task.answer(r["text"]))
        if a is not None:
            totals[a] += s
            first.setdefault(a, r)
    return bool(totals) and bool(first[max(totals, key=totals.get)]["correct"])


def step_judgement(task, policy, rows, scores) -> dict:
    """A process reward model's step scores against the exact prefix outcomes: agreement (score >=
    0.5) and AUROC over every step of every solution, and the first-error F1 over solutions."""
    flat, exact, found, actual = [], [], [], []
    for r in rows:
        truth = exact_outcomes(policy, task, r)
        step_scores = scores[id(r)][:len(truth)]  # (a finished text's last score judges the whole)
        truth = truth[:len(step_scores)]
        flat += step_scores
        exact += truth
        found.append(first_below(step_scores))
        actual.append(first_below([float(e) for e in truth]))
    agree = sum((s >= 0.5) == e for s, e in zip(flat, exact))
    return {"agreement": agree / len(flat) if flat else 0.0, "auroc": auroc(flat, exact), "steps": len(flat),
            **first_error_f1(found, actual)}


def mc_agreement(task, policy) -> dict:
    from ponder.rewards.montecarlo import StepLabel, agreement
    from ponder.train.recipes import load_recipe
    from ponder.train.rm import RMConfig, split_rows
    from ponder.train.samples import monte_carlo_rows

    cfg = load_recipe("rm-default", RMConfig, section="prm", kind="prm")
    problems = task.problems("train", cfg.problems, seed=cfg.seed + 1)
    rows = sampled_solutions(policy, task, problems, cfg.samples, cfg.temperature, cfg.seed, chunk=32)
    train, _ = split_rows(rows, cfg.holdout, cfg.seed)
    train = train[:cfg.mc_solutions]
    mc = monte_carlo_rows(policy, task, train, cfg.mc_rollouts, cfg.mc_steps, cfg.temperature, cfg.seed)
    bounded = [exact_outcomes(policy, task, r) for r in train]
    unbounded = [task.prefix_outcomes(problem_of(r), r["text"]) for r in train]
    out = {}
    print(f"\nMonte Carlo step labels vs exact prefix outcomes ({sum(map(len, mc))} steps of {len(train)} "
          f"training solutions); exact: a faultless search from the step, within the context / unbounded")
    print(f"{'k':>4}{'hard':>8}{'soft>=.5':>10}{'hard':>10}{'soft>=.5':>10}")
    k = 1
    while k <= cfg.mc_rollouts:
        labels = [[StepLabel(s["step"], tuple(s["outcomes"][:k])) for s in lab] for lab in mc]
        a, b = agreement(labels, bounded), agreement(labels, unbounded)
        out[k] = {"within_context": a, "unbounded": b}
        print(f"{k:>4}{a['hard']:>8.3f}{a['soft']:>10.3f}{b['hard']:>10.3f}{b['soft']:>10.3f}")
        k *= 2
    positive = sum(e[s["step"]] for lab, e in zip(mc, bounded) for s in lab)
    print(f"     (exact outcome within the context true on {positive} of {sum(map(len, mc))} steps)")
    return out


if __name__ == "__main__":
    main()
