"""Why parallel searches fail: what each thread was handed, what it said, and what the root made of it.

A parallel policy's root thread hands states to threads (``ponder.search.parallel``); each thread
searches its state and the runtime writes back what it found, or ``✗``. Greedy decoding can go
wrong at three places, and this script counts each on the same problems, checking every claim by
rule (the runtime never does):

* a thread: given a state that can reach the target, it gives up (a miss), or claims a path that
  is wrong (a false claim); given a dead state, it claims a path anyway (a false claim) or gives up
  (right);
* the root: it hands out a step that is no legal move, or runs out of room before it answers;
* the answer: a thread's result was right, yet the root's answer is wrong (it copied it wrongly,
  or copied a false claim that came first). Counted twice: with the answer line transcribed from
  the path the root copied out, as the strategy answers (``Parallel.transcribe``), and as the
  policy wrote it.

    python benchmarks/thread_failures.py --model nano-v2-par --own-copy
    python benchmarks/thread_failures.py --model nano-v2-par --split test-unseen --problems 200 --context 1536
"""

from __future__ import annotations

import argparse
from collections import Counter

from ponder.backends import load_policy
from ponder.cli.common import cap_context
from ponder.errors import UserError
from ponder.search.base import Search, drive
from ponder.search.parallel import Parallel
from ponder.tasks import get_task
from ponder.tasks.countdown import solvable


def thread_verdict(task, thread) -> str:
    """What one thread did with its state, judged by rule."""
    live = solvable(thread.problem.numbers, thread.problem.target, task.rational, task.cap)
    answer = task.answer(thread.text)
    if answer is None:
        return "live, given up" if live else "dead, given up"
    right = task.check(thread.problem, answer)
    if live:
        return "live, found" if right else "live, false claim"
    return "dead, false claim"


def root_verdict(task, problem, root, text: str) -> str:
    """How the whole search ended, its answer read from ``text`` (the root's, its answer line
    transcribed or not)."""
    answer = task.answer(text)
    if task.check(problem, answer):
        return "right"
    if answer is None:
        return "no answer (ran out)" if root.finish_reason == "length" else "no answer"
    found = any(thread_verdict(task, t) == "live, found" for t in root.children)
    claims = any(thread_verdict(task, t).endswith("false claim") for t in root.children)
    if found and claims:
        return "wrong: a false claim beside a true one"
    if found:
        return "wrong: a thread found the way, the root did not copy it"
    return "wrong: no thread found the way" + (" (a false claim copied)" if claims else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="nano-v2-par")
    ap.add_argument("--task", default="countdown")
    ap.add_argument("--split", default="val")
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--context", type=int, help="cap every thread's context (default: the policy's)")
    ap.add_argument("--show", type=int, default=2, help="print the texts of this many failures")
    ap.add_argument("--own-copy", action="store_true",
                    help="the root copies a path found out itself (Parallel.copy off), as it was trained to")
    args = ap.parse_args()
    task, policy = get_task(args.task), load_policy(args.model)
    try:
        cap_context(policy, args.context)
    except UserError as e:
        ap.error(str(e))
    problems = task.problems(args.split, args.problems)
    strategy = Parallel(copy=not args.own_copy)
    searches = [Search(p, task, policy, None, None, seed=0) for p in problems]
    roots = drive([strategy.thread(s, 0) for s in searches], policy)

    finals = [strategy.final_text(task, p, r) for p, r in zip(problems, roots)]
    outcomes = Counter(root_verdict(task, p, r, text) for p, r, text in zip(problems, roots, finals))
    own = Counter(root_verdict(task, p, r, r.text) for p, r in zip(problems, roots))
    threads = Counter(thread_verdict(task, t) for r in roots for t in r.all_threads())
    waves = Counter(r.text.count("\n" + task.join_mark + "\n") for r in roots)
    print(f"{args.model} on {len(problems)} {args.task} {args.split} problems, greedy, context {policy.max_context}, "
          f"path copied out by the {'policy' if args.own_copy else 'runtime'}")
    print("\nroots, the answer line transcribed from the path the root copied out (what the strategy answers):")
    for k, v in outcomes.most_common():
        print(f"  {k:<55}{v:>5}  {v / len(problems):6.1%}")
    print("roots, the answer line as the policy wrote it:")
    for k, v in own.most_common():
        print(f"  {k:<55}{v:>5}  {v / len(problems):6.1%}")
    print(f"\njoins per root: {dict(sorted(waves.items()))}")
    total = sum(threads.values())
    print(f"\nthreads ({total}, {total / len(problems):.1f} a problem):")
    for k, v in sorted(threads.items()):
        print(f"  {k:<55}{v:>5}  {v / max(total, 1):6.1%}")
    live = threads["live, found"] + threads["live, given up"] + threads["live, false claim"]
    dead = threads["dead, given up"] + threads["dead, false claim"]
    print(f"  live states found: {threads['live, found'] / max(live, 1):.1%} of {live}; "
          f"dead states given up: {threads['dead, given up'] / max(dead, 1):.1%} of {dead}")
    shown = 0
    for p, r, text in zip(problems, roots, finals):
        if shown < args.show and not task.check(p, task.answer(text)):
            shown += 1
            print(f"\n--- {p.id}: {root_verdict(task, p, r, text)}\n{r.prompt}{text}")
            for t in r.children:
                verdict = thread_verdict(task, t)
                if verdict not in ("dead, given up", "live, found"):
                    print(f"  thread {t.problem.numbers} -> {t.problem.target}: {verdict}\n    "
                          + t.text.strip().replace("\n", "\n    "))


if __name__ == "__main__":
    main()
