"""A training run: its directory and everything written there, the stop signal and the progress bar.

Every trainer's loop is its own (it reads top to bottom in the trainer's file); what they share is
the ``Run`` they write through:

    run = Run(cfg.out, cfg, resume=resume, stop_after=stop_after)
    model, tokenizer, optimizer, state = run.start(load, optimizer_of, cfg.seed, {"step": 0, ...})
    with run.steps(total, state["step"], "sft") as bar:
        while state["step"] < total:
            ...one optimizer step...
            run.log({"step": state["step"], ...})
            if run.end_step(state["step"], last=state["step"] == total, save=save):
                return run.checkpoint                     # stop_after: ended early, as a crash would
    return run.finish(model, tokenizer)

The directory holds ``config.json`` (the config, to resume with), ``metrics.jsonl`` (one JSON line a
row, flushed as written), ``checkpoint`` (weights, optimizer, RNG and the trainer's state: a link
to the newest of ``checkpoints/``, each written whole or not at all, ``ponder.train.checkpoint``) and,
at the end, ``model/`` with the recipe, commit and figures of the run in its metadata. A resumed run
cuts ``metrics.jsonl`` back to the rows its checkpoint had seen, so the steps it redoes appear once. Ctrl-C or SIGTERM asks for a stop that ``end_step`` honours once
the step is done, after writing a checkpoint, so a resumed run ends with the same parameters as one
that never stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm import tqdm

from ponder.errors import UserError
from ponder.model import save_model
from ponder.model.io import META, read_meta
from ponder.train.checkpoint import (StopRequests, clean_temporaries, find_checkpoint, has_checkpoint, load_checkpoint,
                                    save_checkpoint, store_of)
from ponder.train.loggers import ENV as LOG_TO, open_sinks, sink_names


METRICS_ROWS = "metrics.rows"
"""In a checkpoint: how many rows ``metrics.jsonl`` had when it was written."""


class Metrics:
    """A run's ``metrics.jsonl``: one JSON line a row, flushed as it is written. ``rows`` counts
    them; ``keep`` cuts the file to its first rows (what a resumed run has not redone)."""

    def __init__(self, path: Path, keep: int | None = None):
        lines = path.read_text().splitlines(keepends=True) if path.exists() else []
        if keep is not None and keep < len(lines):
            path.write_text("".join(lines[:keep]))
            lines = lines[:keep]
        self.rows = len(lines)
        self.last_step = next((json.loads(line).get("step", 0) for line in reversed(lines) if line.strip()), 0)
        self.f = path.open("a")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()
        self.rows += 1


def git_commit() -> str:
    """The commit ponder's source is at (``-dirty`` with uncommitted edits), for a run's metadata."""
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


INHERITED = ("trace_styles",)
"""Metadata a model passes on to the models trained from it: ``trace_styles``, the styles its
prompt can ask for (``ponder.search.base.trace_styles``)."""


class Run:
    """The run in directory ``out``, trained with ``config`` (a trainer's config dataclass).

    A new run refuses a directory that already holds one; a resumed run needs its checkpoint.
    ``meta`` is what the final model's metadata records (recipe, config, commit, torch); a
    trainer adds its own keys. ``record`` is the config to record when ``config`` is a part of a
    larger one (R^3 drives a GRPO run). ``checkpoint_every`` (the config's) and ``stop_after`` (a
    test's stand-in for a crash: end after that step, its checkpoint written) drive ``end_step``.
    """

    def __init__(self, out: str | Path, config, *, resume: bool, progress: bool = True,
                 stop_after: int | None = None, record=None):
        self.out = Path(out)
        self.checkpoint = self.out / "checkpoint"
        if resume and not has_checkpoint(self.checkpoint):
            raise UserError(f"nothing to resume: no checkpoint in {self.checkpoint}")
        if not resume and has_checkpoint(self.checkpoint):
            raise UserError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        clean_temporaries(store_of(self.checkpoint))  # what a crash mid-save left
        self.resume, self.progress, self.stop_after = resume, progress, stop_after
        self.checkpoint_every = config.checkpoint_every
        if not self.checkpoint_every >= 1:
            raise UserError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        self.config = (record or config).to_json()
        if not resume:
            (self.out / "config.json").write_text(json.dumps(self.config, indent=1))
        rows = self.read(METRICS_ROWS) if resume else "0"  # a new run starts its own; a resumed one cuts what it redoes
        self.metrics = Metrics(self.out / "metrics.jsonl", keep=int(rows) if rows else None)
        self.meta = {"recipe": config.recipe, "config": self.config, "commit": git_commit(), "torch": torch.__version__}
        self._stop: StopRequests | None = None
        self.sinks = open_sinks(sink_names(os.environ.get(LOG_TO)), self.out, self.config, resume,
                                resume_step=self.metrics.last_step + 1 if resume else None)

    def log(self, row: dict) -> None:
        """A row of metrics.jsonl, and of each sink ``$PONDER_LOG_TO`` names (``ponder.train.loggers``)."""
        self.metrics.write(row)
        for sink in self.sinks:
            sink.write(row, int(row.get("step", self.metrics.rows)))

    # -- checkpoints

    def save(self, model, tokenizer, optimizer, state: dict, files: dict[str, str] | None = None,
             at: Path | None = None, meta: dict | None = None) -> None:
        """An atomic checkpoint (``at``: another than the run's own, e.g. a second network's), with
        the count of metrics rows so far (a resumed run cuts the rows it redoes)."""
        files = {**(files or {}), METRICS_ROWS: str(self.metrics.rows)}
        save_checkpoint(at or self.checkpoint, model, tokenizer, optimizer, state, meta or self.meta, files)

    def start(self, load: Callable[[], tuple], optimizer_of: Callable, seed: int, state: dict):
        """(model, tokenizer, optimizer, state) to train: the checkpoint's when the run resumes; else
        ``load()``'s model and tokenizer, made after seeding torch with ``seed`` (so fresh weights are
        the seed's), a new optimizer and ``state`` (the trainer's counters at their start)."""
        if self.resume:
            return self.restore(optimizer_of)
        torch.manual_seed(seed)
        model, tokenizer = load()
        return model, tokenizer, optimizer_of(model), state

    def restore(self, optimizer_of: Callable, at: Path | None = None):
        """(model, tokenizer, optimizer, state) from the checkpoint, the RNG states restored;
        ``optimizer_of(model)`` builds the optimizer whose state is loaded into."""
        return load_checkpoint(at or self.checkpoint, optimizer_of)

    def read(self, name: str) -> str | None:
        """A file the trainer wrote beside its checkpoint (``save(files=...)``), None if absent."""
        found = find_checkpoint(self.checkpoint)
        return (found / name).read_text() if found is not None and (found / name).exists() else None

    def inherit(self, init: Path) -> None:
        """Record in this run's model what the model it starts from says it can do (``INHERITED``);
        a resumed run whose starting model has gone takes it from its checkpoint."""
        saved = find_checkpoint(self.checkpoint) if self.resume else None
        source = next((path for path in (Path(init), saved and saved / "model") if path and (path / META).is_file()), None)
        found = read_meta(source) if source is not None else {}
        self.meta.update({key: found[key] for key in INHERITED if key in found})

    def finish(self, model, tokenizer, name: str = "model", meta: dict | None = None, **saving) -> Path:
        """Write the final model to ``out/name`` with the run's metadata (and ``meta`` over it)."""
        for sink in self.sinks:
            sink.close()
        self.sinks = []
        return save_model(self.out / name, model, tokenizer, {**self.meta, **(meta or {})}, **saving)

    # -- the loop

    @contextmanager
    def steps(self, total: int, done: int, desc: str, unit: str = "step") -> Iterator[tqdm]:
        """The progress bar of a loop of ``total`` steps (``done`` of them already), with Ctrl-C
        and SIGTERM turned into a stop request for ``end_step`` while it runs."""
        bar = tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not self.progress, dynamic_ncols=True)
        self._stop = StopRequests()
        try:
            with self._stop:
                yield bar
        finally:
            bar.close()
            self._stop = None

    def end_step(self, step: int, *, last: bool, save: Callable[[], None], stop_at: int | None = None) -> bool:
        """After optimizer step ``step``: a checkpoint every ``checkpoint_every`` steps, at the
        ``last`` and before stopping. True when ``stop_after`` (or ``stop_at``, a trainer's own
        count of it) ends the run here; a stop request (Ctrl-C, SIGTERM) raises
        KeyboardInterrupt once the checkpoint is written."""
        stop = self._stop is not None and self._stop.requested
        stop_at = self.stop_after if stop_at is None else stop_at
        if step % self.checkpoint_every == 0 or last or step == stop_at or stop:
            save()
        if step == stop_at:
            return True
        if stop:
            raise KeyboardInterrupt
        return False
