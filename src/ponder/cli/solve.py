"""``ponder solve`` and ``ponder eval``: a strategy on one problem, or on many with accuracy."""

from __future__ import annotations

import json
import sys
import time

from ponder.cli.common import (add_context, add_model, add_problem_source, add_strategy, add_workers, examples, load_reward,
                               output_file, plan_of, policy_of, problems_of, task_of, workers_of)


def add_parsers(sub) -> None:
    p = sub.add_parser("solve", help="solve one problem and show the answer with a summary of the reasoning",
                       epilog=examples('ponder solve "Make 66 from 25, 3, 7 and 10"',
                                       'ponder solve "Game of 24: 4 7 8 8" --effort high --show-search',
                                       'ponder solve 4 9 10 13 --json',
                                       'ponder solve "What is 48 * 37?" --show-reasoning'))
    p.add_argument("problem", nargs="*", help='the puzzle: "25 3 7 10 -> 66", "Make 66 from 25, 3, 7 and 10", '
                                              '"Game of 24: 4 7 8 8", 4 7 8 8 (game24), "482 * 37" (arith); '
                                              'for math the question')
    p.add_argument("--numbers", nargs="+", metavar="N", help="the numbers to combine")
    p.add_argument("--target", help="the number to reach (math: the reference answer, to check against)")
    p.add_argument("--task", help="countdown, countdown-3..6, game24, arith, math (default: what the words name, "
                                  "else countdown; four numbers alone: game24)")
    p.add_argument("--show-reasoning", action="store_true", help="also print the full hidden reasoning")
    p.add_argument("--show-search", action="store_true", help="also print what the search tried (the tree, votes, rounds); "
                   "with --json, also the explorer's view of it (open it at the server's /explorer)")
    _add_run_options(p, cmd_solve)

    p = sub.add_parser("eval", help="accuracy of a strategy on many problems, verified by rule",
                       epilog=examples("ponder eval --task game24 --split tot --limit 20",
                                       "ponder eval --split test-unseen --limit 100 --effort medium --output rows.jsonl",
                                       "ponder eval --task countdown-3 --strategy majority --samples 8 --json"))
    add_problem_source(p)
    p.add_argument("--output", metavar="FILE", type=output_file, help="write one JSON line per problem (id, answer, correct, tokens)")
    p.add_argument("--resume", action="store_true",
                   help="continue --output: skip the problems already in it and append the rest")
    p.add_argument("--save-search", action="store_true",
                   help="with --output, each row also holds the explorer's view of its search (tree, samples or lines)")
    add_workers(p)
    _add_run_options(p, cmd_eval)


def _add_run_options(p, func) -> None:
    """The model and strategy options of a command that runs a strategy, and the command itself."""
    add_model(p)
    add_context(p)
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


def problem_of(args):
    """(task, problem) of ``ponder solve``'s arguments: the task --task names, else the one the words
    name ("Game of 24: 4 7 8 8"), else countdown (four numbers alone: game24); the puzzle as typed."""
    from ponder.errors import UserError
    from ponder.tasks.base import parse_problem, shorten
    from ponder.tasks.statements import FORMS, read_statement, task_for

    words = list(args.problem or [])
    statement = read_statement(" ".join(words))
    if args.task is None:
        args.task = "countdown" if args.numbers or args.target else task_for(statement)
    task = task_of(args)
    if task.free_text:  # math: a question in words
        return task, parse_problem(task, words, args.numbers, args.target)
    if words and not statement.words and not args.numbers:
        raise UserError(f"no puzzle found in {shorten(' '.join(words))!r}; write one as: {', '.join(FORMS)}")
    return task, parse_problem(task, [statement.words] if statement.words else [], args.numbers, args.target)


def cmd_solve(args) -> int:
    from ponder.types import Usage

    task, problem = problem_of(args)
    free_text = task.free_text
    impossible = None if free_text else task.no_solution(problem)
    if impossible:  # said at once: no search can find what the solver proved is not there
        print(json.dumps({"task": task.name, "problem": problem.to_json(), "answer": None, "correct": None,
                          "no_solution": impossible, "reasoning_summary": impossible,
                          "usage": Usage().to_json()})
              if args.json else impossible)
        return 0
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
        if args.show_search:  # the trace in words, and the explorer's view (tree, samples or lines)
            from ponder.search.explore import view

            out["trace"] = list(result.trace)
            out["search"] = view(result, task, problem)
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
                          workers=workers, reward_name=reward_name, save_search=args.save_search)
    summary = {**report.summary(), "reward": reward_name, "budget": budget, "effort": args.effort,
               "split": None if args.problems else args.split, "problems": args.problems,
               "model": str(args.model or "default"), "context": policy.max_context}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{task.name} ({summary['split'] or args.problems}), {report.n} problems, strategy {strategy.name}")
        print(f"accuracy: {report.accuracy:.1%}  ({summary['correct']}/{report.n}, verified by rule)")
        print(f"thinking tokens per problem: {report.tokens_per_problem:.1f}   sequential tokens (latency): "
              f"{report.steps_per_problem:.1f}   seconds per problem: {report.seconds_per_problem:.3f}   "
              f"prompt tokens recomputed: {report.usage.recomputed:.1%}")
        if report.ceiling is not None and strategy.name not in ("greedy", "sample"):
            print(f"ceiling (some candidate right, by rule): {report.ceiling:.1%}")
        if args.output:
            print(f"per-problem results: {args.output}")
    return 0
