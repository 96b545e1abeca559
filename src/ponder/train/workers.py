"""Where rollouts are sampled: in the trainer's own process (the default) or on Ray actors.

``rollout_workers(workers, address)`` is a context manager that yields a function with the
signature of ``rollouts``: with ``workers=0`` it is ``rollouts`` itself, nothing else happens and
Ray is never imported. With ``workers=N`` it starts Ray (a local one, or joins the cluster at
``address``) and N actors, each with its own copy of the policy (model and tokenizer, made from
the trainer's model on the first call). Each call then

1. sends the trainer's weights, when they changed since the last call: one ``ray.put`` of the
   state dict per version, which every actor loads before it clears its prefix cache (cached keys
   and values belong to the old weights);
2. splits the problems into N contiguous slices, one per actor, and returns the groups in the
   problems' order.

Results do not depend on the number of workers: the engine seeds each request from the seed and
its prompt, and sample i draws its uniforms from a hash of (that seed, i, step), not from a
generator shared by the batch; and ``rollouts`` gives each problem the room its own prompt
leaves, whichever slice it is in. What does change with the split is which samples share a
forward pass, so logits can differ in their last bits; a token would change only where a uniform
falls within such a rounding of a boundary between two tokens' cumulative probabilities.
The tests check that 0 and 2 workers give identical rollouts.

Ray is an optional dependency: ``pip install -e ".[ray]"``. On a cluster, ponder must be
installed on every node.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Callable, Iterator

from ponder.errors import UserError
from ponder.train.rollout import Rollout, rollouts
from ponder.types import Problem

Sampler = Callable[..., list[list[Rollout]]]
"""``rollouts``'s signature: (policy, task, problems, group, temperature, seed, max_tokens, prefixes, style)."""


@contextmanager
def rollout_workers(workers: int = 0, address: str = "", threads: int = 0) -> Iterator[Sampler]:
    """A ``rollouts`` function for the trainer: in-process (``workers=0``) or on ``workers`` Ray
    actors, started on a local Ray (``address=""``) or on the cluster at ``address``, each with
    ``threads`` torch threads (0: the machine's cores divided among the workers). Ray is shut down
    on exit when this started it."""
    if workers < 0:
        raise UserError(f"workers must be at least 0, got {workers}")
    if workers == 0:
        yield rollouts
        return
    pool = RayRollouts(workers, address, threads)
    try:
        yield pool
    finally:
        pool.close()


def split(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` contiguous slices whose sizes differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(items[start:end])
        start = end
    return out


def weights_version(model) -> tuple:
    """Changes whenever the model's weights do. Torch bumps a tensor's version counter on every
    in-place change (optimizer steps, ``load_state_dict``), and the state dict's detached tensors
    share their parameter's counter: no need to read, hash or compare the weights themselves."""
    return tuple((t.data_ptr(), t._version) for t in model.state_dict().values())


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError('rollout workers need Ray, which is not installed: pip install -e ".[ray]" '
                        '(or pip install "ray>=2")') from None
    return ray


def start_ray(ray, workers: int, address: str = "") -> bool:
    """Start Ray for ``workers`` actors (joining the cluster at ``address``, else a local Ray with
    enough CPUs for every actor to be placed, on a machine with fewer cores than workers too);
    whether this started it (False: it was running already)."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False, logging_level=logging.WARNING)
    return True


def stop_ray(ray, actors: list, started: bool) -> None:
    """Kill ``actors``, and shut Ray down when ``start_ray`` started it."""
    for a in actors:
        ray.kill(a)
    if started and ray.is_initialized():
        ray.shutdown()


class RolloutActor:
    """One Ray actor: a policy of its own, loaded with the trainer's weights, sampling rollouts."""

    def __init__(self, config, tokenizer, threads: int):
        import torch

        from ponder.backends.nano import NanoPolicy
        from ponder.model import Transformer

        torch.set_num_threads(threads)
        self.policy = NanoPolicy(Transformer(config), tokenizer)

    def load(self, state: dict) -> None:
        self.policy.model.load_state_dict(state)
        self.policy.model.eval()
        self.policy.reset_cache()  # cached keys and values belong to the old weights

    def rollouts(self, task, problems: list[Problem], group: int, temperature: float, seed: int, max_tokens: int,
                 prefixes: list[str] | None, style: str = "") -> list[list[Rollout]]:
        return rollouts(self.policy, task, problems, group, temperature, seed, max_tokens, prefixes, style)


class RayRollouts:
    """``rollouts`` on ``workers`` Ray actors; see the module's docstring."""

    def __init__(self, workers: int, address: str = "", threads: int = 0):
        self.ray = ray = _import_ray()
        self.workers = workers
        # Each actor's torch threads: this machine's cores shared among the workers (an actor on
        # another node of a cluster gets the same count). More threads than free cores is far
        # worse than fewer: each operation waits for its slowest thread.
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.started = start_ray(ray, workers, address)
        self.actors: list = []
        self.config = None
        self.sent = None  # (model, weights_version) of the weights the actors hold

    def _start(self, policy) -> None:
        actor = self.ray.remote(num_cpus=1)(RolloutActor)
        self.config = policy.model.cfg
        self.actors = [actor.remote(policy.model.cfg, policy.tokenizer, self.threads) for _ in range(self.workers)]

    def _sync(self, policy) -> None:
        if not self.actors:
            self._start(policy)
        elif policy.model.cfg != self.config:
            raise ValueError("rollout workers were made for a model of another shape")
        version = (id(policy.model), weights_version(policy.model))
        if version != self.sent:
            state = self.ray.put({k: v.detach() for k, v in policy.model.state_dict().items()})
            self.ray.get([a.load.remote(state) for a in self.actors])
            self.sent = version

    def __call__(self, policy, task, problems: list[Problem], group: int, temperature: float = 1.0, seed: int = 0,
                 max_tokens: int = 0, prefixes: list[str] | None = None, style: str = "") -> list[list[Rollout]]:
        if not problems:
            return []
        self._sync(policy)
        prefixes = prefixes or [""] * len(problems)
        n = len(self.actors)
        parts = [(a, p, x) for a, p, x in zip(self.actors, split(problems, n), split(prefixes, n)) if p]
        done = self.ray.get([a.rollouts.remote(task, p, group, temperature, seed, max_tokens, x, style) for a, p, x in parts])
        return [g for groups in done for g in groups]

    def close(self) -> None:
        stop_ray(self.ray, self.actors, self.started)
        self.actors = []
