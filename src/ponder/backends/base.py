"""The ``Policy`` protocol: text in, sampled completions out. Every backend implements it."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ponder.types import Completion, SamplingParams


@runtime_checkable
class Policy(Protocol):
    name: str
    max_context: int
    """Most tokens a prompt and its completion may hold together."""
    meta: dict
    """What the model's files record of how it was made (nano: ``ponder.json``'s metadata, such as
    the ``revision`` format ``ponder train rise`` taught it); {} when they record nothing."""

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        """``params.n`` completions for each prompt, as ``out[prompt][sample]``; ``params`` is one
        for all prompts or one per prompt (a search batches many problems' different requests)."""

    def count_tokens(self, text: str) -> int:
        """Tokens the backend's tokenizer makes of ``text``."""

    def reset_cache(self) -> None:
        """Forget every cached prefix: a trainer calls it once the weights change, since cached
        keys and values belong to the old ones (a backend without a cache does nothing)."""


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """``text`` cut before a stop string, and the string that cut it (None: none occurs). The stop
    strings are tried in order, each cutting what the ones before it left."""
    ended_by = None
    for s in stops:
        at = text.find(s) if s else -1
        if at >= 0:
            text, ended_by = text[:at], s
    return text, ended_by
