import sys

import pytest
import torch
from conftest import needs_module

from ponder.backends.nano import NanoPolicy
from ponder.cli import build_parser
from ponder.errors import UserError
from ponder.tasks import get_task
from ponder.train.expert import ExpertConfig
from ponder.train.grpo import GRPOConfig
from ponder.train.rollout import rollouts
from ponder.train.workers import rollout_workers, split, weights_version


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))


def completions(groups):
    return [[(r.problem.id, r.completion_ids, r.reward, r.finish_reason) for r in g] for g in groups]


def test_split_keeps_the_order_and_balances():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split([1], 2) == [[1], []]
    assert sum(split(list(range(10)), 4), []) == list(range(10))


def test_no_workers_is_the_plain_in_process_function():
    with rollout_workers(0) as sample:
        assert sample is rollouts
    with pytest.raises(UserError, match="workers"):
        ExpertConfig(workers=-1)
    with pytest.raises(UserError, match="workers"):
        GRPOConfig(workers=-1)


def test_without_ray_the_user_is_told_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` fail
    with pytest.raises(UserError, match=r'pip install -e "\.\[ray\]"'):
        with rollout_workers(2):
            pass


def test_cli_maps_workers_onto_the_config():
    args = build_parser().parse_args(["train", "grpo", "--workers", "2", "--ray-address", "auto"])
    assert (args.workers, args.ray_address) == (2, "auto")
    assert build_parser().parse_args(["train", "ei"]).workers is None  # the recipe's (0) stays


def test_weights_version_moves_with_every_optimizer_step(tiny_model):
    before = weights_version(tiny_model)
    assert weights_version(tiny_model) == before
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1)
    tiny_model(torch.tensor([[1, 2, 3]])).sum().backward()
    opt.step()
    assert weights_version(tiny_model) != before


def test_two_ray_workers_sample_what_the_trainer_would_with_its_current_weights():
    ray = needs_module("ray", "pip install 'ponder[ray]'")
    task = get_task("countdown-3")
    problems = task.problems("train", 3, seed=5)
    policy = NanoPolicy.load()
    kw = dict(group=2, temperature=1.0, seed=1, max_tokens=192)
    try:
        with rollout_workers(2) as sample:
            here, there = rollouts(policy, task, problems, **kw), sample(policy, task, problems, **kw)
            assert completions(there) == completions(here)  # seeds follow the prompt, not the worker
            with torch.no_grad():  # a weight change as a training step makes it (sharper: shorter samples)
                policy.model.norm.weight.mul_(2.0)
            policy.reset_cache()
            changed = rollouts(policy, task, problems, **kw)
            assert completions(changed) != completions(here)
            assert completions(sample(policy, task, problems, **kw)) == completions(changed)
        assert not ray.is_initialized()  # the workers' Ray is shut down with them
    finally:
        ray.shutdown()
