"""Saving and loading a nano model: ``model.safetensors`` plus ``ponder.json`` (the model
config, the tokenizer and metadata such as the recipe and commit that produced the weights)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ponder.errors import UserError, read_json
from ponder.model.tokenizer import Tokenizer
from ponder.model.transformer import ModelConfig, Transformer

WEIGHTS = "model.safetensors"
META = "ponder.json"


def save_model(path: str | Path, model: Transformer, tokenizer: Tokenizer, meta: dict | None = None,
               dtype: torch.dtype = torch.float32) -> Path:
    """Write a model directory atomically: a crash never leaves a half-written model behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        state.pop("lm_head.weight", None)
    save_file(state, str(tmp / WEIGHTS))
    doc = {"format": 1, "model": model.cfg.to_dict(), "tokenizer": tokenizer.to_dict(), "meta": meta or {}}
    (tmp / META).write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        os.replace(path, old)
        os.replace(tmp, path)
        _rmtree(old)
    else:
        os.replace(tmp, path)
    return path


def read_meta(path: str | Path) -> dict:
    """The metadata of the model directory ``path`` (what its run recorded), without its weights."""
    doc = read_json(Path(path) / META, "a ponder model description")
    meta = doc.get("meta") if isinstance(doc, dict) else None
    return meta if isinstance(meta, dict) else {}


def load_model(path: str | Path) -> tuple[Transformer, Tokenizer, dict]:
    """Load a model directory written by ``save_model``; returns (model in eval mode, tokenizer, meta)."""
    path = Path(path)
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        raise UserError(f"no ponder model at {path} (expected {META} and {WEIGHTS})")
    doc = read_json(path / META, "a ponder model description")
    try:
        cfg = ModelConfig(**doc["model"])
        tokenizer = Tokenizer.from_dict(doc["tokenizer"])
    except (ValueError, KeyError, TypeError) as e:  # a missing or unknown key, a value out of range
        raise UserError(f"{path / META} does not describe a ponder model ({type(e).__name__}: {e})") from None
    check_shapes(path / WEIGHTS, cfg)
    model = Transformer(cfg)
    state = {k: v.float() for k, v in load_file(str(path / WEIGHTS)).items()}
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model.load_state_dict(state)
    model.eval()
    return model, tokenizer, doc.get("meta", {})


def check_shapes(weights: Path, cfg: ModelConfig) -> None:
    """Raise ``UserError`` unless ``weights`` holds exactly the tensors, of the shapes, that ``cfg``'s
    model has: read from the file's header and a model built on the meta device, so a corrupt file
    or a config that asks for a huge model costs no memory."""
    from safetensors import safe_open

    try:
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in Transformer(cfg).state_dict().items()}
    except (ValueError, TypeError, RuntimeError, AssertionError) as e:
        raise UserError(f"{weights.parent / META} has an impossible model config ({e})") from None
    if cfg.tie_embeddings:
        want.pop("lm_head.weight", None)
    try:
        with safe_open(str(weights), "pt") as f:
            have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors' own error type for a truncated or malformed file, or OSError
        raise UserError(f"{weights} is not a readable safetensors file ({e})") from None
    for name in sorted(want.keys() | have.keys()):
        if want.get(name) != have.get(name):
            raise UserError(f"{weights} does not match the model in {META}: {name} is "
                            f"{have.get(name, 'missing')} in the file, {want.get(name, 'not in the model')} in the config")


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)
