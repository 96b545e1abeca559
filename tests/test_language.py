"""The language strategies (plan-solve, self-verify) and step search on math, driven by a scripted
policy whose replies depend on what it is asked, so that each test can tell a right move from a
wrong one; and once end to end on the nano model."""

import json
import math

import pytest
from conftest import run_ponder

from ponder.backends.base import cut_at_stop
from ponder.rewards import RewardModel
from ponder.search import get_strategy
from ponder.search.language import last_verdict, sub_questions, yes_probability
from ponder.tasks import get_task
from ponder.types import Completion, SamplingParams, Usage

MATH = get_task("math")


class Scripted:
    """A policy that answers each prompt with ``reply(prompt, sample index)``: (text, probability
    of its first token). A token is a word; every call is recorded."""

    name, max_context = "scripted", 4096

    def __init__(self, reply):
        self.reply, self.calls = reply, []
        self.generated = 0
        """Tokens generated over all calls."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompts, params):
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        self.calls.append((list(prompts), each))
        out = []
        for prompt, sp in zip(prompts, each):
            row = []
            for i in range(sp.n):
                text, p = self.reply(prompt, i)
                text, stop = cut_at_stop(text, sp.stop)
                words = text.split()[:sp.max_tokens]
                n = max(1, len(words))
                row.append(Completion(text if len(text.split()) <= sp.max_tokens else " ".join(words), (0,) * n,
                                      "stop", self.count_tokens(prompt),
                                      logprobs=(math.log(p),) * n if sp.logprobs else None, stop=stop))
            out.append(row)
            self.generated += sum(len(c.token_ids) for c in row)
        return out


# --------------------------------------------------------------------------- plan-solve


def planner(prompt: str, i: int) -> tuple[str, float]:
    if prompt.endswith("one per line:\n1."):
        return " How many apples does Ann have?\n2. How many apples does Bob have?\n\nQuestion: more", 1.0
    if prompt.endswith("Answer to sub-question 1:"):
        return " Ann has 3 apples.\n\nSub-question 3: invented", 1.0
    if prompt.endswith("Answer to sub-question 2:"):
        return " Bob has 4 apples.", 1.0
    if prompt.endswith("the full solution:\n"):
        knows = "Ann has 3 apples." in prompt and "Bob has 4 apples." in prompt
        return ("3 + 4 = 7.\n\nThe answer is \\boxed{7}." if knows else "The answer is \\boxed{0}.") \
            + "\nQuestion: what next?", 1.0
    return "I do not know.", 1.0


APPLES = MATH.make_problem("Ann has 3 apples and Bob has 4. How many apples do they have together?", "7")


def test_plan_solve_plans_solves_the_parts_side_by_side_and_concludes_from_them():
    policy = Scripted(planner)
    result = get_strategy("plan-solve")(APPLES, policy)
    assert result.answer == "7" and MATH.verify(APPLES, result.text) == 1.0
    prompts = [p for p, _ in policy.calls]
    assert [len(p) for p in prompts] == [1, 2, 1]  # plan; both sub-questions in one call; solution
    assert all("\nQuestion:" in sp.stop for _, each in policy.calls for sp in each)  # the task's own stop
    assert "Question: what next?" not in result.text and "invented" not in result.text
    assert result.usage.completion_tokens == policy.generated
    assert "2 sub-questions" in result.reasoning_summary


def test_plan_solve_without_a_plan_still_answers_and_keeps_within_a_budget():
    policy = Scripted(lambda p, i: ("\n\nJust add them.", 1.0) if p.endswith("1.")  # an empty plan
                      else ("The answer is \\boxed{7}.", 1.0))
    result = get_strategy("plan-solve")(APPLES, policy)
    assert result.answer == "7" and [len(p) for p, _ in policy.calls] == [1, 1]
    chatty = Scripted(lambda p, i: (" ".join(["word"] * 500), 1.0))
    result = get_strategy("plan-solve")(APPLES, chatty, budget=60)
    assert result.usage.thinking_tokens <= 60


def test_sub_questions_reads_numbered_and_bulleted_lines():
    plan = "1. First?\n2) Second?\n- Third?\nnot a step\n  3: Fourth?"
    assert sub_questions(plan, 10) == ["First?", "Second?", "Third?", "Fourth?"]
    assert sub_questions(plan, 2) == ["First?", "Second?"]


# --------------------------------------------------------------------------- self-verify


PRODUCT = MATH.make_problem("What is 4 times 5?", "20")


def sampler_and_judge(prompt: str, i: int) -> tuple[str, float]:
    """Two of three samples are wrong (21); a judge that sees 20 is right says Yes at 0.9."""
    if prompt.endswith("Answer Yes or No.\nAnswer:"):
        return (" Yes" if "boxed{20}" in prompt else " No"), 0.9
    if prompt.endswith("say Yes if it is correct, No if not.\n"):
        return ("4 times 5 is 20, so yes." if "boxed{20}" in prompt else "4 times 5 is 20, not 21. No."), 1.0
    return ["4*5 = 21. \\boxed{21}", "4*5 = 20. \\boxed{20}", "4*5 = 21. \\boxed{21}"][i % 3], 1.0


def test_self_verify_outvotes_a_wrong_majority_with_the_policys_own_judgement():
    assert get_strategy("majority", n=3)(PRODUCT, Scripted(sampler_and_judge)).answer == "21"
    policy = Scripted(sampler_and_judge)
    result = get_strategy("self-verify", n=3)(PRODUCT, policy)
    assert result.answer == "20"
    assert [round(c.score, 3) for c in result.candidates] == [0.1, 0.9, 0.1]
    assert result.usage.completion_tokens == policy.generated
    judged = policy.calls[-1]
    assert len(judged[0]) == 3 and all(sp.logprobs and sp.temperature == 0 for sp in judged[1])


def test_self_verify_with_written_verifications_and_several_verdicts():
    policy = Scripted(sampler_and_judge)
    result = get_strategy("self-verify", n=3, verdicts=2, verify_tokens=40, pick="best")(PRODUCT, policy)
    assert result.answer == "20"
    assert [c.score for c in result.candidates] == [0.0, 1.0, 0.0]
    assert all(sp.n == 2 and sp.temperature == 1.0 for sp in policy.calls[-1][1])


def test_self_verify_judges_only_what_the_budget_pays_for():
    # 3 samples of 4 tokens take 12 of the 40; judging takes up to 10 each: two are paid for
    result = get_strategy("self-verify", n=3, verify_tokens=10)(PRODUCT, Scripted(sampler_and_judge), budget=40)
    assert result.usage.thinking_tokens <= 40
    assert [c.score is None for c in result.candidates] == [False, False, True]


def test_reading_verdicts():
    said = lambda text, p=None: Completion(text, (0,), "stop", 1, logprobs=None if p is None else (math.log(p),))
    assert yes_probability(said(" Yes", 0.8)) == pytest.approx(0.8)
    assert yes_probability(said("No.", 0.8)) == pytest.approx(0.2)
    assert yes_probability(said("yes")) == 1.0 and yes_probability(said("Maybe")) is None
    assert last_verdict("Is it 5? No, it is 4... yes, correct.") == 1.0
    assert last_verdict("Nothing decided") is None and last_verdict("Yesterday it was no good") == 0.0


@pytest.mark.parametrize("name", ["plan-solve", "self-verify"])
def test_bad_options_are_one_line_errors(name):
    from ponder.errors import UserError

    with pytest.raises((UserError, ValueError)):
        get_strategy(name, max_parts=0) if name == "plan-solve" else get_strategy(name, pick="loudest")


# --------------------------------------------------------------------------- step search on math


class Flat(RewardModel):
    """A process reward model that values every partial text alike and every answer by its truth."""

    name = "flat"
    gives_values = True

    def __init__(self):
        self.usage = Usage()

    def values(self, problem, texts):
        self.usage.reward_tokens += len(texts)
        return [0.5] * len(texts)

    def score(self, problem, texts):
        self.usage.reward_tokens += len(texts)
        return [[MATH.verify(problem, t)] for t in texts]


def test_beam_search_on_math_takes_blank_line_steps_and_ends_only_at_a_stated_answer():
    def steps(prompt: str, i: int) -> tuple[str, float]:
        done = prompt.count("\n\n")  # steps written so far
        if done < 2:
            return f"Step {done + 1}: 4 times 5 is 20, {i}\n\nmore", 1.0
        return "The answer is 20.", 1.0

    policy = Scripted(steps)
    result = get_strategy("beam", width=2, expand=2)(PRODUCT, policy, reward=Flat())
    assert result.answer == "20" and result.text.count("\n\n") == 2  # two steps, then the answer
    assert all(sp.stop[0] == "\n\n" for _, each in policy.calls for sp in each)


# --------------------------------------------------------------------------- end to end


@pytest.mark.shipped("nano-v2")
@pytest.mark.parametrize("strategy", ["plan-solve", "self-verify"])
def test_math_eval_runs_the_language_strategies_on_the_nano_engine(tmp_path, strategy):
    problems = tmp_path / "gsm.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "What is 12 + 30?", "final": "Adding gives 42.\n#### 42"},
        {"prompt": "Simplify 6/8.", "final": "It is $\\boxed{\\frac{3}{4}}$."}]))
    options = ["--set", "verify_tokens=20"] if strategy == "self-verify" else ["--set", "max_parts=2"]
    proc = run_ponder("eval", "--task", "math", "--problems", str(problems),
                      "--set", "task.question_field=prompt", "--set", "task.answer_field=final",
                      "--strategy", strategy, *options, "--budget", "120", "--json")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["task"] == "math" and report["strategy"] == strategy and report["n"] == 2
    assert 0 < report["tokens_per_problem"] <= 120


@pytest.mark.shipped("nano-v2")
def test_solve_takes_a_math_question_and_checks_only_against_a_given_reference():
    def solve(*extra):
        return json.loads(run_ponder("solve", "What is 12 + 30?", "--task", "math", "--budget", "40", "--json",
                                     *extra).stdout)

    checked, unchecked = solve("--target", "42"), solve()
    assert checked["problem"]["reference"] == "42" and isinstance(checked["correct"], bool)
    assert checked["correct"] == (checked["answer"] is not None and MATH.check(
        MATH.make_problem("What is 12 + 30?", "42"), checked["answer"]))
    assert unchecked["correct"] is None and "reference" not in unchecked["problem"]
    assert 0 < checked["usage"]["completion_tokens"] <= 40
