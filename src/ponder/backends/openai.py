"""Any OpenAI-compatible endpoint as a policy: vLLM, SGLang, llama.cpp, Ollama or OpenAI itself.

    policy = load("Qwen/Qwen2.5-1.5B-Instruct@http://localhost:8000/v1")   # or "MODEL" and $OPENAI_BASE_URL

HTTP is done with the standard library (``urllib`` and threads), so ponder's core gains no
dependency. Many prompts are in flight at once, never more than ``max_concurrency``; failures
that may pass (429, 5xx, refused connections, timeouts) are retried with exponential backoff and
jitter, honouring ``Retry-After``; any other refusal is a ``UserError`` carrying the server's message.

Where the HTTP API gives less than the ``Policy`` protocol asks for, this backend decides:

* ``token_ids``: servers return text, not token ids, so a completion's ``token_ids`` holds one
  placeholder ``0`` per generated token. Only its length means anything: it is what ``Usage``
  counts. Training (which needs the ids) wants the nano, hf or vllm backend.
* token counts: from the response's ``usage``. With several choices in one response only their
  sum is known; it is shared out by text length (exact per choice when logprobs were asked for:
  one per token). Without ``usage``, ``count_tokens`` of the text.
* ``n``: asked for; a server that returns fewer choices (Ollama, some proxies) gets further
  requests until ``n`` exist, each with its own seed derived from ``params.seed``. Once seen,
  later calls send the ``n`` requests of a prompt side by side. Every request's prompt tokens are
  charged: ``Usage`` counts a prompt once, from its first completion, so that one carries the sum.
* ``stop``: servers cut the stop string from the text and, in the OpenAI API, do not say which
  one ended it. vLLM says (``stop_reason``), SGLang too (``matched_stop``); elsewhere
  ``Completion.stop`` is None. Step-level tree search tells an open line from a finished one by
  it, so it needs vLLM or SGLang behind this backend.
* ``count_tokens``: the server's ``/tokenize`` when it has one (vLLM, SGLang), else an estimate
  of one token per ``CHARS_PER_TOKEN`` characters; remembered per text.
* reasoning: an upstream reasoning model's thinking, which chat servers return beside the text
  (``reasoning_content``: vLLM's reasoning parsers, DeepSeek; ``reasoning``: others), is kept in
  ``Completion.reasoning`` and counted with the completion's tokens, as the server counts it.
* ``top_k`` is not in the OpenAI API: it is sent as an extra body field (vLLM, SGLang and
  llama.cpp read it; OpenAI refuses it) and only when set.
* ``max_context``: the server's ``max_model_len`` from ``/models`` when it says (vLLM does),
  else ``DEFAULT_CONTEXT``.

Options reach the command line through the environment: ``PONDER_OPENAI_API=chat``,
``PONDER_OPENAI_MAX_CONCURRENCY=64``, ... (one per ``OpenAIConfig`` field in ``ENV_OPTIONS``).
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Sequence

from ponder.errors import UserError
from ponder.jsonhttp import Refused, Transient, send
from ponder.types import Completion, SamplingParams
from ponder.utils import stable_hash

DEFAULT_CONTEXT = 4096
"""Context assumed when the server does not report one."""
CHARS_PER_TOKEN = 3
"""``count_tokens``' estimate without a tokenizer. Typical English is nearer 4 characters a token,
but digit-heavy reasoning splits finer, and overestimating is the safe side: a search sizes
``max_tokens`` as the context minus the prompt, and a server refuses a request that overflows."""
SPEC_FORM = ("openai:MODEL@BASE_URL (e.g. openai:my-model@http://localhost:8000/v1), "
             "or openai:MODEL with $OPENAI_BASE_URL")


def _flag(text: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False, "auto": None}[text.strip().lower()]


ENV_OPTIONS = {"api": str, "timeout": float, "max_retries": int, "backoff": float, "max_concurrency": int,
               "max_context": int, "n_supported": _flag, "api_key_env": str}
"""Config fields settable from the environment as ``PONDER_OPENAI_<FIELD>``, with their parser."""


@dataclass
class OpenAIConfig:
    model: str
    """The model's name as the server knows it."""
    base_url: str = field(default_factory=lambda: os.environ.get("OPENAI_BASE_URL", ""))
    """Where the API lives, up to and including ``/v1``; by default ``$OPENAI_BASE_URL``."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (sent as a bearer token when set; local servers need none)."""
    api: str = "completions"
    """``completions``: the prompt continued as is (ponder's prompts are plain continuations).
    ``chat``: the prompt sent as one user message, for chat-only models and providers."""
    timeout: float = 120.0
    """Seconds to wait on a silent server (to connect, or for the next bytes of its answer, which a
    non-streaming request gets all at once) before the attempt is abandoned and retried."""
    max_retries: int = 3
    """Retries of a request after a 429, a 5xx, a refused connection or a timeout."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled for each next one, with jitter."""
    max_backoff: float = 30.0
    """Longest wait before a retry, also when a server's ``Retry-After`` asks for more (rather than
    hang silently for an hour, fail with the server's message)."""
    max_concurrency: int = 16
    """Most requests in flight at once."""
    max_context: int | None = None
    """Tokens a prompt and completion may hold together; None: as the server reports, else ``DEFAULT_CONTEXT``."""
    n_supported: bool | None = None
    """Whether the server returns ``n`` choices per request; None: find out from its first answers."""

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.model:
            raise UserError(f"the openai backend needs a model name: {SPEC_FORM}")
        if not self.base_url:
            raise UserError(f"no base URL for the openai backend: give {SPEC_FORM}")
        if not self.base_url.startswith(("http://", "https://")):
            raise UserError(f"the base URL must start with http:// or https://, got {self.base_url!r}")
        if self.api not in ("completions", "chat"):
            raise UserError(f"api must be 'completions' or 'chat', got {self.api!r}")
        if self.timeout <= 0 or self.max_retries < 0 or self.backoff < 0 or self.max_concurrency < 1:
            raise UserError("timeout must be positive, max_retries and backoff non-negative, "
                            "max_concurrency at least 1")

    @classmethod
    def from_env(cls, model: str, base_url: str | None = None) -> "OpenAIConfig":
        """A config with the options set as ``PONDER_OPENAI_<FIELD>`` in the environment."""
        options = {}
        for name, parse in ENV_OPTIONS.items():
            value = os.environ.get(f"PONDER_OPENAI_{name.upper()}")
            if value is not None:
                try:
                    options[name] = parse(value)
                except (ValueError, KeyError):
                    raise UserError(f"PONDER_OPENAI_{name.upper()}={value!r} is not a valid {name}") from None
        return cls(model, base_url, **options) if base_url else cls(model, **options)


# --------------------------------------------------------------------------- pure helpers


def parse_spec(spec: str | None) -> tuple[str, str | None]:
    """(model, base URL or None) from ``MODEL@BASE_URL`` or ``MODEL``."""
    model, at, url = (spec or "").partition("@")
    if not model or (at and not url.startswith(("http://", "https://"))):
        raise UserError(f"cannot read the model {spec!r}: expected {SPEC_FORM}")
    return model, url or None


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (0 for the first): what the server asked for when it
    did, else ``base * 2**attempt`` jittered down by up to half, so that clients that failed
    together do not retry together; never more than ``cap``."""
    if retry_after is not None:
        return min(cap, retry_after)
    return min(cap, base * 2 ** attempt) * (0.5 + 0.5 * rng.random())


def request_seed(seed: int | None, request: int) -> int | None:
    """The seed of a prompt's ``request``-th request: ``seed`` itself for the first, a hash for the
    rest, so emulated samples differ and do not collide with a strategy's next seeds (seed + 1, ...)."""
    if seed is None or request == 0:
        return seed
    return stable_hash(f"{seed}:{request}") & 0x7FFFFFFF


def request_body(model: str, api: str, prompt: str, params: SamplingParams, n: int, seed: int | None) -> dict:
    """The JSON body asking for ``n`` completions of ``prompt``."""
    body: dict = {"model": model, "n": n, "temperature": params.temperature, "top_p": params.top_p,
                  "max_tokens": params.max_tokens}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    stops = [s for s in params.stop if s]
    if stops:
        body["stop"] = stops
    if seed is not None:
        body["seed"] = seed
    if params.top_k:
        body["top_k"] = params.top_k  # an extension (vLLM, SGLang, llama.cpp); OpenAI has no top_k
    if params.logprobs:
        body["logprobs"] = True if api == "chat" else 1
    return body


@dataclass(frozen=True)
class Choice:
    """What one returned choice says, before token counting."""

    text: str
    finish_reason: str
    stop: str | None
    logprobs: tuple[float, ...] | None
    reasoning: str = ""


def parse_choice(choice: dict, api: str, stops: Sequence[str]) -> Choice:
    """A choice of a completions or chat completions response (raises KeyError/TypeError if malformed)."""
    reasoning = ""
    if api == "chat":
        text = choice["message"].get("content") or ""
        reasoning = choice["message"].get("reasoning_content") or choice["message"].get("reasoning") or ""
        entries = (choice.get("logprobs") or {}).get("content")
        logprobs = None if entries is None else tuple(float(e["logprob"]) for e in entries)
    else:
        text = choice["text"]
        values = (choice.get("logprobs") or {}).get("token_logprobs")
        logprobs = None if values is None else tuple(float(v) for v in values)
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    said = choice.get("stop_reason", choice.get("matched_stop"))  # vLLM's, SGLang's name
    stop = said if finish == "stop" and isinstance(said, str) and said in stops else None
    return Choice(text, finish, stop, logprobs, str(reasoning))


def share(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` in whole numbers that sum to it (largest remainders first)."""
    whole = sum(weights)
    if not whole:
        weights, whole = [1] * len(weights), len(weights)
    exact = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in exact]
    for i in sorted(range(len(parts)), key=lambda i: parts[i] - exact[i])[:total - sum(parts)]:
        parts[i] += 1
    return parts


def token_counts(choices: Sequence[Choice], completion_tokens: int | None) -> list[int] | None:
    """Generated tokens per choice: one per logprob when all have them, else the response's total
    shared by text length; None when neither is known."""
    if all(c.logprobs is not None for c in choices):
        return [len(c.logprobs) for c in choices]
    if completion_tokens is None:
        return None
    return share(completion_tokens, [len(c.reasoning) + len(c.text) + 1 for c in choices])


# --------------------------------------------------------------------------- HTTP


HINTS = {401: "is {key} set?", 403: "may {key} use this model?",
         404: "is the model name right, and does the base URL end in /v1?"}
"""What to check after a refusal, by status."""


# --------------------------------------------------------------------------- the policy


class OpenAIPolicy:
    """A ``Policy`` over an OpenAI-compatible HTTP API (see the module docstring for what it decides)."""

    def __init__(self, cfg: OpenAIConfig):
        self.cfg = cfg
        self.name = f"openai:{cfg.model}"
        self.meta: dict = {}  # a served model's metadata is the server's own
        self.max_context = cfg.max_context or DEFAULT_CONTEXT
        self.n_supported = cfg.n_supported
        self._key = os.environ.get(cfg.api_key_env)
        self._slots = threading.BoundedSemaphore(cfg.max_concurrency)
        self._rng = random.Random()  # jitter only: unseeded on purpose, so clients spread out; no result depends on it
        self._tokenize = True  # whether the server may have /tokenize
        self._count = lru_cache(maxsize=1 << 16)(self._measure)

    def check(self) -> "OpenAIPolicy":
        """Ask the server for its models: a clear error now if it is unreachable or lacks this model,
        and its context length (vLLM's ``max_model_len``) when it reports one."""
        answer = self._request("/models")
        listed = [m for m in (answer.get("data") if isinstance(answer, dict) else None) or [] if isinstance(m, dict)]
        ids = [m.get("id") for m in listed]
        if ids and self.cfg.model not in ids:
            shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
            raise UserError(f"unknown model {self.cfg.model!r} at {self.cfg.base_url}; it serves: {shown}")
        reported = next((m.get("max_model_len") for m in listed if m.get("id") == self.cfg.model), None)
        if self.cfg.max_context is None and isinstance(reported, int):
            self.max_context = reported
        return self

    # -- Policy

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(each) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(each)} sampling parameters")
        units = self._plan(each)
        if not units:
            return []
        pool = ThreadPoolExecutor(max_workers=min(self.cfg.max_concurrency, len(units)))
        try:
            done = list(pool.map(lambda u: self._fill(prompts[u[0]], each[u[0]], u[1], u[2]), units))
        finally:
            pool.shutdown(cancel_futures=True)
        rows: list[list[Completion]] = [[] for _ in prompts]
        charged = [[0, 0] for _ in prompts]
        for (i, _, _), (completions, prompt_tokens, cached_tokens) in zip(units, done):
            rows[i] += completions
            charged[i][0] += prompt_tokens
            charged[i][1] += cached_tokens
        return [[replace(row[0], prompt_tokens=p, cached_tokens=c)] + row[1:] for row, (p, c) in zip(rows, charged)]

    def count_tokens(self, text: str) -> int:
        return self._count(text) if text else 0

    def reset_cache(self) -> None:
        """The server's cache is the server's own: nothing here to forget."""

    # -- generation

    def _plan(self, each: Sequence[SamplingParams]) -> list[tuple[int, int, int]]:
        """The requests to start, as (prompt index, completions wanted, index of its first request):
        one per prompt, or ``n`` of one each once the server is known to ignore ``n``."""
        if self.n_supported is False:
            return [(i, 1, r) for i, sp in enumerate(each) for r in range(sp.n)]
        return [(i, sp.n, 0) for i, sp in enumerate(each)]

    def _fill(self, prompt: str, sp: SamplingParams, want: int, first: int) -> tuple[list[Completion], int, int]:
        """``want`` completions of ``prompt``, asking again for the missing ones while the server
        returns fewer; with the prompt and cached tokens of every request made."""
        got: list[Completion] = []
        prompt_tokens = cached_tokens = 0
        request = first
        while len(got) < want:
            asked = want - len(got)
            body = request_body(self.cfg.model, self.cfg.api, prompt, sp, asked, request_seed(sp.seed, request))
            completions, p, c = self._read(prompt, sp, self._request(self._path, body))
            if len(completions) < asked and asked > 1 and self.n_supported is None:
                self.n_supported = False
            got += completions[:asked]
            prompt_tokens, cached_tokens, request = prompt_tokens + p, cached_tokens + c, request + 1
        return got, prompt_tokens, cached_tokens

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.cfg.api == "chat" else "/completions"

    def _read(self, prompt: str, sp: SamplingParams, data: dict) -> tuple[list[Completion], int, int]:
        """The completions in a response, with its prompt tokens and cached prompt tokens."""
        try:
            ordered = sorted(data["choices"], key=lambda c: c.get("index", 0))
            choices = [parse_choice(c, self.cfg.api, sp.stop) for c in ordered]
            usage = data.get("usage") or {}
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise UserError(f"{self.cfg.base_url}{self._path} gave a malformed answer "
                            f"({type(e).__name__}: {e})") from None
        if not choices:
            raise UserError(f"{self.cfg.base_url}{self._path} returned no completions")
        counts = (token_counts(choices, usage.get("completion_tokens"))
                  or [self.count_tokens(c.reasoning + c.text) for c in choices])
        prompt_tokens = usage.get("prompt_tokens")
        if prompt_tokens is None:
            prompt_tokens = self.count_tokens(prompt)
        completions = [Completion(text=c.text, token_ids=(0,) * k, finish_reason=c.finish_reason,
                                  prompt_tokens=prompt_tokens, cached_tokens=cached, logprobs=c.logprobs, stop=c.stop,
                                  reasoning=c.reasoning)
                       for c, k in zip(choices, counts)]
        return completions, prompt_tokens, cached

    # -- tokens

    def _measure(self, text: str) -> int:
        """Tokens in ``text`` by the server's ``/tokenize`` (beside ``/v1``: vLLM's and SGLang's
        place), else the estimate. The first failure, or a count of nothing (llama.cpp's
        ``/tokenize`` reads another field), means the server has none: estimates from then on."""
        if self._tokenize:
            body = {"model": self.cfg.model, "prompt": text, "add_special_tokens": False}
            try:
                data = self._request("/tokenize", body, root=self.cfg.base_url.removesuffix("/v1"))
                count = int(data["count"] if "count" in data else len(data["tokens"]))
                if count > 0:
                    return count
            except (UserError, KeyError, TypeError, ValueError):
                pass
            self._tokenize = False
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    # -- HTTP

    def _request(self, path: str, body: dict | None = None, root: str | None = None) -> dict:
        """GET (no body) or POST ``path`` under the base URL, retrying transient failures; at most
        ``max_concurrency`` requests are in flight, and none waits for a retry holding a slot."""
        url = (root or self.cfg.base_url) + path
        attempt = 0
        while True:
            try:
                with self._slots:
                    return send(url, body, self._key, self.cfg.timeout)
            except Refused as e:
                hint = HINTS.get(e.status, "").format(key=f"${self.cfg.api_key_env}")
                raise UserError(f"{e}" + (f" ({hint})" if hint else "")) from None
            except Transient as e:
                if attempt == self.cfg.max_retries:
                    raise UserError(f"{e} (after {attempt + 1} attempts)") from None
                time.sleep(backoff_delay(attempt, self.cfg.backoff, self.cfg.max_backoff, e.retry_after, self._rng))
                attempt += 1


def load(spec: str | None) -> OpenAIPolicy:
    """The backend entry point (``ponder.backends.load_policy``): ``MODEL@BASE_URL`` or ``MODEL``,
    checked against the server's model list."""
    model, base_url = parse_spec(spec)
    return OpenAIPolicy(OpenAIConfig.from_env(model, base_url)).check()
