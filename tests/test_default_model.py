"""The shipped policies: the default (nano-v2), the policy it was trained from (nano-v2-sft), the
default before them (nano-rl) and the SFT policy that one came from (nano-sft). Each loads by name,
says where it came from, and still scores."""

import pytest

from ponder.backends.nano import DEFAULT_MODEL, SHIPPED_POLICIES, WEIGHTS, NanoPolicy
from ponder.errors import UserError
from ponder.evaluate import evaluate
from ponder.search import get_strategy
from ponder.tasks import get_task

pytestmark = pytest.mark.shipped(*SHIPPED_POLICIES)


@pytest.fixture(scope="module")
def policy():
    return NanoPolicy.load()


def test_the_default_is_nano_v2_and_every_shipped_one_loads_by_name(policy):
    assert DEFAULT_MODEL == WEIGHTS / "nano-v2" and policy.name == "nano-v2"
    for name in SHIPPED_POLICIES:
        shipped = NanoPolicy.load(name)
        assert shipped.name == name and shipped.meta["commit"] and shipped.meta["commit"] != "unknown"
        assert sum(f.stat().st_size for f in (WEIGHTS / name).iterdir()) <= 25 * 2**20
    with pytest.raises(UserError, match="nano-v2, nano-v2-sft, nano-v2-par, nano-rl, nano-sft"):
        NanoPolicy.load("nano-large")


def test_the_sft_policy_records_its_recipe_and_still_scores():
    policy = NanoPolicy.load("nano-sft")
    meta = policy.meta
    assert meta["recipe"] == "nano-default" and meta["wall_time_s"] > 0 and meta["steps"] > 0
    task = get_task("countdown-3")
    report = evaluate(task, task.problems("test", 20), policy, get_strategy("greedy"))
    assert report.accuracy >= 0.6, report.summary()


@pytest.mark.parametrize("task_name,floor", [("countdown-3", 0.6), ("countdown", 0.2), ("game24", 0.25)])
def test_it_still_scores(policy, task_name, floor):
    """Greedy accuracy on 40 held-out problems, far above what a broken model gets (0%).

    The floors sit well below the measured accuracies in the README, so only a real regression
    (weights that no longer load right, a changed tokenizer or prompt) fails this test.
    """
    task = get_task(task_name)
    split = "test-unseen" if task_name == "countdown" else "test"
    report = evaluate(task, task.problems(split, 40), policy, get_strategy("greedy"))
    assert report.accuracy >= floor, report.summary()


def test_the_default_says_how_it_was_made(policy):
    """nano-v2: nano-v2-sft trained on by its recipe; the config it recorded is the recipe's."""
    from dataclasses import replace

    from ponder.train.config import build
    from ponder.train.recipes import load_recipe
    from ponder.train.sft import SFTConfig

    meta = policy.meta
    assert meta["recipe"] == "nano-v2-more" and meta["commit"] and set(meta["trace_styles"]) >= {"direct", "search"}
    recipe = load_recipe("nano-v2-more", SFTConfig)
    assert recipe.init == "nano-v2-sft" and meta["steps"] == recipe.steps
    assert replace(build(SFTConfig, meta["config"]), out=recipe.out) == recipe


def test_the_rl_policy_says_how_it_was_made():
    """nano-rl: two GRPO stages on nano-sft; each stage's config is its recipe's."""
    from ponder.train.config import leaves
    from ponder.train.grpo import GRPOConfig
    from ponder.train.recipes import load_recipe

    meta = NanoPolicy.load("nano-rl").meta
    assert [s["recipe"] for s in meta["stages"]] == ["grpo-oracle"] and meta["recipe"] == "grpo-long"
    default = leaves(GRPOConfig())
    for made in (*meta["stages"], meta):
        recipe = leaves(load_recipe(made["recipe"], GRPOConfig))
        assert all(recipe[k] == v for k, v in made["config"].items() if k != "out")
        assert all(recipe[k] == default[k] for k in recipe.keys() - made["config"].keys())  # fields added since
        assert made["commit"] and made["steps"] == recipe["steps"]


@pytest.mark.parametrize("style,floor", [("search", 0.3), ("direct", 0.05)])
@pytest.mark.parametrize("name,recipe", [("nano-v2-sft", "nano-v2"), ("nano-v2", "nano-v2-more")])
def test_the_v2_policies_reason_in_the_style_their_prompt_asks_for(name, recipe, style, floor):
    """nano-v2-sft and nano-v2: one model, two ways to reason. Asked for ``direct``, it writes one
    operation a line (tens of tokens, where its written-out search takes hundreds); either way it
    still scores."""
    policy = NanoPolicy.load(name)
    assert policy.meta["recipe"] == recipe and set(policy.meta["trace_styles"]) >= {"direct", "search"}
    task = get_task("game24")
    n = 100 if style == "direct" else 40  # a direct path costs a tenth of the tokens
    report = evaluate(task, task.problems("test", n), policy, get_strategy("greedy", style=style))
    assert report.accuracy >= floor, report.summary()
    tokens = sorted(r["tokens"] for r in report.records)
    median = tokens[len(tokens) // 2]
    assert median < 120 if style == "direct" else median > 200, tokens


def test_the_parallel_policy_thinks_in_threads_and_still_scores():
    """nano-v2-par: asked for ``parallel``, the root hands states to threads decoded side by side,
    so its longest chain of sequential tokens is a fraction of all it spent; it still scores (85.5%
    of 200 unseen targets in the README, 10 of these 12; a broken model gets 0)."""
    policy = NanoPolicy.load("nano-v2-par")
    assert policy.meta["recipe"] == "nano-v2-par" and "parallel" in policy.meta["trace_styles"]
    task = get_task("countdown")
    threads = evaluate(task, task.problems("test-unseen", 12), policy, get_strategy("parallel"))
    assert threads.accuracy >= 0.6 and threads.steps_per_problem < 0.6 * threads.tokens_per_problem, threads.summary()


def test_the_parallel_policy_decoded_in_chunks_writes_what_one_call_writes():
    """Threads decoded a few tokens a call (``Parallel.chunk``) go on exactly where a call ended:
    nano decodes each call alone, and ``spliced`` puts back the space between two calls' text."""
    from ponder.backends.base import spliced
    from ponder.search.base import Search, drive
    from ponder.search.parallel import Parallel

    policy = NanoPolicy.load("nano-v2-par")
    assert spliced(policy, "25 - 3", "= 22") == "25 - 3 = 22" and spliced(policy, "22 |\n", "7 10") == "22 |\n7 10"
    task = get_task("countdown")
    problem = task.problems("test-unseen", 1)[0]

    def threads(chunk: int) -> list[str]:
        [root] = drive([Parallel(chunk=chunk).thread(Search(problem, task, policy, None, None, 0), 0)], policy)
        return [t.text for t in (root, *root.all_threads())]

    whole, chunked = threads(0), threads(24)
    assert len(whole) > 2 and chunked == whole
