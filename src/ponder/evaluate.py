"""Run a strategy over many problems and score every answer with the task's rule verifier."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from ponder.types import Problem, Usage


@dataclass
class EvalReport:
    task: str
    strategy: str
    n: int
    accuracy: float
    tokens_per_problem: float
    """Completion tokens plus reward-model tokens per problem (what thinking cost)."""
    seconds_per_problem: float
    usage: Usage = field(default_factory=Usage)
    records: list[dict] = field(default_factory=list)

    @property
    def steps_per_problem(self) -> float:
        """Sequential decoding steps per problem (``SearchResult.steps``): latency in tokens."""
        return sum(r.get("steps", 0) for r in self.records) / self.n if self.n else 0.0

    @property
    def ceiling(self) -> float | None:
        """Share of problems where some candidate the strategy considered was right, by rule: what a
        perfect judge of its candidates would reach (the oracle's line in a report)."""
        return sum(r["any_correct"] for r in self.records) / self.n if self.n else None

    def summary(self) -> dict:
        return {"task": self.task, "strategy": self.strategy, "n": self.n, "accuracy": round(self.accuracy, 4),
                "correct": sum(r["correct"] for r in self.records),
                "ceiling": round(self.ceiling, 4) if self.ceiling is not None else None,
                "tokens_per_problem": round(self.tokens_per_problem, 1),
                "steps_per_problem": round(self.steps_per_problem, 1),
                "seconds_per_problem": round(self.seconds_per_problem, 4),
                "recomputed": round(self.usage.recomputed, 4),
                "usage": self.usage.to_json()}


def evaluate(task, problems: Sequence[Problem], policy, strategy, reward=None, budget: int | None = None,
             seed: int = 0, progress: bool = False, chunk: int = 256, output: str | Path | None = None,
             resume: bool = False, workers=None, reward_name: str | None = None, save_search: bool = False) -> EvalReport:
    """Solve every problem with ``strategy`` and verify each answer by rule.

    Problems go to the strategy in chunks searched side by side; the progress bar moves as each
    problem finishes, and with ``output`` its JSON line is appended as soon as it and the problems
    before it in the chunk are done (``InOrder``; on workers, when its chunk is), so a crash loses
    only what was still running.
    An ``output`` that already holds rows is refused, unless ``resume``: then the problems it has
    are skipped (their rows count in the report) and the rest appended. A problem's row does not
    depend on which others run beside it, so a resumed file equals one written in one go (the
    usage totals cover this session's problems only).

    With ``workers`` (a ``ponder.shards.EvalWorkers``), the chunks run on its Ray actors, which
    load their own policy and the reward model ``reward_name`` (``policy`` and ``reward`` are then
    not used, and may be None); the rows are the same. With ``save_search``, each row also holds the
    explorer's view of its search (``search.explore.view``).
    """
    records = done_rows(Path(output), problems, resume) if output else []
    if reward is not None:
        reward.reset_cache()  # charged for what these problems cost, not for what ran before
    usage = Usage()
    started = time.perf_counter()
    finished = {r["id"] for r in records}
    problems = [p for p in problems if p.id not in finished]
    sink = Path(output).open("a") if output else None
    solved = sum(r["correct"] for r in records)

    def write(p: Problem, r) -> None:
        """A problem's row: kept, appended to ``output``, and counted in the bar's accuracy."""
        nonlocal solved
        correct = task.check(p, r.answer)
        usage.add(r.usage)
        rec = {"id": p.id, **{k: v for k, v in p.to_json().items() if k not in ("id", "task")},
               "answer": r.answer, "correct": correct,
               "any_correct": correct or any(task.check(p, c.answer) for c in r.candidates),
               "tokens": r.usage.thinking_tokens, "steps": r.steps, "prompt_tokens": r.usage.prompt_tokens,
               "finish_reason": r.finish_reason}
        if save_search:
            from ponder.search.explore import view

            rec["search"] = view(r, task, p)
        records.append(rec)
        if sink:
            sink.write(json.dumps(rec) + "\n")
            sink.flush()
        solved += correct
        bar.set_postfix(acc=f"{solved / len(records):.3f}")

    try:
        with tqdm(total=len(problems) + len(records), initial=len(records), desc=f"{strategy.name} on {task.name}",
                  unit="problem", disable=not progress) as bar:
            size = workers.chunk(len(problems), chunk) if workers else chunk
            batches = [problems[start:start + size] for start in range(0, len(problems), size)]
            if workers:  # each chunk's rows when its actor hands them back
                for batch, results in zip(batches, workers.map(batches, strategy, reward_name, task, budget, seed)):
                    for p, r in zip(batch, results):
                        write(p, r)
                    bar.update(len(batch))
            else:
                for batch in batches:
                    strategy.run(batch, policy, reward, budget, seed, task=task,
                                 on_done=InOrder(batch, write, bar).done)
    finally:
        if sink:
            sink.close()
    n = len(records)
    seconds = time.perf_counter() - started
    return EvalReport(
        task=task.name, strategy=strategy.name, n=n,
        accuracy=sum(r["correct"] for r in records) / n if n else 0.0,
        tokens_per_problem=sum(r["tokens"] for r in records) / n if n else 0.0,
        seconds_per_problem=seconds / len(problems) if problems else 0.0, usage=usage, records=records)


class InOrder:
    """Rows of a chunk written in the problems' order, each as soon as it and those before it are
    done (so the file is the same whichever finishes first, and a crash loses only what was still
    running); the progress bar moves with every problem that finishes."""

    def __init__(self, batch: Sequence[Problem], write, bar):
        self.batch, self.write, self.bar = batch, write, bar
        self.ready: dict[int, object] = {}
        self.next = 0

    def done(self, i: int, result) -> None:
        self.ready[i] = result
        while self.next in self.ready:
            self.write(self.batch[self.next], self.ready.pop(self.next))
            self.next += 1
        self.bar.update(1)


def done_rows(path: Path, problems: Sequence[Problem], resume: bool) -> list[dict]:
    """The rows already in ``path`` (an ``evaluate`` output) to keep: none when it is new or empty;
    with ``resume``, its whole rows of these problems (a line a crash cut short is dropped);
    without, a ``UserError``, since writing would mix two runs or lose one."""
    from ponder.errors import UserError

    if not path.exists() or path.stat().st_size == 0:
        return []
    if not resume:
        raise UserError(f"{path} already holds results: add --resume to continue it (the problems in it are "
                        f"skipped), or choose another --output")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):  # cut short by a crash: rewritten
        path.write_text("".join(lines[:-1]))
        lines = lines[:-1]
    wanted = {p.id for p in problems}
    rows = []
    for lineno, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"{path}:{lineno}: not a row ponder eval wrote; choose another --output") from None
        if not isinstance(row, dict) or row.get("id") not in wanted:
            raise UserError(f"{path}:{lineno}: a row for another problem than these; --resume continues the same "
                            f"command (same --task, --split, --limit, --problems)")
        rows.append(row)
    return rows
