"""``--task rg:NAME``: reasoning-gym's datasets as tasks, its verifiers as the rule."""

import pytest
from conftest import needs_module, run_ponder

from ponder.errors import UserError
from ponder.evaluate import evaluate
from ponder.search import get_strategy
from ponder.tasks import get_task
from ponder.types import Completion

needs_module("reasoning_gym", "pip install -e '.[rg]'")


class Oracle:
    """A policy that writes each problem's reference answer, in tags, or a wrong one."""

    name, max_context, meta = "oracle", 4096, {}

    def __init__(self, answers: dict[str, str], wrong: bool = False):
        self.answers, self.wrong = answers, wrong

    def count_tokens(self, text):
        return len(text.split())

    def reset_cache(self):
        pass

    def generate(self, prompts, params):
        each = [params] * len(prompts) if not isinstance(params, (list, tuple)) else params
        out = []
        for prompt, sp in zip(prompts, each):
            answer = "1 + 1" if self.wrong else self.answers[prompt]
            text = f"Let me see.\n<answer>{answer}</answer>"
            out.append([Completion(text, (0,) * 8, "stop", self.count_tokens(prompt)) for _ in range(sp.n)])
        return out


@pytest.fixture(scope="module")
def task():
    return get_task("rg:countdown").with_options({"min_numbers": 3, "max_numbers": 3})


def test_problems_are_reasoning_gyms_and_regenerate_from_their_ids(task):
    problems = task.problems("test", 5)
    assert problems == task.problems("test", 5)  # same split, n, seed: same problems
    assert [p.id for p in problems] == [f"test/0/{i}" for i in range(5)]
    assert [p.question for p in task.problems("val", 5)] != [p.question for p in problems]
    assert task.problems("test", 5, seed=1) != problems
    for p in problems:
        seeded, entry = task.entry(p)
        assert entry["question"] == p.question and len(entry["metadata"]["numbers"]) == 3
        assert task.check(p, entry["answer"])  # reasoning-gym's own solution
        assert not task.check(p, "1 + 1") and not task.check(p, None)
        assert 0 < seeded.score_answer("1 + 1", entry) < 1  # partial credit, which is wrong here


def test_answers_are_read_from_tags_else_the_last_line(task):
    assert task.answer("x\n<answer>1</answer> then <answer> 2 + 3 </answer>\n") == "2 + 3"
    assert task.answer("working\n\n7 * 8\n") == "7 * 8"
    assert task.final_answer("working\n7 * 8") is None  # a search ends a line only at a tagged answer


def test_options_and_names_are_checked():
    with pytest.raises(UserError, match="no dataset 'countdwn'.*countdown"):
        get_task("rg:countdwn")
    with pytest.raises(UserError, match="no such option; it has: .*max_numbers"):
        get_task("rg:countdown").with_options({"numbers": 3})
    with pytest.raises(UserError, match="refused the options of countdown"):
        get_task("rg:countdown").with_options({"min_numbers": 5, "max_numbers": 3})
    with pytest.raises(UserError, match="unknown split"):
        get_task("rg:countdown").problems("dev", 3)


def test_evaluation_and_search_grade_with_the_verifier(task):
    problems = task.problems("test", 6)
    answers = {task.prompt(p): p.reference for p in problems}
    right = evaluate(task, problems, Oracle(answers), get_strategy("greedy"))
    wrong = evaluate(task, problems, Oracle(answers, wrong=True), get_strategy("greedy"))
    assert (right.accuracy, wrong.accuracy) == (1.0, 0.0) and right.n == 6
    voted = get_strategy("majority", n=3).run(problems[:2], Oracle(answers), None, budget=200, seed=0, task=task)
    assert [task.check(p, r.answer) for p, r in zip(problems, voted)] == [True, True]
    assert task.verify(problems[0], f"<answer>{problems[0].reference}</answer>") == 1.0  # an RL reward


def test_the_command_line_takes_rg_tasks_and_their_options(tmp_path):
    out = run_ponder("eval", "--task", "rg:basic_arithmetic", "--split", "test", "--limit", "3",
                     "--set", "task.min_terms=2", "--set", "task.max_terms=2", "--output", tmp_path / "e.jsonl")
    assert "rg:basic_arithmetic" in out.stdout + out.stderr and (tmp_path / "e.jsonl").read_text().count("\n") == 3
    bad = run_ponder("eval", "--task", "rg:basic_arithmetic", "--set", "task.nope=1", check=False)
    assert bad.returncode != 0 and "no such option" in bad.stderr and "Traceback" not in bad.stderr
