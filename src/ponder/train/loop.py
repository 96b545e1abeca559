"""The optimisation loop SFT and reward-model training share, and the config fields trainers share
(``RunConfig``; ``PolicyConfig`` and ``RolloutWorkers`` for those that improve a policy).

``open_run`` guards the run directory (a run is resumed on purpose or not at all); ``train_loop``
takes optimizer steps of accumulated micro-batches until ``steps``, writing one metrics line a
step, a checkpoint every ``checkpoint_every`` steps, at the end and when stopped between steps
(Ctrl-C or SIGTERM), so a resumed run ends with the same parameters as one that never stopped.
What differs between trainers comes in as functions: how a micro-batch is collated, how its
labels are counted and its loss computed, the learning rate at a step, an evaluation.
``Metrics`` and ``git_commit`` are the run's log and the commit its metadata names.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from tqdm import tqdm

from ponder.errors import UserError
from ponder.train.checkpoint import StopRequests, has_checkpoint, save_checkpoint


class RunConfig:
    """What every trainer's config dataclass shares (it adds no fields): batching by tokens and
    the checks that go with it, its JSON, and the check that counts are at least a minimum."""

    def at_least(self, minimum: int, *names: str) -> None:
        for name in names:
            if getattr(self, name) < minimum:
                raise UserError(f"{name} must be at least {minimum}, got {getattr(self, name)}")

    def check_batching(self) -> None:
        if self.tokens_per_step < self.micro_tokens:
            raise UserError("tokens_per_step must be at least micro_tokens")

    @property
    def accumulation(self) -> int:
        """Micro-batches per optimizer step."""
        return self.tokens_per_step // self.micro_tokens

    def to_json(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(kw_only=True)
class PolicyConfig(RunConfig):
    """The fields every trainer that improves a policy (expert iteration, GRPO, self-play and those
    built on them) shares, their meaning written once; each trainer's config adds its own."""

    init: str | None = None
    """The policy to improve: a model directory or a shipped policy's name (nano-rl, nano-sft); the
    shipped default (nano-rl) when None."""
    task: str = "countdown"
    """Task whose training problems are attempted."""
    temperature: float = 1.0
    """Of the policy's attempts."""
    micro_tokens: int = 8192
    """Most tokens in one forward and backward pass (an optimizer step accumulates several)."""
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    eval_problems: int = 100
    """Greedy accuracy on this many problems of the task's ``eval_split`` at each evaluation (0: none)."""
    eval_split: str = "val"
    recipe: str = ""
    """The recipe the config was loaded from (recorded in the model's metadata)."""


@dataclass(kw_only=True)
class RolloutWorkers:
    """The fields of trainers whose rollouts can run on Ray actors."""

    workers: int = 0
    """Ray actors sampling the rollouts, each with its own copy of the policy (0: in this process)."""
    ray_address: str = ""
    """The Ray cluster the workers run on (e.g. ``auto``, ``ray://host:10001``); empty: start a local Ray."""


class Metrics:
    """A run's ``metrics.jsonl``: one JSON line a row, flushed as it is written."""

    def __init__(self, path: Path):
        self.f = path.open("a")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()


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


def open_run(out: Path, resume: bool) -> Path:
    """The checkpoint directory of the run in ``out``, after checking that resuming finds one
    and that a new run does not overwrite one."""
    ckpt = out / "checkpoint"
    if resume and not has_checkpoint(ckpt):
        raise UserError(f"nothing to resume: no checkpoint in {ckpt}")
    if not resume and has_checkpoint(ckpt):
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return ckpt


def train_loop(model, tokenizer, optimizer, state: dict, stream: Iterator[list[int]], *, steps: int,
               accumulation: int, collate: Callable, count: Callable[[torch.Tensor], int],
               loss: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor], lr_of: Callable[[int], float],
               grad_clip: float, ckpt: Path, meta: dict, metrics: Metrics, checkpoint_every: int,
               eval_every: int = 0, evaluate: Callable[[], None] | None = None,
               extra: Callable[[int], dict] = lambda labels: {}, desc: str = "train", progress: bool = True,
               stop_after: int | None = None, save: Callable[[], None] | None = None) -> bool:
    """Train until ``state["step"] == steps``; False when it stopped at ``stop_after`` instead.

    ``stream`` yields micro-batches (example indices) from where ``state`` left off; ``collate``
    turns one into (inputs, targets); ``count(targets)`` is how many labels it trains;
    ``loss(x, y, labels)`` is its share of the step's loss, for ``labels`` in the whole step.
    ``extra(labels)`` adds fields to the step's metrics line. ``save()`` writes a checkpoint
    (by default the model, optimizer, RNG and ``state``; trainers with more state pass their own).
    """
    if save is None:
        def save():
            save_checkpoint(ckpt, model, tokenizer, optimizer, state, meta)
    bar = tqdm(total=steps, initial=state["step"], desc=desc, unit="step", disable=not progress, dynamic_ncols=True)
    started = time.perf_counter() - state["wall_time_s"]
    stop = StopRequests()
    try:
        with stop:
            while state["step"] < steps:
                t0 = time.perf_counter()
                batches = [next(stream) for _ in range(accumulation)]
                collated = [collate(b) for b in batches]
                labels = sum(count(y) for _, y in collated)
                lr = lr_of(state["step"])
                for g in optimizer.param_groups:
                    g["lr"] = lr
                loss_sum = 0.0
                for x, y in collated:
                    part = loss(x, y, labels)
                    part.backward()
                    loss_sum += part.item()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                padded = sum(x.numel() for x, _ in collated)
                state["step"] += 1
                state["micro_batches"] += len(batches)
                state["tokens"] += padded
                state["trained_tokens"] = state.get("trained_tokens", 0) + labels
                state["wall_time_s"] = time.perf_counter() - started
                dt = time.perf_counter() - t0
                metrics.write({"step": state["step"], "train/loss": loss_sum, "train/lr": lr, "train/grad_norm": grad_norm,
                               "train/tokens": state["tokens"], "train/tokens_per_s": padded / dt,
                               "train/trained_tokens": state["trained_tokens"], **extra(labels),
                               "time/elapsed_s": state["wall_time_s"]})
                bar.set_postfix(loss=f"{loss_sum:.3f}", tok_s=f"{padded / dt:.0f}")
                bar.update(1)
                done = state["step"] == steps
                if state["step"] % checkpoint_every == 0 or done or state["step"] == stop_after:
                    save()
                if state["step"] == stop_after:
                    return False
                if eval_every and state["step"] % eval_every == 0 and not done and evaluate is not None:
                    evaluate()
                if stop.requested:  # Ctrl-C or SIGTERM: the step is done, so stop here
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        if stop.requested and not stop.forced:  # stopped between steps: the checkpoint resumes exactly
            save()
        raise
    bar.close()
    return True
