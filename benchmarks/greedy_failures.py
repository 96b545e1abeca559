"""Why greedy Countdown searches fail: the anatomy of each policy's failures, side by side.

The policy is taught a depth-first search that tries the moves of each state in a fixed order
(``ponder.tasks.countdown``). Greedy decoding carries it out with every dead end tried, so a
greedy search can fail in three ways, and this script counts each, for a baseline policy (by default
the shipped SFT policy, nano-sft) and every ``--models`` directory, on the same problems:

* it stops with a wrong answer, or with none;
* it runs out of context after *starting over*: a move of the problem's own numbers that comes
  no later in the fixed order than one it already tried, so the search lost its place and
  repeats itself (every such line also carries wrong numbers left, so it is an invalid step);
* it runs out of context with its moves in order: the search itself was too long.

It also prints the ceiling of a faultless search: the share of the problems whose full search,
every dead end tried, fits the context; and, for each policy, how well its chance of trying a
move of the problem's own numbers, read along that full search, tells the moves that can still
reach the target from the dead ends (AUROC over the first 60 problems; 0.5 is chance). A policy that judged
well could pass dead ends over and save its context. Every answer is checked by the rule verifier.

    python benchmarks/greedy_failures.py
    python benchmarks/greedy_failures.py --models runs/grpo/model --problems 500 --split val
"""

from __future__ import annotations

import argparse
import time

import torch

from ponder.backends.nano import NanoPolicy
from ponder.errors import UserError
from ponder.rewards.metrics import auroc
from ponder.tasks import get_task
from ponder.tasks.countdown import CountdownTask, after, fmt_state, moves, solvable
from ponder.train.grpo import full_search_tokens
from ponder.types import SamplingParams


def root_move(line: str, root) -> tuple[str, ...] | None:
    """``(a, op, b)`` of a line that makes a move on the numbers ``root``, else None:
    ``11 80 8 15 -> 40 : 80 + 11 = 91 | 8 15 91`` gives ``("80", "+", "11")``."""
    state, sep, step = line.partition(" : ")
    if not sep or " = " not in step or state.split(" -> ")[0] != fmt_state(root):
        return None
    return tuple(step.split(" = ")[0].split()[:3])


def root_order(task, problem, text: str) -> list[int]:
    """The place in the fixed move order of each move the text makes on the problem's own numbers
    (-1 for a move that is not one of them)."""
    root = tuple(problem.numbers)
    order = {(str(m.a), m.op, str(m.b)): k for k, m in enumerate(moves(root, task.rational, task.cap))}
    moved = (root_move(line, root) for line in text.split("\n"))
    return [order.get(m, -1) for m in moved if m is not None]


def anatomy(policy, task, problems) -> dict:
    started = time.perf_counter()
    outs = policy.generate([task.prompt(p) for p in problems],
                           SamplingParams(n=1, temperature=0.0, max_tokens=policy.max_context))
    counts = {"correct": 0, "wrong or no answer": 0, "cut, started over": 0, "cut, in order": 0}
    for p, (c,) in zip(problems, outs):
        if task.verify(p, c.text) > 0:
            counts["correct"] += 1
        elif c.finish_reason != "length":
            counts["wrong or no answer"] += 1
        else:
            places = root_order(task, p, c.text)
            restarted = any(b <= a for a, b in zip(places, places[1:]))
            counts["cut, started over" if restarted else "cut, in order"] += 1
    return {**{k: v / len(problems) for k, v in counts.items()}, "seconds": time.perf_counter() - started}


def faultless_fits(task, problems, policy) -> float:
    """Share of problems whose full search (every dead end tried, no slip) fits the context."""
    return sum(full_search_tokens(task, policy, p) <= policy.max_context for p in problems) / len(problems)


@torch.inference_mode()
def root_judgement(policy, task, problems) -> float:
    """AUROC of the policy's chance of writing each move of the problem's own numbers (the tokens of
    ``a op b``, teacher-forced along the full search) as a test of whether the move can still
    reach the target; moves past the context's end are not read."""
    tok, model = policy.tokenizer, policy.model
    scores, labels = [], []
    for p in problems:
        root = tuple(p.numbers)
        by_text = {(str(m.a), m.op, str(m.b)): m for m in moves(root, task.rational, task.cap)}
        ids, heads = tok.encode(task.prompt(p), bos=True), []
        for line in task.full_search(p).splitlines(keepends=True):
            move = root_move(line, root)
            if move is not None:
                head = len(tok.encode(line.split(" = ")[0]))
                m = by_text[move]
                heads.append((len(ids), len(ids) + head, solvable(after(root, m), p.target, task.rational, task.cap)))
            ids += tok.encode(line)
        ids = ids[:policy.max_context]
        logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).float(), -1)[0]
        for start, end, good in heads:
            if end > len(ids) - 1:
                break
            scores.append(float(sum(logp[t - 1, ids[t]] for t in range(start, end))))
            labels.append(good)
    return auroc(scores, labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=[], help="trained policy directories (or shipped names), compared with the baseline")
    ap.add_argument("--baseline", default="nano-sft", help="the policy to compare with (default: nano-sft)")
    ap.add_argument("--task", default="countdown", help="a Countdown task (countdown, countdown-3..6)")
    ap.add_argument("--split", default="test-unseen")
    ap.add_argument("--problems", type=int, default=200)
    args = ap.parse_args()
    task = get_task(args.task)
    if not isinstance(task, CountdownTask) or task.rational:
        raise SystemExit(f"ponder: error: {args.task} is not a Countdown task")
    try:
        problems = task.problems(args.split, args.problems)
    except UserError as e:
        raise SystemExit(f"ponder: error: {e}")
    baseline = NanoPolicy.load(args.baseline)
    print(f"{args.task} ({args.split}), {len(problems)} problems, greedy; a faultless search fits the context "
          f"for {faultless_fits(task, problems, baseline):.1%}")
    header = ["correct", "wrong or no answer", "cut, started over", "cut, in order"]
    print(f"{'policy':<40}" + "".join(f"{h:>20}" for h in header) + f"{'judges moves':>14}{'seconds':>9}")
    for name in [args.baseline, *args.models]:
        policy = baseline if name == args.baseline else NanoPolicy.load(name)
        row = anatomy(policy, task, problems)
        judged = root_judgement(policy, task, problems[:60])
        print(f"{name:<40}" + "".join(f"{row[h]:>20.1%}" for h in header) + f"{judged:>14.3f}{row['seconds']:>9.0f}",
              flush=True)


if __name__ == "__main__":
    main()
