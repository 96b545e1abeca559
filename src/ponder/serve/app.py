"""``ponder serve``: an OpenAI-compatible reasoning server.

    POST /v1/responses          OpenAI's Responses API: a reasoning item (its summary) and a message (the answer)
    POST /v1/chat/completions   the last user message is a problem; a search answers it
    POST /v1/completions        a plain continuation of the prompt by the policy (as vLLM serves); echo, logprobs
    GET  /v1/models             the served model, and it on each task (nano-v2:game24), with its context length
    POST /tokenize, /detokenize, GET /tokenizer_info   vLLM's tokenizer routes
    GET  /health, GET /metrics  liveness; Prometheus counters, gauges and histograms (``metrics.py``)
    GET  /, /explorer, /docs    the playground, the explorer, Swagger UI (``pages.py``)

Every request's searches join one ``Scheduler`` thread that batches all their policy calls
(``scheduler.py``); the request handlers only check input, wait on their job's events and write
them out. ``/v1/completions`` is there so that anything speaking the OpenAI API (``ponder profile``,
another ponder in ``--upstream`` mode) can use the policy itself.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import socket
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ponder import __version__
from ponder.errors import UserError
from ponder.search.base import Generate, Search, trace_styles
from ponder.search.explore import view
from ponder.serve.protocol import (DONE, ApiError, ChatRequest, Envelope, NoSolution, chat_message,
                                   chat_usage, check_model, chunk, error_body, parse_chat, parse_completion, parse_json,
                                   refused, thinking, token_ids)
from ponder.serve.metrics import CONTENT_TYPE, Metrics
from ponder.serve.schema import (ChatCompletionBody, CompletionBody, DetokenizeBody, ResponsesBody, TokenizeBody,
                                 request_body)
from ponder.serve.events import FirstDelta, job_events, results_of
from ponder.serve.pages import add_pages
from ponder.serve.responses import Reply, parse_responses, renamed, start_line, stream_response
from ponder.serve.scheduler import Event, Job, JobEnded, JobFailed, QueueFull, Scheduler, TraceLine, UnitDone, busy
from ponder.types import Completion, SamplingParams, Usage


@dataclass
class ServeConfig:
    """What ``ponder serve`` runs, and the limits it keeps."""

    model: str | None = None
    """The policy (``--model``): a directory, a shipped name, or a URI; None: the shipped default (nano-v2)."""
    backend: str | None = None
    task: str = "countdown"
    """The task of a chat request's problem when neither its words nor its ``model`` name another
    (``nano-v2:game24``: the served model on Game of 24)."""
    upstream: str | None = None
    """An OpenAI-compatible base URL (up to /v1) whose model is the policy (proxy mode)."""
    upstream_model: str | None = None
    """The upstream's model name; None: the first it lists."""
    api_key: str | None = None
    """Required as ``Authorization: Bearer KEY`` on /v1 and /tokenize when set."""
    effort: str = "low"
    """The ``reasoning_effort`` of a request that names none."""
    max_queue: int = 256
    """Most requests in the server at once (running or waiting); more get a 429."""
    max_active: int = 16
    """Most requests whose searches run (and batch) together; the rest wait their turn."""
    timeout: float = 300.0
    """Seconds a request may take before its search is dropped (504); one the queue ahead would keep
    longer is turned away with a 429 (see ``scheduler.py``)."""
    max_body: int = 1 << 20
    """Largest request body in bytes (413 beyond)."""
    max_budget: int = 64_000
    """Largest thinking budget (and max_tokens) a request may ask for; also the budget of one that sets none."""
    keepalive: float = 5.0
    """Seconds a stream may go without an event before it sends a keep-alive comment (proxies and
    clients drop a connection silent for long, and a search may think for minutes between lines)."""

    def __post_init__(self):
        if not (self.max_queue >= 1 and self.max_active >= 1 and 0 < self.timeout < math.inf and self.max_body >= 1
                and self.max_budget >= 1 and 0 < self.keepalive < math.inf):
            raise UserError("--max-queue, --max-active, --timeout, --max-body, --max-budget and --keepalive must be "
                            "positive")


def upstream_policy(url: str, model: str | None):
    """The policy behind an OpenAI-compatible endpoint; without a model name, the first it lists."""
    from ponder.backends import load_policy
    from ponder.backends.openai import OpenAIConfig, OpenAIPolicy

    if model is None:
        listed = OpenAIPolicy(OpenAIConfig.from_env("?", url))._request("/models").get("data") or []
        if not listed:
            raise UserError(f"{url} lists no models: give --upstream-model")
        model = listed[0]["id"]
    return load_policy(f"openai:{model}@{url}")


class Server:
    """The state one server process shares between requests: policy, task, scheduler, counters."""

    def __init__(self, cfg: ServeConfig, policy=None):
        from ponder.rewards import reward_names
        from ponder.search.effort import effort
        from ponder.tasks import get_task

        effort(cfg.effort)
        self.cfg = cfg
        self.task = get_task(cfg.task)
        """The default task (``--task``)."""
        if policy is None:
            if cfg.upstream:
                policy = upstream_policy(cfg.upstream, cfg.upstream_model)
            else:
                from ponder.backends import load_policy
                policy = load_policy(cfg.model, cfg.backend)
        self.policy = policy
        self.name = policy.name
        self.scheduler = Scheduler(policy, cfg.max_active, cfg.max_queue)
        self.rewards: dict[str, object] = {}
        self.reward_names = [n for n in reward_names() if n != "oracle"]
        self._reward_lock = threading.Lock()
        self.stats = Metrics(self.scheduler)
        """What /metrics shows."""

    def reward(self, name: str | None, task):
        """A reward model by name for ``task``, loaded once and shared (the scheduler thread is its
        only user)."""
        if name is None:
            return None
        with self._reward_lock:
            if (name, task.name) not in self.rewards:
                from ponder.rewards import get_reward
                self.rewards[(name, task.name)] = get_reward(name, task)
            return self.rewards[(name, task.name)]

    @property
    def models(self) -> list[str]:
        """The names a request's ``model`` may give: the served model, then the served model on each
        task it answers (``nano-v2:game24``)."""
        return [self.name] + [f"{self.name}:{t}" for t in dict.fromkeys([self.task.name, *self.tasks])]

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks a model name may pick beside the default: a nano policy's own; a real model's, math."""
        return ("countdown", "game24", "arith") if self.task.WORDS and not self.cfg.upstream else (self.task.name,)

    def problem(self, text: str, model: str | None):
        """(task, problem) of a chat request: its ``model``'s task, else the one its words name, else
        the default; the puzzle read as people type it (``read_statement``). ``ApiError`` 400 for text
        no task reads, showing the forms it takes."""
        from ponder.tasks import get_task
        from ponder.tasks.base import parse_problem, shorten
        from ponder.tasks.statements import FORMS, read_statement, task_for

        named = check_model(model, self.name)
        try:
            task = get_task(named) if named else self.task
        except UserError as e:
            raise ApiError(404, f"the model {model!r} does not exist here: {e} (see GET /v1/models)", "model",
                           "model_not_found") from None
        if task.free_text:
            return task, parse_problem(task, [text], cli=False)
        statement = read_statement(text)
        if not named:
            task = get_task(task_for(statement, None, self.task.name))
        if not statement.words:
            raise ApiError(400, f"no puzzle found in {shorten(text)!r}; write one as: {', '.join(FORMS)}", "messages")
        try:
            return task, parse_problem(task, [statement.words], cli=False)
        except UserError as e:
            raise ApiError(400, str(e)) from None

    # -- jobs

    def submit(self, units: list, traces: list, kind: str) -> tuple[Job, asyncio.Queue]:
        """Hand a request's searches to the scheduler: its events arrive on the returned queue. ``kind``
        groups requests that take about as long (for the scheduler's forecast)."""
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()

        def post(event: Event) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the event loop has closed: the server is going down
                pass

        job = Job(units, post, self.scheduler.clock() + self.cfg.timeout, traces, kind=kind)
        try:
            self.scheduler.submit(job)
        except QueueFull as e:
            raise busy(str(e), e.retry_after) from None
        return job, queue

    def plan(self, req: ChatRequest) -> tuple[list, list, dict]:
        """(searches, their trace lists, what runs) for a chat request; may load a reward model. A
        puzzle the task's solver proves impossible gets that said at once, with no search."""
        from ponder.search.request import RequestError

        task, problem = self.problem(req.text, req.model)
        try:
            plan = req.search.plan(self.reward_names, task.name, trace_styles(self.policy))
            budget = min(plan.budget or self.cfg.max_budget, req.max_tokens or self.cfg.max_budget, self.cfg.max_budget)
            impossible = task.no_solution(problem)
            reward = None if impossible else self.reward(plan.reward, task)
            searches = [Search(problem, task, self.policy, reward, budget, req.seed + i) for i in range(req.n)]
        except RequestError as e:
            raise refused(e) from None
        except UserError as e:
            raise ApiError(400, str(e)) from None
        info = Planned(task=task.name, problem=problem.to_json(), strategy=plan.strategy.name, reward=plan.reward,
                       budget=budget, effort=plan.effort)
        info.explain = lambda result: view(result, task, problem)
        if impossible:
            info["no_solution"] = impossible
            return [no_search(impossible) for _ in searches], [[] for _ in searches], info
        return [plan.strategy.search(s) for s in searches], [s.trace for s in searches], info


class Planned(dict):
    """What a request runs, as its response's ``ponder`` object says (task, problem, strategy,
    reward, budget, effort); ``explain(result)`` gives the explorer's view of a result."""

    explain = staticmethod(lambda result: None)

    def of(self, results, req) -> dict:
        """The ``ponder`` object of a response: with ``include_search``, each result's view too."""
        return {**self, "search": [self.explain(r) for r in results]} if req.include_search else dict(self)


def no_search(reason: str):
    """The "search" of a puzzle with no solution: the solver's word for it, at no cost."""
    return NoSolution(None, "", reason, Usage())
    yield  # a generator that asks for nothing


def continuation(prompts: tuple[str, ...], params: tuple[SamplingParams, ...]):
    """A "search" that is one policy call: what /v1/completions runs."""
    return (yield Generate(prompts, params))


# --------------------------------------------------------------------------- the app

ROUTES = ("/v1/responses", "/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize", "/detokenize",
          "/tokenizer_info", "/health", "/metrics")
KEYED = ("/v1/", "/tokenize", "/detokenize", "/tokenizer_info")
"""Paths (and prefixes) that need the API key when one is set; the rest are open: /health,
/metrics, the playground at / and its static files, /docs and /openapi.json (the playground asks
for the key and sends it with its calls)."""


class Guard:
    """ASGI middleware: the API key and the body size, checked before a route runs; every response
    counted by route and status for /metrics. (Plain ASGI rather than ``@app.middleware``, which
    would buffer streams and hide a client's disconnect from them.)"""

    def __init__(self, app, server: "Server"):
        self.app, self.server = app, server

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        cfg = self.server.cfg

        stats = self.server.stats
        scope.setdefault("state", {})["arrived"] = time.perf_counter()  # request.state.arrived

        async def counted(message):
            if message["type"] == "http.response.start":
                stats.responses.labels(route, message["status"]).inc()
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                stats.latency.labels(route).observe(time.perf_counter() - scope["state"]["arrived"])
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        error = None
        if scope["path"].startswith(KEYED) and not authorized(cfg, headers):
            error = ApiError(401, "a valid API key is required: send it as 'Authorization: Bearer KEY'",
                             code="invalid_api_key")
        size = headers.get("content-length", "")
        if error is None and size.isdigit() and int(size) > cfg.max_body:
            error = ApiError(413, f"the request body is {size} bytes; this server takes at most {cfg.max_body} "
                                  f"(--max-body)")
        if error is None:
            return await self.app(scope, bounded(receive, cfg.max_body), counted)
        if error.status == 413 and int(size) <= 8 * cfg.max_body:  # read it all, so the client hears the 413
            while (await receive()).get("more_body"):  # rather than a reset connection mid-upload
                pass
        await JSONResponse(error.body(), error.status, headers=error.headers)(scope, receive, counted)



def authorized(cfg: ServeConfig, headers: dict[str, str]) -> bool:
    """Whether a request may use the API: no key is set, or it sent the key (compared in constant
    time, so the time taken says nothing of how much of a guess was right)."""
    if not cfg.api_key:
        return True
    sent = headers.get("authorization", "").encode("utf-8", "replace")
    return hmac.compare_digest(sent, f"Bearer {cfg.api_key}".encode())


def bounded(receive, limit: int):
    """``receive`` that refuses a body over ``limit`` bytes as it streams in (a chunked upload has
    no Content-Length to check first): the route reading it gets a 413."""
    received = 0

    async def receive_bounded():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise ApiError(413, f"the request body is over {limit} bytes; this server takes at most "
                                    f"{limit} (--max-body)")
        return message

    return receive_bounded


def create_app(server: Server) -> FastAPI:
    """The FastAPI app of ``server``: the guard, the error handlers and the routes (see the top)."""
    app = FastAPI(title="ponder", description="An o1-style reasoning server, OpenAI-compatible. The playground "
                  "is at /.", version=__version__, lifespan=lifespan_of(server), docs_url=None, redoc_url=None)
    app.add_middleware(Guard, server=server)
    add_error_handlers(app)
    add_info_routes(app, server)
    add_completion_routes(app, server)
    add_pages(app, server)
    return app


def lifespan_of(server: Server):
    """The app's lifespan: the scheduler thread runs while the app does."""
    @asynccontextmanager
    async def lifespan(app):
        server.scheduler.start()
        yield
        server.scheduler.stop()

    return lifespan


def add_error_handlers(app: FastAPI) -> None:
    """Errors as OpenAI-style JSON bodies."""
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse(e.body(), e.status, headers=e.headers)

    @app.exception_handler(404)
    async def not_found(request: Request, e):
        return JSONResponse(error_body(f"no route {request.method} {request.url.path}"), 404)

    @app.exception_handler(405)
    async def not_allowed(request: Request, e):
        return JSONResponse(error_body(f"{request.method} is not allowed on {request.url.path}"), 405)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):  # a query parameter FastAPI reads (pages.py)
        first = e.errors()[0] if e.errors() else {}
        field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
        return JSONResponse(error_body(f"{field}: {first.get('msg', 'invalid')}", param=field), 400)


async def body_of(request: Request) -> dict:
    """The request's JSON body, at most ``--max-body`` bytes."""
    raw = await request.body()  # the guard has bounded it to --max-body as it came in
    return parse_json(raw) if len(raw) < 1 << 16 else await asyncio.to_thread(parse_json, raw)


def add_info_routes(app: FastAPI, server: Server) -> None:
    """/health, /metrics, /v1/models and /tokenize: what the server is, not what it thinks."""
    @app.get("/health")
    async def health(request: Request):
        if not authorized(server.cfg, request.headers):  # case-insensitive, as the guard's lower-cased dict
            return {"status": "ok"}  # what is served is for callers with the key
        return {"status": "ok", "model": server.name, "task": server.task.name, "models": server.models}

    @app.get("/metrics")
    async def metrics():
        return Response(server.stats.page(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "ponder", "max_model_len": server.policy.max_context,
             "task": name.partition(":")[2] or server.task.name} for name in server.models]}

    @app.post("/tokenize", openapi_extra=request_body(TokenizeBody))
    async def tokenize(request: Request):
        body = await body_of(request)
        text = body.get("prompt")
        if not isinstance(text, str):
            raise ApiError(400, "prompt must be a string", "prompt")
        special = body.get("add_special_tokens", True)
        if not isinstance(special, bool):
            raise ApiError(400, "add_special_tokens must be true or false", "add_special_tokens")
        policy = server.policy
        if not hasattr(policy, "tokenize"):  # an upstream's: its count only
            count = await asyncio.to_thread(policy.count_tokens, text)
            return {"count": count, "max_model_len": policy.max_context}
        tokens = await asyncio.to_thread(policy.tokenize, text, special)
        return {"count": len(tokens), "max_model_len": policy.max_context, "tokens": tokens}

    @app.post("/detokenize", openapi_extra=request_body(DetokenizeBody))
    async def detokenize(request: Request):
        body = await body_of(request)
        if not hasattr(server.policy, "detokenize"):
            raise ApiError(400, "this server's policy is an upstream's: ask it to detokenize", "tokens")
        if not token_ids(body.get("tokens")) or max(body["tokens"]) >= server.policy.vocab_size:
            raise ApiError(400, f"tokens must be a non-empty list of token ids from 0 to {server.policy.vocab_size - 1}",
                           "tokens")
        return {"prompt": await asyncio.to_thread(server.policy.detokenize, body["tokens"])}

    @app.get("/tokenizer_info")
    async def tokenizer_info():
        """The tokenizer's special tokens and chat template, as vLLM describes its own (lm-evaluation-
        harness reads them to tokenize through this server)."""
        return tokenizer_facts(server.policy)


def tokenizer_facts(policy) -> dict:
    """What /tokenizer_info says of ``policy``'s tokenizer."""
    tok = getattr(policy, "tokenizer", None)
    if tok is None:
        raise ApiError(404, "this server's policy is an upstream's: ask it for its tokenizer")
    facts = {"model_max_length": policy.max_context, "tokenizer_class": type(tok).__name__}
    if hasattr(tok, "bos_id"):  # nano's
        from ponder.model.export import CHAT_TEMPLATE
        from ponder.model.tokenizer import BOS, EOS, PAD, UNK

        return {**facts, "bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK,
                "chat_template": CHAT_TEMPLATE}
    return {**facts, "bos_token": tok.bos_token, "eos_token": tok.eos_token, "pad_token": tok.pad_token,
            "unk_token": tok.unk_token, "chat_template": getattr(tok, "chat_template", None)}


def add_completion_routes(app: FastAPI, server: Server) -> None:
    """/v1/responses and /v1/chat/completions (a search answers), /v1/completions (the policy continues)."""
    @app.post("/v1/responses", openapi_extra=request_body(ResponsesBody))
    async def responses(request: Request):
        return await response(server, request)

    @app.post("/v1/chat/completions", openapi_extra=request_body(ChatCompletionBody))
    async def chat(request: Request):
        return await chat_completion(server, request)

    @app.post("/v1/completions", openapi_extra=request_body(CompletionBody))
    async def completions(request: Request):
        return await text_completion(server, request)


async def chat_completion(server: Server, request: Request):
    """A chat request's searches, whole or streamed."""
    body = await body_of(request)
    req = parse_chat(body, server.cfg.effort, server.cfg.max_budget)
    units, traces, info = await asyncio.to_thread(server.plan, req)
    job, queue = server.submit(units, traces, f"chat {info['strategy']} {info['reward']} {info['budget']} "
                                              f"n={req.n} samples={req.search.samples}")
    env = Envelope(server.name)
    if req.stream:
        return StreamingResponse(stream_chat(server, job, queue, req, env, info, request),
                                 media_type="text/event-stream")
    ordered = await results_of(server, job, queue, request, len(units))
    if ordered is None:
        return JSONResponse(error_body("the client went away"), 499)
    choices = []
    for i, result in enumerate(ordered):
        message, finish = chat_message(result, req)
        choices.append({"index": i, "message": message, "finish_reason": finish, "logprobs": None})
    return {"id": env.id, "object": "chat.completion", "created": env.created, "model": env.model,
            "choices": choices, "usage": chat_usage(ordered), "ponder": info.of(ordered, req)}


async def response(server: Server, request: Request):
    """A Responses API request: one search, its response object whole or as typed events."""
    body = await body_of(request)
    rr = parse_responses(body, server.cfg.effort, server.cfg.max_budget)
    req = rr.chat
    try:
        units, traces, info = await asyncio.to_thread(server.plan, req)
    except ApiError as e:
        raise renamed(e) from None
    job, queue = server.submit(units, traces, f"chat {info['strategy']} {info['reward']} {info['budget']} "
                                              f"n=1 samples={req.search.samples}")
    resp = Reply(server.name, rr)
    if req.stream:
        return StreamingResponse(stream_response(server, job, queue, resp, info, request),
                                 media_type="text/event-stream")
    ordered = await results_of(server, job, queue, request, 1)
    if ordered is None:
        return JSONResponse(error_body("the client went away"), 499)
    return resp.finished(ordered[0], info.of(ordered, req))


async def text_completion(server: Server, request: Request):
    """A completions request: one policy call continues every prompt, whole or (at once) streamed;
    with ``echo``, each choice starts with its prompt, and with ``logprobs`` its every token is scored."""
    body = await body_of(request)
    check_model(body.get("model"), server.name)
    req = parse_completion(body, server.policy.max_context)
    policy, params = server.policy, req.params
    scoring = hasattr(policy, "score")
    if not scoring and (req.echo or any(not isinstance(p, str) for p in req.prompts)):
        raise ApiError(400, "echo and prompts of token ids need a policy this server runs itself (nano, hf); "
                            "its upstream does not give them", "echo" if req.echo else "prompt")
    given_ids = [p for p in req.prompts if not isinstance(p, str)]
    if given_ids and max(max(p) for p in given_ids) >= policy.vocab_size:
        raise ApiError(400, f"prompt has a token id beyond the vocabulary: ids run from 0 to {policy.vocab_size - 1}",
                       "prompt")
    texts = await asyncio.to_thread(lambda: [p if isinstance(p, str) else policy.detokenize(p) for p in req.prompts])
    lengths = await asyncio.to_thread(lambda: [policy.count_tokens(t) + 1 for t in texts])
    most = params.max_tokens if req.generate else 0
    if max(lengths) + most > policy.max_context:
        raise ApiError(400, f"the prompt is {max(lengths)} tokens and max_tokens {most}; this model's "
                            f"context holds {policy.max_context} in all", "prompt")
    if req.generate:
        job, queue = server.submit([continuation(tuple(texts), (params,) * len(texts))], [None],
                                   f"completion {len(texts)}x{params.n} max_tokens={params.max_tokens}")
        results = await results_of(server, job, queue, request, 1)
        if results is None:
            return JSONResponse(error_body("the client went away"), 499)
        [rows] = results
    else:  # echo alone: the prompts, scored, and nothing more
        rows = [[Completion("", (), "length", prompt_tokens=length)] * params.n for length in lengths]
    env = Envelope(server.name, kind="cmpl")
    choices, usage = completion_choices(rows, params)
    if req.echo:
        await asyncio.to_thread(echoed, policy, req, texts, rows, choices)
    if req.stream:  # the whole text at once: a plain continuation has no reasoning to show meanwhile
        return StreamingResponse(completion_events(env, choices, usage, req.include_usage),
                                 media_type="text/event-stream")
    return {"id": env.id, "object": "text_completion", "created": env.created, "model": env.model,
            "choices": choices, "usage": usage}


def echoed(policy, req, texts: list[str], rows: list, choices: list[dict]) -> None:
    """Put each prompt before its choices' texts; with ``logprobs``, score every token of prompt and
    completion together, in OpenAI's form (``tokens``, ``token_logprobs``, ``top_logprobs``; the
    first token's logprob is None when nothing comes before it)."""
    at = 0
    for prompt, text, row in zip(req.prompts, texts, rows):
        ids = list(prompt) if not isinstance(prompt, str) else policy.tokenize(text, special=False)
        for c in row:
            choice = choices[at]
            at += 1
            choice["text"] = text + c.text
            if req.params.logprobs:
                scored = policy.score(ids + list(c.token_ids))
                choice["logprobs"] = {
                    "tokens": [s.token for s in scored], "token_logprobs": [s.logprob for s in scored],
                    "top_logprobs": [None if s.top_logprob is None else {s.top: s.top_logprob} for s in scored]}


def completion_choices(rows: list, params: SamplingParams) -> tuple[list[dict], dict]:
    """(choices, usage) of a completions response from the policy's rows of completions, one row a prompt."""
    choices = []
    for row in rows:
        for c in row:
            choice = {"index": len(choices), "text": c.text, "finish_reason": c.finish_reason,
                      "stop_reason": c.stop, "logprobs": None}
            if params.logprobs and c.logprobs is not None:
                choice["logprobs"] = {"token_logprobs": list(c.logprobs)}
            choices.append(choice)
    prompt_tokens = sum(row[0].prompt_tokens for row in rows if row)
    completion_tokens = sum(len(c.token_ids) for row in rows for c in row)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    return choices, usage


async def completion_events(env: Envelope, choices: list[dict], usage: dict, include_usage: bool):
    """Server-sent events of a finished completions response: a chunk a choice, usage if asked, done."""
    for ch in choices:
        yield chunk(env, [ch])
    if include_usage:
        yield chunk(env, [], usage)
    yield DONE


def said(text: str) -> dict:
    """A delta of the reasoning's summary: ponder's ``reasoning_summary``, and the same text as the
    thinking that chat clients show (``thinking``)."""
    return {"reasoning_summary": text, **thinking(text)}


async def stream_chat(server: Server, job: Job, queue: asyncio.Queue, req: ChatRequest, env: Envelope, info: dict,
                      request):
    """Server-sent events of a chat completion: per choice, the role; reasoning-summary deltas while
    the search runs (what it runs, then each line of its trace); when it ends, its summary, the
    answer and the finish reason; usage last when asked for. A client that leaves cancels the job."""
    finished = False
    results = {}
    first = FirstDelta(server, request, "/v1/chat/completions")
    try:
        for i in range(req.n):
            yield chunk(env, [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if not info.get("no_solution"):
            first()
            for i in range(req.n):
                yield chunk(env, [{"index": i, "delta": said(start_line(info)), "finish_reason": None}])
        async for event in job_events(server, queue, request):
            match event:
                case str():
                    yield event
                case JobFailed(error):
                    finished = True
                    yield f"data: {json.dumps(error.body())}\n\n"
                    yield DONE
                    return
                case TraceLine(unit, line):
                    first()
                    yield chunk(env, [{"index": unit, "delta": said(line + "\n"), "finish_reason": None}])
                case UnitDone(unit, result):
                    first()
                    results[unit] = result
                    message, finish = chat_message(result, req)
                    yield chunk(env, [{"index": unit, "delta": said(result.reasoning_summary), "finish_reason": None}])
                    if req.include_reasoning:
                        yield chunk(env, [{"index": unit, "delta": thinking("\n" + result.text), "finish_reason": None}])
                    yield chunk(env, [{"index": unit, "delta": {"content": message["content"]}, "finish_reason": None}])
                    yield chunk(env, [{"index": unit, "delta": {}, "finish_reason": finish}])
                case JobEnded():
                    finished = True
                    ordered = [results[i] for i in range(req.n)]
                    if req.include_usage or req.include_search:
                        yield chunk(env, [], chat_usage(ordered) if req.include_usage else None,
                                    ponder=info.of(ordered, req))
                    yield DONE
                    return
    finally:
        if not finished:
            server.scheduler.cancel(job)


def serve(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    """Run the server until interrupted."""
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:  # say so now, not in uvicorn's words
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    server = Server(cfg)
    print(f"ponder serve: {server.name} on {', '.join(server.tasks)} (default {server.task.name}) at http://{host}:{port}/v1 "
          f"(effort {cfg.effort} by default{', API key required' if cfg.api_key else ''})", flush=True)
    uvicorn.run(create_app(server), host=host, port=port, log_level=log_level)


__all__ = ["ServeConfig", "Server", "create_app", "serve"]
