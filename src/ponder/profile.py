"""``ponder profile``: how fast an OpenAI-compatible server decodes, from outside.

Requests of varied ``max_tokens`` go to the server one at a time, each timed from send to the last
byte of its answer; a straight line fitted to (completion tokens, latency) gives the decode speed
(the slope: seconds per generated token, shown as tokens/s) and the fixed cost of a request (the
intercept: network, queueing, prefill), with R² saying how well a line explains the times. A
reasoning model's hidden tokens are counted in ``usage.completion_tokens`` too, so the same fit
measures how fast it thinks.

    ponder profile --base-url http://localhost:8000/v1 --model nano-v2      # ponder serve, or any server

HTTP is the standard library's, as in ``ponder.backends.openai``, and torch is never imported:
the command answers at once. Unlike the backend, a request is never retried: a retry's wait would
be timed as decoding. Requests go one at a time so that batching cannot hide the per-token cost.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Sequence
from urllib.parse import urlsplit

from ponder.errors import UserError
from ponder.jsonhttp import Refused, Transient, send

DEFAULT_PROMPT = "Count from 1 to 1000, one number per line, with no other text.\n1\n2\n3\n"
"""A prompt any model continues at length. One that stops early anyway does no harm as long as
lengths differ: the fit uses the tokens ``usage`` reports, not the ``max_tokens`` asked for."""


@dataclass(frozen=True)
class Fit:
    """A least-squares line ``y = intercept + slope * x``."""

    slope: float
    """Change in y per unit of x (here seconds per completion token)."""
    intercept: float
    """y at x = 0 (here the fixed seconds of a request)."""
    r2: float
    """Share of y's variance the line explains, in [0, 1] (1 when y does not vary and the line is exact)."""


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Ordinary least squares of ``ys`` on ``xs``; at least two distinct ``xs`` are needed."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} xs but {len(ys)} ys")
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    r2 = 1.0 if ss_tot == 0 else max(0.0, 1.0 - ss_res / ss_tot)  # OLS with an intercept: >= 0 but for rounding
    return Fit(slope, intercept, r2)


@dataclass
class ProfileConfig:
    """What to send (``ponder profile``'s flags)."""

    base_url: str
    """Where the API lives, up to and including ``/v1``."""
    model: str
    """The model's name as the server knows it."""
    api: str = "completions"
    """``completions`` (the prompt as is) or ``chat`` (the prompt as one user message)."""
    lengths: tuple[int, ...] = (8, 32, 64, 128, 256)
    """``max_tokens`` values to ask for."""
    repeats: int = 3
    """Requests per length."""
    prompt: str = DEFAULT_PROMPT
    """The one prompt every request sends."""
    api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY"))
    """Sent as a bearer token when set."""
    timeout: float = 300.0
    """Seconds to wait for one answer."""

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"--base-url must be an http:// or https:// URL, e.g. http://localhost:8000/v1, "
                            f"got {self.base_url!r}")
        if not self.model:
            raise UserError("--model must name the model as the server knows it")
        if self.api not in ("completions", "chat"):
            raise UserError(f"--api must be completions or chat, got {self.api!r}")
        if not self.lengths or min(self.lengths) < 1:
            raise UserError(f"--lengths must be positive token counts, got {self.lengths}")
        if len(set(self.lengths)) < 2:
            raise UserError("--lengths needs at least two different values to fit a line")
        if self.repeats < 1 or self.timeout <= 0:
            raise UserError("--repeats must be at least 1 and the timeout positive")


@dataclass(frozen=True)
class Sample:
    """One timed request."""

    max_tokens: int
    completion_tokens: int
    latency_s: float


# --------------------------------------------------------------------------- HTTP


def _call(cfg: ProfileConfig, path: str, body: dict | None = None) -> dict:
    """GET (no body) or POST ``path`` under the base URL, once (a retry's wait would be timed as
    decoding); every failure is a one-line ``UserError``."""
    url = cfg.base_url + path
    try:
        return send(url, body, cfg.api_key, cfg.timeout)
    except Refused as e:
        hint = {401: " (is $OPENAI_API_KEY or --api-key set?)",
                404: " (is the model name right, and does the base URL end in /v1?)"}.get(e.status, "")
        raise UserError(f"{e}{hint}") from None
    except Transient as e:
        raise UserError(str(e)) from None
    except UserError:  # an answer that is not JSON (a UserError is a ValueError too)
        raise
    except ValueError as e:  # a URL urllib cannot read
        raise UserError(f"cannot reach {url}: {e or type(e).__name__}") from None


def check_model(cfg: ProfileConfig) -> None:
    """A clear error now if the server is unreachable or does not list the model (a server
    without ``/models`` is let through: the first request will tell)."""
    try:
        answer = _call(cfg, "/models")
    except UserError as e:
        if "HTTP 404" in str(e):
            return
        raise
    ids = [m.get("id") for m in (answer.get("data") if isinstance(answer, dict) else None) or []
           if isinstance(m, dict)]
    if ids and cfg.model not in ids:
        raise UserError(f"unknown model {cfg.model!r} at {cfg.base_url}; it serves: {', '.join(map(str, ids[:10]))}")


def timed_request(cfg: ProfileConfig, max_tokens: int) -> Sample:
    """One greedy request for at most ``max_tokens``, timed; its completion tokens from ``usage``."""
    body: dict = {"model": cfg.model, "max_tokens": max_tokens, "temperature": 0}
    if cfg.api == "chat":
        body["messages"] = [{"role": "user", "content": cfg.prompt}]
    else:
        body["prompt"] = cfg.prompt
    path = "/chat/completions" if cfg.api == "chat" else "/completions"
    start = time.perf_counter()
    answer = _call(cfg, path, body)
    latency = time.perf_counter() - start
    usage = answer.get("usage") if isinstance(answer, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int):
        raise UserError(f"{cfg.base_url}{path} returned no usage.completion_tokens: profiling needs the "
                        f"server's token counts")
    return Sample(max_tokens, tokens, latency)


def profile(cfg: ProfileConfig, progress=None) -> tuple[list[Sample], Fit]:
    """Every length ``repeats`` times, the lengths interleaved (so that a drift in the machine's speed
    spreads over all of them), after one untimed warm-up request; the samples and their line."""
    check_model(cfg)
    timed_request(cfg, min(cfg.lengths))  # warm-up: first-request costs (lazy loading, caches) are not decoding
    samples = []
    for _ in range(cfg.repeats):
        for length in cfg.lengths:
            samples.append(timed_request(cfg, length))
            if progress:
                progress(samples[-1])
    try:
        fit = fit_line([s.completion_tokens for s in samples], [s.latency_s for s in samples])
    except ValueError:
        raise UserError(f"every completion had {samples[0].completion_tokens} tokens, whatever max_tokens was: "
                        f"nothing to fit; try a --prompt the model answers at length") from None
    return samples, fit


def tokens_per_second(fit: Fit) -> float | None:
    """Decode speed from the slope; None when the slope is not positive (noise swamped decoding)."""
    return 1.0 / fit.slope if fit.slope > 0 else None


def summary(cfg: ProfileConfig, samples: Sequence[Sample], fit: Fit) -> dict:
    """The ``--json`` answer."""
    speed = tokens_per_second(fit)
    return {"base_url": cfg.base_url, "model": cfg.model, "api": cfg.api,
            "tokens_per_s": None if speed is None else round(speed, 2),
            "s_per_token": fit.slope, "fixed_latency_s": fit.intercept, "r2": fit.r2,
            "samples": [{"max_tokens": s.max_tokens, "completion_tokens": s.completion_tokens,
                         "latency_s": round(s.latency_s, 6)} for s in samples]}


def describe(fit: Fit, n: int) -> str:
    """The fit in one line."""
    speed = tokens_per_second(fit)
    rate = "no positive slope (latency did not grow with tokens)" if speed is None else \
        f"{speed:.1f} tokens/s ({fit.slope * 1e3:.2f} ms/token)"
    fixed = round(fit.intercept * 1e3, 1) + 0.0  # + 0.0: a fit just below zero reads 0.0, not -0.0
    return f"decode: {rate}; fixed latency {fixed:.1f} ms; R² {fit.r2:.3f} ({n} requests)"


def parse_lengths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--lengths takes token counts separated by commas, e.g. 8,32,64, got {text!r}") from None


__all__ = ["Fit", "fit_line", "ProfileConfig", "Sample", "profile", "timed_request", "summary", "describe",
           "tokens_per_second", "parse_lengths"]
