"""Supervised fine-tuning on solver traces: the nano policy learns to search by imitation.

``train_sft(config)`` builds (or loads from the cache) the traces of ``config.mix``, trains with
AdamW, a warmup and a cosine decay, and writes into ``config.out``:

* ``metrics.jsonl``: one line per step (``train/loss``, ``train/lr``, ...) and per evaluation;
* ``checkpoint/``: everything needed to continue exactly, written atomically every
  ``checkpoint_every`` steps and when the run is interrupted;
* ``model/``: the final model, with the recipe, commit and wall time in its metadata.

Resuming (``resume=True``) restores weights, optimizer, RNG states and the data position, so a
resumed run ends with the same parameters as one that never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path


from ponder.errors import UserError
from ponder.model import ModelConfig, Transformer, load_model
from ponder.model.transformer import resize_vocab
from ponder.train.config import OptimConfig, RunConfig
from ponder.tasks import get_task
from ponder.train.data import MixPart, build_examples, micro_batches
from ponder.train.optim import accumulated_step, collate_examples, language_model_loss
from ponder.train.run import Run
from ponder.train.vocab import nano_tokenizer


@dataclass
class SFTConfig(RunConfig):
    out: str = "runs/sft"
    """Run directory: metrics, checkpoint and final model go here."""
    mix: tuple[MixPart, ...] = (MixPart("countdown-3", "search", 1.0, 2000), MixPart("countdown", "search", 1.0, 2000))
    """Where the training traces come from."""
    examples: int = 2000
    """Traces in the dataset (the run cycles through them in shuffled epochs)."""
    model: ModelConfig = field(default_factory=lambda: ModelConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=192, max_seq_len=512))
    """Architecture of a model trained from scratch (ignored with ``init``)."""
    digit_features: bool = True
    """Give number tokens an embedding built from their digits (see ``ModelConfig.number_tokens``)."""
    init: str | None = None
    """Start from this model directory instead of random weights."""
    steps: int = 50
    tokens_per_step: int = 16384
    """Padded tokens per optimizer step (micro-batches are accumulated to reach it)."""
    micro_tokens: int = 8192
    """Padded tokens per forward pass; small micro-batches stay in the CPU's cache."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-3, min_lr=3e-4, warmup=20, weight_decay=0.1))
    """Learning rate (warmup, then cosine decay to ``min_lr``), weight decay, gradient clipping."""
    seed: int = 0
    checkpoint_every: int = 100
    eval_every: int = 0
    """Steps between greedy evaluations on held-out problems (0: only at the end)."""
    eval_tasks: tuple[str, ...] = ("countdown",)
    eval_problems: int = 50
    workers: int = 0
    """Processes that write traces (0: one per CPU)."""
    recipe: str = ""
    """Name of the recipe this config came from (recorded in the model's metadata)."""

    def __post_init__(self) -> None:
        self.mix = tuple(MixPart(**p) if isinstance(p, dict) else p for p in self.mix)
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        self.eval_tasks = tuple(self.eval_tasks)
        self.at_least(1, "steps", "examples")
        if self.micro_tokens < self.model.max_seq_len:
            raise UserError(f"micro_tokens ({self.micro_tokens}) must hold one sequence of max_seq_len ({self.model.max_seq_len})")
        self.check_batching()


def train_sft(cfg: SFTConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run SFT; returns the directory of the final model.

    ``stop_after`` ends the run early after that many steps, as a crash would (a checkpoint is
    written first); used to test exact resumption.
    """
    run = Run(cfg.out, cfg, resume=resume, progress=progress, stop_after=stop_after)

    def fresh():  # the policy to start from, or a new transformer
        if cfg.init:
            from ponder.backends.nano import model_path

            model, tokenizer = load_model(model_path(cfg.init))[:2]
            grown = tokenizer.extended(nano_tokenizer().vocab)  # words declared since it was made ("parallel")
            return (resize_vocab(model, len(grown)), grown) if len(grown) > len(tokenizer) else (model, tokenizer)
        tokenizer = nano_tokenizer()
        numbers = tokenizer.number_range if cfg.digit_features else (0, 0)
        return Transformer(replace(cfg.model, vocab_size=len(tokenizer), number_tokens=numbers)), tokenizer

    model, tokenizer, optimizer, state = run.start(fresh, cfg.optim.optimizer, cfg.seed, {
        "step": 0, "micro_batches": 0, "tokens": 0, "trained_tokens": 0, "wall_time_s": 0.0})
    model.train()

    t_data = time.perf_counter()
    data = build_examples(cfg.mix, cfg.examples, cfg.seed, tokenizer, model.cfg.max_seq_len, cfg.workers, progress)
    state.setdefault("data_build_s", round(time.perf_counter() - t_data, 1))
    stream = micro_batches(data.lengths(), cfg.micro_tokens, cfg.seed)
    for _ in range(state["micro_batches"]):  # skip what earlier sessions already trained on
        next(stream)

    def save():
        run.save(model, tokenizer, optimizer, state)

    started = time.perf_counter() - state["wall_time_s"]
    with run.steps(cfg.steps, state["step"], "sft") as bar:
        while state["step"] < cfg.steps:
            micro = [collate_examples(data, next(stream), tokenizer.pad_id) for _ in range(cfg.accumulation)]
            lr = cfg.optim.lr_at(state["step"], cfg.steps)
            row = accumulated_step(model, optimizer, micro, partial(language_model_loss, model), lr,
                                   cfg.optim.grad_clip, state)
            state["wall_time_s"] = time.perf_counter() - started
            run.log({"step": state["step"], **row, "time/elapsed_s": state["wall_time_s"]})
            bar.set_postfix(loss=f"{row['train/loss']:.3f}", tok_s=f"{row['train/tokens_per_s']:.0f}")
            bar.update(1)
            last = state["step"] == cfg.steps
            if run.end_step(state["step"], last=last, save=save):
                return run.checkpoint
            if cfg.eval_every and state["step"] % cfg.eval_every == 0 and not last:
                _evaluate(model, tokenizer, cfg, state, run)
    if cfg.init:
        from ponder.backends.nano import model_path

        run.inherit(model_path(cfg.init, check=False))
    styles = {*run.meta.get("trace_styles", ()),
              *(part.style for part in cfg.mix if part.style in get_task(part.task).TRACE_STYLES)}
    meta = dict(wall_time_s=round(state["wall_time_s"], 1), data_build_s=state["data_build_s"],
                steps=state["step"], tokens=state["tokens"], trained_tokens=state["trained_tokens"],
                params=model.num_params(), trace_styles=sorted(styles))
    if cfg.eval_problems and cfg.eval_tasks:
        meta["eval"] = _evaluate(model, tokenizer, cfg, state, run)
    return run.finish(model, tokenizer, meta=meta)


def _evaluate(model, tokenizer, cfg: SFTConfig, state: dict, run: Run) -> dict:
    """Greedy accuracy on each eval task's validation split."""
    from ponder.backends.nano import NanoPolicy
    from ponder.evaluate import evaluate
    from ponder.search import get_strategy

    model.eval()
    policy = NanoPolicy(model, tokenizer)
    row = {"step": state["step"], "time/elapsed_s": state["wall_time_s"]}
    for name in cfg.eval_tasks:
        task = get_task(name)
        report = evaluate(task, task.problems("val", cfg.eval_problems), policy, get_strategy("greedy"))
        row[f"eval/{name}/accuracy"] = report.accuracy
        row[f"eval/{name}/tokens_per_problem"] = report.tokens_per_problem
        row[f"eval/{name}/seconds"] = report.seconds_per_problem * report.n
    run.log(row)
    model.train()
    return row
