"""GRPO: group-relative policy optimisation against the rule verifier, with optional process rewards.

Each step draws ``problems_per_step`` fresh training problems and samples ``group`` attempts at
each. An attempt's outcome advantage is its reward minus its group's mean (divided by the group's
spread only with ``scale_rewards``: Dr. GRPO drops it, as it favours groups that barely differ).
With a ``process_reward`` model, each step (line) of an attempt is also scored; step scores are
normalised over the group and every token gets, added to its outcome advantage, ``process_weight``
times the sum of the normalised scores of its own step and the steps after it (process
supervision as in DeepSeekMath). The process reward may be a learned PRM or the rule oracle
(``oracle``): its exact step values, judged within the room an attempt has, so the credit falls
on the line where the attempt lost its way, or wasted so much of its context that it could no
longer finish. The loss is PPO's clipped surrogate, ``epochs`` passes over the
batch, with an optional KL penalty to the initial policy (the k3 estimator), summed over tokens
and divided by a constant, sequences times the context length (Dr. GRPO's normalisation: no
preference for short or long answers).

Checkpoints hold the weights, optimizer, RNG and step; a step's problems and samples depend only
on the seed, the step and the weights, so a resumed run redraws them and ends with the same
parameters as one that never stopped. Metrics: ``rollout/*`` (reward mean and spread, groups with
zero advantage, lengths, truncation), ``train/kl``, ``train/clip_fraction``, ``train/loss``, and
greedy accuracy on held-out problems with the training compute spent.

Problems. Each step's are drawn fresh from the training split. With ``long_search``, only those
whose full search (every dead end tried, the way greedy decoding writes it) is longer than that
many tokens and still fits the context are kept: a curriculum of the long searches in which a
small policy loses its place, where most of its greedy failures are (``benchmarks/greedy_failures.py``),
so that no step is spent on problems it already solves in a few lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ponder.errors import UserError
from ponder.model import load_model
from ponder.rewards.value import padded_batches
from ponder.tasks.base import ANSWER_PREFIX
from ponder.train.config import OptimConfig, PolicyConfig, Rollouts
from ponder.train.optim import apply_gradients, set_lr, token_logprobs
from ponder.train.rollout import Rollout, RolloutStats, held_out_accuracy, rollouts, thread_rollouts
from ponder.train.run import Run
from ponder.train.workers import rollout_workers

NORMALISE = ("constant", "tokens", "sequence")


@dataclass
class GRPOConfig(Rollouts, PolicyConfig):
    out: str = "runs/grpo"
    """Run directory: metrics, checkpoint and final model go here."""
    steps: int = 40
    problems_per_step: int = 8
    group: int = 8
    """Attempts per problem: the group whose mean reward is each attempt's baseline."""
    long_search: int = 0
    """Train only on problems whose full search (every dead end tried, as greedy decoding writes it)
    takes more than this many tokens and still fits the context: the long searches in which a
    policy loses its place (tasks with search traces; 0: every problem)."""
    wrong_answer: float = 0.0
    """Outcome reward of an attempt that writes a wrong answer (the verifier gives it 0, as it does
    one cut off or with no answer). Below 0, a made-up answer scores worse than a search that runs
    out of room, so a policy is not paid to guess when its search runs long."""
    invalid_step: float = 0.0
    """Added to the process score of each step the task's rule step checker rejects (wrong
    arithmetic, numbers not at hand; tasks with a step checker, with a ``process_reward``), so the
    blame for a made-up step falls on its own line."""
    wrong_answer_line: float = 0.0
    """Added to the advantage of each token of the answer line of an attempt whose answer is wrong,
    and of no token before it, so an answer written wrong after a search that found its way is
    blamed on the line where it went wrong."""
    scale_rewards: bool = False
    """Divide advantages by the group's standard deviation (the original GRPO); Dr. GRPO does not."""
    process_reward: str | None = None
    """A reward model scoring each step (``prm``, ``oracle`` for the rule checker's exact step values,
    or a model directory); None: outcome rewards only."""
    process_weight: float = 0.5
    style: str = ""
    """The trace style attempts are asked for, and greedy evaluation too ("": the task's default;
    ``direct``: one operation a line, the proposals of tree search); the policy must know it.
    ``parallel``: each attempt is a parallel search's threads (``thread_rollouts``, sampled in this
    process), the root's reward the advantage of every thread's tokens, evaluated greedily with the
    ``parallel`` strategy."""
    copy: bool = True
    """Parallel attempts: the runtime copies out the first path a thread found (``Parallel.copy``),
    in rollouts and evaluation alike; False: the policy copies it, and is trained on its copy."""
    thread_weight: float = 0.0
    """Parallel attempts: each thread's tokens get, beside the attempt's advantage, this times the
    advantage of its own result (``Rollout.own``: by rule, a right path found from the state it was
    handed, or no path claimed from a state with none) over the other threads handed the same state in its
    group. A thread is paid for its own search, not only for the root's answer; 0: the attempt's
    advantage alone (the issue's end-to-end GRPO)."""
    epochs: int = 1
    """Passes over each step's samples; with more than one, the clipped ratio matters."""
    clip: float = 0.2
    kl: float = 0.0
    """Weight of the KL penalty to the initial policy (0: no reference model is kept)."""
    normalise: str = "constant"
    """How the summed token losses are divided: ``constant`` (sequences x context, Dr. GRPO),
    ``tokens`` (tokens in the batch) or ``sequence`` (each sequence's own length, the original GRPO)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Constant after the warmup: fine-tuning a trained policy."""
    checkpoint_every: int = 5
    eval_every: int = 10

    def __post_init__(self) -> None:
        self.at_least(1, "steps", "problems_per_step", "epochs", "eval_every")
        self.at_least(0, "workers", "long_search")
        if self.group < 2:
            raise UserError(f"group must be at least 2 (advantages are relative to the group), got {self.group}")
        if self.invalid_step and not self.process_reward:
            raise UserError("invalid_step adds to step scores, so it needs a process_reward (e.g. \"oracle\")")
        if self.thread_weight and self.style != "parallel":
            raise UserError("thread_weight weighs a parallel attempt's threads: it needs style = \"parallel\"")
        if self.style == "parallel" and self.process_reward:
            raise UserError("process rewards score one chain's steps; parallel attempts get the root's outcome reward only")
        if self.normalise not in NORMALISE:
            raise UserError(f"normalise must be one of {', '.join(NORMALISE)}, got {self.normalise!r}")


# --------------------------------------------------------------------------- advantages


def outcome_advantages(rewards: list[float], scale: bool = False) -> list[float]:
    r = np.asarray(rewards, dtype=float)
    a = r - r.mean()
    if scale:
        a = a / (r.std() + 1e-6)
    return a.tolist()


def answered_wrong(rollout: Rollout, task) -> bool:
    """Did the attempt write an answer, and a wrong one (not cut off, not without an answer)?"""
    return not rollout.correct and task.answer(rollout.prefix + rollout.text) is not None


def outcome_reward(rollout: Rollout, task, wrong_answer: float) -> float:
    """The verifier's reward, or ``wrong_answer`` for an attempt that wrote an answer and got it wrong."""
    return wrong_answer if wrong_answer and answered_wrong(rollout, task) else rollout.reward


def with_invalid_steps(rollout: Rollout, task, scores: list[float], penalty: float) -> list[float]:
    """``scores`` (one per step of the completion) with ``penalty`` added where the task's rule
    step checker rejects the step; unchanged for a task without one."""
    if not task.checks_steps or not scores:
        return scores
    checks = task.check_steps(rollout.problem, rollout.prefix + rollout.text)[-len(scores):]
    return [s + (penalty if not c.valid else 0.0) for s, c in zip(scores, checks)]


def line_bounds(rollout: Rollout, newline_id: int) -> list[tuple[int, int]]:
    """[start, end) in ``completion_ids`` of each line of the completion (the tokens before a
    newline token), one per line of ``rollout.text``."""
    bounds, start = [], 0
    for i, t in enumerate(rollout.completion_ids):
        if t == newline_id:
            bounds.append((start, i))
            start = i + 1
    bounds.append((start, len(rollout.completion_ids)))
    return bounds


def step_ends(rollout: Rollout, newline_id: int, steps: list[str]) -> list[int]:
    """Index in ``completion_ids`` of the last token of each step: the lines of the completion
    that are among ``steps``, in order."""
    ends, wanted = [], list(steps)
    for line, (a, b) in zip(rollout.text.split("\n"), line_bounds(rollout, newline_id)):
        if wanted and line == wanted[0] and b > a:
            wanted.pop(0)
            ends.append(b - 1)
    return ends


def answer_line(rollout: Rollout, newline_id: int) -> tuple[int, int] | None:
    """[start, end) in ``completion_ids`` of the line the answer is read from (the last with the
    answer marker), or None when the completion has none."""
    lines = list(zip(rollout.text.split("\n"), line_bounds(rollout, newline_id)))
    return next((bounds for line, bounds in reversed(lines) if ANSWER_PREFIX in line), None)


def step_scorer(cfg: GRPOConfig, task, policy):
    """The process reward model; the rule oracle (``oracle``) judges each step within the room an
    attempt has, so a search that wastes it scores 0 from the step where finishing stopped being
    possible."""
    from ponder.rewards import get_reward

    if cfg.process_reward != "oracle":
        return get_reward(cfg.process_reward, task)
    prompt = max(policy.count_tokens(task.prompt(p, cfg.style)) for p in task.problems("train", 64, seed=0)) + 1  # + <bos>
    room = policy.max_context - prompt
    return get_reward("oracle", task, room=min(room, cfg.max_tokens) if cfg.max_tokens else room)


def process_advantages(groups_scores: list[list[float]], ends: list[list[int]], lengths: list[int]) -> list[np.ndarray]:
    """Per-token process advantages of one group: step scores normalised over the group, and each
    token credited with the normalised scores of its step and every later one."""
    flat = np.asarray([s for scores in groups_scores for s in scores], dtype=float)
    mean, std = (flat.mean(), flat.std() + 1e-6) if len(flat) else (0.0, 1.0)
    out = []
    for scores, e, n in zip(groups_scores, ends, lengths):
        adv = np.zeros(n)
        for s, end in zip(scores, e):
            adv[: end + 1] += (s - mean) / std
        out.append(adv)
    return out


# --------------------------------------------------------------------------- training


def _batches(samples: list[tuple[Rollout, np.ndarray]], pad_id: int, micro_tokens: int):
    """(x, advantages, mask) micro-batches of like length, each at most ``micro_tokens`` padded
    tokens: prompt + completion, right-padded; the mask and advantages line up with
    ``token_logprobs`` (position t predicts token t+1)."""
    seqs = [r.prompt_ids + r.completion_ids for r, _ in samples]
    for rows, x in padded_batches(seqs, pad_id, micro_tokens):
        adv = torch.zeros(len(rows), x.shape[1] - 1)
        mask = torch.zeros(len(rows), x.shape[1] - 1)
        for i, k in enumerate(rows):
            r, a = samples[k]
            p, n = len(r.prompt_ids), len(r.completion_ids)
            trained = torch.ones(n) if r.trained is None else torch.tensor(r.trained, dtype=torch.float32)
            adv[i, p - 1: p - 1 + n] = torch.as_tensor(a, dtype=torch.float32) * trained
            mask[i, p - 1: p - 1 + n] = trained
        yield x, adv, mask


def train_grpo(cfg: GRPOConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None,
               step=None, desc: str = "grpo", record=None) -> Path:
    """Run GRPO; returns the directory of the final model (the checkpoint's when ``stop_after``
    steps ended it early, as a crash would). ``step`` replaces one step (``_step``'s signature,
    ``sample`` included: it samples with the workers' ``rollouts``) for a trainer built on this
    loop, such as the reverse curriculum (``ponder.train.curriculum``), whose whole config (``record``)
    the run directory then records."""
    with rollout_workers(cfg.workers, cfg.ray_address) as sample:
        return _train_grpo(cfg, resume, progress, stop_after, partial(step or _step, sample=sample), desc, record)


def _train_grpo(cfg: GRPOConfig, resume: bool, progress: bool, stop_after: int | None, step, desc: str,
                record=None) -> Path:
    from ponder.backends.nano import NanoPolicy, model_path
    from ponder.search.base import knows_style
    from ponder.tasks import get_task

    task = get_task(cfg.task)
    init = model_path(cfg.init, check=not resume)
    run = Run(cfg.out, cfg, resume=resume, progress=progress, stop_after=stop_after, record=record)
    model, tokenizer, optimizer, state = run.start(lambda: load_model(init)[:2], cfg.optim.optimizer, cfg.seed,
                                                   {"step": 0, "rollout_tokens": 0, "trained_tokens": 0, "wall_time_s": 0.0})
    reference = None
    if cfg.kl > 0:
        reference, _, _ = load_model(init)
        reference.eval().requires_grad_(False)
    run.meta["init"] = str(cfg.init or init.name)
    run.inherit(init)
    policy = NanoPolicy(model, tokenizer, run.meta)
    knows_style(policy, task, cfg.style)
    prm = step_scorer(cfg, task, policy) if cfg.process_reward else None

    def save() -> None:
        run.save(model, tokenizer, optimizer, state)

    if not resume and cfg.eval_problems:
        held_out_accuracy(policy, task, cfg, state, run.metrics, progress, cfg.style, cfg.copy)
    started = time.perf_counter() - state["wall_time_s"]
    with run.steps(cfg.steps, state["step"], desc) as bar:
        while state["step"] < cfg.steps:
            row = step(policy, reference, optimizer, task, prm, cfg, state)
            state["step"] += 1
            state["wall_time_s"] = time.perf_counter() - started
            run.log({"step": state["step"], **row, "time/elapsed_s": state["wall_time_s"]})
            bar.set_postfix(reward=f"{row['rollout/reward_mean']:.3f}")
            bar.update(1)
            last = state["step"] == cfg.steps
            if cfg.eval_problems and (state["step"] % cfg.eval_every == 0 or last):
                held_out_accuracy(policy, task, cfg, state, run.metrics, progress, cfg.style, cfg.copy)
                state["wall_time_s"] = time.perf_counter() - started
            if run.end_step(state["step"], last=last, save=save):
                return run.checkpoint
    meta = dict(wall_time_s=round(state["wall_time_s"], 1), steps=state["step"], trained_tokens=state["trained_tokens"],
                rollout_tokens=state["rollout_tokens"], params=model.num_params())
    return run.finish(model, tokenizer, meta=meta)


def full_search_tokens(task, policy, problem) -> int:
    """Tokens of the prompt and the full search of ``problem`` (``task.full_search``)."""
    return policy.count_tokens(task.prompt(problem)) + policy.count_tokens(task.full_search(problem)) + 2  # <bos>, <eos>


def first_kept(task, seed: int, n: int, keep, most: int) -> list:
    """``keep(problem)`` for the first ``n`` training problems drawn with ``seed`` where it is not
    None, looking at no more than the first ``most`` drawn (so fewer than ``n`` can come back)."""
    kept: list = []
    checked, drawn = 0, n
    while len(kept) < n and checked < most:
        candidates = task.problems("train", min(drawn, most), seed=seed)  # the first ones are the same for any larger count
        for p in candidates[checked:]:
            value = keep(p)
            if value is not None:
                kept.append(value)
                if len(kept) == n:
                    break
        if len(candidates) < min(drawn, most):  # the split holds no more
            break
        checked, drawn = len(candidates), 2 * drawn
    return kept


def draw_problems(task, policy, cfg: GRPOConfig, seed: int) -> list:
    """A step's training problems: the first ``problems_per_step`` drawn with ``seed``, or with
    ``long_search``, the first whose full search is longer than that and fits the context."""
    n = cfg.problems_per_step
    if not cfg.long_search:
        return task.problems("train", n, seed=seed)
    if not task.writes_search:
        raise UserError(f"long_search needs a task with search traces; {cfg.task} has none")
    long = lambda p: p if cfg.long_search < full_search_tokens(task, policy, p) <= policy.max_context else None  # noqa: E731
    chosen = first_kept(task, seed, n, long, most=256 * n)
    if len(chosen) < n:
        raise UserError(f"too few {cfg.task} training problems have a full search longer than long_search="
                        f"{cfg.long_search} tokens that fits the {policy.max_context}-token context; lower it")
    return chosen


def _step(policy, reference, optimizer, task, prm, cfg: GRPOConfig, state: dict, sample=rollouts) -> dict:
    """One GRPO step: sample, then ``learn``."""
    step = state["step"]
    t0 = time.perf_counter()
    problems = draw_problems(task, policy, cfg, seed=cfg.seed * 1_000_003 + step + 1)
    if cfg.style == "parallel":
        groups = thread_rollouts(policy, task, problems, cfg.group, cfg.temperature, seed=cfg.seed * 1_000_003 + step,
                                 copy=cfg.copy)
    else:
        groups = sample(policy, task, problems, cfg.group, cfg.temperature, seed=cfg.seed * 1_000_003 + step,
                        max_tokens=cfg.max_tokens, style=cfg.style)
    return learn(policy, reference, optimizer, task, prm, cfg, state, groups, time.perf_counter() - t0)


def learn(policy, reference, optimizer, task, prm, cfg: GRPOConfig, state: dict, groups: list[list[Rollout]],
          sample_s: float) -> dict:
    """The rest of a GRPO step on sampled ``groups``: ``advantages``, then ``update``; returns the
    step's metrics."""
    generated = sum(r.generated for g in groups for r in g)
    state["rollout_tokens"] += generated
    samples = advantages(groups, task, prm, cfg, policy.tokenizer.newline_id)
    wrong = np.mean([answered_wrong(r, task) for g in groups for r in g])
    row = {**RolloutStats.of(groups).to_metrics(), "rollout/wrong_answers": round(float(wrong), 5),
           "rollout/tokens": generated, "rollout/tokens_per_s": generated / max(sample_s, 1e-9)}
    if any(r.threads for g in groups for r in g):
        row["rollout/threads"] = float(np.mean([len(r.threads) for g in groups for r in g]))
        owns = [t.own for g in groups for r in g for t in r.threads if t.own is not None]
        if owns:
            row["rollout/threads_right"] = float(np.mean(owns))
    if not samples:
        policy.reset_cache()
        return {**row, "train/loss": 0.0, "train/kl": 0.0, "train/clip_fraction": 0.0, "train/samples": 0}
    lr = cfg.optim.lr_at(state["step"], cfg.steps)
    figures = update(policy, reference, optimizer, samples, cfg, lr, attempts=len(groups) * cfg.group)
    policy.reset_cache()  # cached keys and values belong to the old weights
    state["trained_tokens"] += figures.pop("tokens")
    return {**row, **figures}


def advantages(groups: list[list[Rollout]], task, prm, cfg: GRPOConfig, newline_id: int) -> list[tuple[Rollout, np.ndarray]]:
    """Each attempt with the advantage of each of its completion's tokens: its outcome's advantage
    in its group, plus ``process_weight`` times its steps' normalised process scores, plus the
    wrong answer line's penalty. Attempts whose every token has advantage 0 teach nothing and are
    left out (unless a KL penalty still pulls on them)."""
    samples: list[tuple[Rollout, np.ndarray]] = []
    for g in groups:
        outcome = outcome_advantages([outcome_reward(r, task, cfg.wrong_answer) for r in g], cfg.scale_rewards)
        own = thread_advantages(g) if cfg.thread_weight else {}
        process = [np.zeros(len(r.completion_ids)) for r in g]
        if prm is not None:
            steps = [task.steps(r.text) for r in g]
            scores = [s[: len(st)] for s, st in zip(prm.score(g[0].problem, [r.text for r in g]), steps)]
            if cfg.invalid_step:
                scores = [with_invalid_steps(r, task, sc, cfg.invalid_step) for r, sc in zip(g, scores)]
            ends = [step_ends(r, newline_id, st) for r, st in zip(g, steps)]
            scores = [s[: len(e)] for s, e in zip(scores, ends)]
            process = process_advantages(scores, ends, [len(r.completion_ids) for r in g])
        for r, a, p in zip(g, outcome, process):
            adv = a + cfg.process_weight * p
            if cfg.wrong_answer_line and answered_wrong(r, task) and (line := answer_line(r, newline_id)):
                adv[line[0]:line[1]] += cfg.wrong_answer_line
            if np.any(adv != 0) or cfg.kl > 0:  # a token with no advantage teaches nothing (without KL)
                samples.append((r, adv))
                if not cfg.thread_weight:
                    samples += [(t, np.full(len(t.completion_ids), a)) for t in r.threads]  # a parallel attempt's threads
            if cfg.thread_weight:
                for t in r.threads:
                    at = a + cfg.thread_weight * own.get(id(t), 0.0)
                    if at != 0 or cfg.kl > 0:
                        samples.append((t, np.full(len(t.completion_ids), at)))
    return samples


def thread_advantages(group: list[Rollout]) -> dict[int, float]:
    """Each thread of a group's attempts (by ``id``) with its own result's advantage: its ``own``
    outcome less the mean of the threads handed the same state (the same prompt) in the group; 0
    for a state handed out once, or a result the task cannot say."""
    same: dict[tuple[int, ...], list[Rollout]] = {}
    for r in group:
        for t in r.threads:
            if t.own is not None:
                same.setdefault(t.prompt_ids, []).append(t)
    return {id(t): t.own - float(np.mean([u.own for u in ts])) for ts in same.values() for t in ts}


def update(policy, reference, optimizer, samples: list[tuple[Rollout, np.ndarray]], cfg: GRPOConfig, lr: float,
           attempts: int) -> dict:
    """``epochs`` passes of PPO's clipped surrogate (plus the KL penalty) over ``samples``, one
    optimizer step a pass; ``attempts`` (sampled, those left out too) sets the ``constant``
    normalisation. Returns the ``train/*`` figures and the ``tokens`` trained."""
    model, t0 = policy.model, time.perf_counter()
    set_lr(optimizer, lr)
    batches = list(_batches(samples, policy.tokenizer.pad_id, cfg.micro_tokens))
    model.train()
    with torch.no_grad():
        old = [token_logprobs(model, x) for x, _, _ in batches] if cfg.epochs > 1 else None
        ref = [token_logprobs(reference, x) for x, _, _ in batches] if reference is not None else None
    tokens = sum(float(m.sum()) for _, _, m in batches)
    loss_sum = kl_sum = clipped = 0.0
    for _ in range(cfg.epochs):
        for k, (x, adv, mask) in enumerate(batches):
            lp = token_logprobs(model, x)
            base = old[k] if old is not None else lp.detach()
            ratio = torch.exp(lp - base)
            surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv)
            per_token = -surrogate
            if ref is not None:
                d = ref[k] - lp
                kl = torch.exp(d) - d - 1
                per_token = per_token + cfg.kl * kl
                kl_sum += float((kl.detach() * mask).sum())
            if cfg.normalise == "constant":  # every attempt counts, those with nothing to teach too
                loss = (per_token * mask).sum() / (attempts * policy.max_context)
            elif cfg.normalise == "tokens":
                loss = (per_token * mask).sum() / tokens
            else:
                loss = ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).sum() / len(samples)
            loss.backward()
            loss_sum += float(loss.detach())
            clipped += float((((ratio - 1).abs() > cfg.clip).float() * mask).sum())
        grad_norm = apply_gradients(model, optimizer, cfg.optim.grad_clip)
    passes = max(tokens * cfg.epochs, 1)
    return {"train/loss": loss_sum / cfg.epochs, "train/lr": lr, "train/grad_norm": grad_norm,
            "train/kl": kl_sum / passes, "train/clip_fraction": clipped / passes, "train/samples": len(samples),
            "train/seconds": time.perf_counter() - t0, "tokens": int(tokens) * cfg.epochs}
