"""StrategyRequest: what runs for each way of asking, and refusals that name the field, worded by
each surface (the command line's flags, the API's body fields)."""

import pytest

from ponder.cli.common import flag_of
from ponder.search.request import RequestError, StrategyRequest
from ponder.serve.protocol import refused


def test_no_strategy_and_no_effort_is_greedy_without_a_reward_model():
    plan = StrategyRequest().plan()
    assert (plan.strategy.name, plan.reward, plan.budget, plan.effort) == ("greedy", None, None, None)


@pytest.mark.parametrize("level,strategy,reward,n", [
    ("low", "greedy", None, None), ("medium", "majority", None, 8), ("high", "best-of-n", "genrm-cot", 16),
    ("auto", "auto", "genrm-cot", 16)])
def test_an_effort_level_picks_strategy_reward_and_samples(level, strategy, reward, n):
    plan = StrategyRequest(effort=level).plan()
    assert (plan.strategy.name, plan.reward, getattr(plan.strategy, "n", None), plan.effort) == (strategy, reward, n, level)


def test_a_task_with_its_own_level_runs_it_and_other_tasks_run_the_default(monkeypatch):
    from ponder.search import effort

    mine = effort.Effort("beam", "prm", 900, (("width", 2),))
    monkeypatch.setitem(effort.TASK_EFFORTS, "game24", {"high": mine})
    plan = StrategyRequest(effort="high").plan(task="game24")
    assert (plan.strategy.name, plan.strategy.width, plan.reward, plan.budget, plan.effort) == ("beam", 2, "prm", 900, "high")
    for task in ("countdown", None):
        assert StrategyRequest(effort="high").plan(task=task).strategy.name == "best-of-n"
    assert StrategyRequest(effort="low").plan(task="game24").strategy.name == "greedy"
    plan = StrategyRequest(effort="high", budget=300, samples=None).plan(task="game24")
    assert plan.budget == 300  # what the caller names still wins


@pytest.mark.parametrize("task,budget", [("game24", 1500), ("countdown", 16000)])
def test_high_effort_searches_single_steps_for_a_policy_that_writes_them(task, budget):
    """Tree search over ``direct`` steps with the value model where the policy was trained on that
    style (``nano-v2-sft``); a policy that writes only its written-out search keeps the default."""
    plan = StrategyRequest(effort="high").plan(task=task, styles=("search", "direct"))
    assert (plan.strategy.name, plan.reward, plan.budget, plan.strategy.style) == ("best-first", "prm", budget, "direct")
    assert StrategyRequest(effort="high").plan(task=task, styles=("search",)).strategy.name == "best-of-n"
    assert StrategyRequest(effort="high").plan(task="countdown-3", styles=("direct",)).strategy.name == "best-of-n"


def test_what_the_caller_names_wins_over_the_effort_level():
    plan = StrategyRequest(effort="high", samples=4, reward="genrm", budget=900).plan()
    assert (plan.strategy.name, plan.strategy.n, plan.reward, plan.budget) == ("best-of-n", 4, "genrm", 900)
    plan = StrategyRequest(strategy="beam", effort="medium", options={"width": 3}).plan()
    assert (plan.strategy.name, plan.strategy.width, plan.reward, plan.effort) == ("beam", 3, "prm", None)


def test_an_optional_field_is_dropped_where_the_strategy_has_none_and_refused_otherwise():
    assert StrategyRequest(samples=4, optional=("samples",)).plan().strategy.name == "greedy"
    with pytest.raises(RequestError) as e:
        StrategyRequest(samples=4).plan()
    assert e.value.field == "samples" and "does not apply to strategy greedy" in str(e.value)
    assert StrategyRequest(strategy="majority", samples=3, optional=("samples",)).plan().strategy.n == 3


@pytest.mark.parametrize("request_,field,cli,api", [
    (StrategyRequest(budget=0), "budget", "--budget must be a positive number of tokens, got 0",
     "budget must be a positive number of tokens, got 0"),
    (StrategyRequest(samples=4), "samples", "--samples does not apply to strategy greedy",
     "samples does not apply to strategy greedy"),
    (StrategyRequest(strategy="majority", samples=0), "samples", "--samples must be an integer from 1 to 1024, got 0",
     "samples must be an integer from 1 to 1024, got 0"),
    (StrategyRequest(strategy="majority", temperature=-1), "temperature",
     "--temperature must be a number from 0 to 2, got -1", "temperature must be a number from 0 to 2, got -1"),
    (StrategyRequest(strategy="sample", temperature=float("nan")), "temperature",
     "--temperature must be a number from 0 to 2, got nan", "temperature must be a number from 0 to 2, got nan"),
    (StrategyRequest(strategy="beam", options={"expand": 1.5}), "options.expand",
     "--set expand must be an integer from 1 to 64, got 1.5", "strategy_options.expand must be an integer"),
    (StrategyRequest(strategy="auto", options={"confident": "x"}), "options.confident",
     '--set confident must be a number from 0 to 1, got "x"', "strategy_options.confident must be a number"),
    (StrategyRequest(strategy="mcts", options={"choose": None}), "options.choose",
     "--set choose must be given, got null", "strategy_options.choose must be given"),
    (StrategyRequest(effort="extreme"), "effort", "--effort must be one of none, minimal, low, medium, high, xhigh, auto, got 'extreme'",
     "reasoning_effort must be one of none, minimal, low, medium, high, xhigh, auto, got 'extreme'"),
    (StrategyRequest(strategy="beam", options={"wide": 3}), "options.wide",
     "--set wide: strategy beam has no such option", "strategy_options.wide: strategy beam has no such option"),
    (StrategyRequest(strategy="mcts", options={"choose": "luck"}), "options",
     "strategy mcts: choose must be 'visits' or 'value'", "strategy mcts: choose must be 'visits' or 'value'"),
    (StrategyRequest(strategy="telepathy"), "strategy", "unknown strategy 'telepathy'", "unknown strategy 'telepathy'"),
    (StrategyRequest(strategy="beam", reward="oracle"), "reward", "the oracle is the rule verifier",
     "the oracle is the rule verifier"),
])
def test_refusals_name_the_field_and_each_surface_words_it(request_, field, cli, api):
    with pytest.raises(RequestError) as e:
        request_.plan()
    assert e.value.field == field
    assert e.value.worded(flag_of(e.value.field)).startswith(cli)
    error = refused(e.value)
    assert error.status == 400 and error.message.startswith(api)
    assert error.param == {"effort": "reasoning_effort", "options": "strategy_options"}.get(field.split(".")[0],
                                                                                           field.split(".")[0])


def test_a_caller_may_limit_the_reward_models_by_name():
    assert StrategyRequest(strategy="best-of-n").plan(rewards=["genrm-cot"]).reward == "genrm-cot"
    with pytest.raises(RequestError) as e:
        StrategyRequest(strategy="best-of-n", reward="/etc/passwd").plan(rewards=["genrm-cot", "orm"])
    assert e.value.field == "reward" and "choose one of: genrm-cot, orm" in str(e.value)


def test_null_is_taken_where_a_field_may_be_none():
    assert StrategyRequest(strategy="revise", options={"rounds": None}).plan().strategy.rounds is None
