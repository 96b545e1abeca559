"""Choosing the next token, as pure functions over a batch of logits.

Each row has its own temperature, top-k, top-p and seed. Randomness comes from a counter-based
hash of (seed, step, token), not from a generator's state: sample i of a prompt with a given seed
is the same token sequence whatever else it is batched with, and no ``torch.multinomial`` is
needed (Gumbel-max picks the token).
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (lowbias32) on int64 tensors holding values in [0, 2**32)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def uniform(seeds: torch.Tensor, steps: torch.Tensor, vocab: int) -> torch.Tensor:
    """(B, V) uniforms in (0, 1), a pure function of each row's seed and step."""
    tok = torch.arange(vocab, dtype=torch.int64)[None, :]
    x = hash32(hash32(seeds[:, None] ^ hash32(steps[:, None] + 0x9E3779B9)) ^ (tok * 0x632BE5AB))
    return ((x >> 8).double() + 0.5) / float(1 << 24)


def filter_logits(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Set to -inf what top-k (0 = off) and top-p (1.0 = off) exclude, row by row. logits: (B, V)."""
    if bool((top_k > 0).any()):
        kmax = int(top_k.max())
        kth = torch.topk(logits, min(kmax, logits.shape[-1]), dim=-1).values  # (B, kmax)
        idx = (top_k.clamp(min=1, max=logits.shape[-1]) - 1)[:, None]
        threshold = kth.gather(1, idx.clamp(max=kth.shape[1] - 1))
        threshold = torch.where(top_k[:, None] > 0, threshold, torch.full_like(threshold, -float("inf")))
        logits = logits.masked_fill(logits < threshold, -float("inf"))
    if bool((top_p < 1.0).any()):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass strictly above each token
        drop_sorted = before >= top_p[:, None]  # the first token is never dropped
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, -float("inf"))
    return logits


def sample(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
           seeds: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Next token per row. Rows with temperature 0 take the argmax. logits: (B, V) -> (B,)."""
    greedy = logits.argmax(-1)
    hot = temperature > 0
    if not bool(hot.any()):
        return greedy
    scaled = logits.float() / temperature.clamp(min=1e-6)[:, None]
    scaled = filter_logits(scaled, top_k, top_p)
    u = uniform(seeds, steps, logits.shape[-1])
    gumbel = -torch.log(-torch.log(u))
    drawn = (scaled.double() + gumbel).argmax(-1)
    return torch.where(hot, drawn, greedy)
