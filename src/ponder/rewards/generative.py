"""Generative judges: the language model itself reads a solution and says whether it is right.

* GenRM (Zhang et al. 2024): after the solution comes the question ``verify:``; the score is the
  probability the judge gives ``Yes`` next (against ``No``).
* GenRM-CoT: the question ``check:`` asks the judge to verify first, redoing the answer's
  arithmetic line by line (``ponder.tasks.countdown.judge.rationale``), then to write ``verdict: Yes`` or
  ``No``. Several rationales are sampled; the score is the mean of P(Yes) after each (Zhang et
  al.'s majority: a vote of the verdicts, weighted by their confidence, that rarely ties). They
  are sampled hot (``COT_TEMPERATURE``): at temperature 1 the judge writes nearly the same
  rationale every time, so a number it reads past once it reads past in all of them; hotter
  rationales differ, and the ones that catch the mistake pull the mean down.
* Text critic (CriticGPT): after ``critique:`` the judge names the first wrong or dead-end line and
  why (``ponder.tasks.countdown.judge.critique``), then ``verdict:``; the score is P(Yes) after its greedy
  critique, and the critique itself is returned by ``critiques`` for a reviser to act on.

One judge model serves GenRM and GenRM-CoT (it is trained on both questions); the critic is its
own model. Either way the judge is the policy's architecture with a few words added to its
vocabulary (``ponder.tasks.countdown.judge.WORDS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ponder.model import Tokenizer, Transformer, load_model
from ponder.rewards.base import RewardModel
from ponder.rewards.value import padded_batches
from ponder.tasks.countdown.judge import CHECK, CRITIQUE, NO, VERDICT, VERIFY, YES
from ponder.types import Problem, SamplingParams, Usage

QUESTIONS = {"genrm": VERIFY, "genrm-cot": CHECK, "critic": CRITIQUE}
"""The question each judge mode asks after the solution."""

ROOM = 64
"""Tokens a judge keeps free for its own writing (a Game of 24 rationale with fractions takes 50)."""

COT_SAMPLES, COT_TEMPERATURE = 16, 2.0
"""GenRM-CoT's rationales per solution and their sampling temperature, chosen on the validation
split (``benchmarks/rewards.py --split val``)."""


def judge_context(prompt: str, text: str, question: str) -> str:
    """What a judge reads: the problem, the solution, then the question on its own line."""
    body = text.rstrip("\n")
    return f"{prompt}{body}\n{question}" + ("" if question == VERIFY else "\n")


def judge_example(prompt: str, text: str, question: str, reasoning: str, verdict: bool) -> tuple[str, str]:
    """A training example: (context, what the judge should write after it)."""
    word = YES if verdict else NO
    if question == VERIFY:
        return judge_context(prompt, text, question), f" {word}"
    return judge_context(prompt, text, question), f"{reasoning}\n{VERDICT} {word}"


def fit(tokenizer: Tokenizer, prompt: str, text: str, room: int) -> str:
    """``text`` with its oldest lines dropped until the prompt and text fit in ``room`` tokens
    (a solution that filled the policy's context leaves no room for a question otherwise)."""
    budget = room - len(tokenizer.encode(prompt)) - 1
    lines = text.rstrip("\n").split("\n")
    start, total = len(lines), 0
    while start > 0:  # newest first; the last line is always kept
        size = len(tokenizer.encode(lines[start - 1])) + 1
        if total + size > budget and start < len(lines):
            break
        total += size
        start -= 1
    kept = "\n".join(lines[start:])
    if total > budget:  # one line too long by itself: keep its end
        kept = tokenizer.decode(tokenizer.encode(kept)[-max(1, budget - 1):])
    return kept


def reading_room(tokenizer: Tokenizer, prompt: str, max_len: int, room: int, context: int = 0) -> int:
    """Tokens of prompt and solution a judge reads: what its context leaves after ``room`` for its
    own writing, or less when ``context`` (tokens of the solution) asks for less."""
    limit = max_len - room
    return min(limit, len(tokenizer.encode(prompt)) + 1 + context) if context else limit


@dataclass(frozen=True)
class Judgement:
    """What a judge said about one solution."""

    reasoning: str
    """The rationale or critique it wrote (empty for plain GenRM)."""
    verdict: bool
    score: float
    """P(Yes) (GenRM, critic) or its mean over the sampled rationales (GenRM-CoT)."""


class JudgeReward(RewardModel):
    """GenRM, GenRM-CoT or the text critic, by ``mode``; an outcome judge (one score per text)."""

    kind = "outcome"
    writes_critiques = True
    """In every mode: ``critiques`` gives the critic's critique, GenRM-CoT's first rationale, or
    GenRM's verdict alone (an empty critique), each with its verdict."""

    def __init__(self, model: Transformer, tokenizer: Tokenizer, meta: dict | None = None, mode: str = "genrm",
                 samples: int = COT_SAMPLES, temperature: float = COT_TEMPERATURE, room: int = ROOM, seed: int = 0,
                 context: int | None = None):
        if mode not in QUESTIONS:
            raise ValueError(f"unknown judge mode {mode!r}; choose one of: {', '.join(QUESTIONS)}")
        from ponder.backends.nano import NanoPolicy

        self.model, self.tokenizer, self.meta = model, tokenizer, meta or {}
        self.mode, self.name = mode, mode
        self.samples = samples
        """Rationales per solution (GenRM-CoT)."""
        self.temperature = temperature
        self.room = room
        """Tokens kept free for the judge's own writing."""
        self.seed = seed
        self.context = context if context is not None else (meta or {}).get("config", {}).get("context", 0)
        """Tokens of a solution the judge reads (its end); 0: all that fits. Defaults to what it
        was trained with."""
        self.usage = Usage()
        self.writer = NanoPolicy(model, tokenizer, max_batch=64, name=mode)
        self.yes, self.no = tokenizer.index[YES], tokenizer.index[NO]

    @classmethod
    def load(cls, path: str | Path, mode: str | None = None, **options) -> "JudgeReward":
        model, tokenizer, meta = load_model(path)
        return cls(model, tokenizer, meta, mode=mode or meta.get("reward_kind", "genrm"), **options)

    def score(self, problem: Problem, texts: Sequence[str]) -> list[list[float]]:
        return [[j.score] for j in self.judge(problem, texts)]

    def estimate(self, tokens: int) -> int:
        """Reward tokens to judge one text of ``tokens`` tokens (prompt included), before any is seen."""
        read = min(tokens, self.model.cfg.max_seq_len - self.room)
        if self.context:
            read = min(read, self.context + 16)
        return read + {"genrm": 0, "genrm-cot": self.samples * self.writing, "critic": self.writing}[self.mode]

    def critiques(self, problem: Problem, texts: Sequence[str]) -> list[Judgement]:
        """The critic's critique and verdict for each text (what a reviser reads)."""
        return self.judge(problem, texts)

    def judge(self, problem: Problem, texts: Sequence[str]) -> list[Judgement]:
        from ponder.tasks import get_task

        task = get_task(problem.task)
        prompt = task.prompt(problem)
        limit = reading_room(self.tokenizer, prompt, self.model.cfg.max_seq_len, self.room, self.context)
        question = QUESTIONS[self.mode]
        contexts = [judge_context(prompt, fit(self.tokenizer, prompt, t, limit), question) for t in texts]
        if self.mode == "genrm":
            return [Judgement("", p >= 0.5, p) for p in self.p_yes(contexts)]
        if self.mode == "genrm-cot":  # several sampled rationales, their P(Yes) averaged
            n, params = self.samples, SamplingParams(n=self.samples, temperature=self.temperature,
                                                     max_tokens=self.writing, seed=self.seed, stop=(VERDICT,))
        else:  # one greedy critique
            n, params = 1, SamplingParams(n=1, temperature=0.0, max_tokens=self.writing, stop=(VERDICT,))
        written = self.writer.generate(contexts, params)
        for completions in written:
            self.usage.add_completions(completions)
        self._move_usage()
        reasons = [c.text.rstrip("\n") for completions in written for c in completions]
        probs = self.p_yes([f"{ctx}{why}\n{VERDICT}" for ctx, why in zip(
            (ctx for ctx in contexts for _ in range(n)), reasons)])
        out = []
        for i in range(len(contexts)):
            score = sum(probs[i * n:(i + 1) * n]) / n
            out.append(Judgement(reasons[i * n], score >= 0.5, score))
        return out

    def reset_cache(self) -> None:
        self.writer.reset_cache()

    @property
    def writing(self) -> int:
        """Most tokens the judge writes: its room, less what the question and verdict take."""
        return self.room - 8

    def _move_usage(self) -> None:
        """Tokens the judge generated are reward tokens, not policy tokens."""
        u = self.usage
        u.reward_tokens += u.prompt_tokens - u.cached_tokens + u.completion_tokens
        u.prompt_tokens = u.cached_tokens = u.completion_tokens = 0

    @torch.no_grad()
    def p_yes(self, contexts: Sequence[str], batch_tokens: int = 16384) -> list[float]:
        """P(Yes) / (P(Yes) + P(No)) for the token after each context."""
        encoded = [[self.tokenizer.bos_id] + self.tokenizer.encode(c) for c in contexts]
        out = [0.0] * len(contexts)
        table = self.model.embedding_matrix() if self.model.cfg.tie_embeddings else self.model.lm_head.weight
        verdicts = table[[self.yes, self.no]]  # (2, C): only these two logits are read
        for rows, idx in padded_batches(encoded, self.tokenizer.pad_id, batch_tokens):
            self.usage.reward_tokens += sum(len(encoded[i]) for i in rows)
            hidden = self.model.hidden(idx)
            last = hidden[torch.arange(len(rows)), torch.tensor([len(encoded[i]) - 1 for i in rows])]
            for r, p in zip(rows, torch.softmax(F.linear(last, verdicts).float(), -1)[:, 0].tolist()):
                out[r] = p
        return out

