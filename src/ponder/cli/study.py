"""Commands that study strategies across many problems: ``ponder sweep`` (accuracy against budget),
``ponder report`` (its plots), ``ponder demo``, ``ponder strategies`` and ``ponder problems``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ponder.cli.common import (add_context, add_model, add_problem_source, add_workers, cap_context, examples, load_reward,
                               output_dir, output_file, overrides_of, plan_of, problems_of, workers_of)
from ponder.errors import UserError


def add_parsers(sub) -> None:
    p = sub.add_parser("sweep", help="accuracy of strategies x budgets, one JSON line per point",
                       epilog=examples("ponder sweep --task game24 --split tot --limit 20 --strategies greedy,majority "
                                       "--multiples 1,4",
                                       "ponder report runs/sweep-game24-tot.jsonl"))
    add_problem_source(p)
    p.add_argument("--strategies", default="greedy,majority,best-of-n,auto,beam,think",
                   help="comma-separated strategies (default: greedy,majority,best-of-n,auto,beam,think)")
    p.add_argument("--budgets", metavar="TOKENS,...",
                   help="budgets in thinking tokens per problem ('none': no budget, what the strategy spends by itself); "
                        "greedy and sample run at each too, capped, besides once with none")
    p.add_argument("--multiples", default="1,4,16,64",
                   help="without --budgets: budgets as multiples of greedy's cost on these problems (default: 1,4,16,64)")
    p.add_argument("--reward", metavar="NAME_OR_PATH", help="reward model for every strategy that needs one "
                   "(default: genrm-cot for outcome judges, prm for tree search, critic for revise)")
    p.add_argument("--output", metavar="FILE", type=output_file, help="sweep file (JSONL; points already in it are skipped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="an option of every strategy that has it, e.g. --set widen=0.7 (repeatable; "
                        "a point's options are part of it in the sweep file)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    add_model(p)
    add_context(p)
    add_workers(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="plots (PNG) and an HTML page from sweep files or training runs",
                       epilog=examples("ponder report runs/sweep-game24-tot.jsonl", "ponder report runs/nano --out runs/r"))
    p.add_argument("sweeps", nargs="+", metavar="SWEEP.jsonl|RUN",
                   help="sweep files (ponder sweep), or training run directories / their metrics.jsonl")
    p.add_argument("--out", default="runs/report", metavar="DIR", type=output_dir, help="where to write (default: runs/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="the o1 story in about 4 minutes on 2 idle cores: a puzzle at rising effort, then one chain, "
                                    "votes and tree search at equal thinking tokens",
                       epilog=examples("ponder demo", "ponder demo --problems 20"))
    p.add_argument("--problems", type=int, default=100,
                   help="Tree of Thoughts' Game of 24 puzzles the ways of thinking are compared on (default and most: 100)")
    p.add_argument("--out", default="runs/demo", metavar="DIR", type=output_dir, help="where the plot goes (default: runs/demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("strategies", help="list the test-time strategies and effort levels",
                       epilog=examples("ponder strategies"))
    p.set_defaults(func=cmd_strategies)

    p = sub.add_parser("problems", help="write problems of a task and split as JSONL",
                       epilog=examples("ponder problems --task countdown-3 --split test --limit 20 --output my.jsonl"))
    add_problem_source(p)
    p.add_argument("--output", metavar="FILE", type=output_file, help="file to write (default: standard output)")
    p.set_defaults(func=cmd_problems)


# --------------------------------------------------------------------------- ponder sweep

FIXED = ("greedy", "sample")
"""Strategies whose compute a budget does not change (run once per sweep)."""


def _numbers(text: str, flag: str, kind=int) -> list:
    items = [x.strip() for x in text.split(",")]
    try:
        values = [kind(x) for x in items]
    except ValueError:
        raise UserError(f"{flag} takes numbers separated by commas, got {text!r}") from None
    if not values or any(not (0 < v < math.inf) for v in values):
        raise UserError(f"{flag} takes positive numbers, got {text!r}")
    return values


def _budgets(text: str) -> list[int | None]:
    """``--budgets``: numbers of tokens, and ``none`` for a point with no budget."""
    given = [b.strip() for b in text.split(",")]
    numbers = [b for b in given if b != "none"]
    return [None] * ("none" in given) + (_numbers(",".join(numbers), "--budgets") if numbers else [])


def cmd_sweep(args) -> int:
    from ponder.backends import load_policy
    from ponder.search import get_strategy
    from ponder.sweep import Point, options_key, read_rows, row_key, run_sweep
    from ponder.tasks import get_task

    task = get_task(args.task)
    problems = problems_of(args, task)
    names = [n.strip() for n in args.strategies.split(",")]
    if not all(names):
        raise UserError(f"--strategies takes strategy names separated by commas, got {args.strategies!r}")
    given = overrides_of(args)
    options = {n: options_for(n, given) for n in names}
    unused = set(given) - {k for o in options.values() for k in o}
    if unused:
        raise UserError(f"--set {sorted(unused)[0]}: none of the strategies {', '.join(names)} has such an option")
    plans = {n: plan_of(args, strategy=n, options=options[n]) for n in names}
    strategies = {n: plan.strategy for n, plan in plans.items()}
    rewards_for = {n: plan.reward if plan.strategy.reward_kind else None for n, plan in plans.items()}
    source = args.problems or args.split
    output = args.output or f"runs/sweep-{task.name}-{Path(source).stem}.jsonl"
    policy = load_policy(args.model, args.backend)
    own_context = policy.max_context
    cap_context(policy, args.context)
    rewards = {name: load_reward(name, task) for name in set(rewards_for.values()) if name}
    progress = sys.stderr.isatty()
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    budgets = None if args.budgets is None else _budgets(args.budgets)
    with workers_of(args) as workers:
        def sweep(points, strategies):
            return run_sweep(task, problems, source, policy, points, rewards, strategies, args.seed, output, progress,
                             log, workers, own_context)

        first, capped = [], budgets is not None  # budgets given: greedy and sample are capped at each too
        if budgets is None:  # multiples of what greedy decoding spends on these problems
            greedy = Point("greedy", None, None)
            first = sweep([greedy], {"greedy": get_strategy("greedy")})
            key = greedy.key(policy.name, policy.max_context, task.name, source, len(problems), args.seed)
            base = first[0] if first else next(r for r in read_rows(output) if row_key(r, own_context) == key)
            cost = max(1, round(base["tokens_per_problem"]))
            budgets = [round(m * cost) for m in _numbers(args.multiples, "--multiples", float)]
            log(f"greedy spends {cost} tokens per problem; budgets: {', '.join(map(str, budgets))}")
        # budget by budget, every strategy's cheap points first: a sweep cut short still has the start of every line
        points = [Point(n, rewards_for[n], None, options_key(options[n])) for n in names if n in FIXED]
        points += [Point(n, rewards_for[n], b, options_key(options[n])) for b in budgets for n in names
                   if n not in FIXED or (capped and b is not None)]
        rows = first + sweep(points, strategies)
    log(f"sweep written to {output} ({len(rows)} new points); plot it with: ponder report {output}")
    if args.json:
        print(json.dumps({"output": output, "points": len(rows)}))
    return 0


# --------------------------------------------------------------------------- ponder report


def options_for(name: str, options: dict) -> dict:
    """Of the --set options, those the strategy ``name`` has (an unknown name: all, for plan_of to refuse)."""
    from dataclasses import fields

    from ponder.search import get_strategy

    try:
        known = {f.name for f in fields(get_strategy(name))}
    except UserError:
        return options
    return {k: v for k, v in options.items() if k in known}


def cmd_report(args) -> int:
    from ponder.report import load_rows, tokens_to_reach, write_html
    from ponder.report.scaling import by_task, lines
    from ponder.report.training import is_metrics_row, write_training_report

    training = [_is_training_run(p, is_metrics_row) for p in args.sweeps]
    if any(training):
        if not all(training):
            raise UserError("give either sweep files or training runs, not both")
        page = write_training_report(args.sweeps, args.out)
        print(f"training report written to {page} (plots beside it)")
        return 0
    rows = load_rows(args.sweeps)
    page = write_html(rows, args.out)
    for title, task_rows in by_task(rows).items():
        print(f"== {title}")
        print(f"{'strategy':<28} {'budget':>8} {'accuracy':>9} {'ceiling':>8} {'tokens/problem':>15} {'sequential':>11} "
              f"{'s/problem':>10}")
        for name, pts in lines(task_rows).items():
            for r in pts:
                ceil = f"{r['ceiling']:.1%}" if r.get("ceiling") is not None else "-"
                print(f"{name:<28} {str(r.get('budget') or '-'):>8} {r['accuracy']:>9.1%} {ceil:>8} "
                      f"{r['tokens_per_problem']:>15,.0f} {r.get('steps_per_problem') or 0:>11,.0f} "
                      f"{r.get('seconds_per_problem', 0):>10.2f}")
        goal, reach = tokens_to_reach(task_rows)
        if goal is not None:
            print(f"tokens per problem to reach best-of-n's best accuracy ({goal:.1%}):")
            for k, v in reach.items():
                print(f"  {k:<28} {'not reached' if v is None else f'{v:,.0f}'}")
    print(f"report written to {page} (plots beside it)")
    return 0


def _is_training_run(path: str, is_metrics_row) -> bool:
    """A run directory, or a JSONL file whose first row is a training metrics line."""
    p = Path(path)
    if p.is_dir():
        return True
    try:
        with p.open() as f:
            first = f.readline()
        return is_metrics_row(json.loads(first))
    except (OSError, ValueError, AttributeError):
        return False  # the sweep loader says what is wrong with it


# --------------------------------------------------------------------------- ponder demo, strategies, problems


def cmd_demo(args) -> int:
    from ponder.demo import run_demo

    if not 1 <= args.problems <= 100:
        raise UserError(f"--problems must be from 1 to 100 (Tree of Thoughts' benchmark has 100 puzzles), "
                        f"got {args.problems}")
    run_demo(args.problems, out=args.out)
    return 0


def cmd_strategies(args) -> int:
    from ponder.search import EFFORTS, get_strategy, strategy_names
    from ponder.search.effort import TASK_EFFORTS

    for name in strategy_names():
        st = get_strategy(name)
        doc = plain((type(st).__doc__ or "").strip().split("\n\n")[0])
        print(f"{name:<14} {('needs ' + st.reward_kind) if st.reward_kind else '':<14} {doc}")
    print()
    for level, e in EFFORTS.items():
        print(f"--effort {level:<7} {described(e)}")
    for task, levels in TASK_EFFORTS.items():
        print(f"\n--task {task}:")
        for level, e in levels.items():
            print(f"--effort {level:<7} {described(e)}")
    return 0


def plain(doc: str) -> str:
    """A docstring's first paragraph as plain text on one line: ``code`` marks dropped."""
    return " ".join(doc.replace("``", "").split())


def described(e) -> str:
    """An effort level in a line: ``best-of-n (n=16) with genrm-cot, at most 4000 tokens``."""
    opts = ", ".join(f"{k}={v}" for k, v in e.options)
    return (e.strategy + (f" ({opts})" if opts else "") + (f" with {e.reward}" if e.reward else "")
            + (f", at most {e.budget} tokens" if e.budget else "")
            + (f"; for a policy that writes {e.style} steps (nano-v2-sft)" if e.style else ""))


def cmd_problems(args) -> int:
    from ponder.tasks import get_task, save_problems

    task = get_task(args.task)
    problems = problems_of(args, task)
    if args.output:
        save_problems(args.output, problems)
    else:
        for p in problems:
            print(json.dumps(p.to_json()))
    return 0
