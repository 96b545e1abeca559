"""The ``Policy`` protocol: text in, sampled completions out. Every backend implements it."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TokenScore:
    """One token of a text as the model reads it (``Scoring.score``)."""

    token: str
    logprob: float | None
    """log P(token | the tokens before it); None for a first token with nothing before it."""
    top: str
    """The token the model found most likely at this place."""
    top_logprob: float | None


class Scoring(Protocol):
    """What a backend that runs the model itself (nano, hf) can do beside ``Policy``: its tokenizer
    both ways, and the log-probability of every token of a text (an OpenAI completion's ``echo``
    with ``logprobs``, which lm-evaluation-harness's log-likelihood tasks read)."""

    vocab_size: int
    """Token ids run from 0 to ``vocab_size - 1``."""

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Token ids of ``text``; with ``special``, the beginning-of-text token first, as a prompt has it."""

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of token ids."""

    def score(self, ids: Sequence[int]) -> list[TokenScore]:
        """Each token of ``ids`` with its log-probability given those before it (after the
        beginning-of-text token, which is put first when ``ids`` do not start with it)."""


def scores_of(logprobs, ids: Sequence[int], first: int | None, text) -> list[TokenScore]:
    """``TokenScore``s from log-probabilities (a tensor, positions by vocabulary) of the sequence
    ``[first, *ids]`` (``first``: the beginning token put before ``ids``; None: none was), read
    off with ``text`` (token id -> its text)."""
    seq = ([first] if first is not None else []) + list(ids)
    shift = 1 if first is not None else 0
    top_lp, top_id = logprobs.max(-1)
    out = []
    for i, tok in enumerate(ids):
        at = i + shift - 1  # the position whose next-token distribution predicts this one
        if at < 0:
            out.append(TokenScore(text(tok), None, text(tok), None))
            continue
        out.append(TokenScore(text(tok), float(logprobs[at, seq[at + 1]]), text(int(top_id[at])), float(top_lp[at])))
    return out


def spliced(policy, text: str, piece: str) -> str:
    """``text`` and then ``piece``, a completion of it from a call of its own, as one call would have
    written them. A backend that decodes each completion alone (nano, hf) leaves out a space its
    tokenizer would put between the last token of one and the first of the other: it goes back in,
    as the tokenizer says (``Scoring``). Other backends decode in context: ``text + piece``."""
    if not (text and piece and hasattr(policy, "tokenize") and hasattr(policy, "detokenize")):
        return text + piece
    last, first = policy.tokenize(text, special=False)[-1:], policy.tokenize(piece, special=False)[:1]
    apart = len(policy.detokenize(last)) + len(policy.detokenize(first))
    return text + " " * max(0, len(policy.detokenize(last + first)) - apart) + piece


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """``text`` cut before a stop string, and the string that cut it (None: none occurs). The stop
    strings are tried in order, each cutting what the ones before it left."""
    ended_by = None
    for s in stops:
        at = text.find(s) if s else -1
        if at >= 0:
            text, ended_by = text[:at], s
    return text, ended_by
