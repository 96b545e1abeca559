"""Reward models from local Hugging Face checkpoints: classification heads read as judges.

    get_reward("hf:/models/my-orm")     # or just the directory: config.json and no ponder.json

The checkpoint's architecture says how it is read (``config.json``'s ``architectures``):

* ``...ForSequenceClassification`` is an outcome judge: one score for the whole text, from the
  head's logits at the text's last token (transformers pools there).
* ``...ForTokenClassification`` is a process judge: one score per step, read at the last token of
  each step. Steps are the task's ``steps(text)`` by default (for ponder's tasks, the lines of
  reasoning), or the pieces between a given ``separator`` string (a word, "\\n\\n", or a special
  token's text). A text with no step gets one score, read at its last token, so a search can
  still rank it. A process judge also values partial texts (``values``), so tree search runs on it.

Logits become probabilities the same way for both heads: one label, the sigmoid of its logit; two
labels, the softmax probability of label 1 (label 0 = wrong, 1 = right: the convention of
transformers' binary classifiers); more labels, the softmax probability of the label ``positive``
names, which must then be given.

The judge reads what the policy read and wrote: the task's prompt followed by the text, tokenized
by the checkpoint's own tokenizer with its special tokens (so a ``<bos>``, where it adds one).
Every token read is counted in ``usage.reward_tokens``.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Sequence

import torch

from ponder.backends.hf import DTYPES, context_length, dtype_kwarg, hf_directory, require_transformers
from ponder.errors import UserError, read_json
from ponder.rewards.base import RewardModel
from ponder.rewards.value import padded_batches
from ponder.types import Problem, Usage

KINDS = {"ForSequenceClassification": "outcome", "ForTokenClassification": "process"}
"""Architecture name ending -> how the judge is read."""


def judge_kind(config: dict) -> str:
    """"outcome" or "process" from a config.json's architectures, or a UserError."""
    for arch in config.get("architectures") or []:
        for ending, kind in KINDS.items():
            if arch.endswith(ending):
                return kind
    raise UserError(f"not a reward model: architectures {config.get('architectures')} (expected a "
                    f"...ForSequenceClassification or ...ForTokenClassification checkpoint)")


def positive_probability(logits: torch.Tensor, positive: int | None = None) -> torch.Tensor:
    """(..., labels) logits -> (...) probability of the positive label (see the module docstring)."""
    labels = logits.shape[-1]
    logits = logits.float()
    if labels == 1:
        return torch.sigmoid(logits[..., 0])
    if positive is None:
        if labels != 2:
            raise UserError(f"this judge has {labels} labels: say which one means right (positive=INDEX)")
        positive = 1
    if not 0 <= positive < labels:
        raise UserError(f"positive={positive} is not a label of this judge (it has {labels})")
    return torch.softmax(logits, -1)[..., positive]


def step_ends(text: str, steps: Sequence[str] | None, separator: str | None) -> list[int]:
    """Character offsets (in ``text``) just past each step: the ``steps`` found in order, or the
    non-blank pieces between ``separator``s."""
    ends, pos = [], 0
    if separator is not None:
        for piece in text.split(separator):
            if piece.strip():
                ends.append(pos + len(piece))
            pos += len(piece) + len(separator)
        return ends
    for step in steps or []:
        at = text.find(step, pos)
        if at < 0 or not step:
            continue
        pos = at + len(step)
        ends.append(pos)
    return ends


def last_tokens(offsets: Sequence[tuple[int, int]], char_ends: Sequence[int]) -> list[int]:
    """For each character offset, the index of the last token starting before it (tokens with
    empty spans, the special ones, are skipped); offsets before any token are dropped."""
    kept = [k for k, (s, e) in enumerate(offsets) if e > s]
    starts = [offsets[k][0] for k in kept]
    out = []
    for end in char_ends:
        j = bisect.bisect_left(starts, end) - 1
        if j >= 0:
            out.append(kept[j])
    return out


class HFReward(RewardModel):
    """A classification-head judge from a local transformers checkpoint (see the module docstring)."""

    def __init__(self, model, tokenizer, kind: str, name: str | None = None, separator: str | None = None,
                 positive: int | None = None, max_batch_tokens: int = 16384):
        if kind not in ("outcome", "process"):
            raise ValueError(f"kind must be outcome or process, got {kind!r}")
        self.model, self.tokenizer, self.kind = model.eval(), tokenizer, kind
        self.gives_values = kind == "process"
        self.name = name or f"hf-{'orm' if kind == 'outcome' else 'prm'}"
        self.separator = separator
        """None: steps are the task's ``steps(text)``; a string: the pieces between it."""
        self.positive = positive
        self.max_batch_tokens = max_batch_tokens
        self.usage = Usage()
        self.max_length = context_length(model.config, tokenizer)
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        if kind == "outcome" and model.config.pad_token_id is None:
            model.config.pad_token_id = self.pad_id  # transformers finds the last token by the pad id

    @classmethod
    def load(cls, path: str | Path, dtype: str = "float32", device: str = "cpu", **options) -> "HFReward":
        """The judge in a local checkpoint directory; ``options`` as ``HFReward``'s (kind comes from
        the architecture)."""
        path = hf_directory(path)
        transformers = require_transformers()
        kind = judge_kind(read_json(path / "config.json", "a Hugging Face config"))
        auto = (transformers.AutoModelForSequenceClassification if kind == "outcome"
                else transformers.AutoModelForTokenClassification)
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
        model = auto.from_pretrained(path, local_files_only=True, **dtype_kwarg(transformers, DTYPES[dtype]))
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(model.to(device), tokenizer, kind, **options)

    # -- the RewardModel interface

    @torch.no_grad()
    def score(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        """Outcome judge: ``[p]`` per text. Process judge: one probability per step."""
        if self.kind == "outcome":
            return [[p] for p in self._outcomes(problem, texts)]
        return self._steps(problem, texts)

    def values(self, problem: Problem, texts: Sequence[str]) -> list[float]:
        """The value of each partial text: the process judge's score of its last step (what tree
        search needs). An outcome judge has none."""
        if self.kind != "process":
            raise UserError(f"{self.name} is an outcome judge: tree search needs a process judge "
                            "(a ...ForTokenClassification checkpoint)")
        return [s[-1] for s in self.score(problem, texts)]

    def estimate(self, tokens: int) -> int:
        """Reward tokens to score one text of ``tokens`` tokens: it is read once (no prefix cache)."""
        return min(tokens, self.max_length)

    # -- reading

    def _encode(self, problem: Problem, texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of prompt + text (truncated to the model's length) and, per text, the token
        positions to read: each step's last token, or the last token when there is no step."""
        from ponder.tasks import get_task

        task = get_task(problem.task)
        prompt = task.prompt(problem)
        enc = self.tokenizer([prompt + t for t in texts], add_special_tokens=True,
                             return_offsets_mapping=self.kind == "process")
        seqs, reads = [], []
        for i, text in enumerate(texts):
            ids = list(enc["input_ids"][i])[:self.max_length]
            at = []
            if self.kind == "process":
                offsets = enc["offset_mapping"][i][:len(ids)]
                steps = None if self.separator is not None else task.steps(text)
                ends = [len(prompt) + e for e in step_ends(text, steps, self.separator)]
                at = last_tokens(offsets, ends)  # a step past the truncation reads the last token
            seqs.append(ids)
            reads.append(at or [len(ids) - 1])
        return seqs, reads

    def _forward(self, seqs: list[list[int]]):
        """Yield (indices, probabilities) per padded batch: (B,) for an outcome judge, (B, T) for a
        process judge."""
        for batch, idx in padded_batches(seqs, self.pad_id, self.max_batch_tokens):
            lengths = torch.tensor([len(seqs[i]) for i in batch])
            mask = (torch.arange(idx.shape[1])[None, :] < lengths[:, None]).long()
            self.usage.reward_tokens += int(lengths.sum())
            device = self.model.device
            logits = self.model(input_ids=idx.to(device), attention_mask=mask.to(device)).logits.cpu()
            yield batch, positive_probability(logits, self.positive)

    def _outcomes(self, problem: Problem, texts: Sequence[str]) -> list[float]:
        seqs, _ = self._encode(problem, texts)
        out = [0.0] * len(texts)
        for batch, probs in self._forward(seqs):
            for r, i in enumerate(batch):
                out[i] = float(probs[r])
        return out

    def _steps(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        seqs, reads = self._encode(problem, texts)
        out: list[list[float]] = [[] for _ in texts]
        for batch, probs in self._forward(seqs):
            for r, i in enumerate(batch):
                out[i] = probs[r, reads[i]].tolist()
        return out


def load(spec: str | Path, **options) -> HFReward:
    """``get_reward``'s entry point: a checkpoint directory (an ``hf:`` prefix is allowed)."""
    spec = str(spec)
    return HFReward.load(spec[3:] if spec.startswith("hf:") else spec, **options)
