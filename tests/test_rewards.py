"""Reward models: aggregators and metrics on literal inputs, exact prefix outcomes on hand-made
traces, the judges' texts, Monte Carlo labels with a scripted policy, and a tiny training run
of every kind."""

import json
import random
from collections import Counter

import pytest
import torch

from ponder.errors import UserError
from ponder.model import ModelConfig, Transformer, save_model
from ponder.model.transformer import resize_vocab, with_value_head
from ponder.rewards import OracleReward, RewardModel, aggregate, get_reward
from ponder.rewards import base as reward_base
from ponder.rewards.metrics import auroc, best_of, first_below, first_error_f1, majority, wilson
from ponder.rewards.montecarlo import StepLabel, agreement, choose_steps, monte_carlo_labels, prefix_text
from ponder.rewards.value import encode_lines
from ponder.tasks import get_task
from ponder.tasks.countdown import judge
from ponder.train.vocab import nano_tokenizer
from ponder.train.samples import problem_of
from ponder.types import Completion, Problem

TASK = get_task("countdown-3")
PROBLEM = TASK.make_problem([4, 5, 6], 26)  # 5 * 4 + 6 and 6 * 5 - 4
FAULTLESS = "4 5 6 -> 26 : 5 - 4 = 1 | 6 1 : 7 5 6 6 ✗\n4 5 6 -> 26 : 5 * 4 = 20 | 6 20 : 26\n6 20 -> 26 : 20 + 6 = 26 | 26\nanswer: (5 * 4) + 6\n"
BAD_SUM = "5 + 4 = 20 | 6 20\n20 + 6 = 26 | 26\nanswer: (5 + 4) + 6\n"  # wrong arithmetic that "reaches" 26
GAVE_UP = "4 5 6 -> 26 : 6 * 5 = 30 | 4 30 : 34 26\n4 30 ✗\n"  # jumps to the last solution, then drops it


# --------------------------------------------------------------------------- pure functions


def test_aggregators():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s, "last") == 0.8 and aggregate(s, "min") == 0.5
    assert aggregate(s, "product") == pytest.approx(0.36) and aggregate(s, "mean") == pytest.approx(2.2 / 3)
    assert aggregate([], "min") == 0.0
    with pytest.raises(UserError):
        aggregate(s, "median")


def test_auroc_best_of_and_majority():
    assert auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auroc([0.5, 0.5, 0.5], [True, False, True]) == 0.5
    assert auroc([0.3, 0.6, 0.4, 0.7], [False, True, True, False]) == 0.5
    assert auroc([0.3, 0.4], [True, True]) == 0.5  # one class only
    assert best_of([0.2, 0.9, 0.9]) == 1
    assert majority(["a", "b", None, "b"]) == 1 and majority([None, None]) is None


def test_wilson_interval():
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4) and wilson(0, 0) == (0.0, 1.0)
    assert wilson(100, 100)[1] == pytest.approx(1.0)
    assert all(lo <= k / n <= hi for n in (1, 7, 59, 100, 493) for k in range(n + 1) for lo, hi in [wilson(k, n)])


def test_first_error_f1_is_processbench_s_harmonic_mean():
    assert first_below([0.9, 0.7, 0.4, 0.8]) == 2 and first_below([0.6, 0.5]) is None and first_below([]) is None
    # four traces with an error (first wrong steps 1, 2, 0, 3), found exactly in two; two without,
    # one of them flagged wrongly: 2/4 and 1/2, harmonic mean 1/2
    m = first_error_f1([1, 0, 0, None, None, 4], [1, 2, 0, 3, None, None])
    assert (m["erroneous"], m["correct"], m["f1"]) == (0.5, 0.5, 0.5)
    assert (m["traces_with_error"], m["traces_without"]) == (4, 2)
    m = first_error_f1([2, None], [2, None])
    assert m["f1"] == 1.0
    assert first_error_f1([None, None], [1, None])["f1"] == 0.0  # never flagging finds no error


# --------------------------------------------------------------------------- exact prefix outcomes


def test_a_faultless_search_stays_alive_through_its_dead_ends():
    assert TASK.prefix_outcomes(PROBLEM, FAULTLESS) == [True, True, True]


def test_wrong_arithmetic_that_reaches_the_target_is_fatal():
    assert TASK.prefix_outcomes(PROBLEM, BAD_SUM) == [False, False]
    assert TASK.verify(PROBLEM, BAD_SUM) == 0.0


def test_giving_up_the_last_solution_is_fatal():
    assert TASK.prefix_outcomes(PROBLEM, GAVE_UP) == [True, False]


def test_a_direct_trace_is_one_path_whose_steps_stand():
    """A direct trace never goes back: a step to numbers that cannot reach 24 is lost at once,
    though the problem's other first steps would still do (a search could go back to them)."""
    task, p = get_task("game24"), Problem(id="g", task="game24", numbers=(2, 4, 5, 7), target=24)
    right = "4 - 2 = 2 | 5 7 2\n7 + 5 = 12 | 2 12\n12 * 2 = 24 | 24\n"
    assert task.prefix_outcomes(p, right) == [True, True, True]
    assert task.prefix_outcomes(p, "5 - 4 = 1 | 2 7 1\n") == [False]  # 2, 7 and 1 make 16 at most
    assert task.prefix_outcomes(p, "4 - 2 = 2 | 5 7 2\n7 + 5 = 13 | 2 13\n") == [True, False]  # a wrong sum
    assert task.prefix_outcomes(p, "4 - 2 = 2 | 5 7 3\n") == [False]  # numbers left that are not
    assert task.prefix_outcomes(p, right + "answer: (7 + 5) * (4 - 2)\n") == [True, True, True]  # the answer is no step
    assert task.prefix_outcomes(p, right + "5 - 4 = 1 | 2 7 1\n") == [True, True, True, False]  # nothing left to combine
    # the rest of a path and the answer must fit: 10 tokens written, 9 + 8 for two more steps, 13 for the answer
    assert task.prefix_outcomes(p, "4 - 2 = 2 | 5 7 2\n", room=40) == [True]
    assert task.prefix_outcomes(p, "4 - 2 = 2 | 5 7 2\n", room=39) == [False]


def test_oracle_scores_steps_then_the_verdict():
    oracle = OracleReward(TASK)
    good, bad, cut = oracle.score(PROBLEM, [FAULTLESS, BAD_SUM, GAVE_UP])
    assert good == [1.0, 1.0, 1.0, 1.0] and bad == [0.0, 0.0, 0.0] and cut == [1.0, 0.0, 0.0]
    assert OracleReward(TASK, partial=True).score(PROBLEM, [GAVE_UP])[0] == [1.0, 0.0]


def test_oracle_with_room_scores_a_search_that_starts_over_as_lost():
    first = FAULTLESS.split("\n")[0] + "\n"
    starts_over = first * 6  # the same dead end again and again: harmless but for the room it takes
    assert OracleReward(TASK).score(PROBLEM, [starts_over])[0] == [1.0] * 6 + [0.0]
    assert OracleReward(TASK, room=60).score(PROBLEM, [starts_over])[0] == [1.0] + [0.0] * 6
    assert OracleReward(TASK, room=60).score(PROBLEM, [FAULTLESS])[0] == [1.0] * 4  # it fits


# --------------------------------------------------------------------------- what the judges are taught to say


def test_rationale_redoes_the_answer_and_uses_up_its_numbers():
    assert judge.rationale(TASK, PROBLEM, FAULTLESS) == ("5 * 4 = 20 | 6\n20 + 6 = 26 | nothing\n26 is the target",
                                                         True)
    assert judge.rationale(TASK, PROBLEM, BAD_SUM) == ("5 + 4 = 9 | 6\n9 + 6 = 15 | nothing\n15 is not the target 26",
                                                       False)
    assert judge.rationale(TASK, PROBLEM, "answer: 4 + (5 * 4)") == ("5 * 4 = 20 | 6\n4 is not given", False)
    assert judge.rationale(TASK, PROBLEM, "answer: (4 * 5) + 20") == ("4 * 5 = 20 | 6\n20 is not given", False)
    assert judge.rationale(TASK, PROBLEM, "answer: 6 * 4") == ("6 * 4 = 24 | 5\n5 not used", False)
    assert judge.rationale(TASK, PROBLEM, "answer: 4 - (6 - 5)") == ("6 - 5 = 1 | 4\n4 - 1 = 3 | nothing\n"
                                                                     "3 is not the target 26", False)
    assert judge.rationale(TASK, PROBLEM, "answer: 5 - (6 * 4)") == ("6 * 4 = 24 | 5\n5 - 24 breaks the rules", False)
    assert judge.rationale(TASK, PROBLEM, "answer: (5 * 4) + ") == ("malformed answer", False)
    assert judge.rationale(TASK, PROBLEM, GAVE_UP) == ("no answer", False)


def test_a_judge_reads_the_newest_lines_that_fit(tokenizer):
    from ponder.rewards.generative import fit

    prompt = TASK.prompt(PROBLEM)
    head = len(tokenizer.encode(prompt)) + 1
    lines = FAULTLESS.rstrip("\n").split("\n")
    sizes = [len(tokenizer.encode(line)) + 1 for line in lines]
    assert fit(tokenizer, prompt, FAULTLESS, head + sum(sizes)) == FAULTLESS.rstrip("\n")
    assert fit(tokenizer, prompt, FAULTLESS, head + sizes[-1] + sizes[-2]) == "\n".join(lines[-2:])
    assert fit(tokenizer, prompt, FAULTLESS, head + sizes[-1] + sizes[-2] - 1) == lines[-1]
    assert fit(tokenizer, prompt, FAULTLESS, head + 3) == tokenizer.decode(tokenizer.encode(lines[-1])[-2:])


@pytest.mark.parametrize("name", ["countdown", "game24"])
def test_practice_texts_mix_right_and_wrong_answers_and_the_rationale_agrees_with_the_verifier(name):
    task = get_task(name)
    rng = random.Random(0)
    verdicts, endings = [], set()
    for problem in task.problems("train", 300, seed=1):
        text = judge.practice_text(task, problem, rng)
        lines, verdict = judge.rationale(task, problem, text)
        assert verdict == (task.verify(problem, text) == 1.0)
        verdicts.append(verdict)
        endings.add(" ".join(w for w in lines.split("\n")[-1].split() if w.isalpha()))
    assert 0.25 < sum(verdicts) / len(verdicts) < 0.6
    assert endings >= {"is the target", "is not the target", "is not given", "not used", "no answer",
                       "malformed answer"}


def test_critique_names_the_first_wrong_or_dead_end_line():
    assert judge.critique(TASK, PROBLEM, FAULTLESS) == ("no mistake", True)
    assert judge.critique(TASK, PROBLEM, BAD_SUM) == ("5 + 4 = 20\n5 + 4 is 9, not 20", False)
    assert judge.critique(TASK, PROBLEM, GAVE_UP) == ("4 30 ✗\ngave up a solvable state", False)


# --------------------------------------------------------------------------- Monte Carlo labels


class ScriptedPolicy:
    """Continues every prompt with the right ending when the prefix can still reach 26 by the
    first solution, else with a wrong answer: a stand-in policy with known values."""

    name, max_context = "scripted", 512

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, prompts, params):
        self.max_tokens = params.max_tokens
        out = []
        for p in prompts:
            text = "answer: (5 * 4) + 6\n" if "5 * 4 = 20" in p and "6 20 ✗" not in p else "answer: 4 + 5 + 6\n"
            out.append([Completion(text, (1,) * 5, "stop", 10)] * params.n)
        return out


def test_monte_carlo_labels_read_the_policy_rollouts():
    text = "4 5 6 -> 26 : 5 - 4 = 1 | 6 1 : 7 5 6 6 ✗\n4 5 6 -> 26 : 5 * 4 = 20 | 6 20 : 26\n6 20 ✗\n"
    steps = TASK.steps(text)
    assert prefix_text(text, steps, 1).endswith("| 6 20 : 26\n")
    (labels,) = monte_carlo_labels(ScriptedPolicy(), TASK, [(PROBLEM, text)], k=3)
    assert [(s.step, s.successes, s.rollouts, s.lengths) for s in labels] == [
        (0, 0, 3, (5, 5, 5)), (1, 3, 3, (5, 5, 5)), (2, 0, 3, (5, 5, 5))]  # each scripted rollout: 5 tokens
    exact = TASK.prefix_outcomes(PROBLEM, text)  # True, True, True: 6 * 5 - 4 is still ahead
    assert agreement([labels], [exact]) == {"steps": 3, "hard": pytest.approx(1 / 3), "soft": pytest.approx(1 / 3)}
    assert StepLabel(0, (True, False, False)).first(1).hard and not StepLabel(0, (False, True)).first(1).hard
    policy = ScriptedPolicy()
    monte_carlo_labels(policy, TASK, [(PROBLEM, text)], k=1)
    assert policy.max_tokens > 100  # what the context leaves
    monte_carlo_labels(policy, TASK, [(PROBLEM, text)], k=1, max_tokens=12)
    assert policy.max_tokens == 12
    assert choose_steps(10, 3, random.Random(0)) == sorted(set(choose_steps(10, 3, random.Random(0))))
    assert len(choose_steps(10, 3, random.Random(0))) == 3 and choose_steps(2, 3, random.Random(0)) == [0, 1]


# --------------------------------------------------------------------------- models


def test_encode_lines_points_at_the_end_of_each_step_and_of_the_text(tokenizer):
    ids, ends = encode_lines(tokenizer, TASK.prompt(PROBLEM), FAULTLESS, TASK.steps(FAULTLESS))
    assert [tokenizer.token_text(ids[e]) for e in ends] == ["✗", "26", "26", "<eos>"]
    assert all(ids[e + 1] == tokenizer.newline_id for e in ends[:-1]) and ends[-1] == len(ids) - 1
    assert tokenizer.decode(ids) == TASK.prompt(PROBLEM) + FAULTLESS
    _, partial = encode_lines(tokenizer, TASK.prompt(PROBLEM), FAULTLESS, TASK.steps(FAULTLESS), finished=False)
    assert partial == ends[:-1]


def test_value_head_and_new_words_leave_the_language_model_unchanged(tiny_model, tokenizer):
    x = torch.randint(0, len(tokenizer), (2, 12))
    with torch.no_grad():
        before = tiny_model(x)
        valued = with_value_head(tiny_model).eval()
        assert torch.allclose(valued(x), before, atol=1e-6) and valued.values(x).shape == (2, 12)
        bigger_tok = tokenizer.extended(judge.WORDS)
        bigger = resize_vocab(tiny_model, len(bigger_tok)).eval()
        assert torch.allclose(bigger(x)[..., :len(tokenizer)], before, atol=1e-6)
    assert bigger_tok.encode("verdict: Yes") == [bigger_tok.index["verdict:"], bigger_tok.index["Yes"]]
    assert bigger_tok.encode("25 3") == tokenizer.encode("25 3")


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    tok = nano_tokenizer()
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=len(tok), d_model=32, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=64,
                                    max_seq_len=256))
    return save_model(tmp_path_factory.mktemp("policy") / "nano", model, tok)


def tiny_rm(tmp_path, policy, kind, **kw):
    from ponder.train.rm import RMConfig

    base = dict(kind=kind, out=str(tmp_path / kind), policy=str(policy), task="countdown-3", problems=6, samples=2,
                mc_solutions=3, mc_rollouts=2, mc_steps=2, tokens_per_step=1024, micro_tokens=512, holdout=0.34,
                epochs=1.0, checkpoint_every=1)
    base.update(kw)
    return RMConfig(**base)


@pytest.mark.parametrize("kind", ["orm", "prm", "genrm", "critic"])
def test_every_kind_trains_saves_and_scores(tmp_path, monkeypatch, tiny_policy, kind):
    from ponder.model import load_model
    from ponder.train.rm import train_rm

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    practice = 8 if kind == "genrm" else 0
    path = train_rm(tiny_rm(tmp_path, tiny_policy, kind, practice=practice), progress=False)
    model, _, meta = load_model(path)
    assert meta["reward_kind"] == kind and meta["steps"] >= 1 and "commit" in meta
    assert meta["train_practice"] == practice and meta["sample_tokens"] > 0
    assert (meta["label_tokens"] > 0) == (kind == "prm")  # Monte Carlo labels cost rollouts
    start, _, _ = load_model(tiny_policy)
    assert not torch.equal(model.layers[0].mlp.up_proj.weight, start.layers[0].mlp.up_proj.weight)
    rm = get_reward(f"{kind}={path}")
    scores = rm.score(PROBLEM, [FAULTLESS, BAD_SUM])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for row in scores for s in row)
    value = kind in ("orm", "prm")
    assert (rm.kind, rm.gives_values, rm.writes_critiques) == ("process" if value else "outcome", value, not value)
    assert rm.kind == "process" or all(len(row) == 1 for row in scores)  # an outcome judge scores a text once
    assert rm.usage.reward_tokens > 0
    rows = [json.loads(line) for line in (tmp_path / kind / "metrics.jsonl").read_text().splitlines()]
    assert "train/loss" in rows[0] and "eval/auroc" in rows[-1]


def test_a_value_model_learns_exact_labels_of_every_step_of_both_styles_and_tasks(tmp_path, monkeypatch, tiny_policy):
    from ponder.model import load_model
    from ponder.train.rm import prepare, train_rm

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    model, tok, _ = load_model(tiny_policy)
    both = save_model(tmp_path / "both", model, tok, {"trace_styles": ["direct", "search"]})
    cfg = tiny_rm(tmp_path, both, "prm", labels="exact", tasks=("countdown-3", "game24"), styles=("", "direct"),
                  shares=(1, 2))
    _, policy, train, held, labels = prepare(cfg, progress=False)
    solved = Counter((r["problem"]["task"], r.get("style", "")) for r in train + held)
    assert solved == {(t, s): n * cfg.samples for t in ("countdown-3", "game24") for s, n in (("", 2), ("direct", 4))}
    from ponder.train.samples import exact_outcomes
    for r in train:  # every step, labelled with its exact outcome
        task = get_task(r["problem"]["task"])
        assert labels[id(r)] == dict(enumerate(map(float, exact_outcomes(policy, task, r))))
        assert len(labels[id(r)]) == len(task.steps(r["text"]))
    path = train_rm(cfg, progress=False)
    assert load_model(path)[2]["train_steps"] == sum(map(len, labels.values()))
    with pytest.raises(UserError, match="not trained on the 'direct' style"):
        prepare(tiny_rm(tmp_path / "x", tiny_policy, "prm", styles=("direct",)), progress=False)


def test_each_style_s_samples_stop_at_its_own_cap(tmp_path, monkeypatch, tiny_policy):
    from ponder.model import load_model
    from ponder.train.rm import RMConfig, prepare

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    model, tok, _ = load_model(tiny_policy)
    both = save_model(tmp_path / "both", model, tok, {"trace_styles": ["direct", "search"]})
    cfg = tiny_rm(tmp_path, both, "prm", labels="exact", styles=("", "direct"), max_tokens=(0, 6))
    _, _, train, held, _ = prepare(cfg, progress=False)
    tokens = {style: [r["tokens"] for r in train + held if r.get("style", "") == style] for style in cfg.styles}
    assert tokens["direct"] and max(tokens["direct"]) <= 6 < max(tokens[""])
    with pytest.raises(UserError, match="one number .0: no cap. for each of the 2 styles"):
        RMConfig(styles=("", "direct"), max_tokens=(128,))


def test_monte_carlo_labels_can_keep_training_to_the_solutions_they_paid_for(tmp_path, monkeypatch, tiny_policy):
    from ponder.train.rm import prepare

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    _, _, every, _, _ = prepare(tiny_rm(tmp_path, tiny_policy, "prm", problems=8, mc_solutions=2), progress=False)
    _, _, paid, _, labels = prepare(tiny_rm(tmp_path, tiny_policy, "prm", problems=8, mc_solutions=2, unlabelled=False),
                                    progress=False)
    assert len(paid) == 2 < len(every) and all(id(r) in labels and "label_tokens" in r for r in paid)


def test_rule_walks_add_exactly_labelled_direct_steps_to_training_only(tmp_path, monkeypatch, tiny_policy):
    from ponder.train.rm import RMConfig, prepare
    from ponder.train.samples import exact_outcomes

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    cfg = tiny_rm(tmp_path, tiny_policy, "prm", labels="exact", walks=3)
    task, policy, train, held, labels = prepare(cfg, progress=False)
    walks = [r for r in train if r["finish_reason"] == "walk"]
    held_ids = {r["problem"]["id"] for r in held}
    assert held and not any(r["finish_reason"] == "walk" for r in held)
    assert len(walks) == 3 * (cfg.problems - len(held_ids)) and not {r["problem"]["id"] for r in walks} & held_ids
    for r in walks:  # legal steps only, every one labelled by its exact outcome
        assert all(c.valid for c in task.check_steps(problem_of(r), r["text"]))
        assert labels[id(r)] == dict(enumerate(map(float, exact_outcomes(policy, task, r))))
    assert any(r["correct"] for r in walks) and not all(r["correct"] for r in walks)
    _, _, train, _, labels = prepare(tiny_rm(tmp_path, tiny_policy, "prm", labels="exact", walks=3, walk_slips=1.0),
                                     progress=False)
    slipped = [r for r in train if r["finish_reason"] == "walk"]
    assert slipped and not any(r["correct"] for r in slipped)
    first = [r for r in slipped if r["text"].count("\n") == 1]  # the first line slipped (a few slips cannot be made)
    assert len(first) >= 0.8 * len(slipped) and sum(labels[id(r)][0] == 0.0 for r in first) >= 0.9 * len(first)
    with pytest.raises(UserError, match="walks are labelled exactly"):
        RMConfig(kind="prm", labels="mc", walks=2)
    assert RMConfig(kind="prm", labels="exact", tasks=["countdown", "game24"], walks=[16, 256]).walks == (16, 256)
    with pytest.raises(UserError, match="one for each of the 2 tasks"):
        RMConfig(kind="prm", labels="exact", tasks=["countdown", "game24"], walks=[1, 2, 3])


def test_styles_share_out_the_problems_in_proportion():
    from ponder.train.rm import RMConfig, shared_out

    assert shared_out(list(range(10)), (1, 4)) == [[0, 1], [2, 3, 4, 5, 6, 7, 8, 9]]
    assert shared_out(list(range(7)), (1, 1, 1)) == [[0, 1, 2], [3, 4], [5, 6]]
    assert [len(p) for p in shared_out(list(range(1000)), (1, 24))] == [40, 960]
    with pytest.raises(UserError, match="one positive number for each of the 2 styles"):
        RMConfig(styles=("", "direct"), shares=(1,))
    with pytest.raises(UserError, match="one positive number"):
        RMConfig(styles=("", "direct"), shares=(1, 0))
    with pytest.raises(UserError, match="lists a style twice"):
        RMConfig(styles=("direct", "direct"))


def test_resume_continues_exactly(tmp_path, monkeypatch, tiny_policy):
    from ponder.model import load_model
    from ponder.train.rm import train_rm

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    whole = train_rm(tiny_rm(tmp_path / "a", tiny_policy, "orm", epochs=3.0), progress=False)
    cfg = tiny_rm(tmp_path / "b", tiny_policy, "orm", epochs=3.0)
    train_rm(cfg, progress=False, stop_after=2)
    with pytest.raises(UserError):
        train_rm(cfg, progress=False)  # a run is there: resume or choose another directory
    resumed = train_rm(cfg, resume=True, progress=False)
    a, _, meta = load_model(whole)
    b, _, _ = load_model(resumed)
    assert meta["steps"] > 2
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_bad_reward_names_and_kinds_are_one_line_errors(tmp_path):
    from ponder.cli import main

    with pytest.raises(UserError):
        get_reward("nonsense")
    with pytest.raises(UserError):
        get_reward(f"orm={tmp_path}")
    assert main(["train", "rm", "--kind", "vibes"]) == 2
    assert main(["train", "rm", "--kind", "orm", "--set", "practice=100", "--out", str(tmp_path / "x")]) == 2


def test_a_reward_model_declares_what_it_can_do():
    class Bare(RewardModel):
        name = "bare"

    bare = Bare()
    assert (bare.kind, bare.gives_values, bare.writes_critiques, bare.estimate(7)) == ("process", False, False, 7)
    with pytest.raises(UserError, match="tree search needs a process reward model .* not 'bare'"):
        bare.values(PROBLEM, [FAULTLESS])
    with pytest.raises(NotImplementedError):
        bare.critiques(PROBLEM, [FAULTLESS])
    oracle = get_reward("oracle")
    assert (oracle.kind, oracle.gives_values, oracle.writes_critiques) == ("process", False, False)
    with pytest.raises(UserError, match="not 'oracle'"):
        oracle.values(PROBLEM, [FAULTLESS])


def test_a_model_directory_is_loaded_by_the_kind_it_records(tmp_path, monkeypatch):
    (tmp_path / "ponder.json").write_text(json.dumps({"meta": {"reward_kind": "vibes"}}))
    with pytest.raises(UserError, match="is not a reward model"):
        get_reward(str(tmp_path))
    monkeypatch.setitem(reward_base._KINDS, "vibes", lambda path, mode, **options: (path, mode, options))
    assert get_reward(str(tmp_path), partial=True) == (tmp_path, "vibes", {"partial": True})
    assert get_reward(f"genrm-cot={tmp_path}") == (tmp_path, "genrm-cot", {})


def test_the_recipe_tables_apply_to_their_kind_only():
    from ponder.train.recipes import load_recipe
    from ponder.train.rm import RMConfig

    genrm = load_recipe("rm-default", RMConfig, section="genrm", kind="genrm")
    orm = load_recipe("rm-default", RMConfig, section="orm", kind="orm")
    assert genrm.context > 0 and orm.context == 0 and genrm.optim.lr > orm.optim.lr
    assert genrm.recipe == orm.recipe == "rm-default"


@pytest.mark.parametrize("name", ["countdown", "game24"])
def test_the_faultless_continuation_costs_what_the_solver_writes(tokenizer, name):
    """From every line of a solver trace that tries every dead end, the faultless continuation
    is the rest of that trace: it fits a room of the trace's exact length and not one token less."""
    task = get_task(name)
    count = lambda line: len(tokenizer.encode(line)) + 1  # noqa: E731
    for p in task.problems("test", 8, seed=2):
        full = "".join(s for s, _ in task.search_trace(p, random.Random(0), p_dead=1.0, p_slip=0.0))
        n = sum(count(line) for line in full.split("\n")[:-1])
        assert all(task.prefix_outcomes(p, full, room=n, count=count))
        assert not any(task.prefix_outcomes(p, full, room=n - 1, count=count))
