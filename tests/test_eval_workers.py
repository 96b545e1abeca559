"""``ponder eval`` and ``ponder sweep`` on Ray actors (``--workers N``): the same rows as one process,
resumable, and the errors a user can make."""

import json

import pytest
from conftest import needs_module, run_ponder

from ponder.backends.nano import NanoPolicy
from ponder.errors import UserError
from ponder.evaluate import evaluate
from ponder.rewards import get_reward
from ponder.search import get_strategy
from ponder.tasks import get_task

needs_module("ray", "pip install -e '.[ray]'")
pytestmark = pytest.mark.shipped("nano-v2", "prm")

ROW = ("id", "answer", "correct", "any_correct", "tokens", "prompt_tokens", "finish_reason")


@pytest.fixture(scope="module")
def pool():
    from ponder.shards import EvalWorkers

    with EvalWorkers(2) as workers:
        yield workers


@pytest.fixture(scope="module")
def task():
    return get_task("countdown-3")


def rows(report):
    return [tuple(r[k] for k in ROW) for r in report.records]


@pytest.mark.parametrize("strategy, options, reward, budget", [
    ("greedy", {}, None, None),
    ("majority", {"n": 4}, None, 400),
    ("beam", {"width": 2, "expand": 2, "style": "search"}, "prm", 600),
])
def test_two_workers_write_the_rows_of_one_process(pool, task, strategy, options, reward, budget):
    problems = task.problems("test", 9)
    one = evaluate(task, problems, NanoPolicy.load(), get_strategy(strategy, **options),
                   get_reward(reward, task) if reward else None, budget=budget, seed=3)
    two = evaluate(task, problems, None, get_strategy(strategy, **options), budget=budget, seed=3, workers=pool,
                   reward_name=reward)
    assert rows(two) == rows(one)
    assert two.usage.completion_tokens == one.usage.completion_tokens


def test_a_cut_run_resumes_on_workers(pool, task, tmp_path):
    problems = task.problems("test", 8)
    whole = tmp_path / "whole.jsonl"
    evaluate(task, problems, NanoPolicy.load(), get_strategy("greedy"), output=whole)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(whole.read_text().splitlines(keepends=True)[:3]))  # a run killed after 3 rows
    evaluate(task, problems, None, get_strategy("greedy"), output=cut, resume=True, workers=pool)
    assert cut.read_text() == whole.read_text()


def test_the_sweep_command_on_two_workers(tmp_path):
    args = ["sweep", "--task", "countdown-3", "--limit", "6", "--strategies", "greedy,majority", "--budgets", "300"]
    run_ponder(*args, "--output", tmp_path / "one.jsonl")
    run_ponder(*args, "--output", tmp_path / "two.jsonl", "--workers", "2")
    def read(name):  # less the seconds, and how much of the prompts each process found in its own cache
        rows = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        for r in rows:
            del r["seconds_per_problem"], r["recomputed"], r["usage"]["cached_tokens"]
        return rows

    assert read("two.jsonl") == read("one.jsonl") and len(read("one.jsonl")) == 3  # greedy unbudgeted and capped


def test_worker_errors_are_plain():
    from ponder.shards import EvalWorkers

    with pytest.raises(UserError, match="at least 1"):
        EvalWorkers(0)
    bad = run_ponder("eval", "--limit", "2", "--ray-address", "127.0.0.1:1", check=False)
    assert bad.returncode != 0 and "--ray-address needs --workers" in bad.stderr
    missing = run_ponder("eval", "--limit", "2", "--workers", "2", "--model", "no/such/model", check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr and "no/such/model" in missing.stderr
