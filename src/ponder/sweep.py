"""A sweep: strategies x budgets on one problem set, one JSON line per point.

Each point is an ``evaluate`` run (every answer checked by rule) of one policy, written to the
sweep file as soon as it ends, with the policy's name (so sweeps of several policies can share a
file) and the ids of the problems it solved (so two points can be compared problem by problem).
Run the same sweep again and the points already in the file are skipped, so an interrupted sweep
resumes where it stopped. ``ponder report`` turns the file into plots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ponder.evaluate import evaluate


@dataclass(frozen=True)
class Point:
    strategy: str
    reward: str | None
    budget: int | None
    options: str = "{}"
    """The strategy's options set for the sweep (``--set``), as sorted JSON: part of the point."""

    def key(self, model: str, context: int, task: str, source: str, n: int, seed: int) -> tuple:
        return (model, context, task, source, n, seed, self.strategy, self.reward, self.budget, self.options)


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a sweep file (none when there is no file yet)."""
    from ponder.errors import UserError

    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            row = json.loads(line) if line.strip() else None
        except ValueError:
            raise UserError(f"{path}:{lineno}: not a row of a sweep file") from None
        if row is not None and not (isinstance(row, dict) and {"task", "strategy", "budget"} <= row.keys()):
            raise UserError(f"{path}:{lineno}: not a row of a sweep file")
        if row is not None:
            rows.append(row)
    return rows


def row_key(r: dict, own_context: int | None = None) -> tuple:
    """A written row's key: the ``Point.key`` of the point that wrote it. A row written before sweeps
    recorded the policy's context was at the policy's own, ``own_context``."""
    return (r.get("model"), r.get("context", own_context), r["task"], r["source"], r["n"], r["seed"], r["strategy"],
            r["reward"], r["budget"], options_key(r.get("options")))


def options_key(options: dict | None) -> str:
    """A strategy's options as one comparable value: sorted JSON ("{}" for none)."""
    return json.dumps(options or {}, sort_keys=True)


def run_sweep(task, problems: Sequence, source: str, policy, points: Sequence[Point], rewards: dict,
              strategies: dict, seed: int, output: str | Path, progress: bool = False, log=print,
              workers=None, own_context: int | None = None) -> list[dict]:
    """Evaluate every point not yet in ``output``; append each as it finishes. Returns the new rows.
    With ``workers`` (``ponder.shards.EvalWorkers``), each point's problems run on its actors. A point
    is the same only at the same context (``policy.max_context``); rows that do not record theirs were
    written at ``own_context``, the policy's own (its context when None)."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    own_context = policy.max_context if own_context is None else own_context
    done = {row_key(r, own_context) for r in read_rows(path)}
    rows = []
    for point in points:
        key = point.key(policy.name, policy.max_context, task.name, source, len(problems), seed)
        if key in done:
            log(f"skip {point.strategy} at budget {point.budget}: already in {path}")
            continue
        report = evaluate(task, problems, policy, strategies[point.strategy], rewards.get(point.reward),
                          budget=point.budget, seed=seed, progress=progress, workers=workers, reward_name=point.reward)
        row = {**report.summary(), "model": policy.name, "context": policy.max_context, "source": source, "seed": seed,
               "reward": point.reward, "budget": point.budget, "solved": sorted(r["id"] for r in report.records if r["correct"])}
        if point.options != "{}":
            row["options"] = json.loads(point.options)
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)
        log(f"{point.strategy:<14} budget {str(point.budget):>7}  accuracy {report.accuracy:6.1%}  "
            f"ceiling {report.ceiling:6.1%}  tokens/problem {report.tokens_per_problem:8.0f}  "
            f"s/problem {report.seconds_per_problem:6.2f}")
    return rows
