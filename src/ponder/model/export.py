"""Export a nano model as a Hugging Face ``LlamaForCausalLM`` checkpoint.

The nano transformer already uses Llama's module names and rotary layout, so the export is a
renaming plus two folds: the digit-feature projection is added into the embedding table once
(``Transformer.embedding_matrix``), and a value head, which a causal LM has no place for, is
dropped. The directory it writes loads with ``transformers`` and no custom code:

    model.safetensors        float32 weights under Llama's names
    config.json              LlamaConfig fields, plus ponder's provenance under "ponder"
    generation_config.json   bos / eos / pad ids
    tokenizer.json           ponder's vocabulary as a word-level ``tokenizers`` model
    tokenizer_config.json    with a chat template: the last user message is the prompt
    special_tokens_map.json
    README.md                a model card: what it is, its prompt format, recipe and results

The tokenizer is rebuilt from ponder's rules rather than approximated: the pre-tokenizer drops
spaces and cuts text with the very pattern ``Tokenizer.encode`` uses, a post-processor puts
``<bos>`` in front (ponder's policies always read one), and the decoder rebuilds ponder's
spacing: one space between tokens, none around a newline or the fraction bar, none after "(" or
before ")". Only ``tokenizers`` (a dependency of transformers) is needed to write it; this
module imports neither at load time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from ponder.errors import UserError
from ponder.model.io import load_model
from ponder.model.tokenizer import BOS, EOS, GLUE, NEWLINE, OPENERS, CLOSERS, PAD, SPECIALS, UNK, Tokenizer
from ponder.model.transformer import Transformer

EXPORT_META = "ponder_export.json"
"""The full metadata of the source model (recipe, config, commit, ...), beside config.json."""

_JOIN_PREFIX = "\x00"
"""A prefix no token starts with: given to the WordPiece decoder, it makes it join every token
with one space (it glues only tokens that start with its prefix)."""

_LEADING_ZEROS = r"(?<!\d)0+(?=\d)"
"""Zeros that open a longer number: ``Tokenizer.encode`` reads "007" as the number 7."""


# --------------------------------------------------------------------------- weights and config


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """The model's weights under ``LlamaForCausalLM``'s names, float32, digit features folded
    into the embedding, value head dropped; ``lm_head.weight`` only when it is not tied."""
    table = model.embedding_matrix().detach()
    state = {"model.embed_tokens.weight": table}
    for name, tensor in model.state_dict().items():
        if name.startswith(("layers.", "norm.")):
            state[f"model.{name}"] = tensor
    if not model.cfg.tie_embeddings:
        state["lm_head.weight"] = model.lm_head.weight
    return {k: v.detach().to(torch.float32).contiguous().clone() for k, v in state.items()}


def hf_config(model: Transformer, tokenizer: Tokenizer, provenance: dict) -> dict:
    """config.json for ``LlamaForCausalLM``. ``rope_theta`` is written both the way transformers 4
    reads it (top level) and the way transformers 5 keeps it (``rope_parameters``)."""
    cfg = model.cfg
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
        "torch_dtype": "float32",
        "initializer_range": 0.02,
        "use_cache": True,
        "ponder": provenance,
    }


def generation_config(tokenizer: Tokenizer) -> dict:
    return {"bos_token_id": tokenizer.bos_id, "eos_token_id": tokenizer.eos_id, "pad_token_id": tokenizer.pad_id}


# --------------------------------------------------------------------------- tokenizer


def _need_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise UserError("exporting to Hugging Face needs tokenizers and transformers: pip install 'ponder[hf]'") from None
    return tokenizers


def spacing_rules() -> list[tuple[str, str]]:
    """(pattern, replacement) pairs that remove the spaces ``Tokenizer.decode`` does not write,
    applied to the tokens joined by single spaces. Tokens never contain a space, so every space
    is a separator and each rule looks at the token on one side of it."""
    rules = []
    for glued in sorted({NEWLINE} | GLUE):
        rules += [(f" {glued}", glued), (f"{glued} ", glued)]
    rules += [(f"{o} ", o) for o in sorted(OPENERS)]
    rules += [(f" {c}", c) for c in sorted(CLOSERS)]
    return rules


def hf_tokenizer(tokenizer: Tokenizer):
    """A ``tokenizers.Tokenizer`` that encodes and decodes as ponder's ``Tokenizer`` does.

    Encoding: leading zeros go (a normalizer), runs of spaces other than newlines are cut out,
    then the remaining text is cut by ponder's own pattern, each piece looked up in a word-level
    vocabulary (unknown pieces become ``<unk>``), and ``<bos>`` is put in front. Decoding: the
    tokens joined by single spaces (a WordPiece decoder with a prefix no token has), fused into
    one string, then the spaces ponder does not write are removed (``spacing_rules``).
    """
    tk = _need_tokenizers()
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors

    if any(t.startswith(_JOIN_PREFIX) or " " in t for t in tokenizer.vocab):
        raise UserError("this vocabulary has a token with a space or a NUL in it: it cannot be exported")
    out = tk.Tokenizer(models.WordLevel(vocab=dict(tokenizer.index), unk_token=UNK))
    out.normalizer = normalizers.Replace(Regex(_LEADING_ZEROS), "")
    out.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[^\S\n]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(tokenizer.pattern), behavior="isolated"),
    ])
    out.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    out.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B:1", special_tokens=[(BOS, tokenizer.bos_id)])
    out.decoder = decoders.Sequence([
        decoders.WordPiece(prefix=_JOIN_PREFIX, cleanup=False),
        decoders.Fuse(),
        *(decoders.Replace(pattern, content) for pattern, content in spacing_rules()),
    ])
    return out


CHAT_TEMPLATE = ("{{ bos_token }}{% set users = messages | selectattr('role', 'equalto', 'user') | list %}"
                 "{% if users %}{{ users[-1]['content'] | trim }}{{ '\\n' }}{% endif %}")
"""The nano policy reads one problem, not a conversation: its prompt is ``<bos>`` and the last
user message on a line (``game24 4 7 8 8 -> 24``), the text ``Task.prompt`` writes, so a chat
endpoint (``apply_chat_template``, vLLM's and TGI's ``/v1/chat/completions``) gives the model
what ponder gives it. Nothing marks the assistant's turn: the model continues the line."""


def tokenizer_files(tokenizer: Tokenizer, max_length: int) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json. ``clean_up_tokenization_spaces`` is off:
    transformers' clean-up would remove spaces ponder writes (before "." or ",")."""
    special = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", **special, "model_max_length": max_length,
              "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


def model_card(model: Transformer, meta: dict, origin: dict) -> str:
    """README.md of an export: what the model is, how to prompt it, where it came from, what it scored."""
    name = origin.get("source_model") or "a ponder model"
    cfg = model.cfg
    params = model.num_params()
    styles = ", ".join(meta.get("trace_styles") or ()) if isinstance(meta.get("trace_styles"), list) else ""
    evals = meta.get("eval") or {}
    if isinstance(evals, str):  # older metadata wrote it as text
        evals = {}
    scores = [(k.split("/")[1], v) for k, v in evals.items() if k.startswith("eval/") and k.endswith("/accuracy")]
    results = "\n".join(f"| {task} | {v:.1%} |" for task, v in scores) or "| (none recorded) | |"
    recipe = origin.get("recipe") or "unknown"
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags: [ponder, reasoning, countdown, game-of-24]
---

# {name}

A {params / 1e6:.1f}M-parameter Llama-style policy ({cfg.n_layers} layers, width {cfg.d_model}, {cfg.n_heads}
heads, {cfg.n_kv_heads} key-value heads, context {cfg.max_seq_len}) that ponder trained from scratch on a CPU to
solve Countdown and the Game of 24 by writing out its search, exported from ponder's own format
(`ponder export hf`). It knows only these puzzles' notation: a word-level vocabulary of numbers,
operators and a few words.

## Prompt format

One line, the problem, after `<bos>`; the model writes its reasoning and answer and ends with `<eos>`:

```
game24 4 7 8 8 -> 24
countdown 25 3 7 10 -> 66
countdown 25 3 7 10 -> 66 direct
```

A plain line asks for the written-out search (style `search`); ` direct` at its end asks for one
step a line. The chat template sends the last user message as that line, so a chat endpoint works
when the user's message is the problem line. Trace styles trained: {styles or "unknown"}.

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(DIR); model = AutoModelForCausalLM.from_pretrained(DIR)
ids = tok.apply_chat_template([{{"role": "user", "content": "game24 4 7 8 8 -> 24"}}], return_tensors="pt")
print(tok.decode(model.generate(ids, max_new_tokens=400, do_sample=False)[0]))
```

With ponder: `ponder eval --task game24 --split tot --model hf:DIR` (or `vllm:DIR`, or
`openai:NAME@URL` over `vllm serve DIR`), every answer checked by rule.

## Training

Recipe `{recipe}` of ponder {origin.get("ponder_version", "")}, at commit {origin.get("commit") or "unknown"}
(`ponder train sft --recipe {recipe}` reproduces it from its seed on a clean tree);
{meta.get("steps", "?")} steps, {meta.get("tokens", "?")} tokens. The full metadata is in `{EXPORT_META}`.

## Results

Greedy accuracy on ponder's `val` problems at the end of training, checked by rule:

| task | accuracy |
|---|---|
{results}

Figures on the test splits, with problem counts and paired tests, are in ponder's `docs/results.md`.
"""


# --------------------------------------------------------------------------- the export


def ponder_version() -> str:
    """The installed ponder's version, read from the package metadata (importing the package root
    would make the model layer depend on everything above it); "unknown" when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ponder")
    except PackageNotFoundError:
        return "unknown"


def provenance(source: Path, meta: dict, source_name: str | None = None) -> dict:
    """What config.json records of where the weights came from (the full metadata goes to
    ``ponder_export.json``)."""
    return {"source_model": source_name or str(source), "recipe": meta.get("recipe"), "commit": meta.get("commit"),
            "ponder_version": ponder_version(), "folded": "number_proj into embed_tokens",
            "meta_file": EXPORT_META}


def check_output(out: Path, force: bool) -> None:
    """A clear error when ``out`` cannot take an export (``force`` allows replacing a directory)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"output directory {out} exists and is not empty (add --force to replace it)")


def export_hf(source: str | Path, out: str | Path, force: bool = False, source_name: str | None = None) -> Path:
    """Write the nano model in directory ``source`` as a Hugging Face checkpoint in ``out``,
    atomically (a temporary directory renamed into place). Returns ``out``."""
    source, out = Path(source), Path(out)
    check_output(out, force)
    _need_tokenizers()
    model, tokenizer, meta = load_model(source)
    if len(tokenizer) != model.cfg.vocab_size:
        raise UserError(f"{source}: tokenizer has {len(tokenizer)} tokens but the model {model.cfg.vocab_size}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        _write(tmp, model, tokenizer, meta, provenance(source, meta, source_name))
        _usual_modes(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _replace(tmp, out)
    return out


def _write(path: Path, model: Transformer, tokenizer: Tokenizer, meta: dict, origin: dict) -> None:
    save_file(hf_state_dict(model), str(path / "model.safetensors"), metadata={"format": "pt"})
    docs = {"config.json": hf_config(model, tokenizer, origin), "generation_config.json": generation_config(tokenizer),
            EXPORT_META: {"source": origin, "meta": meta, "model": model.cfg.to_dict()},
            **tokenizer_files(tokenizer, model.cfg.max_seq_len)}
    for name, doc in docs.items():
        (path / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    hf_tokenizer(tokenizer).save(str(path / "tokenizer.json"))
    (path / "README.md").write_text(model_card(model, meta, origin))


def _usual_modes(path: Path) -> None:
    """Give the directory and its files the modes the umask asks for: mkdtemp makes 0700, and
    safetensors writes 0600, which would outlive the rename."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    for f in path.iterdir():
        os.chmod(f, 0o666 & ~umask)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` to ``out``; an existing ``out`` is set aside first and removed after."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
