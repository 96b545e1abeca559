"""Plain data shared by every layer: problems, sampling parameters, completions, token usage.

Everything here is a frozen dataclass (``Usage`` excepted: it is an accumulator), so values can
be hashed, compared in tests and passed between threads without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Problem:
    """One verifiable problem.

    Countdown and Game of 24 use ``numbers`` and ``target``; arithmetic keeps its operands in
    ``numbers`` and the operator in ``question``; free-text tasks use ``question`` alone.
    """

    id: str
    task: str
    numbers: tuple[int, ...] = ()
    target: int | None = None
    question: str = ""

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "task": self.task}
        if self.numbers:
            out["numbers"] = list(self.numbers)
        if self.target is not None:
            out["target"] = self.target
        if self.question:
            out["question"] = self.question
        return out


@dataclass(frozen=True)
class SamplingParams:
    """How to sample completions; the names and meanings follow the OpenAI and vLLM APIs."""

    n: int = 1
    """Completions per prompt. The prompt is computed once and shared by all n samples."""
    temperature: float = 1.0
    """0 means greedy decoding (argmax), whatever top_k and top_p say."""
    top_k: int = 0
    """Keep only the k most likely tokens; 0 keeps all."""
    top_p: float = 1.0
    """Keep the smallest set of tokens whose probability reaches top_p; 1.0 keeps all."""
    max_tokens: int = 256
    """Most new tokens per completion."""
    stop: tuple[str, ...] = ()
    """Generation ends after any of these strings; the completion text is cut before it."""
    seed: int | None = None
    """Seed for sampling. With a seed, sample i of a prompt is the same whatever it is batched with."""
    logprobs: bool = False
    """Return the log-probability of every generated token (under the model, before temperature)."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))


@dataclass(frozen=True)
class Completion:
    """One sampled continuation of a prompt."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str
    """"stop" (end of sequence or a stop string) or "length" (max_tokens or the context ran out)."""
    prompt_tokens: int
    """Tokens in the prompt."""
    cached_tokens: int = 0
    """Prompt tokens whose keys and values came from the prefix cache instead of being computed."""
    logprobs: tuple[float, ...] | None = None


@dataclass
class Usage:
    """Tokens spent, accumulated across every model call that served one result.

    ``prompt_tokens`` counts every prompt token processed, ``cached_tokens`` how many of those
    were served from the prefix cache (so ``prompt_tokens - cached_tokens`` were computed),
    ``completion_tokens`` every generated token, ``reward_tokens`` every token a reward model
    read or wrote.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reward_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.reward_tokens

    def add(self, other: "Usage") -> "Usage":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def add_completions(self, completions: "list[Completion]", shared_prompt: bool = True) -> "Usage":
        """Count a group of completions of one prompt; its prompt is counted once when shared."""
        if completions:
            prompts = completions[:1] if shared_prompt else completions
            self.prompt_tokens += sum(c.prompt_tokens for c in prompts)
            self.cached_tokens += sum(c.cached_tokens for c in prompts)
            self.completion_tokens += sum(len(c.token_ids) for c in completions)
        return self

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["total_tokens"] = self.total_tokens
        return out


@dataclass(frozen=True)
class Candidate:
    """One finished line of reasoning a strategy considered."""

    text: str
    answer: str | None
    score: float | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class SearchResult:
    """What a strategy returns for one problem."""

    answer: str | None
    """The final answer (for Countdown, one arithmetic expression), or None if none was found."""
    text: str
    """The full completion that carries the answer: hidden reasoning, then the answer line."""
    reasoning_summary: str
    """A short, human-readable account of the reasoning (what the caller sees instead of it)."""
    usage: Usage
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    finish_reason: str = "stop"
