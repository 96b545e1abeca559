"""The nano policy: a Llama-style decoder (RMSNorm, rotary embeddings, SwiGLU, no biases).

Module names and the rotary convention follow Hugging Face's ``LlamaForCausalLM``, so the
weights export to it one to one. The model knows tensors, not tasks or text.

``forward`` serves training (full causal attention over ``idx``) and the engine (a ``cache``
object supplies past keys and values and the attention mask; see ``ponder.engine``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 1120
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    n_kv_heads: int = 8
    """Fewer than n_heads gives grouped-query attention (as Llama 2/3)."""
    d_ff: int = 704
    """Hidden width of the SwiGLU feed-forward block."""
    max_seq_len: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    """Share the input embedding with the output head (saves vocab_size * d_model parameters)."""
    number_tokens: tuple[int, int] = (0, 0)
    """(first id, count) of the tokens that stand for the numbers 0, 1, 2, ...; their embeddings
    get a learned projection of the number's digits added, so arithmetic starts from structure
    rather than from 1,000 unrelated vectors. The sum is one embedding table in the end (it is
    what an export writes), so inference and export are unchanged."""
    value_head: bool = False
    """Add a scalar head on the final hidden state (``Transformer.values``): the value and
    reward models of ``ponder.rewards`` are this trunk with this head."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "number_tokens", tuple(self.number_tokens))
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not a multiple of n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


N_DIGIT_FEATURES = 31


def digit_features(vocab_size: int, first: int, count: int) -> torch.Tensor:
    """(vocab_size, 31): one-hot units, tens and hundreds digits and a thousands flag for the
    number tokens, zeros for every other token."""
    feats = torch.zeros(vocab_size, N_DIGIT_FEATURES)
    for n in range(count):
        row = feats[first + n]
        row[n % 10] = 1
        row[10 + (n // 10) % 10] = 1
        row[20 + (n // 100) % 10] = 1
        row[30] = float(n >= 1000)
    return feats


def rotary_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (max_len, head_dim), in the half-split layout Llama uses."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (T, Dh/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, Dh)
    return emb.cos(), emb.sin()


def apply_rotary(x, cos, sin):
    """x: (B, H, T, Dh); cos, sin: (B, 1, T, Dh)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)

    def forward(self, x, cos, sin, cache=None, layer: int = 0):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        mask = None
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, Hkv, S, Dh): past and new
            mask = cache.mask  # (B, 1, T, S) bool, True where attention is allowed
        group = self.n_heads // self.n_kv_heads
        if group > 1 and T == 1:
            # a decode step: the heads of a group are queries of one key/value head, so the cache
            # is read once per group, not copied once per head
            y = F.scaled_dot_product_attention(q.view(B, self.n_kv_heads, group, self.head_dim), k, v, attn_mask=mask)
            return self.o_proj(y.reshape(B, 1, -1))
        if group > 1:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and T > 1)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, cache=None, layer: int = 0):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        first, count = cfg.number_tokens
        self.number_proj = nn.Linear(N_DIGIT_FEATURES, cfg.d_model, bias=False) if count else None
        self.value_head = nn.Linear(cfg.d_model, 1) if cfg.value_head else None
        if count:
            self.register_buffer("digit_feats", digit_features(cfg.vocab_size, first, count), persistent=False)
        cos, sin = rotary_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # scale residual projections by depth (GPT-2)
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embedding_matrix(self) -> torch.Tensor:
        """The token embeddings in effect, (vocab_size, d_model): with digit features folded in.
        Without gradients (decoding) the sum is kept until either weight changes, rather than
        recomputed twice a forward pass (for the input and for the tied output head)."""
        if self.number_proj is None:
            return self.embed_tokens.weight
        if torch.is_grad_enabled():
            return self.embed_tokens.weight + self.number_proj(self.digit_feats)
        weights = (self.embed_tokens.weight, self.number_proj.weight)
        key = tuple((w._version, w.data_ptr(), w.dtype) for w in weights)
        if getattr(self, "_table_key", None) != key:
            self._table = self.embed_tokens.weight + self.number_proj(self.digit_feats)
            self._table_key = key
        return self._table

    def forward(self, idx, targets=None, *, positions=None, cache=None):
        """idx: (B, T) token ids. positions: (B, T), defaults to 0..T-1.

        Returns logits (B, T, V), or with ``targets`` (B, T; -100 = ignored) the mean loss.
        """
        x = self.hidden(idx, positions=positions, cache=cache)
        head = self.embedding_matrix() if self.cfg.tie_embeddings else self.lm_head.weight
        if targets is None:
            return F.linear(x, head)
        keep = targets != -100  # project only the positions that are scored
        logits = F.linear(x[keep], head)
        return F.cross_entropy(logits.float(), targets[keep])

    def values(self, idx) -> torch.Tensor:
        """idx: (B, T). The value head's logit after every token, (B, T); needs ``value_head``."""
        if self.value_head is None:
            raise ValueError("this model has no value head (ModelConfig.value_head is off)")
        return self.value_head(self.hidden(idx)).squeeze(-1)

    def hidden(self, idx, *, positions=None, cache=None):
        """The final hidden states (B, T, C), after the last norm."""
        B, T = idx.shape
        if positions is None:
            if T > self.cfg.max_seq_len:
                raise ValueError(f"sequence of {T} tokens exceeds max_seq_len={self.cfg.max_seq_len}")
            cos, sin = self.rope_cos[:T][None, None], self.rope_sin[:T][None, None]
        else:
            cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
        table = self.embedding_matrix()
        x = F.embedding(idx, table)  # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, cache, i)
        return self.norm(x)


def with_value_head(model: Transformer) -> Transformer:
    """A copy of ``model`` with a fresh scalar head (ModelConfig.value_head), trunk unchanged."""
    return _rebuild(model, value_head=True)


def resize_vocab(model: Transformer, vocab_size: int) -> Transformer:
    """A copy of ``model`` with room for more tokens: new embedding rows are initialised like the
    others; ids below the old size keep their embeddings."""
    return _rebuild(model, vocab_size=vocab_size)


def _rebuild(model: Transformer, **changes) -> Transformer:
    from dataclasses import replace

    new = Transformer(replace(model.cfg, **changes))
    state = new.state_dict()
    for name, tensor in model.state_dict().items():  # copy what both have; a grown table keeps its new rows
        rows = min(state[name].shape[0], tensor.shape[0])
        state[name][:rows] = tensor[:rows]
    new.load_state_dict(state)
    new.train(model.training)
    return new

