"""Value-head reward models on the nano trunk: the ORM and the PRM (value model).

Both are the policy's transformer with a scalar head (``ModelConfig.value_head``) read after
the last token of every line. They differ only in their labels:

* ORM (Cobbe et al. 2021): every line of a sampled solution is labelled with the verifier's
  verdict on its final answer, so the head learns to predict, at each point, whether this
  solution will turn out right. Its ``last`` score is the outcome judgement.
* PRM / value model (Math-Shepherd, AlphaMath): each line is labelled with the Monte Carlo value
  of the prefix ending there, the fraction of the policy's rollouts from it that reach a
  verified answer (``ponder.rewards.montecarlo``). Its scores are process rewards, and its score
  of a partial text is the value a tree search needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ponder.engine.engine import PrefillCache, PrefixCache
from ponder.model import Tokenizer, Transformer, load_model
from ponder.rewards.base import RewardModel
from ponder.types import Problem, Usage


def encode_lines(tokenizer: Tokenizer, prompt: str, text: str, steps: Sequence[str],
                 finished: bool = True) -> tuple[list[int], list[int]]:
    """``<bos> prompt text`` as token ids, and the positions a value head is read at: the last
    token of each step (each line of ``text`` that is one of ``steps``) and, for a finished text,
    an ``<eos>`` appended after it, where the judgement of the whole text is read. A finished text
    is read as ending in a newline, with or without one: a policy writes its last line and a
    newline before it stops, while a tree search's last line is cut at the newline."""
    if finished and not text.endswith("\n"):
        text += "\n"
    ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    ends = []
    wanted = list(steps)
    lines = text.split("\n")
    for k, line in enumerate(lines):
        piece = tokenizer.encode(line)
        ids += piece
        if wanted and line == wanted[0]:
            wanted.pop(0)
            if piece:
                ends.append(len(ids) - 1)
        if k < len(lines) - 1:
            ids.append(tokenizer.newline_id)
    if finished:
        ids.append(tokenizer.eos_id)
        ends.append(len(ids) - 1)
    return ids, ends


def padded_batches(seqs: Sequence[Sequence[int]], pad_id: int, batch_tokens: int):
    """Yield ``(indices, ids)``: the sequences in batches of like length, each at most
    ``batch_tokens`` padded tokens (a longer sequence goes alone), as a right-padded (B, T) tensor."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and len(seqs[order[stop]]) * (stop - start + 1) <= batch_tokens:
            stop += 1
        batch = order[start:stop]
        idx = torch.full((len(batch), max(len(seqs[i]) for i in batch)), pad_id, dtype=torch.long)
        for r, i in enumerate(batch):
            idx[r, :len(seqs[i])] = torch.tensor(seqs[i])
        yield batch, idx
        start = stop


class ValueReward(RewardModel):
    """Scores with a value head: the sigmoid of its logit after each step's last token and, for
    finished texts, after the end of the text (so ``last`` judges the whole solution). With
    ``partial=True`` the texts are prefixes a search is still growing, and the last score is the
    value of the prefix."""

    kind = "process"
    gives_values = True

    def __init__(self, model: Transformer, tokenizer: Tokenizer, meta: dict | None = None, name: str = "value",
                 partial: bool = False, max_batch_tokens: int = 16384,
                 prefix_cache_tokens: int = 65536):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta or {}
        self.name = name
        self.partial = partial
        if self.meta.get("config", {}).get("labels") == "exact":
            # trained to say whether the goal is still reachable: after the answer, whether it was
            # reached, which a doubtful step earlier on no longer changes
            self.aggregate = "last"
        self.usage = Usage()
        self.max_batch_tokens = max_batch_tokens
        self.cache = PrefixCache(prefix_cache_tokens)
        """Keys and values of what ``values`` has read, so a search's shared prefixes are read once."""

    def reset_cache(self) -> None:
        self.cache.clear()

    @classmethod
    def load(cls, path: str | Path, name: str | None = None, **options) -> "ValueReward":
        model, tokenizer, meta = load_model(path)
        return cls(model, tokenizer, meta, name=name or meta.get("reward_kind", "value"), **options)

    @torch.no_grad()
    def score(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        from ponder.tasks import get_task

        task = get_task(problem.task)
        prompt = task.prompt(problem)
        limit = self.model.cfg.max_seq_len
        encoded = [encode_lines(self.tokenizer, prompt, t, task.steps(t), finished=not self.partial) for t in texts]
        seqs = [ids[:limit] for ids, _ in encoded]
        out: list[list[float]] = [[] for _ in texts]
        for batch, idx in padded_batches(seqs, self.tokenizer.pad_id, self.max_batch_tokens):
            self.usage.reward_tokens += sum(len(seqs[i]) for i in batch)
            probs = torch.sigmoid(self.model.values(idx).float())
            for r, i in enumerate(batch):
                ends = [min(e, limit - 1) for e in encoded[i][1]]
                out[i] = probs[r, ends].tolist() if ends else [float(probs[r, len(seqs[i]) - 1])]
        return out

    def estimate(self, tokens: int) -> int:
        """Reward tokens to score one text of ``tokens`` tokens (prompt included): it reads them once,
        with the newline that ends a finished text where it has none."""
        return min(tokens + 1, self.model.cfg.max_seq_len)

    @torch.no_grad()
    def values(self, problem: Problem, texts: Sequence[str]) -> list[float]:
        """The value of each partial text, read after its last step, as ``score`` with ``partial=True``
        gives it last. What a tree search needs: its texts share long prefixes, and only what the
        prefix cache does not hold is computed (and counted in ``usage``)."""
        from ponder.tasks import get_task

        task = get_task(problem.task)
        prompt = task.prompt(problem)
        cfg = self.model.cfg
        out = []
        for text in texts:
            ids, ends = encode_lines(self.tokenizer, prompt, text, task.steps(text), finished=False)
            ids = ids[:ends[-1] + 1 if ends else len(ids)][:cfg.max_seq_len]
            path = self.cache.lookup(ids, limit=len(ids) - 1)
            if path:
                past_k, past_v = torch.cat([n.k for n in path], dim=2), torch.cat([n.v for n in path], dim=2)
            else:
                past_k = past_v = torch.empty(cfg.n_layers, cfg.n_kv_heads, 0, cfg.head_dim)
            start = past_k.shape[2]
            cache = PrefillCache(past_k, past_v, len(ids) - start)
            hidden = self.model.hidden(torch.tensor(ids[start:])[None], positions=torch.arange(start, len(ids))[None],
                                       cache=cache)
            out.append(float(torch.sigmoid(self.model.value_head(hidden[0, -1]).float())))
            k = torch.cat([past_k, torch.stack([cache.new_k[i][0] for i in range(cfg.n_layers)])], dim=2)
            v = torch.cat([past_v, torch.stack([cache.new_v[i][0] for i in range(cfg.n_layers)])], dim=2)
            self.cache.insert(ids, k, v)
            self.usage.reward_tokens += len(ids) - start
        return out
