"""The training spine: configs composed of parts (``ponder.train.config``), the ``Run`` every
trainer writes through (``ponder.train.run``) and the optimizer helpers (``ponder.train.optim``)."""

import json
import signal

import pytest
import torch

from ponder.errors import UserError
from ponder.train.config import OptimConfig, build, leaves
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
    cfg = build(config, {"seed": 7})
    assert build(config, json.loads(json.dumps(cfg.to_json()))).to_json() == cfg.to_json()
    flat = {k: v for k, v in leaves(cfg).items() if not isinstance(v, (tuple, list)) or k == "stages"}
    assert build(config, flat).to_json() == cfg.to_json()


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
