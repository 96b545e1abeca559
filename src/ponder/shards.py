"""Evaluation on many processes: ``ponder eval --workers N`` and ``ponder sweep --workers N``.

``EvalWorkers`` starts Ray (a local one, or joins the cluster at ``address``) and N actors, each
loading its own copy of the policy from the same ``--model`` / ``--backend`` (and, once asked for
it, of each reward model). ``evaluate(..., workers=pool)`` then hands its chunks of problems to the
actors in turn and reads their results back in the problems' order, so rows are written as they
would be by one process, and a crash loses only the chunks in flight (``--resume`` goes on).

Rows do not depend on the number of workers: a problem's search is seeded by the run's seed and
its own prompt, not by what runs beside it (see ``ponder.evaluate``), and every answer is checked
by rule in the calling process. What can change is the last bits of logits when problems share a
forward pass with different neighbours; a token changes only where that moves a sample across a
boundary. The tests compare 0 and 2 workers row for row.

Each actor gets the machine's cores divided among the workers as torch threads. On a cluster,
ponder and the model must be installed at the same path on every node.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

from ponder.errors import UserError
from ponder.train.workers import _import_ray, start_ray, stop_ray
from ponder.types import Problem


class EvalActor:
    """One Ray actor: a policy of its own and the reward models it was asked for, by name."""

    def __init__(self, model: str | None, backend: str | None, threads: int):
        import torch

        from ponder.backends import load_policy

        torch.set_num_threads(threads)
        self.policy = load_policy(model, backend)
        self.rewards: dict = {}

    def run(self, strategy, reward: str | None, task, problems: list[Problem], budget: int | None, seed: int):
        from ponder.rewards import get_reward

        if reward and reward not in self.rewards:
            self.rewards[reward] = get_reward(reward, task)
        judge = self.rewards.get(reward) if reward else None
        if judge is not None:
            judge.reset_cache()  # charged for these problems only, as one process charges them
        return strategy.run(problems, self.policy, judge, budget, seed, task=task)


class EvalWorkers:
    """N actors that run a strategy on chunks of problems; see the module's docstring."""

    def __init__(self, workers: int, model: str | None = None, backend: str | None = None, address: str = "",
                 threads: int = 0):
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        self.ray = ray = _import_ray()
        self.workers = workers
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.started = start_ray(ray, workers, address)
        actor = ray.remote(num_cpus=1)(EvalActor)
        self.actors = [actor.remote(model, backend, threads) for _ in range(workers)]

    def chunk(self, n: int, largest: int) -> int:
        """A chunk size for ``n`` problems: two chunks per worker (handed out in turn), large
        enough to batch well, small enough that rows reach the output file before the end."""
        return max(1, min(largest, -(-n // (2 * self.workers))))

    def map(self, chunks: Sequence[list[Problem]], strategy, reward: str | None, task, budget: int | None,
            seed: int) -> Iterator[list]:
        """Each chunk's results, in order, as they come (chunk i runs on actor i mod N)."""
        pending = [self.actors[i % self.workers].run.remote(strategy, reward, task, chunk, budget, seed)
                   for i, chunk in enumerate(chunks)]
        try:
            for ref in pending:
                yield self._get(ref)
        finally:
            for ref in pending:
                self.ray.cancel(ref)

    def _get(self, ref):
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as e:  # the actor's own error, e.g. a UserError loading the model
            cause = e.as_instanceof_cause()
            if isinstance(cause, UserError):
                raise UserError(str(cause).splitlines()[-1]) from None
            raise

    def close(self) -> None:
        stop_ray(self.ray, self.actors, self.started)
        self.actors = []

    def __enter__(self) -> "EvalWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
