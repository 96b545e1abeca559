"""The ``ponder`` command.

Heavy libraries (torch) are imported inside the commands that need them, so ``ponder --help``
and argument errors answer at once. A user mistake prints one line, ``ponder: error: ...``, and
exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ponder.errors import UserError

BACKENDS = ("nano",)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UserError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- shared options


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="PATH", help="model directory (default: the shipped nano model)")
    p.add_argument("--backend", default="nano", help="policy backend (this version: nano)")


def _add_strategy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default="greedy", help="test-time strategy: greedy or sample (default: greedy)")
    p.add_argument("--budget", type=int, metavar="TOKENS", help="most reasoning tokens per problem")
    p.add_argument("--temperature", type=float, help="sampling temperature (strategy sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _load_policy(args):
    if args.backend not in BACKENDS:
        raise UserError(f"backend {args.backend!r} is not available in this version; choose one of: {', '.join(BACKENDS)}")
    from ponder.backends.nano import NanoPolicy

    return NanoPolicy.load(args.model)


def _strategy(args):
    from ponder.search import get_strategy

    options = {}
    if args.temperature is not None:
        if args.strategy != "sample":
            raise UserError("--temperature applies to --strategy sample")
        if args.temperature < 0:
            raise UserError(f"--temperature must be >= 0, got {args.temperature}")
        options["temperature"] = args.temperature
    if args.budget is not None and args.budget < 1:
        raise UserError(f"--budget must be a positive number of tokens, got {args.budget}")
    return get_strategy(args.strategy, **options)


# --------------------------------------------------------------------------- ponder solve


def cmd_solve(args) -> int:
    from ponder.tasks import get_task

    task = get_task(args.task)
    raw = list(args.numbers or [])
    if args.problem:
        raw = " ".join(args.problem).replace(",", " ").split() + raw
    if args.task.startswith("arith"):
        text = " ".join(raw)
        problem = task.make_problem(text)
    else:
        if "->" in raw:  # "25 3 7 9 -> 66"
            at = raw.index("->")
            if args.target is None and at + 1 < len(raw):
                args.target = raw[at + 1]
            raw = raw[:at]
        if not raw:
            raise UserError("give the numbers, e.g. ponder solve --numbers 25 3 7 9 --target 66")
        target = args.target
        if target is None and task.targets[0] != task.targets[1]:
            raise UserError(f"{task.name} needs a target: add --target (or use --task game24)")
        problem = task.make_problem(raw, target)
    strategy = _strategy(args)
    policy = _load_policy(args)
    t0 = time.perf_counter()
    result = strategy(problem, policy, budget=args.budget, seed=args.seed, task=task)
    seconds = time.perf_counter() - t0
    correct = task.check(problem, result.answer)
    if args.json:
        out = {"task": task.name, "problem": problem.to_json(), "answer": result.answer, "correct": correct,
               "reasoning_summary": result.reasoning_summary, "usage": result.usage.to_json(),
               "finish_reason": result.finish_reason, "seconds": round(seconds, 3)}
        if args.show_reasoning:
            out["reasoning"] = result.text
        print(json.dumps(out))
        return 0
    print(task.prompt(problem).strip())
    if args.show_reasoning:
        print("--- reasoning ---")
        print(result.text.rstrip())
        print("-----------------")
    verdict = "correct" if correct else ("wrong" if result.answer else "no answer")
    print(f"answer: {result.answer or '-'}   [{verdict}, checked by rule]")
    print(f"reasoning: {result.reasoning_summary}")
    u = result.usage
    print(f"tokens: {u.completion_tokens} reasoning, {u.prompt_tokens} prompt; {seconds:.2f} s")
    return 0


# --------------------------------------------------------------------------- ponder eval


def _problems(args, task):
    from ponder.tasks import load_problems

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.problems:
        problems = load_problems(args.problems, task)
        return problems[: args.limit] if args.limit else problems
    return task.problems(args.split, args.limit or 200, seed=args.problem_seed)


def cmd_eval(args) -> int:
    from ponder.evaluate import evaluate
    from ponder.tasks import get_task

    task = get_task(args.task)
    problems = _problems(args, task)
    strategy = _strategy(args)
    policy = _load_policy(args)
    report = evaluate(task, problems, policy, strategy, budget=args.budget, seed=args.seed,
                      progress=not args.json and sys.stderr.isatty(), output=args.output)
    summary = {**report.summary(), "split": None if args.problems else args.split,
               "problems": args.problems, "model": str(args.model or "default")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{task.name} ({summary['split'] or args.problems}), {report.n} problems, strategy {strategy.name}")
        print(f"accuracy: {report.accuracy:.1%}  ({summary['correct']}/{report.n}, verified by rule)")
        print(f"tokens per problem: {report.tokens_per_problem:.1f}   seconds per problem: {report.seconds_per_problem:.3f}")
        if args.output:
            print(f"per-problem results: {args.output}")
    return 0


# --------------------------------------------------------------------------- ponder problems


def cmd_problems(args) -> int:
    from ponder.tasks import get_task, save_problems

    task = get_task(args.task)
    problems = _problems(args, task)
    if args.output:
        save_problems(args.output, problems)
    else:
        for p in problems:
            print(json.dumps(p.to_json()))
    return 0


# --------------------------------------------------------------------------- ponder train sft


def _overrides(args) -> dict:
    overrides = {}
    for item in args.set or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise UserError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def cmd_train_sft(args) -> int:
    from ponder.train.recipes import load_recipe
    from ponder.train.sft import train_sft

    overrides = _overrides(args)
    for key in ("steps", "examples", "seed"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    out = args.out or f"runs/{args.recipe}"
    if args.resume and (Path(out) / "config.json").is_file():
        from ponder.train.sft import SFTConfig

        cfg = SFTConfig(**{**json.loads((Path(out) / "config.json").read_text()), **overrides})
    else:
        cfg = load_recipe(args.recipe, out=out, **overrides)
    t0 = time.perf_counter()
    try:
        path = train_sft(cfg, resume=args.resume)
    except KeyboardInterrupt:
        print(f"\ninterrupted: checkpoint saved; continue with: ponder train sft --out {out} --resume", file=sys.stderr)
        return 130
    print(f"model written to {path} ({time.perf_counter() - t0:.0f} s this session)")
    return 0


# --------------------------------------------------------------------------- ponder train rm


def cmd_train_rm(args) -> int:
    from ponder.train.recipes import load_recipe
    from ponder.train.rm import RMConfig, train_rm

    overrides = _overrides(args)
    overrides["kind"] = args.kind
    for key in ("seed", "policy"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    out = args.out or f"runs/{args.kind}"
    if args.resume and (Path(out) / "config.json").is_file():
        cfg = RMConfig(**{**json.loads((Path(out) / "config.json").read_text()), **overrides})
    else:
        cfg = load_recipe(args.recipe, RMConfig, section=args.kind, out=out, **overrides)
    t0 = time.perf_counter()
    try:
        path = train_rm(cfg, resume=args.resume)
    except KeyboardInterrupt:
        print(f"\ninterrupted: checkpoint saved; continue with: ponder train rm --kind {args.kind} --out {out} --resume",
              file=sys.stderr)
        return 130
    print(f"reward model ({args.kind}) written to {path} ({time.perf_counter() - t0:.0f} s this session)")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ponder", description="An open o1-style reasoning system: learn to reason, think before answering.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("solve", help="solve one problem and show the answer with a summary of the reasoning")
    p.add_argument("problem", nargs="*", help='the numbers, e.g. 4 7 8 8 (game24) or "25 3 7 9 -> 66"; for arith "482 * 37"')
    p.add_argument("--numbers", nargs="+", metavar="N", help="the numbers to combine")
    p.add_argument("--target", help="the number to reach")
    p.add_argument("--task", default="countdown", help="countdown (default), countdown-3..6, game24, arith")
    p.add_argument("--show-reasoning", action="store_true", help="also print the full hidden reasoning")
    _add_model(p)
    _add_strategy(p)
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("eval", help="accuracy of a strategy on many problems, verified by rule")
    _add_problem_source(p)
    p.add_argument("--output", metavar="FILE", help="write one JSON line per problem (id, answer, correct, tokens)")
    _add_model(p)
    _add_strategy(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("problems", help="write problems of a task and split as JSONL")
    _add_problem_source(p)
    p.add_argument("--output", metavar="FILE", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_problems)

    p = sub.add_parser("train", help="train models")
    tsub = p.add_subparsers(dest="trainer", required=True, parser_class=_Parser)
    t = tsub.add_parser("sft", help="supervised training on solver traces")
    t.add_argument("--recipe", default="nano-default", help="named recipe (default: nano-default)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: runs/RECIPE)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--steps", type=int)
    t.add_argument("--examples", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any recipe field (JSON values)")
    t.set_defaults(func=cmd_train_sft)
    t = tsub.add_parser("rm", help="train a reward model on the policy's own samples")
    t.add_argument("--kind", required=True, choices=("orm", "prm", "genrm", "critic"),
                   help="orm (outcome), prm (process / value, Monte Carlo labels), genrm (generative verifier, "
                        "with chain of thought), critic (text critique)")
    t.add_argument("--recipe", default="rm-default", help="named recipe (default: rm-default)")
    t.add_argument("--policy", metavar="PATH", help="policy whose solutions are judged (default: the shipped model)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: runs/KIND)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--seed", type=int)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any recipe field (JSON values)")
    t.set_defaults(func=cmd_train_rm)
    return parser


def _add_problem_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="countdown", help="task name (default: countdown)")
    p.add_argument("--split", default="test", help="train, val, test, or test-unseen (held-out targets)")
    p.add_argument("--limit", type=int, help="number of problems (default: 200, or the whole file)")
    p.add_argument("--problems", metavar="FILE", help='JSONL file, one {"id", "numbers", "target"} per line')
    p.add_argument("--problem-seed", type=int, default=0, help="which draw of the split to take")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
