"""Compare two evaluations problem by problem: what one solves that the other misses, and whether
the difference is more than chance (the exact McNemar test on the problems where they disagree).

    ponder eval --task countdown --split test-unseen --limit 500 --model nano-sft --output a.jsonl
    ponder eval --task countdown --split test-unseen --limit 500 --model runs/r3/model --output b.jsonl
    python benchmarks/compare.py a.jsonl b.jsonl

Both files are ``ponder eval --output`` files over the same problems (matched by id).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ponder.rewards.metrics import mcnemar_exact


def read(path: str) -> dict[str, bool]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {str(r["id"]): bool(r["correct"]) for r in rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", help="the baseline's --output file")
    p.add_argument("after", help="the other evaluation's --output file")
    args = p.parse_args(argv)
    a, b = read(args.before), read(args.after)
    if set(a) != set(b):
        print(f"the files hold different problems ({len(set(a) ^ set(b))} ids in one only)", file=sys.stderr)
        return 2
    gained = sum(b[i] and not a[i] for i in a)
    lost = sum(a[i] and not b[i] for i in a)
    n = len(a)
    print(f"problems: {n}")
    print(f"accuracy: {sum(a.values()) / n:.1%} -> {sum(b.values()) / n:.1%}")
    print(f"both right {sum(a[i] and b[i] for i in a)}, both wrong {sum(not a[i] and not b[i] for i in a)}, "
          f"gained {gained}, lost {lost}")
    print(f"exact McNemar p = {mcnemar_exact(gained, lost):.2g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
