"""The nano policy: ponder's own transformer behind the ``Policy`` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ponder.backends.base import TokenScore, cut_at_stop, scores_of
from ponder.engine import Engine, Request
from ponder.errors import UserError
from ponder.model import Tokenizer, Transformer, load_model
from ponder.types import Completion, SamplingParams
from ponder.utils import stable_hash

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
SHIPPED_POLICIES = {
    "nano-v2": "the default: nano-v2-sft trained 1,000 steps more on fresh traces (recipe nano-v2-more)",
    "nano-v2-sft": "both trace styles (search, and direct when the prompt ends in 'direct'), grouped-query "
                   "attention, a 2,048-token context (recipe nano-v2); the policy tree search was measured with",
    "nano-v2-par": "nano-v2 taught to think in parallel threads (--strategy parallel; recipe nano-v2-par), keeping "
                   "its serial search",
    "nano-rl": "the default before nano-v2: nano-sft after GRPO with the rule oracle's step rewards (recipes "
               "grpo-oracle, grpo-long)",
    "nano-sft": "trained from scratch on solver traces (recipe nano-default)",
}
"""The shipped policies, by the name ``--model`` accepts in place of a directory."""
DEFAULT_MODEL = WEIGHTS / "nano-v2"
"""The shipped default policy."""


def model_path(model: str | Path | None, check: bool = True) -> Path:
    """The directory of a policy given as a directory or a shipped policy's name; None is the default.
    With ``check``, a clear error when there is no such directory."""
    path = Path(model) if model else DEFAULT_MODEL
    if not path.exists() and str(model) in SHIPPED_POLICIES:
        path = WEIGHTS / str(model)
    if check and not path.exists():
        raise UserError(f"model not found: {path} (a model directory, or one of: {', '.join(SHIPPED_POLICIES)})")
    return path


class NanoPolicy:
    def __init__(self, model: Transformer, tokenizer: Tokenizer, meta: dict | None = None, max_batch: int = 64,
                 name: str = "nano"):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta or {}
        self.engine = Engine(model, max_batch=max_batch)
        self.name = name
        self.max_context = model.cfg.max_seq_len

    @classmethod
    def load(cls, path: str | Path | None = None, **kwargs) -> "NanoPolicy":
        path = model_path(path)
        model, tokenizer, meta = load_model(path)
        name = path.name if path.parent == WEIGHTS else str(path)
        return cls(model, tokenizer, meta, name=kwargs.pop("name", name), **kwargs)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer.vocab)

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return self.tokenizer.encode(text, bos=special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    def score(self, ids: Sequence[int]) -> list[TokenScore]:
        bos = self.tokenizer.bos_id
        first = None if ids and ids[0] == bos else bos
        seq = ([first] if first is not None else []) + list(ids)
        with torch.no_grad():
            logits = self.model(torch.tensor([seq], dtype=torch.long))[0]
        return scores_of(torch.log_softmax(logits.float(), -1), ids, first, lambda i: self.tokenizer.vocab[i])

    def reset_cache(self) -> None:
        self.engine.prefix.clear()

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        tok = self.tokenizer
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(each) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(each)} sampling parameters")
        requests = [
            Request(prompt=tuple(tok.encode(p, bos=True)), n=sp.n, temperature=sp.temperature,
                    top_k=sp.top_k, top_p=sp.top_p, max_tokens=sp.max_tokens,
                    stop_tokens=frozenset({tok.eos_id}), stop_sequences=tuple(tuple(tok.encode(s)) for s in sp.stop if s),
                    seed=None if sp.seed is None else stable_hash(f"{sp.seed}:{p}") & 0x7FFFFFFF,
                    logprobs=sp.logprobs)
            for p, sp in zip(prompts, each)
        ]
        out = []
        for sp, gens in zip(each, self.engine.generate(requests)):
            row = []
            for g in gens:
                text, ended_by = cut_at_stop(tok.decode(g.tokens), sp.stop)
                row.append(Completion(text=text, token_ids=tuple(g.tokens), finish_reason=g.finish_reason,
                                      prompt_tokens=g.prompt_tokens, cached_tokens=g.cached_tokens,
                                      logprobs=tuple(g.logprobs) if g.logprobs is not None else None,
                                      stop=ended_by))
            out.append(row)
        return out


def load(spec: str | None) -> NanoPolicy:
    """The backend entry point (``ponder.backends.load_policy``): a model directory or a shipped name."""
    return NanoPolicy.load(spec)
