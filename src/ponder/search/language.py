"""Strategies for language models: they talk to the policy in words, so they need a model that
reads instructions (a real LLM through the hf, openai or vllm backend, on the math task). They
run on the nano model too, but it was never taught to plan or to judge, so there they only show
the mechanics.

* ``plan-solve``: the policy writes a plan of sub-questions; the sub-questions are solved side by
  side, in one batched call; then the policy reads its plan with every sub-answer and writes the
  final solution (the seeds' "dynamic chain-of-thought plan" and parallel sub-problems;
  Plan-and-Solve, Wang et al. 2023; least-to-most, Zhou et al. 2022).
* ``self-verify``: when no reward model has been trained, the policy judges its own samples
  (generative verification, GenRM, Zhang et al. 2024): after each finished solution it is asked
  whether the answer is correct, and the score is its probability of answering Yes, read from the
  verdict token's log-probability (or, with ``verdicts > 1``, the share of sampled Yes verdicts,
  optionally after a written verification, GenRM-CoT). The answers' votes are weighted by it.

Every call is the policy's, so every token of the plan, the sub-answers, the judge's verification
and verdicts is generated thinking and counted in ``Usage``; all calls share the problem's prompt
as their prefix, which the nano engine and vLLM compute once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ponder.search.base import Calls, Search, Strategy, register
from ponder.search.vote import _Parallel, best_scored, elect, tally
from ponder.types import Candidate, Completion, SamplingParams

_NUMBERED = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s*(?P<item>\S.*?)\s*$")


def sub_questions(plan: str, most: int) -> list[str]:
    """The numbered or bulleted items of a plan, in order, at most ``most`` of them."""
    items = [m["item"] for line in plan.split("\n") if (m := _NUMBERED.match(line))]
    return items[:most]


@register
@dataclass
class PlanSolve(Strategy):
    """Plan, solve the sub-questions in parallel, then write the solution from their answers."""

    name = "plan-solve"
    plan_header: str = "Plan. The sub-questions to answer first, one per line:\n1."
    """What the policy continues to write its plan (it ends where a numbered list starts)."""
    part_header: str = "Sub-question {i}: {question}\nAnswer to sub-question {i}:"
    """How a sub-question is put to the policy, after the plan; ``{i}`` and ``{question}`` filled in."""
    solve_header: str = "Now, using these answers, the full solution:\n"
    """What the policy continues, after the plan and the sub-answers, to write the solution."""
    max_parts: int = 6
    """Most sub-questions taken from a plan."""
    plan_tokens: int = 256
    """Most tokens for the plan."""
    part_tokens: int = 384
    """Most tokens for the answer to one sub-question."""
    temperature: float = 0.0
    """Sampling temperature of every call (0: greedy)."""

    def __post_init__(self) -> None:
        if "{question}" not in self.part_header:
            raise ValueError("part_header must contain {question}")
        if self.max_parts < 1 or self.plan_tokens < 1 or self.part_tokens < 1:
            raise ValueError("max_parts, plan_tokens and part_tokens must be at least 1")

    def _part(self, i: int, question: str) -> str:
        return self.part_header.replace("{i}", str(i)).replace("{question}", question)  # not format(): LaTeX has braces

    def _params(self, s: Search, max_tokens: float, stop: tuple[str, ...]) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, max_tokens=max(1, int(max_tokens)), stop=stop,
                              seed=s.seed * 1000 + s.calls)

    def search(self, s: Search) -> Calls:
        # the plan: each call keeps a share of what is left for the calls after it
        if s.room(self.plan_header) < 1:
            return s.result(None, [])
        [[plan]] = yield from s.generate([self.plan_header],
                                         self._params(s, min(self.plan_tokens, s.room(self.plan_header) / 3),
                                                      ("\n\n",)))
        written = self.plan_header + plan.text.rstrip() + "\n\n"
        parts = sub_questions("1." + plan.text if self.plan_header.endswith("1.") else plan.text, self.max_parts)
        s.trace.append(f"plan: {len(parts)} sub-question{'s' * (len(parts) != 1)}")
        # the sub-questions, side by side, each given an equal share of half of what is left
        answers: list[Completion] = []
        if parts:
            asks = [written + self._part(i, q) for i, q in enumerate(parts, 1)]
            share = min(self.part_tokens, min(s.room(a) for a in asks), s.left / (2 * len(parts)))
            if share >= 1:
                replies = yield from s.generate(asks, self._params(s, share, ("\n\n", "\nSub-question")))
                answers = [c for [c] in replies]
        for i, (q, a) in enumerate(zip(parts, answers), 1):
            written += self._part(i, q) + " " + a.text.strip() + "\n\n"
            s.trace.append(f"sub-question {i}: {q[:80]} -> {a.text.strip()[:80]}")
        # the solution, from the plan and the sub-answers
        written += self.solve_header
        if s.room(written) < 1:
            return s.result(None, [], note="The budget ran out before the solution.")
        [[final]] = yield from s.generate([written], self._params(s, s.room(written), ()))
        best = s.candidate(written + final.text)
        note = f"Planned {len(parts)} sub-question{'s' * (len(parts) != 1)}, answered {len(answers)} side by side."
        return s.result(best, [best], finish_reason=final.finish_reason, note=note)


def yes_probability(verdict: Completion) -> float | None:
    """P(Yes) of a verdict: a leading Yes or No read with the first token's log-probability when it
    came with one (a greedy No at probability p leaves 1 - p for Yes), else 1 or 0; None when the
    verdict says neither."""
    words = re.findall(r"[a-zA-Z]+", verdict.text)
    said = words[0].lower() if words else ""
    if said not in ("yes", "no"):
        return None
    p = math.exp(verdict.logprobs[0]) if verdict.logprobs else 1.0
    return p if said == "yes" else 1.0 - p


def last_verdict(text: str) -> float | None:
    """1.0 or 0.0 for the last standalone Yes or No in a written verification; None when there is none."""
    said = re.findall(r"\b(yes|no)\b", text, flags=re.IGNORECASE)
    return None if not said else float(said[-1].lower() == "yes")


@register
@dataclass
class SelfVerify(_Parallel):
    """Sample, let the policy judge each answered sample, and vote with its judgement as weight."""

    name = "self-verify"
    question: str = "\n\nQuestion: Is the answer above correct? Answer Yes or No.\nAnswer:"
    """Put after a finished solution; the policy's next word is its verdict."""
    verdicts: int = 1
    """Verdicts per sample: 1 is greedy, scored by its log-probability; more are sampled at
    temperature 1 and scored by their share of Yes."""
    verify_tokens: int = 0
    """Tokens the judge may write to verify before its verdict (GenRM-CoT; the last Yes or No it
    writes is the verdict); 0 asks for the verdict at once."""
    verify_header: str = "\n\nLet's verify the solution above step by step, then say Yes if it is correct, No if not.\n"
    """Put after a finished solution when ``verify_tokens`` > 0."""
    pick: str = "vote"
    """``vote``: the answer with the largest summed judgement; ``best``: the single best-judged sample."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.verdicts < 1 or self.verify_tokens < 0:
            raise ValueError("verdicts must be at least 1 and verify_tokens at least 0")
        if self.pick not in ("vote", "best"):
            raise ValueError(f"pick must be 'vote' or 'best', got {self.pick!r}")

    sampling_share = 0.5  # half of a budget samples, the other half judges

    def search(self, s: Search) -> Calls:
        candidates = yield from self.sample(s)
        answered = [i for i, c in enumerate(candidates) if c.answer is not None]
        judged = yield from self.judge(s, [candidates[i].text for i in answered])
        scores = {i: p for i, p in zip(answered, judged)}
        candidates = [Candidate(c.text, c.answer, scores.get(i)) for i, c in enumerate(candidates)]
        if self.pick == "best":
            best = best_scored(candidates)
            return s.result(best, candidates, note=f"Best of {len(candidates)} samples as the policy judged them.")
        return elect(s, candidates, tally(candidates, lambda c: c.score or 0.0), "weight")

    def judge(self, s: Search, texts: list[str]) -> Calls:
        """P(Yes) for each text, as the policy judges it; None for those the budget cannot pay for
        or whose verdicts say neither Yes nor No."""
        written = self.verify_tokens > 0
        suffix = self.verify_header if written else self.question
        per_text = self.verdicts * (self.verify_tokens if written else 2)
        affordable = len(texts) if s.budget is None else int(max(0.0, s.left) // per_text)
        asks = {i: t + suffix for i, t in enumerate(texts[:affordable])}
        asks = {i: a for i, a in asks.items() if s.room(a) >= 1}  # a text that fills the context is not judged
        if not asks:
            return [None] * len(texts)
        greedy = self.verdicts == 1
        params = SamplingParams(n=self.verdicts, temperature=0.0 if greedy else 1.0,
                                max_tokens=min(self.verify_tokens if written else 2, *map(s.room, asks.values())),
                                logprobs=greedy and not written,
                                stop=() if written else ("\n",), seed=s.seed * 1000 + s.calls)
        replies = yield from s.generate(list(asks.values()), params)
        scores: list[float | None] = [None] * len(texts)
        for i, verdicts in zip(asks, replies):
            read = [last_verdict(v.text) if written else yes_probability(v) for v in verdicts]
            known = [p for p in read if p is not None]
            scores[i] = sum(known) / len(known) if known else None
        judged = [p for p in scores if p is not None]
        s.trace.append(f"judged {len(judged)} of {len(texts)} samples"
                       + (f", mean P(Yes) {sum(judged) / len(judged):.2f}" if judged else ""))
        return scores
