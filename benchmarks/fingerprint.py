"""Fingerprints of ponder's behaviour, to show that a refactoring changed none of it.

Run it on the commit before a change and on the one after, then compare the two files:

    python benchmarks/fingerprint.py --out before.json          # on the old commit
    python benchmarks/fingerprint.py --out after.json           # on the new one
    python benchmarks/fingerprint.py --compare before.json after.json

What it records (each part can be chosen with --parts):

* ``traces``: the solver's training traces (every style), prompts, step checks and prefix
  outcomes of 40 training problems of every task that writes traces;
* ``greedy``: the shipped policy's greedy answers on 200 test problems of countdown, game24 and
  arith, through ``ponder eval`` (answer, verdict and tokens of every problem);
* ``search``: what each search strategy answers, and the tokens it spends, on 30 Countdown-3
  test problems at a budget of 1,500 tokens (``ponder eval --strategy S --budget 1500``);
* ``trainers``: the weights of a tiny run of every trainer (sft, ei, grpo, selfplay, r3, rise and
  the four reward-model kinds), through ``ponder train`` with the same options before and after.

Weights are hashed as raw tensor bytes: equal hashes mean bit-identical parameters. The CLI is the
surface used, since it is what must behave the same. Run with the same thread count both times
(the script fixes it at 2): float sums in another order give other bits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRACE_TASKS = ("countdown-3", "countdown", "game24", "arith-2", "arith")
GREEDY_TASKS = ("countdown", "game24", "arith")
STRATEGIES = ("majority", "best-of-n", "beam", "best-first", "mcts", "think", "auto")

# The tests' tiny settings for each trainer, given as --set options.
TRAINERS = {
    "sft": ["sft", "--recipe", "nano-tiny", "--set", "steps=4", "--set", "examples=120", "--set", "checkpoint_every=2"],
    "ei": ["ei", "--set", 'task="countdown-3"', "--set", "rounds=2", "--set", "problems_per_round=4",
           "--set", "group=4", "--set", "steps_per_round=2", "--set", "tokens_per_step=2048",
           "--set", "micro_tokens=2048", "--set", "warmup=1", "--set", "checkpoint_every=1",
           "--set", "eval_problems=4", "--set", "max_tokens=192"],
    "grpo": ["grpo", "--set", 'task="countdown-3"', "--set", "steps=3", "--set", "problems_per_step=2",
             "--set", "group=4", "--set", "checkpoint_every=1", "--set", "eval_every=2", "--set", "eval_problems=2",
             "--set", "lr=1e-4", "--set", "warmup=1", "--set", "max_tokens=192"],
    "grpo-prm": ["grpo", "--set", 'task="countdown-3"', "--set", "steps=2", "--set", "problems_per_step=2",
                 "--set", "group=4", "--set", 'process_reward="oracle"', "--set", "invalid_step=-0.5",
                 "--set", "wrong_answer_line=-0.5", "--set", "kl=0.05", "--set", "epochs=2",
                 "--set", "eval_problems=0", "--set", "lr=1e-4", "--set", "warmup=1", "--set", "max_tokens=192"],
    "selfplay": ["selfplay", "--set", 'task="countdown-3"', "--set", "rounds=2", "--set", "problems_per_round=2",
                 "--set", "simulations=2", "--set", "expand=2", "--set", "parallel=2", "--set", "policy_steps=2",
                 "--set", "value_steps=2", "--set", "tokens_per_step=2048", "--set", "micro_tokens=2048",
                 "--set", "warmup=1", "--set", "checkpoint_every=1", "--set", "eval_problems=2"],
    "r3": ["r3", "--set", 'task="countdown-3"', "--set", "steps=3", "--set", "problems_per_step=2",
           "--set", "group=4", "--set", "checkpoint_every=1", "--set", "eval_every=3", "--set", "eval_problems=1",
           "--set", "lr=1e-4", "--set", "warmup=1", "--set", "max_tokens=64", "--set", "stages=[0.5, 0.0]",
           "--set", "window=2", "--set", "advance_at=0.0"],
    "rise": ["rise", "--set", 'task="countdown-3"', "--set", "rounds=1", "--set", "problems_per_round=4",
             "--set", "group=2", "--set", "max_tokens=64", "--set", "steps_per_round=2",
             "--set", "tokens_per_step=2048", "--set", "micro_tokens=2048", "--set", "warmup=1",
             "--set", "checkpoint_every=1", "--set", "eval_problems=1", "--set", "critique=true",
             "--set", 'critic="rule"'],
}
RM_SETTINGS = ["--set", 'task="countdown-3"', "--set", "problems=6", "--set", "samples=2", "--set", "mc_solutions=3",
               "--set", "mc_rollouts=2", "--set", "mc_steps=2", "--set", "tokens_per_step=1024",
               "--set", "micro_tokens=512", "--set", "holdout=0.34", "--set", "epochs=1.0",
               "--set", "checkpoint_every=1"]
for _kind in ("orm", "prm", "genrm", "critic"):
    TRAINERS[f"rm-{_kind}"] = ["rm", "--kind", _kind, *RM_SETTINGS]
TRAINERS["rm-genrm"] += ["--set", "practice=40"]  # the recipe's 100,000 practice texts take an hour


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ponder(*args: str, cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, "-m", "ponder.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ponder {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def traces() -> dict:
    from ponder.tasks import get_task

    out = {}
    for name in TRACE_TASKS:
        task = get_task(name)
        parts = []
        for i, p in enumerate(task.problems("train", 40, seed=3)):
            parts.append(task.prompt(p))
            for style in task.TRACE_STYLES:
                segments = task.trace(p, style, random.Random(i))
                parts.append(json.dumps(segments))
                text = "".join(t for t, _ in segments)
                parts.append(task.summary(p, text))
                parts.append(repr(task.verify(p, text)))
                if task.checks_steps:
                    parts.append(repr(task.check_steps(p, text)))
                if task.exact_outcomes:
                    parts.append(repr(task.prefix_outcomes(p, text)))
                    parts.append(repr(task.prefix_outcomes(p, text, room=200, count=len)))
            if task.writes_search:
                parts.append(task.full_search(p))
        out[name] = sha("\n".join(parts))
    return out


def greedy(work: Path) -> dict:
    out = {}
    for name in GREEDY_TASKS:
        rows = work / f"greedy-{name}.jsonl"
        ponder("eval", "--task", name, "--split", "test", "--limit", "200", "--output", str(rows), "--json", cwd=work)
        lines = [json.loads(line) for line in rows.read_text().splitlines()]
        kept = [{k: r.get(k) for k in ("id", "answer", "correct", "tokens", "completion_tokens")} for r in lines]
        out[name] = {"problems": len(kept), "correct": sum(bool(r["correct"]) for r in kept),
                     "sha": sha(json.dumps(kept, sort_keys=True))}
    return out


def search(work: Path) -> dict:
    out = {}
    for name in STRATEGIES:
        rows = work / f"search-{name}.jsonl"
        ponder("eval", "--task", "countdown-3", "--split", "test", "--limit", "30", "--strategy", name,
               "--budget", "1500", "--output", str(rows), "--json", cwd=work)
        lines = [json.loads(line) for line in rows.read_text().splitlines()]
        out[name] = {"correct": sum(bool(r["correct"]) for r in lines), "sha": sha(json.dumps(lines, sort_keys=True))}
    return out


def weights_sha(model_dir: Path) -> str:
    from ponder.model import load_model

    model, _, _ = load_model(model_dir)
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def trainers(work: Path, only: list[str] | None) -> dict:
    out = {}
    for name, args in TRAINERS.items():
        if only and name not in only:
            continue
        run = work / f"run-{name}"
        t0 = time.perf_counter()
        ponder("train", *args[:1], "--out", str(run), *args[1:], cwd=work)
        out[name] = weights_sha(run / "model")
        print(f"  {name}: {out[name]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return out


def compare(a: dict, b: dict, path: str = "") -> int:
    differences = 0
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            differences += compare(x, y, f"{path}{key}.")
        elif x != y:
            print(f"DIFFERS {path}{key}: {x} -> {y}")
            differences += 1
        else:
            print(f"same    {path}{key}: {x}")
    return differences


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write the fingerprints here (JSON)")
    ap.add_argument("--parts", default="traces,greedy,search,trainers",
                    help="comma-separated: traces, greedy, search, trainers")
    ap.add_argument("--trainers", help="only these trainers (comma-separated names of TRAINERS)")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two fingerprint files")
    args = ap.parse_args()
    if args.compare:
        before, after = (json.loads(Path(f).read_text()) for f in args.compare)
        differences = compare(before, after)
        print(f"{differences} difference(s)")
        return 1 if differences else 0
    import torch

    torch.set_num_threads(2)
    parts = args.parts.split(",")
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["PONDER_CACHE"] = str(work / "cache")
        if "traces" in parts:
            result["traces"] = traces()
            print(f"traces: {result['traces']}", file=sys.stderr)
        if "greedy" in parts:
            result["greedy"] = greedy(work)
            print(f"greedy: {result['greedy']}", file=sys.stderr)
        if "search" in parts:
            result["search"] = search(work)
            print(f"search: {result['search']}", file=sys.stderr)
        if "trainers" in parts:
            result["trainers"] = trainers(work, args.trainers.split(",") if args.trainers else None)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
