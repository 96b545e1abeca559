"""What every trainer optimises with, as plain functions of plain arguments: AdamW's parameter
groups, the two learning-rate schedules, token log-probabilities, the collation of padded
micro-batches and one optimizer step over accumulated micro-batches.

Nothing here knows a trainer's config: a trainer passes the numbers it means.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

BETAS = (0.9, 0.95)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, with weight decay on matrices only (not on norms' gains or biases)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS)


# --------------------------------------------------------------------------- schedules


def warmup_cosine(step: int, *, lr: float, min_lr: float, warmup: int, steps: int) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at the last of ``steps``: training
    from scratch (SFT) and reward models."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def warmup_constant(step: int, *, lr: float, warmup: int) -> float:
    """Linear warmup to ``lr`` over ``warmup`` steps, then constant: fine-tuning a trained policy
    (every RL trainer)."""
    return lr * min(1.0, (step + 1) / warmup) if warmup > 0 else lr


# --------------------------------------------------------------------------- tensors


def token_logprobs(model, x: torch.Tensor) -> torch.Tensor:
    """log p(x[:, t+1] | x[:, :t+1]) for every position, (B, T-1)."""
    logits = model(x[:, :-1])
    return torch.log_softmax(logits.float(), -1).gather(-1, x[:, 1:, None])[..., 0]


def collate_examples(examples, batch: list[int], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Language-model micro-batch of ``Examples`` (``ponder.train.data``): inputs (B, T) and
    next-token targets (B, T), -100 where nothing is trained."""
    T = max(int(examples.offsets[i + 1] - examples.offsets[i]) for i in batch) - 1
    x = np.full((len(batch), T), pad_id, dtype=np.int64)
    y = np.full((len(batch), T), -100, dtype=np.int64)
    for r, i in enumerate(batch):
        toks, trained = examples.get(i)
        n = len(toks) - 1
        x[r, :n] = toks[:-1]
        y[r, :n] = np.where(trained[1:], toks[1:], -100)
    return torch.from_numpy(x), torch.from_numpy(y)


def collate_scored(data, batch: list[int], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Micro-batch of ``ScoredExamples`` (``ponder.train.data``): token ids (B, T) and their
    per-token targets (B, T), NaN where nothing is trained (and on padding)."""
    T = max(len(data.ids[i]) for i in batch)
    x = np.full((len(batch), T), pad_id, dtype=np.int64)
    y = np.full((len(batch), T), np.nan, dtype=np.float32)
    for r, i in enumerate(batch):
        n = len(data.ids[i])
        x[r, :n] = data.ids[i]
        y[r, :n] = data.targets[i]
    return torch.from_numpy(x), torch.from_numpy(y)


def labels_in(y: torch.Tensor) -> int:
    """Trained positions of a collated target tensor (-100 or NaN mark the others)."""
    if y.is_floating_point():
        return int((~torch.isnan(y)).sum())
    return int((y != -100).sum())


def language_model_loss(model, x: torch.Tensor, y: torch.Tensor, labels: int) -> torch.Tensor:
    """A micro-batch's share of a step's next-token loss: its mean over its own trained positions,
    weighted by their share of the step's ``labels`` (so every trained token counts the same)."""
    return model(x, y) * (labels_in(y) / labels)


# --------------------------------------------------------------------------- one step


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def apply_gradients(model: torch.nn.Module, optimizer: torch.optim.Optimizer, grad_clip: float) -> float:
    """Clip the gradients' norm, step, clear; returns the norm before clipping."""
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm


def accumulated_step(model, optimizer, micro: list[tuple[torch.Tensor, torch.Tensor]],
                     loss: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor], lr: float, grad_clip: float,
                     state: dict) -> dict:
    """One optimizer step over collated micro-batches ``(x, y)``. ``loss(x, y, labels)`` is a
    micro-batch's share of the step's loss, ``labels`` being the trained positions of the whole
    step. Advances ``state``'s counters (step, micro_batches, tokens, trained_tokens) and returns
    the step's ``train/*`` metrics."""
    t0 = time.perf_counter()
    labels = sum(labels_in(y) for _, y in micro)
    set_lr(optimizer, lr)
    loss_sum = 0.0
    for x, y in micro:
        part = loss(x, y, labels)
        part.backward()
        loss_sum += part.item()
    grad_norm = apply_gradients(model, optimizer, grad_clip)
    padded = sum(x.numel() for x, _ in micro)
    state["step"] += 1
    state["micro_batches"] += len(micro)
    state["tokens"] += padded
    state["trained_tokens"] = state.get("trained_tokens", 0) + labels
    seconds = time.perf_counter() - t0
    return {"train/loss": loss_sum, "train/lr": lr, "train/grad_norm": grad_norm, "train/tokens": state["tokens"],
            "train/tokens_per_s": padded / seconds, "train/trained_tokens": state["trained_tokens"],
            "train/labels": labels}
