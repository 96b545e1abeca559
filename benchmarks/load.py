"""Load on ``ponder serve`` (or any OpenAI-compatible chat server): many concurrent clients, mixed
reasoning efforts, streaming and not; nothing may be lost.

For each client count (10, 50, 200 by default) that many clients start together, each sending
``--requests-per-client`` chat requests one after another: the problem as the user message,
``reasoning_effort`` low / medium / high in turn, and a share of them streamed (``stream: true``
with ``stream_options: {"include_usage": true}``). One row per client count:

* ok: answered in full (a stream must end with a ``finish_reason``);
* rejected: refused with a clear status, 429 or 503 (overload is allowed to say no), by status; a
  stream already begun can only be refused by an error event of type ``rate_limit_error``, counted
  as ``429 in stream``;
* failed / lost: anything else: another status, a dropped connection, a stream cut short, or no
  answer within ``--timeout`` seconds. Any of these makes the script exit with status 1;
* req/s: requests answered per second of the level's wall time;
* latency p50 / p99 (answered requests), and time to first token p50 / p99 of streamed ones:
  from sending to the first SSE chunk whose delta carries anything but the role: reasoning (its
  summary, or the text) or answer, overall and for ``low`` effort, whose target is 0.5 s at p99.

    python benchmarks/load.py --spawn                       # starts ponder serve on a free port, then stops it
    python benchmarks/load.py --base-url http://127.0.0.1:8000/v1 --clients 10,50,200

The clients share this process: asyncio and ``httpx`` (which the ``openai`` client is built on),
with SSE read line by line and no retries (a retry would hide a rejection). The ``openai``
client's own parsing costs several milliseconds a request: with 200 clients started together
that added 0.2-0.35 s to the time to first token here. On a small machine the clients still
compete with the server for the CPU, so the times are an upper bound on the server's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

try:
    import httpx
except ImportError:  # some builds of the openai client ship it as httpx2
    import httpx2 as httpx

from ponder.jsonhttp import server_message

PROBLEMS = ("46 39 16 10 -> 42", "10 76 53 86 -> 99", "32 94 81 96 -> 65", "98 73 37 30 -> 42", "1 18 76 44 -> 48")
"""Default user messages: Countdown problems as text (the server's default task), the first four of
countdown's test split, all solvable."""
REJECTED = (429, 503)
"""Statuses that count as a clear refusal under load rather than a failure."""


@dataclass(frozen=True)
class Outcome:
    """What became of one request."""

    effort: str
    stream: bool
    kind: str
    """``ok``, ``rejected`` or ``failed``."""
    status: int | None = None
    """The HTTP status of a refusal or a failure that had one."""
    error: str = ""
    latency_s: float = 0.0
    ttft_s: float | None = None
    """Seconds to the first chunk with any delta text (streamed requests only)."""
    in_stream: bool = False
    """A refusal sent as an error event inside a stream already begun (a queued request turned away)."""


# --------------------------------------------------------------------------- pure helpers


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in [0, 100]): a value that was measured; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def has_delta(delta: dict | None) -> bool:
    """Whether a streamed choice's delta carries anything but its role: answer text, or reasoning under
    any of the names servers use (``reasoning_content``, ``reasoning``, ponder's ``reasoning_summary``)."""
    return bool(delta) and any(value for key, value in delta.items() if key != "role")


def summarize(clients: int, outcomes: Sequence[Outcome], wall_s: float) -> dict:
    """One row of the table."""
    ok = [o for o in outcomes if o.kind == "ok"]
    rejected = [o for o in outcomes if o.kind == "rejected"]
    statuses: dict[str, int] = {}
    for o in rejected:
        key = f"{o.status}" + (" in stream" if o.in_stream else "")
        statuses[key] = statuses.get(key, 0) + 1
    latency = [o.latency_s for o in ok]
    ttft = [o.ttft_s for o in ok if o.stream and o.ttft_s is not None]
    ttft_low = [o.ttft_s for o in ok if o.stream and o.ttft_s is not None and o.effort == "low"]
    return {"clients": clients, "requests": len(outcomes), "ok": len(ok), "rejected": len(rejected),
            "rejected_by_status": statuses, "failed": sum(o.kind == "failed" for o in outcomes),
            "wall_s": wall_s, "req_per_s": len(ok) / wall_s if wall_s > 0 else 0.0,
            "latency_p50_s": percentile(latency, 50), "latency_p99_s": percentile(latency, 99),
            "ttft_p50_s": percentile(ttft, 50), "ttft_p99_s": percentile(ttft, 99),
            "ttft_low_p50_s": percentile(ttft_low, 50), "ttft_low_p99_s": percentile(ttft_low, 99),
            "streamed_ok": len(ttft), "streamed_low_ok": len(ttft_low)}


HEADER = (f"{'clients':>7} {'requests':>8} {'ok':>6} {'rejected':>24} {'failed':>6} {'req/s':>7} "
          f"{'lat p50':>8} {'lat p99':>8} {'ttft p50':>8} {'ttft p99':>8} {'low p50':>8} {'low p99':>8}")


def format_row(row: dict) -> str:
    def s(x):
        return f"{x:.3f}" if x is not None else "-"
    rejected = str(row["rejected"])
    if row["rejected"]:
        rejected += " (" + ",".join(f"{k}:{v}" for k, v in sorted(row["rejected_by_status"].items())) + ")"
    return (f"{row['clients']:>7} {row['requests']:>8} {row['ok']:>6} {rejected:>24} {row['failed']:>6} "
            f"{row['req_per_s']:>7.2f} {s(row['latency_p50_s']):>8} {s(row['latency_p99_s']):>8} "
            f"{s(row['ttft_p50_s']):>8} {s(row['ttft_p99_s']):>8} "
            f"{s(row['ttft_low_p50_s']):>8} {s(row['ttft_low_p99_s']):>8}")


# --------------------------------------------------------------------------- the clients


async def one_request(client: httpx.AsyncClient, model: str, problem: str, effort: str, stream: bool,
                      timeout: float, max_tokens: int | None) -> Outcome:
    """One chat request, timed; every way it can end sorted into ok, rejected or failed."""
    body: dict = {"model": model, "messages": [{"role": "user", "content": problem}], "reasoning_effort": effort}
    if max_tokens:
        body["max_tokens"] = max_tokens
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    start = time.perf_counter()
    ttft = None

    def outcome(kind: str, status: int | None = None, error: str = "", in_stream: bool = False) -> Outcome:
        return Outcome(effort, stream, kind, status, error, time.perf_counter() - start, ttft, in_stream)

    try:
        async with asyncio.timeout(timeout):  # the whole answer: the HTTP client's own timeout is per read
            async with client.stream("POST", "chat/completions", json=body) as response:
                if response.status_code != 200:
                    kind = "rejected" if response.status_code in REJECTED else "failed"
                    message = server_message(await response.aread())[:200]
                    return outcome(kind, response.status_code, f"HTTP {response.status_code}: {message}")
                if not stream:
                    answer = json.loads(await response.aread())
                    return outcome("ok") if answer.get("choices") else outcome("failed", error="an answer without choices")
                finished = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments (keep-alives), event names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        said = f"an error in the stream: {server_message(data.encode())[:200]}"
                        if (chunk["error"] or {}).get("type") == "rate_limit_error":  # turned away from the queue
                            return outcome("rejected", 429, said, in_stream=True)
                        return outcome("failed", error=said)
                    for choice in chunk.get("choices") or ():
                        if ttft is None and has_delta(choice.get("delta")):
                            ttft = time.perf_counter() - start
                        finished = finished or bool(choice.get("finish_reason"))
                return outcome("ok") if finished else outcome("failed", error="the stream ended without a finish_reason")
    except TimeoutError:
        return outcome("failed", error=f"lost: no full answer within {timeout:g} s")
    except Exception as e:  # a dropped connection, a malformed stream: all count as failed
        said = str(e) or repr(e.__cause__ or e.__context__ or "the connection closed")
        return outcome("failed", error=f"{type(e).__name__}: {said}"[:200])


def make_client(base_url: str, args, connections: int) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    return httpx.AsyncClient(base_url=base_url + "/", headers=headers, timeout=args.timeout,
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


async def run_level(base_url: str, model: str, clients: int, args) -> tuple[dict, list[Outcome]]:
    """``clients`` clients started together, each sending its requests one after another."""
    efforts = args.efforts.split(",")

    async def one_client(i: int) -> list[Outcome]:
        rng = random.Random(f"{args.seed}:{clients}:{i}")  # which requests stream: seeded per level and client
        done = []
        for j in range(args.requests_per_client):
            k = i * args.requests_per_client + j
            done.append(await one_request(client, model, args.problems[k % len(args.problems)],
                                          efforts[k % len(efforts)], rng.random() < args.stream_share,
                                          args.timeout, args.max_tokens))
        return done

    async with make_client(base_url, args, clients) as client:
        start = time.perf_counter()
        per_client = await asyncio.gather(*(one_client(i) for i in range(clients)))
        wall = time.perf_counter() - start
    outcomes = [o for batch in per_client for o in batch]
    return summarize(clients, outcomes, wall), outcomes


async def prepare(base_url: str, args) -> str:
    """The model to send (``--model``, else the first the server lists: ``ponder serve`` lists the one
    it serves), after ``--warmup`` untimed requests, so that first-request costs stay out of the figures."""
    async with make_client(base_url, args, 1) as client:
        model = args.model
        if not model:
            try:
                response = await client.get("models")
                response.raise_for_status()
                model = response.json()["data"][0]["id"]
            except Exception as e:
                raise SystemExit(f"load.py: cannot list the models at {base_url}: {type(e).__name__}: {e}") from None
        for _ in range(args.warmup):
            warm = await one_request(client, model, args.problems[0], "low", False, args.timeout, args.max_tokens)
            if warm.kind != "ok":
                raise SystemExit(f"load.py: the warm-up request was not answered: {warm.error}")
        return model


async def bench(base_url: str, args) -> int:
    model = await prepare(base_url, args)
    notes = sys.stderr if args.json else sys.stdout  # with --json, stdout holds only the rows
    print(f"{base_url}, model {model}: {args.requests_per_client} request(s) per client, efforts {args.efforts}, "
          f"{args.stream_share:.0%} streamed; seconds; low: time to first token of low-effort streams", file=notes)
    if not args.json:
        print(HEADER)
    lost = 0
    for clients in args.clients:
        row, outcomes = await run_level(base_url, model, clients, args)
        print(json.dumps(row) if args.json else format_row(row), flush=True)
        lost += row["failed"]
        for error in sorted({o.error for o in outcomes if o.kind == "failed"})[:3]:
            print(f"    failed: {error}", file=notes)
    if lost:
        print(f"{lost} request(s) failed or were lost", file=sys.stderr)
    return 1 if lost else 0


# --------------------------------------------------------------------------- a server of our own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def spawned_server(extra: Sequence[str], wait_s: float) -> Iterator[str]:
    """``python -m ponder.cli serve --port P`` on a free port, until ``GET /health`` answers 200;
    its base URL; stopped (SIGTERM, then SIGKILL after 10 s) on the way out."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="ponder-serve-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), *extra]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"load.py: {shlex.join(command)} exited with status {proc.returncode}:\n"
                                 + open(log.name).read()[-2000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"load.py: no 200 from /health within {wait_s:g} s; its log: {log.name}")
            time.sleep(0.2)
        print(f"spawned: {shlex.join(command)} (log: {log.name})")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="the API up to /v1 (ignored with --spawn)")
    ap.add_argument("--spawn", action="store_true",
                    help="start `python -m ponder.cli serve --port P` on a free port, and stop it at the end")
    ap.add_argument("--serve-args", default="", help="more arguments for the spawned server, as one string")
    ap.add_argument("--spawn-wait", type=float, default=180.0, help="seconds to wait for the spawned server's /health")
    ap.add_argument("--model", help="model name to send (default: the first the server lists)")
    ap.add_argument("--clients", default="10,50,200", help="client counts, one level each (default: 10,50,200)")
    ap.add_argument("--requests-per-client", type=int, default=2, help="requests each client sends in turn (default: 2)")
    ap.add_argument("--efforts", default="low,medium,high", help="reasoning_effort values, used in turn")
    ap.add_argument("--stream-share", type=float, default=0.75, help="fraction of requests streamed (default: 0.75)")
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), metavar="TEXT",
                    help='user messages, used in turn (default: Countdown problems like "46 39 16 10 -> 42")')
    ap.add_argument("--max-tokens", type=int, help="max_tokens to send (default: none; the server decides)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds a request may take in all before it "
                    "counts as lost (default: 600)")
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="bearer token (default: $OPENAI_API_KEY)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed requests before the first level (default: 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of which requests stream")
    ap.add_argument("--json", action="store_true", help="one JSON object per level instead of a table row")
    args = ap.parse_args(argv)
    try:
        args.clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        ap.error(f"--clients takes counts separated by commas, got {args.clients!r}")
    if min(args.clients) < 1 or args.requests_per_client < 1 or not 0 <= args.stream_share <= 1:
        ap.error("--clients and --requests-per-client must be at least 1, --stream-share in [0, 1]")
    if args.spawn:
        with spawned_server(shlex.split(args.serve_args), args.spawn_wait) as url:
            return asyncio.run(bench(url, args))
    return asyncio.run(bench(args.base_url.rstrip("/"), args))


if __name__ == "__main__":
    sys.exit(main())
