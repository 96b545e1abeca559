"""The ``Policy`` protocol: text in, sampled completions out. Every backend implements it."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ponder.types import Completion, SamplingParams


@runtime_checkable
class Policy(Protocol):
    name: str
    max_context: int
    """Most tokens a prompt and its completion may hold together."""

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        """``params.n`` completions for each prompt, as ``out[prompt][sample]``; ``params`` is one
        for all prompts or one per prompt (a search batches many problems' different requests)."""

    def count_tokens(self, text: str) -> int:
        """Tokens the backend's tokenizer makes of ``text``."""
