"""``ponder serve``: an OpenAI-compatible reasoning server.

    POST /v1/chat/completions   the last user message is a problem; a search answers it
    POST /v1/completions        a plain continuation of the prompt by the policy (as vLLM serves)
    GET  /v1/models             the served model, with its context length
    POST /tokenize              token count of a text (vLLM's route: ponder's openai backend reads it)
    GET  /health, GET /metrics  liveness; Prometheus counters and gauges

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
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from ponder.errors import UserError
from ponder.search.base import Generate, Search, trace_styles
from ponder.serve.protocol import (DONE, ApiError, ChatRequest, Envelope, chat_message, chat_usage, check_model, chunk,
                                   error_body, parse_chat, parse_completion, parse_json, refused)
from ponder.serve.scheduler import Event, Job, JobEnded, JobFailed, QueueFull, Scheduler, TraceLine, UnitDone, busy
from ponder.types import SamplingParams


@dataclass
class ServeConfig:
    """What ``ponder serve`` runs, and the limits it keeps."""

    model: str | None = None
    """The policy (``--model``): a directory, a shipped name, or a URI; None: the shipped default (nano-v2)."""
    backend: str | None = None
    task: str = "countdown"
    """The task every chat request's problem belongs to."""
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
    max_budget: int = 20_000
    """Largest thinking budget (and max_tokens) a request may ask for; also the budget of one that sets none."""

    def __post_init__(self):
        if not (self.max_queue >= 1 and self.max_active >= 1 and 0 < self.timeout < math.inf and self.max_body >= 1
                and self.max_budget >= 1):
            raise UserError("--max-queue, --max-active, --timeout, --max-body and --max-budget must be positive")


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
        self.responses: Counter = Counter()
        """(route, status) -> responses, for /metrics."""

    def reward(self, name: str | None):
        """A reward model by name, loaded once and shared (the scheduler thread is its only user)."""
        if name is None:
            return None
        with self._reward_lock:
            if name not in self.rewards:
                from ponder.rewards import get_reward
                self.rewards[name] = get_reward(name, self.task)
            return self.rewards[name]

    def metrics(self) -> str:
        m = self.scheduler.metrics
        active, waiting = self.scheduler.load
        lines = ["# HELP ponder_requests_total Responses by route and HTTP status.",
                 "# TYPE ponder_requests_total counter"]
        lines += [f'ponder_requests_total{{route="{r}",status="{s}"}} {n}' for (r, s), n in sorted(self.responses.items())]
        for name, kind, value, help_ in (
                ("ponder_requests_active", "gauge", active, "Requests whose searches are running."),
                ("ponder_requests_queued", "gauge", waiting, "Requests waiting for a place in the batch."),
                ("ponder_tokens_generated_total", "counter", m["completion_tokens"], "Tokens the policy generated."),
                ("ponder_generate_calls_total", "counter", m["generate_calls"], "Batched policy calls."),
                ("ponder_batched_prompts_total", "counter", m["batched_prompts"],
                 "Prompts sent in those calls (divide by the calls for the mean batch size)."),
                ("ponder_batched_requests_total", "counter", m["batched_jobs"],
                 "Requests served by those calls, summed over calls (requests per batch on average, likewise)."),
                ("ponder_searches_cancelled_total", "counter", m["cancelled"], "Requests dropped: the client left."),
                ("ponder_searches_timed_out_total", "counter", m["timed_out"], "Requests dropped: out of time."),
                ("ponder_requests_shed_total", "counter", m["shed"],
                 "Queued requests turned away (429) when the forecast said they could not end in time.")):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"

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
        """(searches, their trace lists, what runs) for a chat request; may load a reward model."""
        from ponder.search.request import RequestError
        from ponder.tasks.base import parse_problem

        try:
            problem = parse_problem(self.task, [req.text], cli=False)
            plan = req.search.plan(self.reward_names, self.task.name, trace_styles(self.policy))
            budget = min(plan.budget or self.cfg.max_budget, req.max_tokens or self.cfg.max_budget, self.cfg.max_budget)
            reward = self.reward(plan.reward)
            searches = [Search(problem, self.task, self.policy, reward, budget, req.seed + i) for i in range(req.n)]
        except RequestError as e:
            raise refused(e) from None
        except UserError as e:
            raise ApiError(400, str(e)) from None
        info = {"task": self.task.name, "problem": problem.to_json(), "strategy": plan.strategy.name,
                "reward": plan.reward, "budget": budget, "effort": plan.effort}
        return [plan.strategy.search(s) for s in searches], [s.trace for s in searches], info


def continuation(prompts: tuple[str, ...], params: tuple[SamplingParams, ...]):
    """A "search" that is one policy call: what /v1/completions runs."""
    return (yield Generate(prompts, params))


async def next_event(queue: asyncio.Queue, request) -> Event | None:
    """The job's next event; None once the client has gone."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), timeout=0.5)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                return None


async def results_of(server: "Server", job: Job, queue: asyncio.Queue, request, units: int) -> list | None:
    """Each unit's result, in order, once the job has ended; None when the client went away first.
    An error event is raised as an ``ApiError``; a job left unfinished is cancelled."""
    results = {}
    try:
        while True:
            match await next_event(queue, request):
                case None:
                    return None
                case JobFailed(error):
                    raise error
                case UnitDone(unit, result):
                    results[unit] = result
                case JobEnded():
                    return [results[i] for i in range(units)]
    finally:
        if len(results) < units:
            server.scheduler.cancel(job)


# --------------------------------------------------------------------------- the app

ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize", "/health", "/metrics")
OPEN_ROUTES = ("/health", "/metrics")
"""Routes that need no API key."""


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

        async def counted(message):
            if message["type"] == "http.response.start":
                self.server.responses[(route, message["status"])] += 1
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        error = None
        if route not in OPEN_ROUTES and not authorized(cfg, headers):
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
    app = FastAPI(title="ponder", description="An o1-style reasoning server, OpenAI-compatible.",
                  lifespan=lifespan_of(server))
    app.add_middleware(Guard, server=server)
    add_error_handlers(app)
    add_info_routes(app, server)
    add_completion_routes(app, server)
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
        return {"status": "ok", "model": server.name, "task": server.task.name}

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(server.metrics(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": server.name, "object": "model", "created": 0, "owned_by": "ponder",
                                            "max_model_len": server.policy.max_context, "task": server.task.name}]}

    @app.post("/tokenize")
    async def tokenize(request: Request):
        body = await body_of(request)
        text = body.get("prompt")
        if not isinstance(text, str):
            raise ApiError(400, "prompt must be a string", "prompt")
        count = await asyncio.to_thread(server.policy.count_tokens, text)
        return {"count": count, "max_model_len": server.policy.max_context}


def add_completion_routes(app: FastAPI, server: Server) -> None:
    """/v1/chat/completions (a search answers) and /v1/completions (the policy continues)."""
    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await chat_completion(server, request)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await text_completion(server, request)


async def chat_completion(server: Server, request: Request):
    """A chat request's searches, whole or streamed."""
    body = await body_of(request)
    check_model(body, server.name)
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
            "choices": choices, "usage": chat_usage(ordered), "ponder": info}


async def text_completion(server: Server, request: Request):
    """A completions request: one policy call continues every prompt, whole or (at once) streamed."""
    body = await body_of(request)
    check_model(body, server.name)
    req = parse_completion(body, server.policy.max_context)
    lengths = await asyncio.to_thread(lambda: [server.policy.count_tokens(p) + 1 for p in req.prompts])
    if max(lengths) >= server.policy.max_context:
        raise ApiError(400, f"the prompt is {max(lengths)} tokens; this model's context holds "
                            f"{server.policy.max_context} in all", "prompt")
    params = req.params
    job, queue = server.submit([continuation(req.prompts, (params,) * len(req.prompts))], [None],
                               f"completion {len(req.prompts)}x{params.n} max_tokens={params.max_tokens}")
    env = Envelope(server.name, kind="cmpl")
    results = await results_of(server, job, queue, request, 1)
    if results is None:
        return JSONResponse(error_body("the client went away"), 499)
    [rows] = results
    choices, usage = completion_choices(rows, params)
    if req.stream:  # the whole text at once: a plain continuation has no reasoning to show meanwhile
        return StreamingResponse(completion_events(env, choices, usage, req.include_usage),
                                 media_type="text/event-stream")
    return {"id": env.id, "object": "text_completion", "created": env.created, "model": env.model,
            "choices": choices, "usage": usage}


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


async def stream_chat(server: Server, job: Job, queue: asyncio.Queue, req: ChatRequest, env: Envelope, info: dict,
                      request):
    """Server-sent events of a chat completion: per choice, the role; reasoning-summary deltas while
    the search runs (what it runs, then each line of its trace); when it ends, its summary, the
    answer and the finish reason; usage last when asked for. A client that leaves cancels the job."""
    finished = False
    results = {}
    try:
        for i in range(req.n):
            yield chunk(env, [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        start = (f"Thinking with {info['strategy']}" + (f" and {info['reward']}" if info["reward"] else "")
                 + f", within {info['budget']} tokens.\n")
        for i in range(req.n):
            yield chunk(env, [{"index": i, "delta": {"reasoning_summary": start}, "finish_reason": None}])
        while True:
            match await next_event(queue, request):
                case None:
                    return
                case JobFailed(error):
                    finished = True
                    yield f"data: {json.dumps(error.body())}\n\n"
                    yield DONE
                    return
                case TraceLine(unit, line):
                    yield chunk(env, [{"index": unit, "delta": {"reasoning_summary": line + "\n"}, "finish_reason": None}])
                case UnitDone(unit, result):
                    results[unit] = result
                    message, finish = chat_message(result, req)
                    delta = {"reasoning_summary": result.reasoning_summary}
                    if req.include_reasoning:
                        delta["reasoning"] = result.text
                    yield chunk(env, [{"index": unit, "delta": delta, "finish_reason": None}])
                    yield chunk(env, [{"index": unit, "delta": {"content": message["content"]}, "finish_reason": None}])
                    yield chunk(env, [{"index": unit, "delta": {}, "finish_reason": finish}])
                case JobEnded():
                    finished = True
                    if req.include_usage:
                        yield chunk(env, [], chat_usage([results[i] for i in range(req.n)]), ponder=info)
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
    print(f"ponder serve: {server.name} on task {server.task.name} at http://{host}:{port}/v1 "
          f"(effort {cfg.effort} by default{', API key required' if cfg.api_key else ''})", flush=True)
    uvicorn.run(create_app(server), host=host, port=port, log_level=log_level)


__all__ = ["ServeConfig", "Server", "create_app", "serve"]
