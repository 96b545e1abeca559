"""Saving and loading a nano model: ``model.safetensors`` plus ``ponder.json`` (the model
config, the tokenizer and metadata such as the recipe and commit that produced the weights)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ponder.errors import UserError
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


def load_model(path: str | Path) -> tuple[Transformer, Tokenizer, dict]:
    """Load a model directory written by ``save_model``; returns (model in eval mode, tokenizer, meta)."""
    path = Path(path)
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        raise UserError(f"no ponder model at {path} (expected {META} and {WEIGHTS})")
    doc = json.loads((path / META).read_text())
    cfg = ModelConfig(**doc["model"])
    model = Transformer(cfg)
    state = {k: v.float() for k, v in load_file(str(path / WEIGHTS)).items()}
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model.load_state_dict(state)
    model.eval()
    return model, Tokenizer.from_dict(doc["tokenizer"]), doc.get("meta", {})


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)
