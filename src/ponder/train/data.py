"""Training examples from solver traces, and the order a run reads them in.

An example is ``<bos> prompt trace <eos>`` as token ids with a per-token flag saying whether the
model is trained to predict that token (the prompt and a search trace's deliberate mistakes are
not). Example ``i`` of a dataset is a pure function of (mix, seed, i); a built dataset is cached
on disk under a key of its spec, so runs that share data build it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from ponder.model.tokenizer import Tokenizer
from ponder.tasks import get_task


@dataclass(frozen=True)
class MixPart:
    """One source of training examples."""

    task: str
    """Registered task name, e.g. ``countdown`` or ``game24``."""
    style: str = "search"
    """Trace style the task writes: ``search``, ``direct`` or ``parallel`` (Countdown; ``thread``: the
    threads a parallel root hands out, see ``CountdownTask.example``), ``cot`` (arith)."""
    weight: float = 1.0
    """Relative share of the examples."""
    problems: int = 10000
    """Distinct training problems to draw from (the task's ``train`` split)."""


@dataclass
class Examples:
    tokens: np.ndarray  # (N,) int32, all examples back to back
    trained: np.ndarray  # (N,) bool, True where the token is a training target
    offsets: np.ndarray  # (n + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.tokens[a:b], self.trained[a:b]


@dataclass
class ScoredExamples:
    """Training examples as token ids with per-token targets (reward models, self-play's visit shares).

    Value kinds: ``targets`` holds the label at each scored position and NaN elsewhere.
    Judge kinds: ``targets`` is 1.0 where the token is trained (the judge's own writing), else NaN.
    """

    ids: list[np.ndarray]
    targets: list[np.ndarray]

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids])


def cache_dir() -> Path:
    return Path(os.environ.get("PONDER_CACHE", Path.home() / ".cache" / "ponder"))


_POOLS: list[list] = []  # problem pools of the dataset being built; forked workers inherit them


def _pool_shard(args) -> list:
    task, n, seed = args
    return get_task(task).problems("train", n, seed=seed)


def _build_shard(args) -> tuple[list[int], list[bool], list[int]]:
    parts, seed, start, stop, tokenizer_dict, max_len = args
    tokenizer = Tokenizer.from_dict(tokenizer_dict)
    weights = [p.weight for p in parts]
    tasks = [get_task(p.task) for p in parts]
    tokens: list[int] = []
    trained: list[bool] = []
    lengths: list[int] = []
    for i in range(start, stop):
        rng = random.Random(f"{seed}-{i}")
        k = rng.choices(range(len(parts)), weights)[0]
        pool = _POOLS[k]
        while True:
            problem = pool[rng.randrange(len(pool))]
            ids, flags = encode_example(tokenizer, *tasks[k].example(problem, parts[k].style, rng))
            if len(ids) <= max_len:
                break
        tokens += ids
        trained += flags
        lengths.append(len(ids))
    return tokens, trained, lengths


def _run(fn, jobs: list, workers: int, bar=None) -> list:
    if workers > 1 and len(jobs) > 1:
        with get_context("fork").Pool(workers) as pool:
            out = []
            for r in pool.imap(fn, jobs):
                out.append(r)
                if bar is not None:
                    bar.update(len(r[2]) if isinstance(r, tuple) else 1)
            return out
    out = []
    for j in jobs:
        out.append(fn(j))
        if bar is not None:
            bar.update(len(out[-1][2]) if isinstance(out[-1], tuple) else 1)
    return out


def encode_example(tokenizer: Tokenizer, prompt: str, segments: list[tuple[str, bool]]) -> tuple[list[int], list[bool]]:
    ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    flags = [False] * len(ids)
    for text, train in segments:
        seg = tokenizer.encode(text)
        ids += seg
        flags += [train] * len(seg)
    ids.append(tokenizer.eos_id)
    flags.append(True)
    return ids, flags


def build_examples(parts: tuple[MixPart, ...], n: int, seed: int, tokenizer: Tokenizer, max_len: int,
                   workers: int = 0, progress: bool = True) -> Examples:
    """The dataset of a mix (cached). Examples longer than ``max_len`` tokens are redrawn."""
    spec = {"parts": [asdict(p) for p in parts], "n": n, "seed": seed, "max_len": max_len,
            "tokenizer": hashlib.sha1(json.dumps(tokenizer.to_dict()).encode()).hexdigest(),
            "traces": _source_digest()}
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "data" / f"{key}.npz"
    if path.exists():
        z = np.load(path)
        return Examples(z["tokens"], z["trained"], z["offsets"])
    workers = workers or os.cpu_count() or 1
    for p in parts:  # fail early on a bad task name
        get_task(p.task)
    # problem pools: each is drawn in shards (distinct seeds) so several processes can share the work
    # (parts that differ only in style or weight share theirs)
    shards = max(1, workers * 2)
    pools = list(dict.fromkeys((p.task, p.problems) for p in parts))
    pool_jobs = [(task, -(-n // shards), seed * 1000 + s) for task, n in pools for s in range(shards)]
    with tqdm(total=len(pool_jobs), desc="drawing problems", unit="shard", disable=not progress) as bar:
        drawn = _run(_pool_shard, pool_jobs, workers, bar)
    drawn_pools = {(task, n): sum(drawn[k * shards:(k + 1) * shards], [])[:n] for k, (task, n) in enumerate(pools)}
    _POOLS[:] = [drawn_pools[p.task, p.problems] for p in parts]
    chunk = max(1, min(2000, n // (workers * 4) or 1))
    jobs = [(parts, seed, s, min(n, s + chunk), tokenizer.to_dict(), max_len) for s in range(0, n, chunk)]
    with tqdm(total=n, desc="writing traces", unit="ex", disable=not progress) as bar:
        built = _run(_build_shard, jobs, workers, bar)
    tokens = [t for b in built for t in b[0]]
    trained = [f for b in built for f in b[1]]
    lengths = [ln for b in built for ln in b[2]]
    ex = Examples(np.asarray(tokens, dtype=np.int32), np.asarray(trained, dtype=bool),
                  np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, tokens=ex.tokens, trained=ex.trained, offsets=ex.offsets)
    os.replace(tmp, path)
    return ex


def _source_digest() -> str:
    """A digest of the code that writes problems and traces (and of the benchmark puzzles kept
    out of its splits): a cached dataset is only reused while they are unchanged."""
    import ponder.tasks

    h = hashlib.sha1()
    root = Path(ponder.tasks.__file__).parent
    for f in sorted(f for f in root.rglob("*") if f.suffix in (".py", ".jsonl")):  # the code and the benchmarks it keeps out
        h.update(f.read_bytes())
    return h.hexdigest()


def micro_batches(lengths: np.ndarray, micro_tokens: int, seed: int, window: int = 1024) -> Iterator[list[int]]:
    """An endless, deterministic stream of micro-batches (lists of example indices).

    Each epoch shuffles the examples; each window of ``window`` examples is sorted by length and
    cut into micro-batches of at most ``micro_tokens`` padded tokens, whose order is shuffled
    again, so padding stays small while batches still mix lengths across steps.
    """
    n = len(lengths)
    epoch = 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(n)
        for w in range(0, n, window):
            idx = sorted(order[w:w + window], key=lambda i: lengths[i])
            batches, cur, cur_max = [], [], 0
            for i in idx:
                m = max(cur_max, int(lengths[i]))
                if cur and m * (len(cur) + 1) > micro_tokens:
                    batches.append(cur)
                    cur, m = [], int(lengths[i])
                cur.append(int(i))
                cur_max = m
            if cur:
                batches.append(cur)
            rng = np.random.default_rng([seed, epoch, w])
            for b in rng.permutation(len(batches)):
                yield batches[b]
        epoch += 1
