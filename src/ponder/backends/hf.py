"""The hf policy: a Hugging Face ``transformers`` causal LM from a local directory.

    ponder eval --model hf:runs/nano-hf --task countdown-3
    ponder solve 4 7 8 8 --task game24 --backend hf --model /models/Qwen2.5-0.5B-Instruct

Generation is transformers' own ``generate`` (its KV cache, left padding, attention masks), with
two hooks that keep ponder's sampling contract:

* ``PonderSampler`` (a logits processor) chooses every token itself, with
  ``ponder.engine.sampling.sample``: per-row temperature (0 = greedy), top-k, top-p and a
  counter-based seed. ``generate`` runs in greedy mode and takes the token the sampler leaves as
  the only finite logit. So sample i of a prompt depends on its seed alone, not on what it was
  batched with, and it is the token the nano engine would draw from the same logits with the same
  seed. The sampler also records each chosen token's log-probability under the raw logits (before
  temperature), as the nano engine does.
* ``StopCriteria`` (a stopping criterion) ends a row at the end-of-sequence token, at a stop
  string found in its decoded text, or at its own token limit; rows in one batch may ask for
  different limits and stop strings.

Unlike the nano engine there is no prefix cache: each of a prompt's ``n`` samples computes the
prompt again (``Completion.cached_tokens`` stays 0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ponder.backends.base import TokenScore, cut_at_stop, scores_of
from ponder.engine.sampling import hash32, sample
from ponder.errors import UserError
from ponder.types import Completion, SamplingParams
from ponder.utils import stable_hash

INSTALL_HINT = "the hf backend needs transformers: pip install 'ponder[hf]'"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""The ``dtype`` names HFPolicy accepts (float32 is the default: bf16 is slower on CPUs without
bf16 units)."""
FALLBACK_CONTEXT = 4096
"""Context length assumed when neither the config nor the tokenizer states one."""


def require_transformers():
    """The ``transformers`` module, or a one-line UserError saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return transformers


def hf_directory(path: str | Path | None) -> Path:
    """A local Hugging Face checkpoint directory, or a UserError naming what is missing."""
    if not path:
        raise UserError("the hf backend needs a model directory: --model hf:PATH")
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {path} (the hf backend reads a local directory)")
    if not (path / "config.json").is_file():
        raise UserError(f"no Hugging Face model at {path} (expected config.json)")
    return path


def dtype_kwarg(transformers, dtype: torch.dtype) -> dict:
    """``from_pretrained``'s dtype argument: ``dtype`` from transformers 4.56, ``torch_dtype`` before."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


# --------------------------------------------------------------------------- generate's hooks


def sample_seed(seed: int | None, prompt: str, index: int) -> int:
    """The seed of sample ``index`` of ``prompt``: derived as the nano backend and engine derive it,
    so equal logits give equal samples; without a seed, a fresh random one."""
    base = random.getrandbits(31) if seed is None else stable_hash(f"{seed}:{prompt}") & 0x7FFFFFFF
    return int(hash32(torch.tensor([(base * 1_000_003 + index) & 0xFFFFFFFF]))[0])


class PonderSampler:
    """A transformers logits processor that picks each row's next token with ponder's sampler and
    masks every other token, so greedy ``generate`` takes it. (Duck-typed: transformers only calls
    it, so this module imports without transformers.)"""

    def __init__(self, rows: Sequence["_Row"], start: int, logprobs: bool):
        self.temperature = torch.tensor([r.params.temperature for r in rows])
        self.top_k = torch.tensor([r.params.top_k for r in rows])
        self.top_p = torch.tensor([r.params.top_p for r in rows], dtype=torch.float64)
        self.seeds = torch.tensor([r.seed for r in rows], dtype=torch.int64)
        self.start = start
        self.logprobs: list[torch.Tensor] | None = [] if logprobs else None
        """Per step, (B,): log-probability of the chosen token under the raw logits."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.start
        logits = scores.float().cpu()  # ponder's sampler works on the CPU, as the nano engine does
        steps = torch.full((logits.shape[0],), step, dtype=torch.int64)
        chosen = sample(logits, self.temperature, self.top_k, self.top_p, self.seeds, steps)
        if self.logprobs is not None:
            self.logprobs.append(torch.log_softmax(logits, -1).gather(1, chosen[:, None])[:, 0])
        return torch.full_like(scores, -float("inf")).scatter_(1, chosen[:, None].to(scores.device), 0.0)


class StopCriteria:
    """A transformers stopping criterion, row by row: end of sequence, a stop string in the text
    generated so far, or the row's token limit. Stateless (transformers may copy it), so
    ``finish`` replays it on the rows ``generate`` returns."""

    def __init__(self, tokenizer, rows: Sequence["_Row"], start: int, eos_ids: frozenset[int]):
        self.tokenizer, self.rows, self.start, self.eos_ids = tokenizer, rows, start, eos_ids
        self.span = max((tail_span(r.params.stop) for r in rows), default=1)

    def __call__(self, input_ids: torch.Tensor, scores=None, **kwargs) -> torch.Tensor:
        count = input_ids.shape[1] - self.start
        tails = input_ids[:, -min(self.span, count):].tolist()
        done = [self.ended(r, tails[i], count) is not None for i, r in enumerate(self.rows)]
        return torch.tensor(done, device=input_ids.device)

    def ended(self, row: "_Row", tail: list[int], count: int) -> str | None:
        """Why a row ends after its ``count``-th token ("stop", "length" or None: go on); ``tail``
        holds its last generated tokens, enough of them to hold a stop string."""
        if tail[-1] in self.eos_ids:
            return "stop"
        if row.params.stop:
            text = self.tokenizer.decode(tail[-tail_span(row.params.stop):], skip_special_tokens=True)
            if any(s and s in text for s in row.params.stop):
                return "stop"
        return "length" if count >= row.budget else None

    def finish(self, row: "_Row", tokens: list[int]) -> tuple[int, str]:
        """(tokens generated, finish reason) of a row ``generate`` returned (padding after its end)."""
        for k in range(1, min(len(tokens), row.budget) + 1):
            reason = self.ended(row, tokens[max(0, k - self.span):k], k)
            if reason:
                return k, reason
        return min(len(tokens), row.budget), "length"


def tail_span(stops: Sequence[str]) -> int:
    """How many final tokens can hold a stop string the last token completes: every token adds at
    least one character, so a string of k characters lies within the last k + 1 tokens (one more
    for a space the decoder may put before its first token)."""
    return max((len(s) for s in stops), default=0) + 1


# --------------------------------------------------------------------------- the policy


@dataclass
class _Row:
    """One sample to generate: its prompt, parameters, token limit and seed."""

    prompt: int
    index: int
    ids: list[int]
    params: SamplingParams
    budget: int
    seed: int


class HFPolicy:
    """A ``Policy`` on a transformers causal LM (see the module docstring)."""

    def __init__(self, model, tokenizer, name: str = "hf", max_batch: int = 64, eos_ids: Sequence[int] = ()):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.meta: dict = {}  # a transformers checkpoint records no ponder metadata
        self.max_batch = max_batch
        """Most rows (samples) in one ``generate`` call."""
        self.eos_ids = frozenset(int(i) for i in [*eos_ids, tokenizer.eos_token_id] if i is not None)
        if not self.eos_ids:
            raise UserError("this model names no end-of-sequence token (generation_config.json or the tokenizer)")
        self.max_context = context_length(model.config, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        model.generation_config = self._clean_generation_config()

    @classmethod
    def load(cls, path: str | Path, dtype: str = "float32", device: str = "cpu", max_batch: int = 64,
             name: str | None = None) -> "HFPolicy":
        """Model and tokenizer from a local directory (never the Hub), float32 on the CPU by default."""
        path = hf_directory(path)
        transformers = require_transformers()
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, **dtype_kwarg(transformers, DTYPES[dtype])).to(device)
        eos = model.generation_config.eos_token_id  # one id or several (Llama 3 ends turns too)
        eos_ids = eos if isinstance(eos, list) else [eos]
        return cls(model, tokenizer, name=name or f"hf:{path}", max_batch=max_batch, eos_ids=eos_ids)

    def _clean_generation_config(self):
        """A generation config with the special ids only: a checkpoint's own defaults (sampling,
        repetition penalty, ...) would act on top of ``SamplingParams``."""
        from transformers import GenerationConfig

        return GenerationConfig(bos_token_id=self.tokenizer.bos_token_id, eos_token_id=sorted(self.eos_ids),
                                pad_token_id=self.pad_id)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def reset_cache(self) -> None:
        """No prefix cache to forget: every call computes its prompts anew."""

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def score(self, ids: Sequence[int]) -> list[TokenScore]:
        bos = self.tokenizer.bos_token_id
        first = None if bos is None or (ids and ids[0] == bos) else bos
        seq = ([first] if first is not None else []) + list(ids)
        device = next(self.model.parameters()).device
        with torch.no_grad():
            logits = self.model(torch.tensor([seq], dtype=torch.long, device=device)).logits[0]
        return scores_of(torch.log_softmax(logits.float(), -1).cpu(), ids, first,
                         lambda i: self.tokenizer.convert_ids_to_tokens(i))

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(each) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(each)} sampling parameters")
        encoded = self.tokenizer(list(prompts), add_special_tokens=True)["input_ids"] if prompts else []
        out: list[list[Completion | None]] = [[None] * sp.n for sp in each]
        rows = []
        for p, (text, ids, sp) in enumerate(zip(prompts, encoded, each)):
            budget = min(sp.max_tokens, self.max_context - len(ids))
            for i in range(sp.n):
                if budget < 1:  # no room after the prompt, as the nano engine answers it
                    out[p][i] = Completion("", (), "length", len(ids), logprobs=() if sp.logprobs else None)
                else:
                    rows.append(_Row(p, i, list(ids), sp, budget, sample_seed(sp.seed, text, i)))
        rows.sort(key=lambda r: len(r.ids))  # like lengths together: less padding
        for at in range(0, len(rows), self.max_batch):
            batch = rows[at:at + self.max_batch]
            for row, completion in zip(batch, self._generate_batch(batch)):
                out[row.prompt][row.index] = completion
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate_batch(self, rows: Sequence[_Row]) -> list[Completion]:
        """One ``generate`` call over left-padded rows."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        width = max(len(r.ids) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r.ids):] = torch.tensor(r.ids)
            mask[i, width - len(r.ids):] = 1
        device = self.model.device
        sampler = PonderSampler(rows, width, logprobs=any(r.params.logprobs for r in rows))
        stopper = StopCriteria(self.tokenizer, rows, width, self.eos_ids)
        config = self._clean_generation_config()
        config.max_new_tokens, config.do_sample, config.num_beams = max(r.budget for r in rows), False, 1
        sequences = self.model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                        generation_config=config, logits_processor=LogitsProcessorList([sampler]),
                                        stopping_criteria=StoppingCriteriaList([stopper]))
        new = sequences[:, width:].cpu().tolist()
        lps = torch.stack(sampler.logprobs, 1).tolist() if sampler.logprobs else None
        return [self._completion(r, new[i], stopper, lps[i] if lps else None) for i, r in enumerate(rows)]

    def _completion(self, row: _Row, tokens: list[int], stopper: StopCriteria, logprobs) -> Completion:
        count, reason = stopper.finish(row, tokens)
        tokens = tokens[:count]
        text, stop = cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), row.params.stop)
        return Completion(text=text, token_ids=tuple(tokens), finish_reason="stop" if stop else reason,
                          prompt_tokens=len(row.ids),
                          logprobs=tuple(logprobs[:count]) if row.params.logprobs else None, stop=stop)


def context_length(config, tokenizer) -> int:
    """Most tokens a prompt and completion may hold: the model's positions, else the tokenizer's
    stated limit, else ``FALLBACK_CONTEXT``."""
    for value in (getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)):
        if isinstance(value, int) and 0 < value < 10**8:
            return value
    return FALLBACK_CONTEXT


def load(spec: str | None) -> HFPolicy:
    """The backend entry point (``ponder.backends.load_policy``): a local checkpoint directory."""
    return HFPolicy.load(spec)
