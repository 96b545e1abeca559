"""``ponder profile`` (the speed of an OpenAI-compatible server) and ``ponder serve`` (one)."""

from __future__ import annotations

import argparse
import json

from ponder.cli.common import add_model, examples
from ponder.errors import UserError
from ponder.search.effort import EFFORTS

EFFORT_NAMES = tuple(EFFORTS)


def port(text: str) -> int:
    """A TCP port number (argparse ``type``)."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, got {text!r}")
    return int(text)


def add_parsers(sub) -> None:
    p = sub.add_parser("profile", help="decode speed and fixed latency of an OpenAI-compatible server, "
                                       "from latency against completion tokens",
                       epilog=examples("ponder profile --base-url http://localhost:8000/v1 --model nano-v2"))
    p.add_argument("--base-url", required=True, help="the API's URL up to /v1, e.g. http://localhost:8000/v1")
    p.add_argument("--model", required=True, help="the model's name as the server knows it")
    p.add_argument("--api", choices=("completions", "chat"), default="completions",
                   help="/v1/completions (default) or /v1/chat/completions")
    p.add_argument("--lengths", default="8,32,64,128,256", metavar="N,...",
                   help="max_tokens values to ask for (default: 8,32,64,128,256)")
    p.add_argument("--repeats", type=int, default=3, help="requests per length (default: 3)")
    p.add_argument("--prompt", help="the prompt every request sends (default: one any model continues at length)")
    p.add_argument("--api-key", help="bearer token (default: $OPENAI_API_KEY)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one answer (default: 300)")
    p.add_argument("--json", action="store_true", help="print one JSON object: the fit and every sample")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("serve", help="an OpenAI-compatible reasoning server: reasoning_effort, hidden reasoning, "
                                     "streaming (needs ponder[serve])",
                       epilog=examples("ponder serve   # then open http://127.0.0.1:8000/ for the playground",
                                       "ponder serve --task game24 --port 8001 --api-key KEY",
                                       "ponder serve --upstream http://localhost:8000/v1 --port 8001"))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=port, default=8000, help="port (default: 8000)")
    add_model(p)
    p.add_argument("--task", default="countdown", help="the task of every problem asked (default: countdown)")
    p.add_argument("--upstream", metavar="URL", help="proxy mode: the policy is this OpenAI-compatible endpoint "
                                                     "(up to /v1), e.g. a vLLM server")
    p.add_argument("--upstream-model", metavar="NAME", help="the upstream's model (default: the first it lists)")
    p.add_argument("--api-key", help="require this bearer token (default: $PONDER_API_KEY; none: open)")
    p.add_argument("--effort", choices=EFFORT_NAMES, default="low",
                   help="reasoning_effort of requests that name none (default: low)")
    p.add_argument("--max-queue", type=int, default=256, help="most requests in at once; more get 429 (default: 256)")
    p.add_argument("--max-active", type=int, default=16, help="most requests searching (and batched) together (default: 16)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a request may take: 504 beyond; a request that the "
                   "queue ahead would keep longer gets 429 at once (default: 300)")
    p.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes (default: 1 MiB)")
    p.add_argument("--max-budget", type=int, default=64000,
                   help="largest thinking budget a request may ask for, and the budget of one that sets none (default: 64000)")
    p.add_argument("--keepalive", type=float, default=5.0, metavar="SECONDS",
                   help="a stream silent this long gets a keep-alive comment (default: 5)")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug", "trace"),
                   help="uvicorn's log level (default: warning)")
    p.set_defaults(func=cmd_serve)


def cmd_profile(args) -> int:
    from ponder.profile import ProfileConfig, describe, parse_lengths, profile, summary

    options = {"api_key": args.api_key} if args.api_key else {}
    if args.prompt:
        options["prompt"] = args.prompt
    cfg = ProfileConfig(args.base_url, args.model, api=args.api, lengths=parse_lengths(args.lengths),
                        repeats=args.repeats, timeout=args.timeout, **options)
    header = [f"{'max_tokens':>10}  {'completion tokens':>17}  {'latency s':>9}"]

    def show(s) -> None:  # a row as each request returns, under a header printed once the server has answered
        if header:
            print(header.pop())
        print(f"{s.max_tokens:>10}  {s.completion_tokens:>17}  {s.latency_s:>9.3f}", flush=True)

    samples, fit = profile(cfg, progress=None if args.json else show)
    print(json.dumps(summary(cfg, samples, fit)) if args.json else describe(fit, len(samples)))
    return 0


def cmd_serve(args) -> int:
    import os

    try:
        from ponder.serve import ServeConfig, serve
    except ImportError as e:
        raise UserError(f"ponder serve needs FastAPI and uvicorn: pip install 'ponder[serve]' ({e})") from None
    if args.upstream and args.model:
        raise UserError("give --model or --upstream, not both (--upstream-model names the upstream's model)")
    cfg = ServeConfig(model=args.model, backend=args.backend, task=args.task, upstream=args.upstream,
                      upstream_model=args.upstream_model, api_key=args.api_key or os.environ.get("PONDER_API_KEY"),
                      effort=args.effort, max_queue=args.max_queue, max_active=args.max_active,
                      timeout=args.timeout, max_body=args.max_body, max_budget=args.max_budget,
                      keepalive=args.keepalive)
    serve(cfg, args.host, args.port, args.log_level)
    return 0
