"""A minimal OpenAI-compatible server for the tests, with faults to order.

It serves ``/v1/completions``, ``/v1/chat/completions``, ``/v1/models`` and vLLM's ``/tokenize``
from ponder's shipped nano policy, so its completions are real: one policy, shared by every stub
and request behind a lock (the stub has no chat template: a chat's messages are the prompt).

    with Stub(ignore_n=True, fail=2) as stub:
        ... OpenAIConfig("nano", stub.url) ...
        stub.calls["/v1/completions"], stub.max_in_flight

Faults: ``ignore_n`` (always one choice), ``fail`` (the first k generation requests answer
``fail_status``; a 429 carries ``Retry-After: 0``), ``delay`` (seconds the first ``delay_first``
generation requests wait before answering, all of them when None), ``bare`` (no usage, logprobs or
stop reason), ``tokenize`` (False: no ``/tokenize``). A request whose prompt and ``max_tokens``
overflow the context is refused with a 400, as vLLM does.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence

import torch

from ponder.backends.nano import NanoPolicy
from ponder.types import Completion, SamplingParams

MODEL = "nano"
"""The one model the stub serves."""
MODEL_LOCK = threading.Lock()
"""Held while the shared policy generates: its engine is not reentrant."""


@lru_cache(maxsize=1)
def shared_policy() -> NanoPolicy:
    """The shipped default policy, loaded once per test session (generate with ``nano_generate``)."""
    return NanoPolicy.load()


def nano_generate(prompts: Sequence[str], params: SamplingParams | Sequence[SamplingParams]) -> list[list[Completion]]:
    """The shared policy's completions, one call at a time and on one thread: the requests are
    tiny, and on a machine already busy, torch's threads fight over the cores (30x slower)."""
    with MODEL_LOCK:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return shared_policy().generate(prompts, params)
        finally:
            torch.set_num_threads(threads)


@dataclass
class Stub:
    """The server (a context manager), its fault knobs and what it saw (see the module docstring)."""

    ignore_n: bool = False
    fail: int = 0
    fail_status: int = 429
    delay: float = 0.0
    delay_first: int | None = None
    bare: bool = False
    tokenize: bool = True
    calls: Counter = field(default_factory=Counter)
    """Requests received, by path."""
    bodies: list = field(default_factory=list)
    """Every generation request's JSON body, in arrival order."""
    usages: list = field(default_factory=list)
    """The ``usage`` of every generation answer, in order."""
    keys: list = field(default_factory=list)
    """The ``Authorization`` header of every request (None where absent)."""
    max_in_flight: int = 0
    _in_flight: int = 0
    _generated: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> "Stub":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def generations(self) -> int:
        return self.calls["/v1/completions"] + self.calls["/v1/chat/completions"]

    # -- answers: (status, JSON body, extra headers)

    def answer(self, path: str, body: dict | None, key: str | None = None) -> tuple[int, dict, dict]:
        with self._lock:
            self.calls[path] += 1
            self.keys.append(key)
        if path == "/v1/models":
            policy = shared_policy()
            return 200, {"object": "list", "data": [{"id": MODEL, "object": "model",
                                                     "max_model_len": policy.max_context}]}, {}
        if path == "/tokenize" and self.tokenize:
            return 200, {"count": shared_policy().count_tokens(body["prompt"])}, {}
        if path in ("/v1/completions", "/v1/chat/completions"):
            return self.generate(body, chat=path.endswith("chat/completions"))
        return 404, error(f"no route {path}"), {}

    def generate(self, body: dict, chat: bool) -> tuple[int, dict, dict]:
        with self._lock:
            self.bodies.append(body)
            self._generated += 1
            k = self._generated
        if k <= self.fail:
            headers = {"Retry-After": "0"} if self.fail_status == 429 else {}
            return self.fail_status, error(f"injected failure {k}"), headers
        if self.delay and (self.delay_first is None or k <= self.delay_first):
            time.sleep(self.delay)
        if body.get("model") != MODEL:
            return 404, error(f"The model `{body.get('model')}` does not exist."), {}
        prompt = "".join(m["content"] for m in body["messages"]) if chat else body["prompt"]
        policy = shared_policy()
        stop = body.get("stop") or ()
        params = SamplingParams(n=1 if self.ignore_n else body.get("n", 1), temperature=body.get("temperature", 1.0),
                                top_p=body.get("top_p", 1.0), top_k=body.get("top_k", 0),
                                max_tokens=body.get("max_tokens", 16),
                                stop=(stop,) if isinstance(stop, str) else tuple(stop),
                                seed=body.get("seed"), logprobs=bool(body.get("logprobs")))
        prompt_tokens = policy.count_tokens(prompt) + 1  # with <bos>
        if prompt_tokens + params.max_tokens > policy.max_context:
            return 400, error(f"This model's maximum context length is {policy.max_context} tokens. However, you "
                              f"requested {prompt_tokens + params.max_tokens} tokens."), {}
        [row] = nano_generate([prompt], params)
        return 200, self.response(row, chat, params.logprobs), {}

    def response(self, row: list[Completion], chat: bool, logprobs: bool) -> dict:
        choices = []
        for i, c in enumerate(row):
            choice: dict = {"index": i, "finish_reason": c.finish_reason}
            if chat:
                choice["message"] = {"role": "assistant", "content": c.text}
            else:
                choice["text"] = c.text
            if not self.bare:
                choice["stop_reason"] = c.stop
                if logprobs and chat:
                    choice["logprobs"] = {"content": [{"token": "", "logprob": lp, "bytes": None, "top_logprobs": []}
                                                      for lp in c.logprobs]}
                elif logprobs:
                    choice["logprobs"] = {"tokens": [""] * len(c.logprobs), "token_logprobs": list(c.logprobs)}
            choices.append(choice)
        out = {"id": "stub", "object": "chat.completion" if chat else "text_completion", "model": MODEL,
               "choices": choices}
        if not self.bare:
            generated = sum(len(c.token_ids) for c in row)
            out["usage"] = {"prompt_tokens": row[0].prompt_tokens, "completion_tokens": generated,
                            "total_tokens": row[0].prompt_tokens + generated,
                            "prompt_tokens_details": {"cached_tokens": row[0].cached_tokens}}
            with self._lock:
                self.usages.append(out["usage"])
        return out

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def error(message: str) -> dict:
    """An error body in the OpenAI format."""
    return {"error": {"message": message, "type": "BadRequestError", "param": None}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(json.loads(self.rfile.read(length) or b"{}"))

    def _serve(self, body: dict | None) -> None:
        stub: Stub = self.server.stub  # type: ignore[attr-defined]
        stub.enter()
        try:
            status, payload, headers = stub.answer(self.path, body, self.headers.get("Authorization"))
        finally:
            stub.leave()
        raw = json.dumps(payload).encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

    def log_message(self, format, *args) -> None:  # quiet
        pass
