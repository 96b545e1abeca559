"""The training spine: configs composed of parts (``ponder.train.config``), the ``Run`` every
trainer writes through (``ponder.train.run``) and the optimizer helpers (``ponder.train.optim``)."""

import json
import signal

import pytest
import torch

from ponder.errors import UserError
from ponder.train.config import OptimConfig, build, holds, leaves
from ponder.train.curriculum import R3Config
from ponder.train.expert import ExpertConfig
from ponder.train.grpo import GRPOConfig
from ponder.train.optim import accumulated_step, make_optimizer, warmup_constant, warmup_cosine
from ponder.train.rise import RiseConfig
from ponder.train.rm import RMConfig
from ponder.train.run import Run
from ponder.train.selfplay import SelfPlayConfig
from ponder.train.sft import SFTConfig

CONFIGS = (SFTConfig, RMConfig, ExpertConfig, GRPOConfig, SelfPlayConfig, R3Config, RiseConfig)


# --------------------------------------------------------------------------- configs


def test_a_part_s_field_is_named_by_its_path_its_table_or_its_own_name():
    assert build(GRPOConfig, {"optim.lr": 2e-4}).optim.lr == 2e-4
    assert build(GRPOConfig, {"lr": 1e-4}).optim.lr == 1e-4
    table = build(GRPOConfig, {"optim": {"lr": 3e-4}})  # a recipe's [optim] table
    assert table.optim.lr == 3e-4 and table.optim.warmup == GRPOConfig().optim.warmup
    r3 = build(R3Config, {"group": 4, "lr": 1e-4, "stages": [0.5, 0.0], "out": "x"})
    assert (r3.grpo.group, r3.grpo.optim.lr, r3.stages, r3.grpo.out) == (4, 1e-4, (0.5, 0.0), "x")


def test_a_trainer_s_own_defaults_for_a_part_stay_under_what_is_given():
    """SFT trains from scratch at 3e-3 with a cosine decay; giving its warmup keeps the rest."""
    cfg = build(SFTConfig, {"warmup": 3})
    assert (cfg.optim.lr, cfg.optim.min_lr, cfg.optim.warmup) == (3e-3, 3e-4, 3)
    assert build(ExpertConfig, {}).optim.lr == 2e-4 and build(GRPOConfig, {}).optim.lr == 5e-5


def test_unknown_or_bad_fields_are_user_errors():
    with pytest.raises(UserError, match="unknown field 'bogus'"):
        build(GRPOConfig, {"bogus": 1})
    with pytest.raises(UserError, match="unknown field 'optim.bogus'|unknown field 'bogus'"):
        build(GRPOConfig, {"optim.bogus": 1})
    with pytest.raises(UserError, match="lr must be positive"):
        build(GRPOConfig, {"lr": -1.0})
    with pytest.raises(UserError, match="group"):
        build(R3Config, {"group": 1})


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_a_config_comes_back_from_its_json_nested_or_flat(config):
    """Resuming reads config.json: the nested JSON written now, or the flat one of runs recorded
    before configs had parts."""
    cfg = build(config, {"seed": 7, "lr": 1.234e-4, "warmup": 3} if holds(config, "lr") else {"seed": 7})
    assert build(config, json.loads(json.dumps(cfg.to_json()))).to_json() == cfg.to_json()
    flat = {k: v for k, v in leaves(cfg).items() if not isinstance(v, (tuple, list)) or k == "stages"}
    assert build(config, flat).to_json() == cfg.to_json()


TRAINER_OF = {"nano": SFTConfig, "grpo": GRPOConfig, "ei": ExpertConfig, "r3": R3Config, "rise": RiseConfig,
              "rm": RMConfig, "selfplay": SelfPlayConfig}


def test_every_recipe_is_a_valid_config_of_its_trainer():
    from ponder.train.recipes import load_recipe, recipe_names

    for name in recipe_names():
        config = TRAINER_OF[name.split("-")[0]]
        sections = config.SECTIONS or (None,)
        for section in sections:  # the reward-model recipe: one config per kind
            cfg = load_recipe(name, config, section=section, **({"kind": section} if section else {}))
            assert isinstance(cfg, config)


def test_a_run_passes_on_what_its_starting_model_can_do(tmp_path, tiny_model, tokenizer):
    from ponder.model import save_model

    init = save_model(tmp_path / "init", tiny_model, tokenizer, {"trace_styles": ["direct", "search"], "steps": 9})
    run = Run(tmp_path / "run", SFTConfig(out=str(tmp_path / "run")), resume=False, progress=False)
    run.inherit(init)
    assert run.meta["trace_styles"] == ["direct", "search"] and "steps" not in run.meta
    run.save(tiny_model, tokenizer, make_optimizer(tiny_model, 1e-3, 0.0), {"step": 1})
    resumed = Run(tmp_path / "run", SFTConfig(out=str(tmp_path / "run")), resume=True, progress=False)
    resumed.inherit(tmp_path / "gone")  # the starting model moved away: the checkpoint remembers
    assert resumed.meta["trace_styles"] == ["direct", "search"]


def test_the_schedules():
    assert warmup_constant(0, lr=1.0, warmup=4) == 0.25 and warmup_constant(9, lr=1.0, warmup=4) == 1.0
    assert warmup_constant(0, lr=1.0, warmup=0) == 1.0
    assert warmup_cosine(0, lr=1.0, min_lr=0.1, warmup=2, steps=10) == 0.5
    assert warmup_cosine(9, lr=1.0, min_lr=0.1, warmup=2, steps=10) == pytest.approx(0.1 + 0.45 * (1 + torch.cos(torch.tensor(torch.pi * 7 / 8)).item()))
    assert OptimConfig(lr=1.0, warmup=2).lr_at(5, 10) == 1.0
    assert OptimConfig(lr=1.0, min_lr=0.0, warmup=1).lr_at(10, 10) == pytest.approx(0.0)


def test_one_accumulated_step_counts_and_moves_the_weights(tiny_model):
    x = torch.randint(0, 50, (2, 9))
    y = torch.full_like(x, -100)
    y[:, 4:] = x[:, 4:]
    optimizer = make_optimizer(tiny_model.train(), 1e-2, 0.0)
    before = [p.detach().clone() for p in tiny_model.parameters()]
    state = {"step": 0, "micro_batches": 0, "tokens": 0}
    row = accumulated_step(tiny_model, optimizer, [(x, y), (x, y)], lambda a, b, n: tiny_model(a, b) / 2, 1e-2, 1.0,
                           state)
    assert state == {"step": 1, "micro_batches": 2, "tokens": 36, "trained_tokens": 20}
    assert row["train/labels"] == 20 and row["train/lr"] == 1e-2 and row["train/loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, tiny_model.parameters()))


# --------------------------------------------------------------------------- the run


class _Cfg:
    checkpoint_every = 3
    recipe = "r"

    def to_json(self):
        return {"checkpoint_every": 3}


def test_a_run_guards_its_directory(tmp_path):
    run = Run(tmp_path / "a", _Cfg(), resume=False, progress=False)
    assert json.loads((tmp_path / "a" / "config.json").read_text()) == {"checkpoint_every": 3}
    assert run.meta["recipe"] == "r" and run.meta["commit"]
    with pytest.raises(UserError, match="nothing to resume"):
        Run(tmp_path / "a", _Cfg(), resume=True, progress=False)
    (run.checkpoint).mkdir()
    (run.checkpoint / "trainer.json").write_text("{}")
    with pytest.raises(UserError, match="already holds a run"):
        Run(tmp_path / "a", _Cfg(), resume=False, progress=False)


def test_end_step_checkpoints_when_due_and_stops_after(tmp_path):
    run = Run(tmp_path, _Cfg(), resume=False, progress=False, stop_after=5)
    saved = []
    with run.steps(8, 0, "t"):
        ended = [run.end_step(step, last=step == 8, save=lambda s=step: saved.append(s)) for step in range(1, 6)]
    assert saved == [3, 5] and ended == [False] * 4 + [True]
    assert run.end_step(6, last=False, save=lambda: saved.append(6), stop_at=6) and saved[-1] == 6


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(tmp_path):
    run = Run(tmp_path, _Cfg(), resume=False, progress=False)
    saved = []
    before = signal.getsignal(signal.SIGINT)  # default, or ignored in a job started in the background
    with pytest.raises(KeyboardInterrupt):
        with run.steps(8, 0, "t"):
            assert not run.end_step(1, last=False, save=lambda: saved.append(1))
            signal.raise_signal(signal.SIGINT)  # during step 2: it is finished first
            saved.append("step 2 done")
            run.end_step(2, last=False, save=lambda: saved.append(2))
    assert saved == ["step 2 done", 2]
    assert signal.getsignal(signal.SIGINT) is before  # the handler is given back


class Crash(BaseException):
    """A crash: nothing catches it, as nothing runs after a kill."""


def filesystem_steps(monkeypatch, crash_at: int | None) -> list[str]:
    """Count every file-system step a checkpoint save takes (writes, syncs, renames, links,
    deletions), and crash at the ``crash_at``-th (1-based). Returns the names of the steps seen."""
    import os
    import pathlib
    import shutil
    import tempfile

    seen: list[str] = []

    def counted(owner, name):
        real = getattr(owner, name)

        def step(*a, **k):
            seen.append(name)
            if len(seen) == crash_at:
                raise Crash(name)
            return real(*a, **k)
        monkeypatch.setattr(owner, name, step)

    for owner, name in ((os, "replace"), (os, "fsync"), (shutil, "rmtree"), (tempfile, "mkdtemp"),
                        (torch, "save"), (pathlib.Path, "write_text"), (pathlib.Path, "symlink_to"),
                        (pathlib.Path, "mkdir")):
        counted(owner, name)
    from ponder.model import io
    counted(io, "save_file")  # safetensors, imported by name there
    return seen


def test_a_crash_at_any_step_of_a_save_leaves_a_checkpoint_that_resumes_exactly(tmp_path, tiny_model, tokenizer,
                                                                                monkeypatch):
    """Kill a save at each of its steps in turn, with an older checkpoint there and without one:
    the checkpoint found afterwards is always whole, the old or the new one, bit for bit; and the
    next save works."""
    from ponder.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint

    def save(path, step):
        with torch.no_grad():
            for p in tiny_model.parameters():
                p.fill_(step)
        optimizer = make_optimizer(tiny_model, 1e-3, 0.0)
        save_checkpoint(path, tiny_model, tokenizer, optimizer, {"step": step}, files={"buffer.jsonl": f"{step}\n"})

    def found(path):
        if find_checkpoint(path) is None:
            return None
        model, _, _, state = load_checkpoint(path, lambda m: make_optimizer(m, 1e-3, 0.0))
        step = state["step"]
        assert all(torch.equal(p, torch.full_like(p, step)) for p in model.parameters())  # whole, and its own
        assert (find_checkpoint(path) / "buffer.jsonl").read_text() == f"{step}\n"
        return step

    covered = {}
    for earlier in (False, True):
        for k in range(1, 1000):
            path = tmp_path / f"{earlier}-{k}" / "checkpoint"
            if earlier:
                save(path, 1)
            with monkeypatch.context() as m:
                steps = filesystem_steps(m, k)
                try:
                    save(path, 2)
                except Crash:
                    pass
                else:  # k is past the last step: every step has been crashed at
                    break
            assert found(path) in ((1, 2) if earlier else (None, 2)), (earlier, k, steps[-1])
            save(path, 3)  # what a crash left does not stop the next save
            assert found(path) == 3
            kept = [p.name for p in path.with_name("checkpoints").iterdir()]
            assert len(kept) <= 2 and all(name.isdigit() for name in kept), kept  # no temporaries left behind
        covered[earlier] = k - 1
    assert min(covered.values()) >= 10, covered  # the steps of a save: writes, syncs, renames, link, pruning
