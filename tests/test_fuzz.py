"""Generated hostile input at every entry point: whatever a user types or sends, ponder answers with
its own one-line refusal (``UserError``, ``ApiError``) or a valid result, never anything else.

``PONDER_FUZZ_EXAMPLES`` sets the examples per property (default 150; the closing note of issue 31
ran 10,000 each). The regression tables of hand-written cases are in test_cli.py and test_serve.py.
"""

import json
import math
import os

import pytest
from conftest import in_ci, needs_module

needs_module("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ponder.errors import UserError
from ponder.search.request import RequestError, StrategyRequest
from ponder.serve.protocol import ApiError, parse_chat, parse_completion, parse_json
from ponder.tasks import get_task
from ponder.tasks.base import parse_problem

EXAMPLES = int(os.environ.get("PONDER_FUZZ_EXAMPLES", "150"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=in_ci())  # the same examples every CI run: a failure there reproduces

# JSON values as a hostile client sends them: odd numbers, long digit strings, nesting, text
numbers = st.one_of(st.integers(min_value=-10 ** 30, max_value=10 ** 30), st.floats(allow_nan=True),
                    st.sampled_from([0, -1, 1, 2 ** 63, 1e308, -0.0]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30),
                    st.sampled_from(["", "abc", "9" * 5000, "² 3 7 9 -> 66", "25 3 7 9 -> 66", "nan", "1e30"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=12)
STRATEGY_FIELDS = ["n", "temperature", "top_p", "width", "expand", "batch", "probe", "agree", "confident", "prune",
                   "simulations", "parallel", "c_puct", "choose", "rounds", "waits", "style", "pick", "verdicts",
                   "verify_tokens", "balance", "accept", "scored", "max_parts", "nope"]
STRATEGIES = ["greedy", "sample", "majority", "weighted-vote", "best-of-n", "adaptive", "auto", "beam", "tot", "dvts",
              "rebase", "best-first", "mcts", "think", "revise", "self-verify", "plan-solve", "telepathy", None]


@fuzz
@given(text=st.one_of(st.text(max_size=80), st.lists(st.sampled_from(
    ["25", "3", "7", "9", "->", "66", "-1", "0", "²", "٣", "1e3", "2.5", "9" * 40, ",", "-> ->", " "]), max_size=9)
    .map(" ".join)),
    task=st.sampled_from(["countdown", "countdown-3", "game24", "arith", "math"]))
def test_a_typed_problem_is_a_problem_or_a_user_error(text, task):
    t = get_task(task)
    try:
        problem = parse_problem(t, [text])
    except UserError:
        return
    if not t.free_text and task != "arith":
        t.make_problem(list(problem.numbers), problem.target)  # what was made passes the task's own checks


@fuzz
@given(body=st.dictionaries(st.sampled_from(["messages", "reasoning_effort", "strategy", "strategy_options", "budget",
                                             "samples", "reward", "n", "temperature", "max_tokens", "stop", "seed",
                                             "stream", "stream_options", "max_completion_tokens", "include_reasoning"]),
                            json_values, max_size=6),
       content=scalars)
def test_a_chat_body_is_a_request_or_an_api_error(body, content):
    body = {"messages": [{"role": "user", "content": content}], **body}
    try:
        request = parse_chat(body, "low", 20_000)
        request.search.plan(["genrm-cot", "prm"])
    except (ApiError, RequestError):
        return


@fuzz
@given(body=st.dictionaries(st.sampled_from(["prompt", "n", "temperature", "top_p", "top_k", "max_tokens", "stop",
                                             "seed", "logprobs", "stream", "strategy"]), json_values, max_size=6))
def test_a_completion_body_is_a_request_or_an_api_error(body):
    try:
        parse_completion(body, 1536)
    except ApiError:
        return


@fuzz
@given(raw=st.one_of(st.binary(max_size=200), st.builds(lambda v: json.dumps(v).encode(), json_values),
                     st.integers(min_value=1, max_value=3000).map(lambda k: b"[" * k + b"]" * k)))
def test_any_bytes_are_a_body_or_an_api_error(raw):
    try:
        assert isinstance(parse_json(raw), dict)
    except ApiError as e:
        assert e.status == 400


@fuzz
@given(strategy=st.sampled_from(STRATEGIES), effort=st.sampled_from([None, "low", "medium", "high", "auto", "", "x"]),
       options=st.dictionaries(st.sampled_from(STRATEGY_FIELDS), scalars, max_size=3),
       samples=st.one_of(st.none(), numbers), temperature=st.one_of(st.none(), numbers),
       budget=st.one_of(st.none(), st.integers(min_value=-5, max_value=10 ** 6)))
def test_a_strategy_request_plans_a_strategy_or_names_the_field(strategy, effort, options, samples, temperature,
                                                                budget):
    request = StrategyRequest(strategy, effort, None, budget, samples, temperature, options)
    try:
        plan = request.plan()
    except RequestError as e:
        assert e.field.split(".")[0] in ("strategy", "effort", "reward", "budget", "samples", "temperature", "options")
        return
    for name, value in vars(plan.strategy).items():  # no NaN or infinity gets through
        assert not isinstance(value, float) or math.isfinite(value), name


@fuzz
@given(items=st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(STRATEGY_FIELDS + ["task.x", "", "="]),
                                st.one_of(st.text(max_size=12), st.builds(json.dumps, json_values))), max_size=3))
def test_set_options_plan_or_fail_with_one_line(items):
    from types import SimpleNamespace

    from ponder.cli.common import plan_of

    args = SimpleNamespace(strategy="majority", effort=None, reward=None, budget=None, n=None, temperature=None,
                           set=items)
    try:
        plan_of(args)
    except UserError as e:
        assert "\n" not in str(e)


@fuzz
@given(values=st.dictionaries(st.sampled_from(["steps", "lr", "examples", "warmup", "tokens_per_step", "micro_tokens",
                                               "seed", "eval_problems", "min_lr", "weight_decay", "grad_clip", "nope",
                                               "optim.lr", "model.d_model"]), json_values, max_size=3))
def test_a_trainer_config_is_built_or_refused_with_a_user_error(values):
    from ponder.train.config import build
    from ponder.train.sft import SFTConfig

    try:
        build(SFTConfig, values)
    except UserError:
        return


@pytest.mark.parametrize("text", ["9" * 5000, "²", "\x00", "\u202e", "[" * 2000])
def test_problem_text_edge_cases(text):
    with pytest.raises(UserError):
        parse_problem(get_task("countdown"), [f"{text} 3 7 -> 66"])
