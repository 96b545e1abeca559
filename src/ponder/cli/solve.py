"""``ponder solve`` and ``ponder eval``: a strategy on one problem, or on many with accuracy."""

from __future__ import annotations

import json
import sys
import time

from ponder.cli.common import (add_model, add_problem_source, add_strategy, add_workers, load_reward, output_file,
                               plan_of, policy_of, problems_of, task_of, workers_of)


def add_parsers(sub) -> None:
    p = sub.add_parser("solve", help="solve one problem and show the answer with a summary of the reasoning")
    p.add_argument("problem", nargs="*", help='the numbers, e.g. 4 7 8 8 (game24) or "25 3 7 9 -> 66"; for arith "482 * 37"; for math the question')
    p.add_argument("--numbers", nargs="+", metavar="N", help="the numbers to combine")
    p.add_argument("--target", help="the number to reach (math: the reference answer, to check against)")
    p.add_argument("--task", default="countdown", help="countdown (default), countdown-3..6, game24, arith, math")
    p.add_argument("--show-reasoning", action="store_true", help="also print the full hidden reasoning")
    p.add_argument("--show-search", action="store_true", help="also print what the search tried (the tree, votes, rounds)")
    _add_run_options(p, cmd_solve)

    p = sub.add_parser("eval", help="accuracy of a strategy on many problems, verified by rule")
    add_problem_source(p)
    p.add_argument("--output", metavar="FILE", type=output_file, help="write one JSON line per problem (id, answer, correct, tokens)")
    p.add_argument("--resume", action="store_true",
                   help="continue --output: skip the problems already in it and append the rest")
    add_workers(p)
    _add_run_options(p, cmd_eval)


def _add_run_options(p, func) -> None:
    """The model and strategy options of a command that runs a strategy, and the command itself."""
    add_model(p)
    add_strategy(p)
    p.set_defaults(func=func)


def _load_run(args, task):
    """(strategy, reward model's name, budget, policy, reward model): what solve and eval run."""
    from ponder.search.base import trace_styles

    plan = plan_of(args)  # a refusal comes before the policy loads
    policy = policy_of(args)
    if args.effort is not None:  # what a level runs depends on the styles the policy writes
        plan = plan_of(args, styles=trace_styles(policy))
    return plan.strategy, plan.reward, plan.budget, policy, load_reward(plan.reward, task)


# --------------------------------------------------------------------------- ponder solve


def cmd_solve(args) -> int:
    from ponder.tasks.base import parse_problem

    task = task_of(args)
    free_text = task.free_text  # math: a question in words
    problem = parse_problem(task, list(args.problem or []), args.numbers, args.target)
    strategy, reward_name, budget, policy, reward = _load_run(args, task)
    t0 = time.perf_counter()
    result = strategy(problem, policy, reward, budget=budget, seed=args.seed, task=task)
    seconds = time.perf_counter() - t0
    checkable = not free_text or bool(problem.reference)
    correct = task.check(problem, result.answer) if checkable else None
    if args.json:
        out = {"task": task.name, "problem": problem.to_json(), "strategy": strategy.name, "reward": reward_name,
               "effort": args.effort, "budget": budget, "answer": result.answer, "correct": correct,
               "reasoning_summary": result.reasoning_summary, "usage": result.usage.to_json(),
               "finish_reason": result.finish_reason, "seconds": round(seconds, 3)}
        if args.show_reasoning:
            out["reasoning"] = result.text
        if args.show_search:
            out["search"] = list(result.trace)
        print(json.dumps(out))
        return 0
    print(task.prompt(problem).strip())
    if args.show_search and result.trace:
        print(f"--- search ({strategy.name}) ---")
        print("\n".join(result.trace))
    if args.show_reasoning:
        print("--- reasoning ---")
        print(result.text.rstrip())
        print("-----------------")
    if not checkable:
        verdict = "not checked: no --target to check against"
    else:
        verdict = ("correct" if correct else ("wrong" if result.answer else "no answer")) + ", checked by rule"
    print(f"answer: {result.answer or '-'}   [{verdict}]")
    print(f"reasoning: {result.reasoning_summary}")
    print(f"strategy: {strategy.name}{' with ' + reward_name if reward_name else ''}"
          f"{', effort ' + args.effort if args.effort else ''}{f', budget {budget}' if budget else ''}")
    u = result.usage
    print(f"thinking tokens: {u.thinking_tokens} ({u.completion_tokens} generated, {u.reward_tokens} by reward models); "
          f"{u.prompt_tokens} prompt tokens, {u.cached_tokens} from cache; {seconds:.2f} s")
    return 0


# --------------------------------------------------------------------------- ponder eval


def cmd_eval(args) -> int:
    from ponder.evaluate import evaluate

    task = task_of(args)
    problems = problems_of(args, task)
    strategy, reward_name, budget, policy, reward = _load_run(args, task)
    with workers_of(args) as workers:
        report = evaluate(task, problems, policy, strategy, reward, budget=budget, seed=args.seed,
                          progress=not args.json and sys.stderr.isatty(), output=args.output, resume=args.resume,
                          workers=workers, reward_name=reward_name)
    summary = {**report.summary(), "reward": reward_name, "budget": budget, "effort": args.effort,
               "split": None if args.problems else args.split, "problems": args.problems,
               "model": str(args.model or "default")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{task.name} ({summary['split'] or args.problems}), {report.n} problems, strategy {strategy.name}")
        print(f"accuracy: {report.accuracy:.1%}  ({summary['correct']}/{report.n}, verified by rule)")
        print(f"thinking tokens per problem: {report.tokens_per_problem:.1f}   seconds per problem: "
              f"{report.seconds_per_problem:.3f}   prompt tokens recomputed: {report.usage.recomputed:.1%}")
        if report.ceiling is not None and strategy.name not in ("greedy", "sample"):
            print(f"ceiling (some candidate right, by rule): {report.ceiling:.1%}")
        if args.output:
            print(f"per-problem results: {args.output}")
    return 0
