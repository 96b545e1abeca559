"""Token-level batched sampling with a KV cache and a prefix cache (no text here)."""

from ponder.engine.engine import Engine, EngineStats, Generation, PrefixCache, Request

__all__ = ["Engine", "EngineStats", "Generation", "PrefixCache", "Request"]
