import json

import pytest
from conftest import assert_same_parameters

from ponder.backends.nano import NanoPolicy
from ponder.errors import UserError
from ponder.tasks import get_task
from ponder.train.config import build
from ponder.train.curriculum import R3Config, episodes, next_stage, reference_trace, start_prefix, train_r3
from ponder.train.rollout import rollouts


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


def tiny_r3(out, **kw) -> R3Config:
    """The reverse curriculum on the shipped policy, small enough for seconds: Countdown-3 is short."""
    base = dict(out=str(out), task="countdown-3", steps=3, problems_per_step=2, group=4, checkpoint_every=1,
                eval_every=3, eval_problems=1, lr=1e-4, warmup=1, max_tokens=64, stages=(0.5, 0.0), window=2,
                advance_at=0.0)
    base.update(kw)
    return build(R3Config, base)


def test_a_start_is_whole_reasoning_lines_never_the_answer():
    trace = "a\nb\nc\nd\nanswer: x\n"
    assert start_prefix(trace, 0.75) == "a\nb\nc\n"
    assert start_prefix(trace, 0.5) == "a\nb\n"
    assert start_prefix(trace, 0.99) == "a\nb\nc\n"
    assert start_prefix(trace, 0.0) == ""


def test_the_stage_moves_on_when_mastered_or_after_its_steps():
    cfg = R3Config(stages=(0.75, 0.5, 0.0), advance_at=0.8, window=2, max_steps_per_stage=5)
    assert next_stage(0, [0.9], 1, cfg) == 0  # the window is not full yet
    assert next_stage(0, [0.7, 0.9], 2, cfg) == 1
    assert next_stage(0, [0.1, 0.5, 0.6], 3, cfg) == 0  # only the last window counts
    assert next_stage(1, [0.0], 5, cfg) == 2
    assert next_stage(2, [1.0, 1.0], 9, cfg) == 2  # the bare prompt is the last stage


def test_episodes_start_from_the_reference_trace():
    policy = NanoPolicy.load()
    task = get_task("countdown-3")
    cfg = tiny_r3("unused")
    problems, prefixes = episodes(policy, task, cfg, step=0, start=0.5)
    assert problems == task.problems("train", 2, seed=1)  # GRPO's problems at the same step
    assert any(prefixes)
    groups = rollouts(policy, task, problems, group=2, seed=0, max_tokens=64, prefixes=prefixes)
    for p, prefix, g in zip(problems, prefixes, groups):
        trace = reference_trace(task, p, "search", cfg.grpo.seed)
        assert prefix == start_prefix(trace, 0.5) and trace.startswith(prefix)
        for r in g:
            assert r.prefix == prefix and policy.tokenizer.decode(r.prompt_ids) == task.prompt(p) + prefix
            assert r.reward == task.verify(p, prefix + r.text)


def test_r3_advances_its_stage_and_resumes_exactly(tmp_path):
    whole = train_r3(tiny_r3(tmp_path / "a"), progress=False)
    train_r3(tiny_r3(tmp_path / "b"), progress=False, stop_after=1)  # "killed" with one reward in the window
    resumed = train_r3(tiny_r3(tmp_path / "b"), resume=True, progress=False)
    assert_same_parameters(whole, resumed)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "curriculum/stage" in r]
    assert [r["curriculum/stage"] for r in steps] == [0, 0, 1]  # two steps fill the window, then the next start
    assert [r["curriculum/start"] for r in steps] == [0.5, 0.5, 0.0]
    assert steps[0]["curriculum/prefix_tokens"] > 0 and steps[2]["curriculum/prefix_tokens"] == 0
    assert all("rollout/zero_advantage_groups" in r and "train/loss" in r for r in steps)
    assert any(r["train/samples"] > 0 for r in steps)  # the runs compared did learn something
    assert [r["step"] for r in rows if "eval/countdown-3/accuracy" in r] == [0, 3]


def test_r3_config_mistakes_are_user_errors(tmp_path):
    for kw, match in (({"stages": (0.25, 0.5)}, "strictly decreasing"), ({"stages": (1.0, 0.0)}, r"\[0, 1\)"),
                      ({"stages": ()}, r"\[0, 1\)"), ({"window": 0}, "window"), ({"advance_at": 2}, "advance_at"),
                      ({"process_reward": "prm"}, "outcome rewards"), ({"group": 1}, "group"),
                      ({"long_search": 600}, "long_search")):
        with pytest.raises(UserError, match=match):
            tiny_r3(tmp_path, **kw)
    with pytest.raises(UserError, match="unknown trace style"):
        train_r3(tiny_r3(tmp_path / "x", style="nope"), progress=False)


def test_the_r3_command_reads_its_recipe(tmp_path, capsys):
    from ponder.cli import main

    assert main(["train", "r3", "--out", str(tmp_path / "r"), "--set", "stages=[0.2, 0.5]"]) == 2
    assert "strictly decreasing" in capsys.readouterr().err
