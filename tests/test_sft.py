import json

import pytest
import torch
from conftest import assert_resumes_exactly, assert_same_parameters

from ponder.errors import UserError
from ponder.model import ModelConfig, load_model
from ponder.train.data import MixPart, build_examples, micro_batches
from ponder.train.config import build
from ponder.train.sft import SFTConfig, train_sft


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


def tiny_config(out, **kw) -> SFTConfig:
    base = dict(out=str(out), mix=(MixPart("countdown-3", "search", 1, 60), MixPart("arith-2", "cot", 1, 60)),
                examples=120, model=ModelConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=64, max_seq_len=256),
                steps=6, tokens_per_step=2048, micro_tokens=1024, warmup=2, checkpoint_every=2,
                eval_problems=0, workers=1)
    base.update(kw)
    return build(SFTConfig, base)


def test_dataset_is_deterministic_and_masks_the_prompt(tokenizer):
    parts = (MixPart("countdown-3", "search", 1, 30),)
    a = build_examples(parts, 20, 0, tokenizer, 256, workers=1, progress=False)
    b = build_examples(parts, 20, 0, tokenizer, 256, workers=1, progress=False)  # from the cache
    assert (a.tokens == b.tokens).all() and len(a) == 20
    toks, trained = a.get(0)
    assert toks[0] == tokenizer.bos_id and toks[-1] == tokenizer.eos_id
    prompt_len = tokenizer.encode("x").__len__()  # noqa: F841
    assert not trained[:3].any() and trained[-1]  # <bos> and the prompt are not trained


def test_micro_batches_respect_the_token_budget():
    import numpy as np

    lengths = np.array([10, 50, 200, 30, 120, 7, 64, 64] * 20)
    stream = micro_batches(lengths, 256, seed=0, window=32)
    seen = []
    while len(seen) < len(lengths):  # one epoch: every example exactly once
        b = next(stream)
        assert max(lengths[i] for i in b) * len(b) <= 256
        seen += b
    assert sorted(seen) == list(range(len(lengths)))


def test_lr_schedule_warms_up_then_decays():
    cfg = tiny_config("x", steps=100, warmup=10, lr=1e-3, min_lr=1e-4)
    assert cfg.optim.lr_at(0, cfg.steps) == pytest.approx(1e-4)
    assert cfg.optim.lr_at(9, cfg.steps) == pytest.approx(1e-3)
    assert cfg.optim.lr_at(99, cfg.steps) == pytest.approx(1e-4, rel=0.01)


def test_training_lowers_the_loss_and_writes_a_model(tmp_path):
    path = train_sft(tiny_config(tmp_path / "run", steps=12), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 12 and losses[-1] < losses[0] - 0.5
    model, _, meta = load_model(path)
    assert meta["steps"] == 12 and meta["commit"] and meta["config"]["steps"] == 12
    assert meta["trace_styles"] == ["cot", "search"]  # what its prompts can ask for, from its mix


def test_resume_continues_exactly(tmp_path):
    assert_resumes_exactly(train_sft, tiny_config, tmp_path, stop_after=3)  # "killed" after step 3


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        train_sft(tiny_config(tmp_path / "none"), resume=True, progress=False)


def test_sigterm_stops_between_steps_and_the_run_resumes_exactly(tmp_path, monkeypatch):
    import os
    import signal

    from ponder.train.run import Metrics

    whole = train_sft(tiny_config(tmp_path / "a"), progress=False)
    write = Metrics.write

    def write_then_terminate(self, row):  # SIGTERM arrives in the middle of step 2's bookkeeping
        write(self, row)
        if row.get("step") == 2 and not (tmp_path / "b" / "checkpoint").exists():
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Metrics, "write", write_then_terminate)
    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_config(tmp_path / "b", checkpoint_every=100), progress=False)
    assert json.loads((tmp_path / "b" / "checkpoint" / "trainer.json").read_text())["step"] == 2
    resumed = train_sft(tiny_config(tmp_path / "b"), resume=True, progress=False)
    assert_same_parameters(whole, resumed)


def test_resume_trains_in_the_directory_given_even_when_the_run_was_copied(tmp_path):
    """A run directory copied elsewhere resumes there (--out), not into the directory its
    config.json names."""
    import shutil

    from ponder.cli import main

    train_sft(tiny_config(tmp_path / "first"), progress=False, stop_after=2)
    shutil.copytree(tmp_path / "first", tmp_path / "copy", symlinks=True)
    assert main(["train", "sft", "--out", str(tmp_path / "copy"), "--resume"]) == 0
    assert (tmp_path / "copy" / "model").is_dir() and not (tmp_path / "first" / "model").exists()


def test_metrics_also_go_to_tensorboard_and_wandb_under_the_same_keys(tmp_path, monkeypatch):
    """A run killed after step 3 and resumed: TensorBoard (for real) holds each step once under
    metrics.jsonl's keys; W&B, a stand-in here (no W&B server, and its offline files need its
    service to read), is given the same rows, resumed as the same run."""
    import sys
    from types import ModuleType

    from conftest import needs_module

    needs_module("tensorboard", "pip install -e '.[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    inits, logged = [], []

    class FakeRun:
        step = 0

        def log(self, values, step):
            logged.append((step, values))
            self.step = step

        def finish(self):
            pass

    wandb = ModuleType("wandb")
    wandb.init = lambda **kw: inits.append(kw) or FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setenv("PONDER_LOG_TO", "tensorboard,wandb")
    out = tmp_path / "run"
    train_sft(tiny_config(out), progress=False, stop_after=3)
    train_sft(tiny_config(out), resume=True, progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    for key in ("train/loss", "train/lr", "train/grad_norm"):
        drawn = [(e.step, e.value) for e in events.Scalars(key)]
        assert drawn == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in rows if key in r], key
    first, again = inits
    assert first["id"] == again["id"] == (out / "wandb-id").read_text().strip() and again["resume"] == "allow"
    assert first["config"]["steps"] == 6 and first["name"] == "run"
    by_step = {}
    for step, values in logged:
        by_step.setdefault(step, values)
    assert [by_step[r["step"]]["train/loss"] for r in rows] == [r["train/loss"] for r in rows]
    assert "step" not in by_step[1]  # the step is W&B's own axis, not a value


@pytest.mark.shipped("nano-v2")
def test_a_shipped_policy_learns_parallel_traces_with_its_vocabulary_grown(tmp_path):
    """SFT from nano-v2 (a vocabulary without "parallel") on parallel roots and their threads: the
    word gets a new embedding row, every shipped token keeps its id, the style is recorded, and a
    thread example is its state's own problem (searched, given up when dead)."""
    from ponder.backends.nano import WEIGHTS

    shipped, tokenizer, _ = load_model(WEIGHTS / "nano-v2")
    cfg = tiny_config(tmp_path / "run", init="nano-v2", steps=2, examples=40, tokens_per_step=4096, micro_tokens=2048,
                      mix=(MixPart("countdown", "parallel", 1, 40), MixPart("countdown", "thread", 1, 40)))
    model, grown, meta = load_model(train_sft(cfg, progress=False))
    assert grown.vocab[:len(tokenizer.vocab)] == tokenizer.vocab and grown.vocab[len(tokenizer.vocab):] == ["parallel"]
    assert model.cfg.vocab_size == len(grown) == shipped.cfg.vocab_size + 1
    assert "parallel" in meta["trace_styles"] and "thread" not in meta["trace_styles"]
    data = build_examples((MixPart("countdown", "thread", 1, 40),), 20, 0, grown, 2048, 1, False)
    prompts = [grown.decode(data.tokens[a:b][~data.trained[a:b]][:12]).split("\n")[0]
               for a, b in zip(data.offsets[:-1], data.offsets[1:])]
    assert all(p.startswith("countdown ") and len(p.split("->")[0].split()) == 4 for p in prompts)  # 3 numbers left
