"""Policy implementations behind one interface, chosen by ``--backend`` or by the model's URI.

    load_policy("nano-v2")                         # ponder's own model (a name or a directory)
    load_policy("hf:/path/to/checkpoint")          # transformers, from a local path
    load_policy("vllm:/path/to/checkpoint")        # vLLM's offline engine (optional extra)
    load_policy("openai:MODEL@http://host:8000/v1")  # any OpenAI-compatible endpoint

Without a scheme, ``--backend`` decides (nano by default), except that a directory holding a
Hugging Face ``config.json`` and no ``ponder.json`` is read by ``hf``. Each backend is a module
with a ``load(spec: str | None) -> Policy`` function, imported only when asked for, so a missing
optional dependency costs nothing until that backend is chosen.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ponder.backends.base import Policy
from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy
from ponder.errors import UserError, read_json

BACKENDS = {
    "nano": "ponder.backends.nano",
    "hf": "ponder.backends.hf",
    "openai": "ponder.backends.openai",
    "vllm": "ponder.backends.vllm",
}
"""Backend name -> module with ``load(spec)``."""


def split_uri(model: str | None, backend: str | None = None) -> tuple[str, str | None]:
    """(backend, spec) for a ``--model`` value and an optional ``--backend``: a ``scheme:`` prefix
    names the backend (it must agree with ``--backend`` when both are given)."""
    spec = None if model is None else str(model)
    scheme, sep, rest = (spec or "").partition(":")
    if sep and scheme in BACKENDS and not rest.startswith("//"):
        if backend and backend != scheme:
            raise UserError(f"--backend {backend} does not match the model {spec!r}")
        return scheme, rest or None
    if backend is None:
        backend = "hf" if spec and is_hf_checkpoint(Path(spec)) else "nano"
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return backend, spec


def is_hf_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a Hugging Face checkpoint directory rather than one of ponder's: its
    config.json names a model type or an architecture (a ponder training run's config.json does
    not), and it has no ponder.json."""
    if not (path / "config.json").is_file() or (path / "ponder.json").is_file():
        return False
    try:
        config = read_json(path / "config.json", "a Hugging Face config")
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and ("model_type" in config or "architectures" in config)


def load_policy(model: str | None = None, backend: str | None = None) -> Policy:
    """The policy a ``--model`` / ``--backend`` pair names (see the module docstring)."""
    name, spec = split_uri(model, backend)
    return import_module(BACKENDS[name]).load(spec)


__all__ = ["BACKENDS", "DEFAULT_MODEL", "NanoPolicy", "Policy", "is_hf_checkpoint", "load_policy", "split_uri"]
