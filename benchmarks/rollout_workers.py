"""Rollout throughput in the trainer's process and on 1 and 2 Ray workers, side by side in one run.

The same batch of training problems (by default 32 Countdown-4 problems x 8 attempts) is sampled
as ``ponder train grpo`` samples a step: in-process, then with ``--workers 1`` and ``--workers 2``
(each actor gets the machine's cores divided among the workers as torch threads). For each it
prints the wall time of the sampling, generated tokens/s and the ratio to in-process, plus the
one-off cost of starting Ray and the actors (paid once per training run, not per step), and
checks that every setting drew the same samples.

    python benchmarks/rollout_workers.py
    python benchmarks/rollout_workers.py --problems 16 --group 4 --max-tokens 256 --workers 1,2,4

Timings on shared machines vary from run to run: the ratios, measured in the same run, are the
figures to compare. On a machine with few cores the workers compete with each other (and with
anything else running) for the same cores; the gain they are for is across cores and machines.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ponder.backends.nano import NanoPolicy
from ponder.tasks import get_task
from ponder.train.rollout import rollouts
from ponder.train.workers import rollout_workers


def timed(sample, policy, task, problems, args, repeats: int):
    """(median seconds, the groups of the last run)."""
    times, groups = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        groups = sample(policy, task, problems, args.group, args.temperature, seed=args.seed, max_tokens=args.max_tokens)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model directory (default: the shipped nano model)")
    ap.add_argument("--task", default="countdown-4")
    ap.add_argument("--problems", type=int, default=32, help="training problems in the batch")
    ap.add_argument("--group", type=int, default=8, help="attempts per problem")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="1,2", help="worker counts to compare with in-process, comma-separated")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per setting (the median is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in-process (default: torch's own choice)")
    ap.add_argument("--worker-threads", type=int, default=0,
                    help="torch threads per worker (default: the cores divided among the workers)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    policy = NanoPolicy.load(args.model)
    task = get_task(args.task)
    problems = task.problems("train", args.problems, seed=args.seed)
    warmup = task.problems("val", 1, seed=args.seed)  # starts the actors and sends weights, outside the batch
    print(f"{args.problems} {args.task} problems x {args.group} attempts, max_tokens={args.max_tokens}, "
          f"temperature={args.temperature}")
    print(f"{'setting':<12} {'threads':>8} {'startup s':>10} {'wall s':>8} {'tokens':>8} {'tokens/s':>9} {'ratio':>6}"
          "  same samples")

    rollouts(policy, task, warmup, 1, args.temperature, seed=args.seed, max_tokens=1)  # the same one-off costs
    seconds, base = timed(rollouts, policy, task, problems, args, args.repeats)
    tokens = sum(len(r.completion_ids) for g in base for r in g)
    reference = tokens / seconds
    print(f"{'in-process':<12} {torch.get_num_threads():>8} {'-':>10} {seconds:>8.1f} {tokens:>8} {reference:>9.0f}"
          f" {1.0:>6.2f}  -", flush=True)
    for n in [int(x) for x in args.workers.split(",")]:
        t0 = time.perf_counter()
        with rollout_workers(n, threads=args.worker_threads) as sample:
            sample(policy, task, warmup, 1, args.temperature, seed=args.seed, max_tokens=1)
            startup = time.perf_counter() - t0
            seconds, groups = timed(sample, policy, task, problems, args, args.repeats)
        tokens = sum(len(r.completion_ids) for g in groups for r in g)
        same = [[r.completion_ids for r in g] for g in groups] == [[r.completion_ids for r in g] for g in base]
        setting, threads = f"{n} worker" + "s" * (n > 1), f"{n}x{sample.threads}"
        print(f"{setting:<12} {threads:>8} {startup:>10.1f} {seconds:>8.1f} {tokens:>8} {tokens / seconds:>9.0f}"
              f" {tokens / seconds / reference:>6.2f}  {'yes' if same else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
