"""RISE (multi-turn self-correction): the revision format, the trainer, and ``revise`` reading it."""

import json
import random
import re

import pytest
from conftest import assert_same_parameters

from ponder.errors import UserError
from ponder.model import load_model
from ponder.rewards import RewardModel
from ponder.search import get_strategy
from ponder.search.revise import CUT, FAILED, SHOWN_TOKENS, first_wrong_line, quote, revision_context
from ponder.tasks import get_task
from ponder.tasks.countdown.judge import critique
from ponder.train.expert import BUFFER, as_examples
from ponder.train.config import build
from ponder.train.rise import RiseConfig, train_rise
from ponder.train.rollout import Rollout
from ponder.types import Completion, Problem, Usage


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


def failed_search(seed=3):
    """A Countdown-4 search trace with one wrong result halfway: (task, problem, text, wrong line)."""
    task = get_task("countdown")
    p = task.problems("train", 1, seed=seed)[0]
    lines = "".join(s for s, _ in task.search_trace(p, random.Random(1))).split("\n")
    k = len(lines) // 2
    m = re.search(r" = (\d+)", lines[k])
    lines[k] = lines[k][:m.start(1)] + str(int(m.group(1)) + 1) + lines[k][m.end(1):]
    return task, p, "\n".join(lines), k


def test_revision_prompt_tokenizes_and_fits(tokenizer):
    task, p, text, k = failed_search()
    count = lambda s: len(tokenizer.encode(s))  # noqa: E731
    why = critique(task, p, text)[0]
    assert first_wrong_line(task, p, text) == first_wrong_line(task, p, text, why) == k
    for note, limit in ((None, SHOWN_TOKENS), (why, SHOWN_TOKENS), (why, 100)):
        ctx = revision_context(task, p, text, count, critique=note, shown_tokens=limit)
        ids = tokenizer.encode(task.prompt(p) + ctx, bos=True)
        assert tokenizer.unk_id not in ids
        lines = ctx.rstrip("\n").split("\n")
        assert ctx.endswith(task.prompt(p)) and lines[-2].startswith(FAILED)
        assert lines[-3] == text.split("\n")[k]  # shown up to and including the wrong line, not after
        assert (lines[-2] == FAILED) == (note is None)  # the critique's reason, when there is one
        shown = sum(count(line) + 1 for line in lines[:-2] if line != CUT)
        assert shown <= limit and (lines[0] == CUT) == (limit == 100)
        # what a Countdown-4 search needs (~800 tokens) is left of the 1536-token context
        assert len(ids) <= 2 * count(task.prompt(p)) + limit + count(lines[-2]) + 2 and len(ids) + 800 <= 1536
    assert revision_context(task, p, text, count, critique=why, show_critique=False).split("\n")[-3] == FAILED


def test_a_critique_picks_the_line_to_cut_at():
    task, p, text, k = failed_search()
    earlier = text.split("\n")[2]

    assert first_wrong_line(task, p, text, f"{quote(earlier)}\nwrong") == 2
    assert first_wrong_line(task, p, text, "ran out of room before an answer") is None
    right = task.direct_trace(p)
    assert first_wrong_line(task, p, right) is None  # nothing wrong: the whole attempt is shown
    assert revision_context(task, p, right, len, shown_tokens=10_000).startswith(right)


# --------------------------------------------------------------------------- the trainer


def tiny_rise(out, **kw) -> RiseConfig:
    """RISE on the shipped policy, small enough for seconds: Countdown-3 attempts cut at 64 tokens
    fail often enough (a search that runs longer has no answer) for revisions to be sampled."""
    base = dict(out=str(out), task="countdown-3", rounds=1, problems_per_round=4, group=2, max_tokens=64,
                steps_per_round=2, tokens_per_step=2048, micro_tokens=2048, warmup=1, checkpoint_every=1,
                eval_problems=1, critique=True, critic="rule")
    base.update(kw)
    return build(RiseConfig, base)


def test_rise_trains_only_verified_revisions_and_resumes_exactly(tmp_path, tokenizer):
    whole = train_rise(tiny_rise(tmp_path / "a"), progress=False)
    train_rise(tiny_rise(tmp_path / "b"), progress=False, stop_after=1)  # "killed" between the round's two steps
    resumed = train_rise(tiny_rise(tmp_path / "b"), resume=True, progress=False)
    assert_same_parameters(whole, resumed)

    task = get_task("countdown-3")
    buffer = [Rollout.from_json(json.loads(line)) for line in (tmp_path / "a" / "checkpoint" / BUFFER).read_text().split("\n")
              if line.strip()]
    revisions = [r for r in buffer if r.prefix]
    assert revisions and len(revisions) < len(buffer)  # revisions, and first attempts mixed in
    for r in buffer:
        assert task.verify(r.problem, r.text) == 1.0 and r.finish_reason == "stop"
        assert all(c.valid for c in task.check_steps(r.problem, r.text))
    for r in revisions:
        assert tokenizer.decode(r.prompt_ids) == tokenizer.decode(tokenizer.encode(task.prompt(r.problem) + r.prefix))
        assert f"\n{FAILED}" in r.prefix and r.prefix.endswith(task.prompt(r.problem))
    tokens, trained = as_examples(revisions).get(0)  # the failed attempt shown is read, never trained
    assert tokens[trained].tolist() == list(revisions[0].completion_ids)
    assert tokens[~trained].tolist() == list(revisions[0].prompt_ids)

    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    rounds = [r for r in rows if "revision/failed" in r]
    assert len(rounds) == 1 and all(r["revision/failed"] > 0 and 0 <= r["revision/reward_mean"] <= 1 for r in rounds)
    assert sum(r["revision/kept"] + r["revision/taught"] for r in rounds) == len(revisions)
    evals = [r for r in rows if "eval/countdown-3+revision/accuracy" in r]
    assert [r["round"] for r in evals] == [0, 1]
    assert all(r["eval/countdown-3+revision/accuracy"] >= r["eval/countdown-3/accuracy"] for r in evals)
    _, _, meta = load_model(whole)
    assert meta["revision"] == {"format": "rise", "critique": True, "shown_tokens": 256}


def test_rise_config_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="mix"):
        tiny_rise(tmp_path, mix=-1)
    with pytest.raises(UserError, match="Countdown"):
        train_rise(tiny_rise(tmp_path / "x", task="arith"), progress=False)


# --------------------------------------------------------------------------- revise reads the format


class Recorder:
    """A policy that writes the given texts in turn and records the prompts it was given."""

    max_context = 1536

    def __init__(self, texts, meta=None):
        self.texts, self.meta, self.prompts = list(texts), meta or {}, []

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, prompts, params):
        params = params if isinstance(params, list) else [params] * len(prompts)
        self.prompts += prompts
        return [[Completion(self.texts.pop(0), (1, 2, 3), "stop", self.count_tokens(p)) for _ in range(sp.n)]
                for p, sp in zip(prompts, params)]


class Critic(RewardModel):
    """A text critic that finds the first text's second line wrong, then is satisfied."""

    name = "critic"
    kind = "outcome"
    writes_critiques = True

    def __init__(self):
        self.usage, self.seen = Usage(), 0

    def critiques(self, problem, texts):
        from ponder.rewards.generative import Judgement

        self.seen += 1
        self.usage.reward_tokens += 10
        if self.seen == 1:
            return [Judgement(f"{quote(texts[0].split(chr(10))[1])}\n3 * 3 is 9", False, 0.1)]
        return [Judgement("no mistake", True, 0.9)]


@pytest.mark.parametrize("meta", [None, {"revision": {"format": "rise", "critique": False, "shown_tokens": 256}}])
def test_revise_uses_the_rise_format_when_the_policy_learned_it(meta):
    task = get_task("countdown-3")
    p = Problem("p", "countdown-3", numbers=(1, 2, 3), target=9)  # below the generated targets, simple to read
    first = "1 2 3 -> 9 : 1 + 2 = 3 | 3 3 : 6 9\n3 3 -> 9 : 3 * 3 = 8 | 8\nanswer: (1 + 2) * 3\n"
    second = "1 2 3 -> 9 : 1 + 2 = 3 | 3 3 : 6 9\n3 3 -> 9 : 3 * 3 = 9 | 9\nanswer: (1 + 2) * 3\n"
    policy = Recorder([first, second], meta)
    r = get_strategy("revise")(p, policy, Critic(), task=task)
    assert r.answer == "(1 + 2) * 3" and len(policy.prompts) == 2
    if meta is None:  # the untrained policy continues the lines before the one named
        assert policy.prompts[1] == task.prompt(p) + first.split("\n")[0] + "\n"
        assert r.text == first.split("\n")[0] + "\n" + second
    else:  # the trained one sees its attempt up to that line, then writes a new one
        assert policy.prompts[1] == task.prompt(p) + first.split("answer")[0] + "✗\n" + task.prompt(p)
        assert r.text == second
    forced = Recorder([first, second], meta)
    get_strategy("revise", style="rise")(p, forced, Critic(), task=task)
    shown = "✗\n" if meta else "✗ 3 * 3 is 9\n"  # the critique as the policy was trained: shown by default
    assert forced.prompts[1] == task.prompt(p) + first.split("answer")[0] + shown + task.prompt(p)
    truncated = Recorder([first, second], meta)
    get_strategy("revise", style="truncate")(p, truncated, Critic(), task=task)
    assert truncated.prompts[1] == task.prompt(p) + first.split("\n")[0] + "\n"
    with pytest.raises(UserError, match="style"):
        get_strategy("revise", style="nope")
