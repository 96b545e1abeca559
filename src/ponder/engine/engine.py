"""Batched sampling from the nano transformer with a KV cache and a prefix cache.

The engine knows token ids, not text (``ponder.backends.nano`` puts text on top).

How it works:

* Continuous batching over a fixed number of slots. Each slot holds one sample's keys and values
  (per layer, ``(slots, kv_heads, max_len, head_dim)``); every decode step runs one forward pass
  over all active slots, each at its own position. A finished sample frees its slot at once and
  the next waiting sample takes it, so a batch never waits for its longest member.
* A prompt is computed once for its ``n`` samples: its keys and values are copied into each
  sample's slot.
* A prefix cache stores prompt keys and values in blocks of ``block`` tokens in a trie, so prompts
  that share a prefix (many samples of one problem, the steps of a tree search) compute it once.
  The least recently used blocks are evicted beyond ``prefix_cache_tokens``.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ponder.engine.sampling import hash32, sample


@dataclass(frozen=True)
class Request:
    """One prompt to continue ``n`` times. Token-level twin of ``ponder.types.SamplingParams``."""

    prompt: tuple[int, ...]
    n: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_tokens: int = 256
    stop_tokens: frozenset[int] = frozenset()
    """Tokens that end a sample (end of sequence); they are kept in ``Generation.tokens``."""
    stop_sequences: tuple[tuple[int, ...], ...] = ()
    """Token sequences that end a sample once generated."""
    seed: int | None = None
    logprobs: bool = False


@dataclass
class Generation:
    tokens: list[int]
    finish_reason: str
    """"stop" or "length" (max_tokens reached or the context is full)."""
    prompt_tokens: int
    cached_tokens: int
    """Prompt tokens not computed for this sample: from the prefix cache, or shared with sample 0."""
    logprobs: list[float] | None = None


@dataclass
class EngineStats:
    """Running totals since the engine was made (or ``reset``)."""

    prompt_tokens: int = 0
    computed_prompt_tokens: int = 0
    generated_tokens: int = 0
    forward_passes: int = 0

    @property
    def prefix_hit_rate(self) -> float:
        return 1 - self.computed_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


# --------------------------------------------------------------------------- prefix cache


class _Node:
    __slots__ = ("parent", "key", "children", "k", "v")

    def __init__(self, parent, key, k=None, v=None):
        self.parent, self.key, self.children, self.k, self.v = parent, key, {}, k, v


class PrefixCache:
    """Keys and values of token blocks, in a trie keyed by the blocks' tokens (exact, no hashing)."""

    def __init__(self, capacity_tokens: int, block: int = 16):
        self.capacity, self.block = capacity_tokens, block
        self.root = _Node(None, None)
        self.lru: OrderedDict[int, _Node] = OrderedDict()
        self.tokens = 0

    def lookup(self, tokens: Sequence[int], limit: int) -> list[_Node]:
        """The cached blocks that start ``tokens``, covering at most ``limit`` tokens."""
        node, path, b = self.root, [], self.block
        for start in range(0, limit - b + 1, b):
            node = node.children.get(tuple(tokens[start:start + b]))
            if node is None:
                break
            path.append(node)
            self.lru.move_to_end(id(node))
        return path

    def insert(self, tokens: Sequence[int], k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the full blocks of ``tokens``; k, v: (layers, kv_heads, len(tokens), head_dim)."""
        if self.capacity <= 0:
            return
        node, b = self.root, self.block
        for start in range(0, len(tokens) - b + 1, b):
            key = tuple(tokens[start:start + b])
            child = node.children.get(key)
            if child is None:
                child = _Node(node, key, k[:, :, start:start + b].clone(), v[:, :, start:start + b].clone())
                node.children[key] = child
                self.tokens += b
            self.lru[id(child)] = child
            self.lru.move_to_end(id(child))
            node = child
        self._evict()

    def _evict(self) -> None:
        while self.tokens > self.capacity and self.lru:
            for key, node in self.lru.items():
                if not node.children:  # only leaves go, so every cached path stays whole
                    del self.lru[key]
                    del node.parent.children[node.key]
                    self.tokens -= self.block
                    break
            else:
                return

    def clear(self) -> None:
        self.root, self.tokens = _Node(None, None), 0
        self.lru.clear()


# --------------------------------------------------------------------------- caches the model sees


class PrefillCache:
    """One sequence: cached past keys/values plus the new tokens being computed."""

    def __init__(self, past_k: torch.Tensor, past_v: torch.Tensor, n_new: int):
        self.past_k, self.past_v = past_k, past_v  # (L, Hkv, P, Dh)
        self.new_k: dict[int, torch.Tensor] = {}
        self.new_v: dict[int, torch.Tensor] = {}
        P = past_k.shape[2]
        self.mask = None
        if P:
            i = torch.arange(n_new)[:, None]
            j = torch.arange(P + n_new)[None, :]
            self.mask = (j <= P + i)[None, None]  # (1, 1, T, P+T)

    def update(self, layer, k, v):
        self.new_k[layer], self.new_v[layer] = k, v
        if self.past_k.shape[2]:
            return (torch.cat([self.past_k[layer][None], k], dim=2), torch.cat([self.past_v[layer][None], v], dim=2))
        return k, v


class _DecodeCache:
    """All active slots, one new token each, written at each slot's own position."""

    def __init__(self, k_slots, v_slots, lengths: torch.Tensor):
        self.k_slots, self.v_slots, self.lengths = k_slots, v_slots, lengths
        self.rows = torch.arange(len(lengths))
        self.span = int(lengths.max()) + 1
        self.mask = (torch.arange(self.span)[None, :] <= lengths[:, None])[:, None, None, :]  # (A, 1, 1, S)

    def update(self, layer, k, v):
        A = len(self.lengths)
        kc, vc = self.k_slots[layer], self.v_slots[layer]
        kc[self.rows, :, self.lengths] = k[:, :, 0]
        vc[self.rows, :, self.lengths] = v[:, :, 0]
        return kc[:A, :, :self.span], vc[:A, :, :self.span]


# --------------------------------------------------------------------------- the engine


@dataclass
class _Sample:
    request: int
    index: int
    length: int  # tokens in this slot's cache
    seed: int
    prompt_tokens: int
    cached_tokens: int
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


@dataclass
class _Call:
    """What one ``generate`` call works on (kept off the engine, which holds only caches)."""

    requests: Sequence[Request]
    results: list[list[Generation | None]]  # [request][sample], filled as samples finish
    waiting: deque[tuple[int, int]]  # (request, sample) not yet in a slot
    seeds: list[int]  # per request
    need_len: int  # the longest sequence any request may reach
    logits: torch.Tensor  # (slots, vocab): each active sample's next-token logits
    on_token: Callable[[int, int, int], None] | None
    slots: list[_Sample] = field(default_factory=list)  # the active samples, slot a at index a
    prefilled: dict[int, tuple] = field(default_factory=dict)  # request -> its prompt's (k, v, last logits, cached)


class Engine:
    def __init__(self, model, max_batch: int = 64, prefix_cache_tokens: int = 65536, block: int = 16):
        self.model = model.eval()
        cfg = model.cfg
        self.max_batch = max_batch
        self.max_len = cfg.max_seq_len
        self.vocab = cfg.vocab_size
        self.prefix = PrefixCache(prefix_cache_tokens, block)
        self.stats = EngineStats()
        self._shape = (cfg.n_layers, cfg.n_kv_heads, cfg.head_dim)
        self._k: list[torch.Tensor] = []
        self._v: list[torch.Tensor] = []

    # -- public

    @torch.inference_mode()
    def generate(self, requests: Sequence[Request],
                 on_token: Callable[[int, int, int], None] | None = None) -> list[list[Generation]]:
        """Sample every request ``n`` times. Returns ``out[request][sample]``.

        ``on_token(request, sample, token)`` is called for every generated token, as it is made.
        """
        waiting = deque((ri, si) for ri, r in enumerate(requests) for si in range(r.n))
        if not waiting:
            return []
        seeds = [r.seed if r.seed is not None else random.getrandbits(31) for r in requests]
        need_len = min(self.max_len, max(len(r.prompt) + r.max_tokens for r in requests))
        self._reserve(min(self.max_batch, len(waiting)), need_len)
        call = _Call(requests, [[None] * r.n for r in requests], waiting, seeds, need_len,
                     torch.empty(len(self._k[0]), self.vocab), on_token)
        while call.waiting or call.slots:
            self._admit(call)
            if not call.slots:
                continue
            chosen, done = self._choose(call)
            chosen = self._free(call, chosen, done)
            if call.slots:
                self._decode(call, chosen)
        return call.results  # type: ignore[return-value]

    def reset_stats(self) -> None:
        self.stats = EngineStats()

    # -- internals

    def _reserve(self, slots: int, length: int) -> None:
        L, H, D = self._shape
        if self._k and self._k[0].shape[0] >= slots and self._k[0].shape[2] >= length:
            return
        slots = max(slots, self._k[0].shape[0] if self._k else 0)
        length = max(length, self._k[0].shape[2] if self._k else 0)
        self._k = [torch.zeros(slots, H, length, D) for _ in range(L)]
        self._v = [torch.zeros(slots, H, length, D) for _ in range(L)]

    def _admit(self, call: _Call) -> None:
        """Move waiting samples into free slots. A request's prompt is computed when its first sample
        comes in and copied into the slot of each of its samples; an empty prompt, or one that fills
        the context, ends at once with "length"."""
        slots = call.slots
        while call.waiting and len(slots) < len(self._k[0]):
            ri, si = call.waiting.popleft()
            req = call.requests[ri]
            if ri not in call.prefilled:
                if not req.prompt or len(req.prompt) >= min(self.max_len, call.need_len):
                    call.results[ri][si] = Generation([], "length", len(req.prompt), 0, [] if req.logprobs else None)
                    continue
                call.prefilled[ri] = self._prefill(req.prompt)
            k, v, last, cached = call.prefilled[ri]
            if si == req.n - 1:
                del call.prefilled[ri]
            a, P = len(slots), k.shape[2]
            for layer in range(len(self._k)):
                self._k[layer][a, :, :P] = k[layer]
                self._v[layer][a, :, :P] = v[layer]
            call.logits[a] = last
            shared = cached if si == 0 else P  # samples after the first reuse sample 0's prompt
            seed = int(hash32(torch.tensor([(call.seeds[ri] * 1_000_003 + si) & 0xFFFFFFFF]))[0])
            slots.append(_Sample(ri, si, P, seed, P, shared))

    def _choose(self, call: _Call) -> tuple[list[int], list[bool]]:
        """Choose the next token of every active sample and append it; a sample it ends goes into the
        results. Returns (the tokens, whether each sample ended), by slot."""
        slots = call.slots
        A = len(slots)
        params = [call.requests[s.request] for s in slots]
        chosen = sample(
            call.logits[:A],
            torch.tensor([p.temperature for p in params]),
            torch.tensor([p.top_k for p in params]),
            torch.tensor([p.top_p for p in params], dtype=torch.float64),
            torch.tensor([s.seed for s in slots], dtype=torch.int64),
            torch.tensor([len(s.tokens) for s in slots], dtype=torch.int64),
        )
        want_lp = any(p.logprobs for p in params)
        lps = torch.log_softmax(call.logits[:A].float(), -1).gather(1, chosen[:, None])[:, 0] if want_lp else None
        chosen_list = chosen.tolist()
        done = [False] * A
        for a, s in enumerate(slots):
            req = params[a]
            t = chosen_list[a]
            s.tokens.append(t)
            if req.logprobs:
                s.logprobs.append(float(lps[a]))
            if call.on_token is not None:
                call.on_token(s.request, s.index, t)
            reason = _finish_reason(s, req, call.need_len)
            if reason:
                done[a] = True
                call.results[s.request][s.index] = Generation(
                    s.tokens, reason, s.prompt_tokens, s.cached_tokens, s.logprobs if req.logprobs else None)
        self.stats.generated_tokens += A
        return chosen_list, done

    def _free(self, call: _Call, chosen: list[int], done: list[bool]) -> list[int]:
        """Free the ended samples' slots by moving survivors from the end into the holes (their cache
        rows too); returns the survivors' new tokens, by slot."""
        if not any(done):
            return chosen
        slots, A = call.slots, len(done)
        keep = [a for a in range(A) if not done[a]]
        n_keep = len(keep)
        holes = [a for a in range(n_keep) if done[a]]
        movers = [a for a in range(n_keep, A) if not done[a]]
        for h, m in zip(holes, movers):
            L = slots[m].length
            for layer in range(len(self._k)):
                self._k[layer][h, :, :L] = self._k[layer][m, :, :L]
                self._v[layer][h, :, :L] = self._v[layer][m, :, :L]
            slots[h] = slots[m]
            chosen[h] = chosen[m]
        call.slots = slots[:n_keep]
        return chosen[:n_keep]

    def _decode(self, call: _Call, chosen: list[int]) -> None:
        """One forward pass for all active samples: each writes its new token's keys and values at its
        own position, and gets its next logits."""
        slots = call.slots
        lengths = torch.tensor([s.length for s in slots])
        cache = _DecodeCache(self._k, self._v, lengths)
        out = self.model(torch.tensor(chosen)[:, None], positions=lengths[:, None], cache=cache)
        self.stats.forward_passes += 1
        call.logits[:len(slots)] = out[:, -1]
        for s in slots:
            s.length += 1

    def _prefill(self, prompt: tuple[int, ...]):
        """Keys, values and last logits of a prompt, using and then filling the prefix cache."""
        path = self.prefix.lookup(prompt, limit=len(prompt) - 1)  # compute at least the last token
        L, H, D = self._shape
        if path:
            past_k = torch.cat([n.k for n in path], dim=2)
            past_v = torch.cat([n.v for n in path], dim=2)
        else:
            past_k = past_v = torch.empty(L, H, 0, D)
        P = past_k.shape[2]
        new = torch.tensor(prompt[P:])[None]
        cache = PrefillCache(past_k, past_v, new.shape[1])
        out = self.model(new, positions=torch.arange(P, len(prompt))[None], cache=cache)
        k = torch.cat([past_k, torch.stack([cache.new_k[i][0] for i in range(L)])], dim=2)
        v = torch.cat([past_v, torch.stack([cache.new_v[i][0] for i in range(L)])], dim=2)
        self.prefix.insert(prompt, k, v)
        self.stats.prompt_tokens += len(prompt)
        self.stats.computed_prompt_tokens += len(prompt) - P
        self.stats.forward_passes += 1
        return k, v, out[0, -1], P


def _finish_reason(s: _Sample, req: Request, need_len: int) -> str | None:
    t = s.tokens[-1]
    if t in req.stop_tokens:
        return "stop"
    for seq in req.stop_sequences:
        if seq and len(s.tokens) >= len(seq) and tuple(s.tokens[-len(seq):]) == seq:
            return "stop"
    if len(s.tokens) >= req.max_tokens or s.length + 1 >= need_len:
        return "length"
    return None
