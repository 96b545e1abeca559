"""The OpenAI wire format: request bodies read and checked, responses and stream chunks written.

Pure functions over dicts, so every rule about what a request may say is testable without a
server. A bad input raises ``ApiError``; the app turns it into OpenAI's error body::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "budget", "code": null}}
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field

from ponder.search.request import RequestError, StrategyRequest
from ponder.tasks.base import shorten
from ponder.types import SamplingParams, SearchResult

MAX_CHOICES = 8
"""Most choices (``n``) one request may ask for."""
MAX_STOPS = 4
"""Most stop strings (OpenAI's limit)."""


class ApiError(Exception):
    """A request the server refuses: HTTP status, one-line message, and the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.kind, self.param, self.code)


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# --------------------------------------------------------------------------- reading fields


def parse_json(raw: bytes) -> dict:
    if nesting(raw) > MAX_DEPTH:
        raise ApiError(400, f"the request body nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ApiError(400, f"the request body is not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a request body may have."""
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep the brackets of a JSON text nest (brackets inside strings not counted), counted up
    to one past ``limit``: checked before the parser, which would recurse that deep."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b"", raw)):
        depth += 1 if bracket.group() in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def _number(body: dict, name: str, lo: float, hi: float, default=None, integer: bool = True):
    value = body.get(name)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ApiError(400, f"{name} must be {'an integer' if integer else 'a number'}, got "
                            f"{shorten(json.dumps(value))}", name)
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo:g} and {hi:g}, got {shorten(str(value))}", name)
    return value


def _flag(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false, got {json.dumps(value)}", name)
    return value


def _text(body: dict, name: str, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, got {json.dumps(value)}", name)
    return value


def _or(value, default):
    """``value``, or ``default`` where the body left it out or sent null (but not where it sent "")."""
    return default if value is None else value


def _stops(body: dict) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ApiError(400, "stop must be a string or a list of strings", "stop")
    if len(value) > MAX_STOPS:
        raise ApiError(400, f"stop takes at most {MAX_STOPS} strings, got {len(value)}", "stop")
    return tuple(s for s in value if s)


def check_model(model, served: str) -> str | None:
    """The task a request's ``model`` names: None for the served model itself (or no ``model``),
    ``game24`` for ``nano-v2:game24``; a 404 for any other model."""
    if model is not None and not isinstance(model, str):
        raise ApiError(400, f"model must be a string, got {shorten(json.dumps(model))}", "model")
    if model is None or model == served:
        return None
    if model.startswith(served + ":") and model != served + ":":
        return model[len(served) + 1:]
    raise ApiError(404, f"the model {model!r} does not exist here; this server serves {served!r}, alone or on a "
                        f"task as {served + ':TASK'!r} (see GET /v1/models)", "model", "model_not_found")


def last_user_text(messages) -> str:
    """The text of the last user message: the problem."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a string role", "messages")
        if m["role"] not in ("system", "developer", "user", "assistant", "tool"):
            raise ApiError(400, f"messages[{i}] has an unknown role {m['role']!r}", "messages")
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        raise ApiError(400, "messages has no user message: the last user message is the problem", "messages")
    content = users[-1].get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        if not all(isinstance(p, dict) for p in content):
            raise ApiError(400, "message content parts must be objects", "messages")
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text" and isinstance(p.get("text"), str))
    if not isinstance(content, str):
        raise ApiError(400, f"the user message's content must be a string, got {json.dumps(content)}", "messages")
    if not content.strip():
        raise ApiError(400, "the last user message is empty: it should hold the problem, e.g. \"25 3 7 10 -> 66\"",
                       "messages")
    return content


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ChatRequest:
    """What a chat completion asks for, read from its body. Ponder's own fields (``strategy``,
    ``budget``, ``reward``, ``samples``, ``strategy_options``, ``include_reasoning``) ride in the body
    beside OpenAI's; the search's are checked by ``search.plan()``."""

    text: str
    """The last user message: the problem."""
    search: StrategyRequest
    """What the search may be: strategy or ``reasoning_effort``, reward, budget, ``samples`` (the
    strategy's ``n``; ``n`` is the number of choices), ``temperature``, ``strategy_options``."""
    model: str | None = None
    """The ``model`` asked for: the served one, or it on a task (``nano-v2:game24``); None: the served one."""
    n: int = 1
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int = 0
    stream: bool = False
    include_usage: bool = False
    include_reasoning: bool = False
    include_search: bool = False
    """Whether the response's ``ponder`` object holds the explorer's view of each search (``search.explore``)."""


PARAMS = {"effort": "reasoning_effort", "options": "strategy_options"}
"""The body's name for each field of a ``StrategyRequest`` that it names otherwise."""


def refused(e: RequestError) -> ApiError:
    """A search request ``plan()`` refused, as a 400 naming the body's field."""
    head, _, option = e.field.partition(".")
    param = PARAMS.get(head, head)
    return ApiError(400, e.worded(f"{param}.{option}" if option else param), param)


def parse_chat(body: dict, default_effort: str, max_budget: int) -> ChatRequest:
    text = last_user_text(body.get("messages"))
    max_tokens = _number(body, "max_completion_tokens", 1, max_budget)
    max_tokens = _number(body, "max_tokens", 1, max_budget, max_tokens)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", "stream_options")
    overrides = _or(body.get("strategy_options"), {})
    if not isinstance(overrides, dict):
        raise ApiError(400, "strategy_options must be an object of strategy fields", "strategy_options")
    search = StrategyRequest(
        strategy=_text(body, "strategy"), effort=_or(_text(body, "reasoning_effort"), default_effort),
        reward=_text(body, "reward"), budget=_number(body, "budget", 1, max_budget),
        samples=_number(body, "samples", 1, 256), temperature=_number(body, "temperature", 0, 2, integer=False),
        options=overrides, optional=("temperature",))
    return ChatRequest(
        text=text, model=_text(body, "model"), search=search, n=_number(body, "n", 1, MAX_CHOICES, 1), max_tokens=max_tokens,
        stop=_stops(body), seed=_number(body, "seed", 0, 2 ** 32 - 1, 0), stream=_flag(body, "stream"),
        include_usage=_flag(options or {}, "include_usage"), include_reasoning=_flag(body, "include_reasoning"),
        include_search=_flag(body, "include_search"))


@dataclass(frozen=True)
class CompletionRequest:
    """A plain continuation of prompts by the policy, as vLLM serves it (no search)."""

    prompts: tuple[str | tuple[int, ...], ...]
    """Each prompt as text, or as token ids."""
    params: SamplingParams
    """How each prompt is continued: the request's sampling fields, as the policy takes them."""
    stream: bool = False
    include_usage: bool = False
    echo: bool = False
    """Whether each choice's text (and its logprobs) starts with its prompt's."""
    generate: bool = True
    """False for ``max_tokens: 0`` with ``echo``: the prompts are scored, not continued."""


def parse_completion(body: dict, max_tokens: int) -> CompletionRequest:
    for name in ("reasoning_effort", "strategy", "budget", "reward"):
        if body.get(name) is not None:
            raise ApiError(400, f"{name} is for /v1/chat/completions: /v1/completions continues the prompt "
                                f"as it is, without search", name)
    prompts = prompts_of(body.get("prompt"))
    echo = _flag(body, "echo")
    logprobs = body.get("logprobs")
    if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= 1):
        raise ApiError(400, "logprobs must be 0 or 1 (this server gives each token's logprob and the most likely "
                            "token's)", "logprobs")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", "stream_options")
    most = _number(body, "max_tokens", 0 if echo else 1, max_tokens, 16)
    params = SamplingParams(
        n=_number(body, "n", 1, 64, 1), temperature=_number(body, "temperature", 0, 2, 1.0, integer=False),
        top_p=_number(body, "top_p", 1e-9, 1, 1.0, integer=False), top_k=_number(body, "top_k", 0, 1 << 20, 0),
        max_tokens=max(1, most), stop=_stops(body),
        seed=_number(body, "seed", -2 ** 63, 2 ** 63 - 1), logprobs=logprobs is not None)
    return CompletionRequest(prompts, params, stream=_flag(body, "stream"),
                             include_usage=_flag(options or {}, "include_usage"), echo=echo, generate=most > 0)


def token_ids(value) -> bool:
    """Whether ``value`` is a non-empty list of token ids."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 1 << 31 for t in value)


MAX_PROMPTS = 64
"""Most prompts one completions request may hold (lm-evaluation-harness batches its requests)."""


def prompts_of(prompt) -> tuple[str | tuple[int, ...], ...]:
    """A completions ``prompt``: a string, a list of token ids, or a list of either."""
    if isinstance(prompt, str) or token_ids(prompt):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt or not all(isinstance(p, str) or token_ids(p) for p in prompt):
        raise ApiError(400, "prompt must be a string, a list of token ids, or a non-empty list of either", "prompt")
    if len(prompt) > MAX_PROMPTS:
        raise ApiError(400, f"prompt takes at most {MAX_PROMPTS} prompts, got {len(prompt)}", "prompt")
    return tuple(p if isinstance(p, str) else tuple(p) for p in prompt)


# --------------------------------------------------------------------------- responses


@dataclass
class Envelope:
    """What every response and chunk of one request shares."""

    model: str
    kind: str = "chatcmpl"
    id: str = field(default="")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        self.id = self.id or f"{self.kind}-{uuid.uuid4().hex[:24]}"


def cut_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` cut before the first stop string, and whether one cut it."""
    at = min((text.find(s) for s in stops if s in text), default=-1)
    return (text[:at], True) if at >= 0 else (text, False)


def chat_usage(results) -> dict:
    """Usage of a chat completion from its searches' ``Usage``: every prompt token processed
    (``cached_tokens`` of them from the prefix cache), and as completion tokens every token the
    policy generated or a reward model computed. All of them are reasoning: the answer is read
    from the reasoning, so it adds no token of its own."""
    prompt = sum(r.usage.prompt_tokens for r in results)
    cached = sum(r.usage.cached_tokens for r in results)
    thinking = sum(r.usage.thinking_tokens for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": thinking, "total_tokens": prompt + thinking,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": thinking,
                                          "policy_tokens": sum(r.usage.completion_tokens for r in results),
                                          "reward_tokens": sum(r.usage.reward_tokens for r in results)}}


def thinking(text: str) -> dict:
    """``text`` under the names open-weight servers give the thinking in a message or delta:
    ``reasoning`` (vLLM's) and ``reasoning_content`` (its older name, which DeepSeek's API and chat
    UIs read), so that a client shows it as its "thinking" block."""
    return {"reasoning": text, "reasoning_content": text}


class NoSolution(SearchResult):
    """The result of a puzzle the task's solver proved impossible: no answer, the proof's sentence
    as its summary and as the message's content (a chat user reads it there), no tokens spent."""


def answer_text(result) -> str:
    """What a message says: the answer; for a puzzle proved impossible, the proof's sentence."""
    if isinstance(result, NoSolution):
        return result.reasoning_summary
    return result.answer or ""


def chat_message(result, req: ChatRequest) -> tuple[dict, str]:
    """(message, finish_reason) of one search's result: the answer as the content; the summary of the
    reasoning as ``reasoning_summary`` and, unless ``include_reasoning`` asks for the whole hidden
    reasoning there, as ``reasoning`` and ``reasoning_content``."""
    content, stopped = cut_stop(answer_text(result), req.stop)
    message = {"role": "assistant", "content": content, "reasoning_summary": result.reasoning_summary,
               **thinking(result.text if req.include_reasoning else result.reasoning_summary)}
    return message, "stop" if stopped else result.finish_reason


def chunk(env: Envelope, choices: list, usage: dict | None = None, **extra) -> str:
    """One server-sent event of a stream."""
    out = {"id": env.id, "object": "chat.completion.chunk" if env.kind == "chatcmpl" else "text_completion",
           "created": env.created, "model": env.model, "choices": choices, **extra}
    if usage is not None:
        out["usage"] = usage
    return f"data: {json.dumps(out)}\n\n"


DONE = "data: [DONE]\n\n"
