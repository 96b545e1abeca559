"""Supervised fine-tuning on solver traces: the nano policy learns to search by imitation.

``train_sft(config)`` builds (or loads from the cache) the traces of ``config.mix``, trains with
AdamW, a warmup and a cosine decay, and writes into ``config.out``:

* ``metrics.jsonl``: one line per step (``train/loss``, ``train/lr``, ...) and per evaluation;
* ``checkpoint/``: everything needed to continue exactly, written atomically every
  ``checkpoint_every`` steps and when the run is interrupted;
* ``model/``: the final model, with the recipe, commit and wall time in its metadata.

Resuming (``resume=True``) restores weights, optimizer, RNG states and the data position, so a
resumed run ends with the same parameters as one that never stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ponder.errors import UserError
from ponder.model import ModelConfig, Tokenizer, Transformer, load_model, save_model
from ponder.train.checkpoint import load_checkpoint
from ponder.train.data import Examples, MixPart, build_examples, micro_batches
from ponder.train.loop import Metrics, RunConfig, git_commit, open_run, train_loop


@dataclass
class SFTConfig(RunConfig):
    out: str = "runs/sft"
    """Run directory: metrics, checkpoint and final model go here."""
    mix: tuple[MixPart, ...] = (MixPart("countdown-3", "search", 1.0, 2000), MixPart("countdown", "search", 1.0, 2000))
    """Where the training traces come from."""
    examples: int = 2000
    """Traces in the dataset (the run cycles through them in shuffled epochs)."""
    model: ModelConfig = field(default_factory=lambda: ModelConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=192, max_seq_len=512))
    """Architecture of a model trained from scratch (ignored with ``init``)."""
    digit_features: bool = True
    """Give number tokens an embedding built from their digits (see ``ModelConfig.number_tokens``)."""
    init: str | None = None
    """Start from this model directory instead of random weights."""
    steps: int = 50
    tokens_per_step: int = 16384
    """Padded tokens per optimizer step (micro-batches are accumulated to reach it)."""
    micro_tokens: int = 8192
    """Padded tokens per forward pass; small micro-batches stay in the CPU's cache."""
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 100
    eval_every: int = 0
    """Steps between greedy evaluations on held-out problems (0: only at the end)."""
    eval_tasks: tuple[str, ...] = ("countdown",)
    eval_problems: int = 50
    workers: int = 0
    """Processes that write traces (0: one per CPU)."""
    recipe: str = ""
    """Name of the recipe this config came from (recorded in the model's metadata)."""

    def __post_init__(self) -> None:
        self.mix = tuple(MixPart(**p) if isinstance(p, dict) else p for p in self.mix)
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        self.eval_tasks = tuple(self.eval_tasks)
        if self.steps < 1:
            raise UserError("steps must be at least 1")
        if self.micro_tokens < self.model.max_seq_len:
            raise UserError(f"micro_tokens ({self.micro_tokens}) must hold one sequence of max_seq_len ({self.model.max_seq_len})")
        self.check_batching()


def lr_at(step: int, cfg: SFTConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: torch.nn.Module, cfg: SFTConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


def collate(examples: Examples, batch: list[int], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T) and targets (B, T) with -100 where nothing is trained."""
    T = max(int(examples.offsets[i + 1] - examples.offsets[i]) for i in batch) - 1
    x = np.full((len(batch), T), pad_id, dtype=np.int64)
    y = np.full((len(batch), T), -100, dtype=np.int64)
    for r, i in enumerate(batch):
        toks, trained = examples.get(i)
        n = len(toks) - 1
        x[r, :n] = toks[:-1]
        y[r, :n] = np.where(trained[1:], toks[1:], -100)
    return torch.from_numpy(x), torch.from_numpy(y)


def train_sft(cfg: SFTConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run SFT; returns the directory of the final model.

    ``stop_after`` ends the run early after that many steps, as a crash would (a checkpoint is
    written first); used to test exact resumption.
    """
    out = Path(cfg.out)
    ckpt = open_run(out, resume)

    if resume:
        model, tokenizer, optimizer, state = load_checkpoint(ckpt, lambda m: make_optimizer(m, cfg))
    else:
        torch.manual_seed(cfg.seed)
        if cfg.init:
            from ponder.backends.nano import model_path

            model, tokenizer, _ = load_model(model_path(cfg.init))
            model.train()
        else:
            tokenizer = Tokenizer()
            numbers = tokenizer.number_range if cfg.digit_features else (0, 0)
            model = Transformer(replace(cfg.model, vocab_size=len(tokenizer), number_tokens=numbers))
        optimizer = make_optimizer(model, cfg)
        state = {"step": 0, "micro_batches": 0, "tokens": 0, "trained_tokens": 0, "wall_time_s": 0.0}
        (out / "config.json").write_text(json.dumps(cfg.to_json(), indent=1))
    model.train()

    t_data = time.perf_counter()
    data = build_examples(cfg.mix, cfg.examples, cfg.seed, tokenizer, model.cfg.max_seq_len, cfg.workers, progress)
    state.setdefault("data_build_s", round(time.perf_counter() - t_data, 1))
    stream = micro_batches(data.lengths(), cfg.micro_tokens, cfg.seed)
    for _ in range(state["micro_batches"]):  # skip what earlier sessions already trained on
        next(stream)

    metrics = Metrics(out / "metrics.jsonl")
    meta = {"recipe": cfg.recipe, "config": cfg.to_json(), "commit": git_commit(), "torch": torch.__version__}

    def loss(x, y, labels):
        return model(x, y) * (int((y != -100).sum()) / labels)

    finished = train_loop(
        model, tokenizer, optimizer, state, stream, steps=cfg.steps, accumulation=cfg.accumulation,
        collate=lambda b: collate(data, b, tokenizer.pad_id), count=lambda y: int((y != -100).sum()), loss=loss,
        lr_of=lambda step: lr_at(step, cfg), grad_clip=cfg.grad_clip, ckpt=ckpt, meta=meta, metrics=metrics,
        checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every,
        evaluate=lambda: _evaluate(model, tokenizer, cfg, state, metrics), desc="sft", progress=progress,
        stop_after=stop_after)
    if not finished:
        return ckpt
    meta.update(wall_time_s=round(state["wall_time_s"], 1), data_build_s=state["data_build_s"],
                steps=state["step"], tokens=state["tokens"],
                trained_tokens=state["trained_tokens"], params=model.num_params())
    if cfg.eval_problems and cfg.eval_tasks:
        meta["eval"] = _evaluate(model, tokenizer, cfg, state, metrics)
    final = save_model(out / "model", model, tokenizer, meta)
    return final


def _evaluate(model, tokenizer, cfg: SFTConfig, state: dict, metrics: Metrics) -> dict:
    """Greedy accuracy on each eval task's validation split."""
    from ponder.backends.nano import NanoPolicy
    from ponder.evaluate import evaluate
    from ponder.search import get_strategy
    from ponder.tasks import get_task

    model.eval()
    policy = NanoPolicy(model, tokenizer)
    row = {"step": state["step"], "time/elapsed_s": state["wall_time_s"]}
    for name in cfg.eval_tasks:
        task = get_task(name)
        report = evaluate(task, task.problems("val", cfg.eval_problems), policy, get_strategy("greedy"))
        row[f"eval/{name}/accuracy"] = report.accuracy
        row[f"eval/{name}/tokens_per_problem"] = report.tokens_per_problem
        row[f"eval/{name}/seconds"] = report.seconds_per_problem * report.n
    metrics.write(row)
    model.train()
    return row
