"""A sweep in one process against the same sweep on Ray workers: wall time, and whether the rows agree.

    python benchmarks/eval_workers.py                 # 2 workers, 100 problems a cell
    python benchmarks/eval_workers.py --workers 4 --limit 200

Both runs write their sweep files under ``--out``; the rows are compared without the fields that
depend on the run rather than the problems (seconds, and how much of the prompts each process
found in its own prefix cache). Run it on an otherwise idle machine: the two sweeps run one after
the other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SWEEP = ["sweep", "--task", "countdown", "--split", "test-unseen", "--strategies", "greedy,majority,beam",
         "--budgets", "1000,4000"]


def rows(path: Path) -> list[dict]:
    out = [json.loads(line) for line in path.read_text().splitlines()]
    for r in out:
        del r["seconds_per_problem"], r["recomputed"], r["usage"]["cached_tokens"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=100, help="problems a cell (default: 100)")
    p.add_argument("--out", default="runs/eval-workers", help="where the sweep files go")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for label, extra in (("one process", []), (f"{args.workers} workers", ["--workers", str(args.workers)])):
        path = out / f"{label.replace(' ', '-')}.jsonl"
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ponder.cli", *SWEEP, "--limit", str(args.limit), "--output", str(path),
                        *extra], check=True, stdout=subprocess.DEVNULL)
        seconds[label] = (time.perf_counter() - start, path)
    (t1, one), (t2, many) = seconds.values()
    a, b = rows(one), rows(many)
    print(f"one process: {t1:.0f} s; {args.workers} workers: {t2:.0f} s; speed-up {t1 / t2:.2f}x")
    print(f"{len(a)} cells of {args.limit} problems; rows identical: {a == b}")
    for x, y in zip(a, b):
        print(f"  {x['strategy']:<9} budget {str(x['budget']):>5}: accuracy {x['accuracy']:.2f} / {y['accuracy']:.2f}, "
              f"tokens {x['tokens_per_problem']:.0f} / {y['tokens_per_problem']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
