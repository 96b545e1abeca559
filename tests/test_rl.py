import json

import numpy as np
import pytest
import torch
from conftest import assert_resumes_exactly, assert_same_parameters

from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy
from ponder.errors import UserError
from ponder.model import load_model
from ponder.rewards import OracleReward
from ponder.tasks import get_task
from ponder.train.config import build
from ponder.train.expert import ExpertConfig, as_examples, kept_solutions, train_expert
from ponder.train.rollout import Rollout, RolloutStats, rollouts
from ponder.types import Problem


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def policy():
    return NanoPolicy.load()


def tiny_ei(out, **kw) -> ExpertConfig:
    """Expert iteration on the shipped policy, small enough for seconds: Countdown-3 is short."""
    base = dict(out=str(out), task="countdown-3", rounds=2, problems_per_round=4, group=4, replay=2,
                steps_per_round=2, tokens_per_step=2048, micro_tokens=2048, warmup=1, checkpoint_every=1,
                eval_problems=4, max_tokens=192)
    base.update(kw)
    return build(ExpertConfig, base)


def fake(text_ids, reward, finish="stop", pid="p"):
    return Rollout(Problem(pid, "countdown"), (1, 2), tuple(text_ids), "", reward, finish)


def test_rollouts_are_graded_by_the_verifier_and_reproducible(policy):
    task = get_task("countdown-3")
    problems = task.problems("train", 3, seed=5)
    a = rollouts(policy, task, problems, group=4, seed=1)
    b = rollouts(policy, task, problems, group=4, seed=1)
    assert [[r.completion_ids for r in g] for g in a] == [[r.completion_ids for r in g] for g in b]
    for p, g in zip(problems, a):
        assert len(g) == 4
        for r in g:
            assert r.problem == p and r.reward == task.verify(p, r.text)
            assert policy.tokenizer.decode(r.prompt_ids) == task.prompt(p)
    stats = RolloutStats.of(a)
    assert 0 <= stats.reward_mean <= 1 and 0 <= stats.zero_advantage_groups <= 1
    assert Rollout.from_json(json.loads(json.dumps(a[0][0].to_json()))) == a[0][0]


def test_kept_solutions_are_the_shortest_distinct_correct_ones():
    group = [fake([5, 6, 7], 1.0), fake([5, 6], 0.0), fake([5, 6, 7, 8], 1.0), fake([5, 6, 7], 1.0),
             fake([9], 1.0, finish="length")]
    assert [r.completion_ids for r in kept_solutions([group], keep=2)] == [(5, 6, 7), (5, 6, 7, 8)]
    assert kept_solutions([[fake([1], 0.0)]], keep=2) == []
    data = as_examples(kept_solutions([group], keep=1))
    toks, trained = data.get(0)
    assert list(toks) == [1, 2, 5, 6, 7] and list(trained) == [False, False, True, True, True]


def test_kept_solutions_have_no_wrong_step():
    import random
    import re

    task = get_task("countdown")
    p = task.problems("train", 1, seed=3)[0]
    good = task.direct_trace(p, random.Random(0))
    first = re.search(r" = (\d+)", good)
    wrong = good[:first.start(1)] + str(int(first.group(1)) + 1) + good[first.end(1):]
    assert all(c.valid for c in task.check_steps(p, good)) and not all(c.valid for c in task.check_steps(p, wrong))
    attempts = [Rollout(p, (1,), (5,), wrong, 1.0, "stop"), Rollout(p, (1,), (5, 6), good, 1.0, "stop")]
    assert [r.completion_ids for r in kept_solutions([attempts], keep=2, task=task)] == [(5, 6)]
    assert len(kept_solutions([attempts], keep=2)) == 2  # without a task, nothing is checked


def test_expert_iteration_writes_metrics_and_a_model(tmp_path):
    path = train_expert(tiny_ei(tmp_path / "run"), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["rollout/kept"] > 0 for r in rows if "rollout/kept" in r] == [True, True]
    assert sum("train/loss" in r for r in rows) == 4
    evals = [r for r in rows if "eval/countdown-3/accuracy" in r]
    assert [r["round"] for r in evals] == [0, 1, 2] and evals[-1]["compute/rollout_tokens"] > 0
    model, _, meta = load_model(path)
    shipped, _, _ = load_model(DEFAULT_MODEL)
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))
    assert meta["rounds"] == 2 and meta["config"]["task"] == "countdown-3" and meta["commit"]


def test_expert_iteration_resumes_exactly(tmp_path):
    assert_resumes_exactly(train_expert, tiny_ei, tmp_path, stop_after=3)  # "killed" in round 2


def test_bad_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="group"):
        tiny_ei(tmp_path, group=0)
    with pytest.raises(UserError, match="model not found"):
        train_expert(tiny_ei(tmp_path / "x", init=str(tmp_path / "missing")), progress=False)


# --------------------------------------------------------------------------- GRPO

from ponder.train.grpo import (GRPOConfig, answer_line, draw_problems, full_search_tokens,  # noqa: E402
                               outcome_advantages, outcome_reward, process_advantages, step_ends, step_scorer,
                               train_grpo, with_invalid_steps)


def tiny_grpo(out, **kw) -> GRPOConfig:
    base = dict(out=str(out), task="countdown-3", steps=3, problems_per_step=2, group=4, checkpoint_every=1,
                eval_every=2, eval_problems=2, lr=1e-4, warmup=1, max_tokens=192)
    base.update(kw)
    return build(GRPOConfig, base)


def test_outcome_advantages_are_relative_to_the_group():
    assert outcome_advantages([1.0, 0.0, 0.0, 1.0]) == [0.5, -0.5, -0.5, 0.5]
    assert outcome_advantages([1.0, 1.0]) == [0.0, 0.0]
    scaled = outcome_advantages([1.0, 0.0, 0.0, 0.0], scale=True)
    assert scaled[0] == pytest.approx(0.75 / 0.4330127, rel=1e-4)


def test_a_wrong_answer_can_score_below_a_search_cut_off():
    task = get_task("countdown-3")
    p = Problem("p", "countdown-3", numbers=(2, 3, 4), target=20)
    attempt = lambda text, finish="stop": Rollout(p, (1,), (5,), text, task.verify(p, text), finish)  # noqa: E731
    right, wrong = attempt("answer: (2 + 3) * 4"), attempt("answer: (2 * 3) + 4")
    cut, given_up = attempt("2 3 4 -> 20 : 2 + 3 = 5 | 4 5", "length"), attempt("2 3 4 ✗")
    assert [outcome_reward(r, task, -1.0) for r in (right, wrong, cut, given_up)] == [1.0, -1.0, 0.0, 0.0]
    assert [outcome_reward(r, task, 0.0) for r in (right, wrong, cut, given_up)] == [1.0, 0.0, 0.0, 0.0]


def test_a_step_the_rule_checker_rejects_is_penalised_on_its_own_line():
    task = get_task("countdown-3")
    p = Problem("p", "countdown-3", numbers=(2, 3, 4), target=20)
    text = "2 3 4 -> 20 : 2 + 3 = 6 | 4 6\n2 3 4 -> 20 : 2 + 3 = 5 | 4 5 : 9 1 20\n4 5 -> 20 : 4 * 5 = 20 | 20"
    r = Rollout(p, (1,), (5,), text, task.verify(p, text), "stop")
    assert [c.valid for c in task.check_steps(p, text)] == [False, True, True]
    assert with_invalid_steps(r, task, [0.0, 1.0, 1.0], -1.0) == [-1.0, 1.0, 1.0]


def test_process_advantages_credit_a_step_and_those_before_it(tokenizer):
    nl = tokenizer.newline_id
    r = Rollout(Problem("p", "countdown"), (1,), (5, 6, nl, 7, nl, 8, 9), "a b\nc\nd e", 1.0, "stop")
    assert step_ends(r, nl, ["a b", "d e"]) == [1, 6]  # "c" is not a step
    adv = process_advantages([[1.0, 0.0], [0.5]], [[1, 6], [0]], [7, 2])
    z = (np.array([1.0, 0.0, 0.5]) - 0.5) / (np.std([1.0, 0.0, 0.5]) + 1e-6)
    assert adv[0] == pytest.approx([z[0] + z[1]] * 2 + [z[1]] * 5)
    assert adv[1] == pytest.approx([z[2], 0.0])


def test_the_answer_line_is_found_among_the_completion_tokens(policy):
    tok = policy.tokenizer
    p = Problem("p", "countdown-3", numbers=(2, 3, 4), target=20)
    text = "2 3 4 -> 20 : 2 + 3 = 5 | 4 5\nanswer: (2 + 3) * 4"
    ids = tuple(tok.encode(text))
    r = Rollout(p, (1,), ids, text, 1.0, "stop")
    a, b = answer_line(r, tok.newline_id)
    assert tok.decode(list(ids[a:b])) == "answer: (2 + 3) * 4" and ids[a - 1] == tok.newline_id
    assert answer_line(Rollout(p, (1,), ids[:a], text.split("\n")[0] + "\n", 0.0, "length"), tok.newline_id) is None


def test_a_wrong_answer_line_is_blamed_on_its_own_tokens(tmp_path, monkeypatch, policy):
    import ponder.train.grpo as grpo
    seen = []
    monkeypatch.setattr(grpo, "_batches", lambda samples, *a: seen.extend(samples) or [])
    task = get_task("countdown-3")
    p = Problem("p", "countdown-3", numbers=(2, 3, 4), target=20)
    search = "2 3 4 -> 20 : 2 + 3 = 5 | 4 5\n"
    attempts = []
    for text in (search + "answer: (2 * 3) + 4", search + "answer: (2 + 3) * 4"):
        ids = tuple(policy.tokenizer.encode(text))
        attempts.append(Rollout(p, (1,), ids, text, task.verify(p, text), "stop"))
    cfg = tiny_grpo(tmp_path, wrong_answer_line=-1.0)
    grpo.learn(policy, None, torch.optim.SGD(policy.model.parameters(), lr=0.0), task, None, cfg,
               {"step": 0, "rollout_tokens": 0, "trained_tokens": 0}, [attempts], 1.0)
    (wrong, adv_wrong), (right, adv_right) = seen
    a, b = answer_line(wrong, policy.tokenizer.newline_id)
    assert list(adv_wrong[:a]) == [-0.5] * a and list(adv_wrong[a:b]) == [-1.5] * (b - a)
    assert list(adv_right) == [0.5] * len(right.completion_ids)


def test_grpo_resumes_exactly_and_writes_its_metrics(tmp_path):
    whole = train_grpo(tiny_grpo(tmp_path / "a", kl=0.05, epochs=2), progress=False)
    train_grpo(tiny_grpo(tmp_path / "b", kl=0.05, epochs=2), progress=False, stop_after=2)
    resumed = train_grpo(tiny_grpo(tmp_path / "b", kl=0.05, epochs=2), resume=True, progress=False)
    assert_same_parameters(whole, resumed)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "train/clip_fraction" in r]
    assert len(steps) == 3 and all(0 <= r["rollout/zero_advantage_groups"] <= 1 for r in steps)
    assert any(r["train/samples"] > 0 and r["train/kl"] >= 0 for r in steps)
    assert [r["step"] for r in rows if "eval/countdown-3/accuracy" in r] == [0, 2, 3]


def test_grpo_with_process_rewards_changes_the_policy(tmp_path):
    path = train_grpo(tiny_grpo(tmp_path / "p", steps=1, process_reward="prm", eval_problems=0), progress=False)
    model, _, meta = load_model(path)
    shipped, _, _ = load_model(DEFAULT_MODEL)
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))
    assert meta["config"]["process_reward"] == "prm"


def test_grpo_samples_and_evaluates_in_the_style_it_is_asked_for(tmp_path, monkeypatch):
    from ponder.train import workers

    asked = []

    def spy(policy, task, problems, *args, **kw):
        groups = rollouts(policy, task, problems, *args, **kw)
        asked.extend(policy.tokenizer.decode(r.prompt_ids) for g in groups for r in g)
        return groups

    monkeypatch.setattr(workers, "rollouts", spy)
    cfg = tiny_grpo(tmp_path / "d", init="nano-v2-sft", task="countdown", style="direct", process_reward="oracle",
                    steps=1, eval_problems=4)
    train_grpo(cfg, progress=False)
    assert len(asked) == 8 and all(p.endswith(" direct\n") for p in asked)
    evals = [json.loads(line) for line in (tmp_path / "d" / "metrics.jsonl").read_text().splitlines()
             if "eval/countdown/accuracy" in line]
    assert evals and all(r["eval/countdown/tokens_per_problem"] < 150 for r in evals)  # direct paths, not searches
    with pytest.raises(UserError, match="not trained on the 'direct' style"):
        train_grpo(tiny_grpo(tmp_path / "e", init="nano-rl", style="direct"), progress=False)  # only the search


def test_the_oracle_scores_grpo_steps_within_the_room_an_attempt_has():
    policy = NanoPolicy.load()
    task = get_task("countdown")
    room = policy.max_context - policy.count_tokens(task.prompt(task.problems("train", 1)[0])) - 1
    scorer = step_scorer(GRPOConfig(process_reward="oracle"), task, policy)
    assert isinstance(scorer, OracleReward) and room - 2 <= scorer.room <= room
    assert step_scorer(GRPOConfig(process_reward="oracle", max_tokens=300), task, policy).room == 300


def test_long_search_trains_on_the_first_long_searches_that_fit(policy):
    task = get_task("countdown")
    cfg = GRPOConfig(long_search=600, problems_per_step=4)
    drawn = draw_problems(task, policy, cfg, seed=1)
    plain = task.problems("train", 64, seed=1)
    lengths = [full_search_tokens(task, policy, p) for p in plain]
    assert min(lengths) <= 600 < max(lengths) and max(lengths) > policy.max_context  # there is something to leave out
    assert drawn == [p for p, n in zip(plain, lengths) if 600 < n <= policy.max_context][:4]
    assert draw_problems(task, policy, GRPOConfig(problems_per_step=4), seed=1) == plain[:4]
    with pytest.raises(UserError, match="lower it"):
        draw_problems(task, policy, GRPOConfig(long_search=policy.max_context, problems_per_step=1), seed=1)
    with pytest.raises(UserError, match="search traces"):
        draw_problems(get_task("arith"), policy, GRPOConfig(task="arith", long_search=600), seed=1)


def test_grpo_config_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="group must be at least 2"):
        tiny_grpo(tmp_path, group=1)
    with pytest.raises(UserError, match="normalise"):
        tiny_grpo(tmp_path, normalise="nope")
    with pytest.raises(UserError, match="invalid_step .* needs a process_reward"):
        tiny_grpo(tmp_path, invalid_step=-1.0)
