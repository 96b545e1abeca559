"""Expert iteration (STaR, ReST-EM): sample, keep the verified solutions, train on them, repeat.

Each round draws fresh training problems, samples ``group`` attempts at each with the current
policy, keeps up to ``keep`` correct ones per problem whose every step is valid (the shortest:
the least wandering search that still gets there), and takes ``steps_per_round`` optimizer steps of supervised training on
them. The policy's prompt is not trained, its own solution is, ``<eos>`` included. Kept
solutions from the last ``replay`` rounds are trained on together.

The run directory holds ``config.json``, ``metrics.jsonl`` (a line per optimizer step, per round
of rollouts and per evaluation), ``checkpoint/`` (weights, optimizer, RNG, the trainer's state
and the replay buffer, written atomically after each round's sampling and every
``checkpoint_every`` steps) and, at the end, ``model/`` with the recipe and commit in its
metadata. A resumed run ends with the same parameters as one that never stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ponder.model import load_model
from ponder.train.config import OptimConfig, PolicyConfig, Rollouts
from ponder.train.data import Examples, micro_batches
from ponder.train.optim import accumulated_step, collate_examples, language_model_loss
from ponder.train.rollout import Rollout, RolloutStats, held_out_accuracy, rollouts
from ponder.train.run import Metrics, Run
from ponder.train.workers import rollout_workers

BUFFER = "buffer.jsonl"


@dataclass
class ExpertConfig(Rollouts, PolicyConfig):
    out: str = "runs/expert"
    """Run directory: metrics, checkpoint and final model go here."""
    rounds: int = 4
    problems_per_round: int = 128
    group: int = 8
    """Attempts sampled per problem."""
    keep: int = 1
    """Correct attempts kept per problem (the shortest first), so easy problems do not crowd out hard ones."""
    clean: bool = True
    """Keep only attempts whose every step the task's rule checker accepts (where it has one)."""
    replay: int = 2
    """Rounds of kept solutions trained on together (1: only the latest round's)."""
    steps_per_round: int = 20
    tokens_per_step: int = 16384
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4, warmup=10))
    """Constant after the warmup: fine-tuning a trained policy, not training from scratch."""
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        self.at_least(1, "rounds", "problems_per_round", "group", "keep", "replay", "steps_per_round")
        self.at_least(0, "workers")
        self.check_batching()


def kept_solutions(groups: list[list[Rollout]], keep: int, task=None) -> list[Rollout]:
    """Up to ``keep`` distinct correct attempts per problem, shortest first. With a ``task`` that
    checks steps by rule, only attempts whose every line is valid: an attempt sampled at
    temperature 1 often reaches the right answer after a wrong line, and would teach the error."""
    def clean(r: Rollout) -> bool:
        return task is None or not task.checks_steps or all(c.valid for c in task.check_steps(r.problem, r.text))

    out = []
    for g in groups:
        seen, mine = set(), []
        for r in sorted((r for r in g if r.correct and r.finish_reason == "stop" and clean(r)),
                        key=lambda r: len(r.completion_ids)):
            if r.completion_ids not in seen:
                seen.add(r.completion_ids)
                mine.append(r)
        out += mine[:keep]
    return out


def as_examples(solutions: list[Rollout]) -> Examples:
    """Prompt and solution back to back; only the solution is trained."""
    tokens, trained, lengths = [], [], []
    for r in solutions:
        tokens += r.prompt_ids + r.completion_ids
        trained += [False] * len(r.prompt_ids) + [True] * len(r.completion_ids)
        lengths.append(len(r.prompt_ids) + len(r.completion_ids))
    return Examples(np.asarray(tokens, dtype=np.int32), np.asarray(trained, dtype=bool),
                    np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def train_expert(cfg: ExpertConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run expert iteration; returns the directory of the final model (the checkpoint's when
    ``stop_after`` optimizer steps ended it early, as a crash would)."""
    with rollout_workers(cfg.workers, cfg.ray_address) as sample:
        return train_rounds(cfg, resume, progress, stop_after, sample)


def train_rounds(cfg: ExpertConfig, resume: bool, progress: bool, stop_after: int | None, sample,
                 sample_round=None, evaluate=held_out_accuracy, metadata: dict | None = None, record=None) -> Path:
    """The round loop of expert iteration and its relatives (``ponder.train.rise``): each round
    ``sample_round(policy, task, cfg, r, state, metrics, progress, sample)`` returns the solutions
    to train on (``Rollout``s: the completion is trained, the prompt ids are not; default: expert
    iteration's), then ``steps_per_round`` optimizer steps on the last ``replay`` rounds' of them;
    ``evaluate(policy, task, cfg, state, metrics, progress)`` writes the held-out line before the
    first round and after each; ``metadata`` goes into the model's metadata. ``record``: the whole
    config of a trainer that holds ``cfg`` as a part (``RiseConfig.expert``), for the run to record."""
    from ponder.backends.nano import NanoPolicy, model_path
    from ponder.tasks import get_task

    task = get_task(cfg.task)
    init = model_path(cfg.init, check=not resume)
    run = Run(cfg.out, cfg, resume=resume, progress=progress, stop_after=stop_after, record=record)
    model, tokenizer, optimizer, state = run.start(lambda: load_model(init)[:2], cfg.optim.optimizer, cfg.seed, {
        "step": 0, "round": 0, "sampled": -1, "micro_batches": 0, "tokens": 0, "trained_tokens": 0,
        "rollout_tokens": 0, "wall_time_s": 0.0})
    buffer = [[Rollout.from_json(json.loads(line)) for line in rnd.splitlines()]
              for rnd in (run.read(BUFFER) or "").split("\n\n") if rnd.strip()] if resume else []
    run.meta.update({"init": str(cfg.init or init.name), **(metadata or {})})
    run.inherit(init)
    policy = NanoPolicy(model, tokenizer)
    sample_round = sample_round or _sample_round

    def save() -> None:
        text = "\n\n".join("\n".join(json.dumps(r.to_json()) for r in rnd) for rnd in buffer)
        run.save(model, tokenizer, optimizer, state, files={BUFFER: text})

    if not resume and cfg.eval_problems:
        evaluate(policy, task, cfg, state, run.metrics, progress)
    while state["round"] < cfg.rounds:
        r = state["round"]
        if state["sampled"] < r:
            buffer = (buffer + [sample_round(policy, task, cfg, r, state, run.metrics, progress, sample)])[-cfg.replay:]
            state["sampled"] = r
            save()
        data = as_examples([s for rnd in buffer for s in rnd])
        end = (r + 1) * cfg.steps_per_round
        if len(data) == 0:  # nothing solved: nothing to learn this round
            state["step"] = end
            state["round"] += 1
            save()
            continue
        stream = micro_batches(data.lengths(), cfg.micro_tokens, cfg.seed * 1000 + r)
        for _ in range((state["step"] - r * cfg.steps_per_round) * cfg.accumulation):  # what this round has read
            next(stream)
        model.train()
        started = time.perf_counter() - state["wall_time_s"]
        with run.steps(end, state["step"], f"round {r + 1}/{cfg.rounds}") as bar:
            while state["step"] < end:
                micro = [collate_examples(data, next(stream), tokenizer.pad_id) for _ in range(cfg.accumulation)]
                lr = cfg.optim.lr_at(state["step"], cfg.rounds * cfg.steps_per_round)
                row = accumulated_step(model, optimizer, micro, partial(language_model_loss, model), lr,
                                       cfg.optim.grad_clip, state)
                state["wall_time_s"] = time.perf_counter() - started
                run.log({"step": state["step"], **row, "round": r + 1, "time/elapsed_s": state["wall_time_s"]})
                bar.update(1)
                if run.end_step(state["step"], last=state["step"] == end, save=save):
                    return run.checkpoint
        policy.reset_cache()  # cached keys and values belong to the old weights
        state["round"] += 1
        if cfg.eval_problems:
            evaluate(policy, task, cfg, state, run.metrics, progress)
        save()
    meta = dict(wall_time_s=round(state["wall_time_s"], 1), steps=state["step"], rounds=state["round"],
                trained_tokens=state["trained_tokens"], rollout_tokens=state["rollout_tokens"], params=model.num_params())
    return run.finish(model, tokenizer, meta=meta)


def _sample_round(policy, task, cfg: ExpertConfig, r: int, state: dict, metrics: Metrics, progress: bool,
                  sample=rollouts) -> list[Rollout]:
    started = time.perf_counter()
    problems = task.problems("train", cfg.problems_per_round, seed=cfg.seed * 1000 + r + 1)
    groups = sample_chunks(sample, policy, task, problems, cfg.group, cfg.temperature, cfg.max_tokens,
                           cfg.seed * 1000 + r, f"round {r + 1}/{cfg.rounds}: sampling", progress)
    kept = kept_solutions(groups, cfg.keep, task if cfg.clean else None)
    generated = sum(len(x.completion_ids) for g in groups for x in g)
    seconds = time.perf_counter() - started
    state["rollout_tokens"] += generated
    state["wall_time_s"] += seconds
    metrics.write({"step": state["step"], "round": r + 1, **RolloutStats.of(groups).to_metrics(), "rollout/kept": len(kept),
                   "rollout/tokens": generated, "rollout/tokens_per_s": generated / seconds,
                   "time/elapsed_s": state["wall_time_s"]})
    return kept


def sample_chunks(sample, policy, task, problems, group: int, temperature: float, max_tokens: int, seed: int,
                  desc: str, progress: bool, prefixes: list[str] | None = None) -> list[list[Rollout]]:
    """``sample``'s (``rollouts``') groups of attempts at ``problems``, after ``prefixes`` when
    given, about 64 attempts a call, under a progress bar."""
    from tqdm import tqdm

    groups = []
    chunk = max(1, 64 // group)
    with tqdm(total=len(problems), desc=desc, unit="problem", disable=not progress) as bar:
        for start in range(0, len(problems), chunk):
            more = {"prefixes": prefixes[start:start + chunk]} if prefixes else {}
            groups += sample(policy, task, problems[start:start + chunk], group, temperature, seed=seed,
                             max_tokens=max_tokens, **more)
            bar.update(min(chunk, len(problems) - start))
    return groups
