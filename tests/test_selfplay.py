import json

import numpy as np
import pytest
from conftest import assert_same_parameters

from ponder.errors import UserError
from ponder.model import load_model
from ponder.tasks import get_task
from ponder.train.config import build
from ponder.train.samples import problem_of
from ponder.train.selfplay import SelfPlayConfig, policy_examples, train_selfplay, value_rows


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


def tiny(out, **kw) -> SelfPlayConfig:
    """Self-play on the shipped policy and value model, small enough for seconds."""
    base = dict(out=str(out), task="countdown-3", rounds=2, problems_per_round=2, simulations=2, expand=2, parallel=2,
                policy_steps=2, value_steps=2, tokens_per_step=2048, micro_tokens=2048, warmup=1, checkpoint_every=1,
                eval_problems=2)
    base.update(kw)
    return build(SelfPlayConfig, base)


def test_self_play_distils_visits_and_outcomes_and_resumes_exactly(tmp_path):
    whole = train_selfplay(tiny(tmp_path / "a"), progress=False)
    train_selfplay(tiny(tmp_path / "b"), progress=False, stop_after=5)  # killed in round 2, after the policy's steps
    resumed = train_selfplay(tiny(tmp_path / "b"), resume=True, progress=False)
    assert_same_parameters(whole, resumed)
    assert_same_parameters(tmp_path / "a" / "value" / "model", tmp_path / "b" / "value" / "model")

    episodes = [json.loads(line) for line in (tmp_path / "a" / "checkpoint" / "targets.jsonl").read_text().splitlines()]
    task = get_task("countdown-3")
    for ep in episodes:
        assert ep["played"], "every episode plays at least one move"
        for move in ep["played"]:  # each played state's visit shares are a distribution over its children
            assert sum(share for _, share, _ in move["children"]) == pytest.approx(1.0)
        assert ep["text"].startswith(ep["played"][-1]["state"])  # the played path runs through each state
        assert ep["outcome"] == float(task.verify(problem_of(ep), ep["text"]))  # the verifier's verdict
    _, tokenizer, _ = load_model(whole)
    data = policy_examples(episodes, task, tokenizer, 1536)
    assert len(data.ids) >= sum(len(ep["played"]) for ep in episodes)  # at least one child per played state
    for ids, target in zip(data.ids, data.targets):  # only the child line is trained, with its visit share
        trained = ~np.isnan(target)
        assert trained.any() and not trained[:len(ids) - trained.sum()].any()
        assert ((target[trained] > 0) & (target[trained] <= 1)).all()
    assert all(r["z"] in (0.0, 1.0) for r in value_rows(episodes))

    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows if "eval/countdown-3/accuracy" in r] == [0, 1, 2]
    assert sum("train/loss" in r for r in rows) == 4 and sum("value/loss" in r for r in rows) == 4
    assert all(r["compute/flops"] > 0 for r in rows if "compute/flops" in r and r["round"] > 0)


def test_self_play_config_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="simulations"):
        tiny(tmp_path, simulations=0)
    with pytest.raises(UserError, match="value model"):
        train_selfplay(tiny(tmp_path / "run", value="critic"), progress=False)
