"""Training reward models from the policy's own samples: ``ponder train rm --kind KIND``.

Every kind starts from the policy's weights and learns from solutions the policy sampled for
training problems (``ponder.train.samples``), labelled without a human:

* ``orm``: a value head; every line of a solution is labelled with the rule verifier's verdict on
  its answer (Cobbe et al. 2021 label every token; a line is ponder's unit).
* ``prm``: a value head, the value model of a tree search. With ``labels = "mc"`` a few lines
  per solution are labelled with Monte Carlo values from ``k`` rollouts of the policy
  (``ponder.rewards.montecarlo``: Math-Shepherd, AlphaMath; no step checker); with ``labels =
  "exact"`` every line gets its exact prefix outcome, whether a faultless search from there
  still answers within the policy's context (the step checker's labels, in the role PRM800K's
  human labels play). The end of the text is labelled with the verdict either way.
* ``genrm``: the language model, taught to answer ``verify:`` with Yes/No and ``check:`` with a
  rationale and a verdict (each solution gets one of the two questions, chosen at random), on
  the policy's solutions and, with ``practice``, on solver solutions with mistaken answers.
* ``critic``: the language model, taught to answer ``critique:`` with the first wrong or dead-end
  line and why, then a verdict.

The run directory gets ``metrics.jsonl`` (train loss and, at each evaluation, the AUROC on solutions
to held-out training problems), ``checkpoint/`` (exact resume, as SFT) and ``model/``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ponder.errors import UserError
from ponder.model import load_model
from ponder.model.transformer import resize_vocab, with_value_head
from ponder.rewards.generative import ROOM, reading_room
from ponder.train.config import OptimConfig, RunConfig
from ponder.train.data import ScoredExamples, micro_batches
from ponder.train.optim import accumulated_step, collate_scored
from ponder.train.run import Run
from ponder.utils import apportion

KINDS = ("orm", "prm", "genrm", "critic")


@dataclass
class RMConfig(RunConfig):
    kind: str = "orm"
    """orm, prm, genrm or critic."""
    out: str = "runs/rm"
    policy: str | None = None
    """The policy whose samples are judged: a model directory or a shipped policy's name (nano-v2,
    nano-v2-sft, nano-v2-par, nano-rl, nano-sft); the shipped default (nano-v2) when None."""
    task: str = "countdown"
    tasks: tuple[str, ...] = ()
    """Several tasks the policy solves ``problems`` training problems of each (overrides ``task``)."""
    styles: tuple[str, ...] = ("",)
    """Trace styles the policy is asked for, its problems shared out among them ("": the task's
    default); each must be one the policy was trained on (its ``trace_styles``)."""
    shares: tuple[float, ...] = ()
    """Each style's share of the problems, in the order of ``styles`` (empty: equal shares). A
    direct trace has a few steps and a written-out search dozens, at about the same tokens a
    step, so shares set where the labelled steps come from."""
    max_tokens: tuple[int, ...] = ()
    """Each style's cap on a sampled text's tokens, in the order of ``styles`` (0 or empty: up to
    the context). At temperature 1 a direct trace now and then drifts into a written-out search
    until the context is full: a few such samples cost as much as all the rest."""
    problems: int = 384
    """Training problems the policy solves (of each task)."""
    samples: int = 4
    """Solutions sampled per problem."""
    temperature: float = 1.0
    holdout: float = 0.1
    """Share of the problems kept out of training to measure AUROC on."""
    labels: str = "mc"
    """PRM: ``mc`` (Monte Carlo values of the policy's rollouts) or ``exact`` (every step's exact
    prefix outcome)."""
    mc_solutions: int = 128
    """PRM: solutions whose steps get Monte Carlo labels, from each task and each style."""
    unlabelled: bool = True
    """PRM with Monte Carlo labels: train on the solutions beyond ``mc_solutions`` too, each with
    its verdict alone (false: only on the labelled ones, so that the sampling the model learns
    from is what its labels were paid for, as when comparing labels at equal compute)."""
    walks: int | tuple[int, ...] = 0
    """PRM with exact labels: rule-written direct traces for each training problem, random walks
    over its task's legal steps (``samples.walk_rows``), labelled like the policy's traces. They
    cost no sampling and teach the value model the steps a policy seldom proposes, the ones tree
    search's widening adds. Added to training only (the held-out traces are all the policy's).
    One number for every task, or one for each task in the order of ``tasks`` (a task with few
    puzzles needs more walks of each to cover its steps)."""
    walk_slips: float = 0.0
    """Chance that a walk's line is written wrong the way a policy writes one (``Task.slip``: bad
    arithmetic, a number that is not there, a garbled answer; the walk ends there): the policy's
    own traces show too few such lines for a value model to learn to check them."""
    mc_rollouts: int = 8
    """PRM: rollouts per labelled step (k)."""
    mc_steps: int = 3
    """PRM: labelled steps per solution."""
    context: int = 0
    """GenRM and critic: tokens of the solution the judge reads, its last lines (0: all that fits).
    Checking an answer needs its end; a shorter read makes training and scoring cheaper."""
    practice: int = 0
    """GenRM: solver solutions to other training problems, their answers rewritten the way a
    policy gets them wrong (``ponder.tasks.countdown.judge.practice_text``), added to the policy's samples:
    the judge learns to check answers from far more examples than a CPU can sample."""
    epochs: float = 1.0
    tokens_per_step: int = 16384
    micro_tokens: int = 8192
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, min_lr=3e-5, warmup=10))
    """Learning rate (warmup, then cosine decay to ``min_lr`` over the run), weight decay, clipping."""
    seed: int = 0
    checkpoint_every: int = 20
    eval_every: int = 0
    """Steps between AUROC evaluations (0: only at the end)."""
    recipe: str = ""

    SECTIONS: ClassVar[tuple[str, ...]] = KINDS
    """A recipe's ``[orm]``, ``[prm]``, ``[genrm]`` and ``[critic]`` tables apply to that kind only."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown reward model kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        self.tasks, self.styles, self.shares = tuple(self.tasks), tuple(self.styles), tuple(self.shares)
        self.max_tokens = tuple(self.max_tokens)
        if self.labels not in ("mc", "exact"):
            raise UserError(f"labels must be mc or exact, got {self.labels!r}")
        if not self.styles:
            raise UserError('styles needs at least one trace style ("" for the task\'s default)')
        if len(set(self.styles)) < len(self.styles):
            raise UserError(f"styles lists a style twice ({', '.join(map(repr, self.styles))}): give it a larger share instead")
        if self.shares and (len(self.shares) != len(self.styles) or min(self.shares) <= 0):
            raise UserError(f"shares needs one positive number for each of the {len(self.styles)} styles, got {list(self.shares)}")
        if self.max_tokens and (len(self.max_tokens) != len(self.styles) or min(self.max_tokens) < 0):
            raise UserError(f"max_tokens needs one number (0: no cap) for each of the {len(self.styles)} styles, "
                            f"got {list(self.max_tokens)}")
        self.at_least(1, "problems", "samples", "mc_rollouts", "mc_steps")
        if self.practice < 0:
            raise UserError("practice must be at least 0")
        if self.practice and self.kind != "genrm":
            raise UserError("practice texts are for --kind genrm only")
        names = self.tasks or (self.task,)
        self.walks = (self.walks,) if isinstance(self.walks, int) else tuple(self.walks)
        if len(self.walks) == 1:
            self.walks *= len(names)
        if len(self.walks) != len(names) or not all(isinstance(w, int) and w >= 0 for w in self.walks):
            raise UserError(f"walks needs one whole number of at least 0, or one for each of the {len(names)} tasks, "
                            f"got {list(self.walks)}")
        if any(self.walks) and (self.kind, self.labels) != ("prm", "exact"):
            raise UserError("walks are labelled exactly: they are for --kind prm with labels = \"exact\" only")
        if not 0 <= self.walk_slips <= 1:
            raise UserError("walk_slips must be in [0, 1]")
        if not 0 <= self.holdout < 1:
            raise UserError("holdout must be in [0, 1)")
        if self.epochs <= 0:
            raise UserError("epochs must be positive")
        self.check_batching()


# --------------------------------------------------------------------------- data


def split_rows(rows: list[dict], holdout: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Train and held-out rows, split by problem so no problem is on both sides."""
    ids = sorted({r["problem"]["id"] for r in rows})
    random.Random(seed).shuffle(ids)
    held = set(ids[:int(len(ids) * holdout)])
    return [r for r in rows if r["problem"]["id"] not in held], [r for r in rows if r["problem"]["id"] in held]


def value_examples(rows, tokenizer, task, labels_of, max_len: int) -> ScoredExamples:
    """``labels_of(row, n_scored) -> {scored line index: label}`` decides what each line learns.
    Each row is read as its problem's task (``task`` when it names none) writes it, after that
    task's default prompt: a value model reads every style after the same prompt."""
    from ponder.rewards.value import encode_lines
    from ponder.train.samples import problem_of

    data = ScoredExamples([], [])
    for row in rows:
        problem = problem_of(row)
        writer = task_named(problem.task, task)
        ids, ends = encode_lines(tokenizer, writer.prompt(problem), row["text"], writer.steps(row["text"]))
        ids = ids[:max_len]
        target = np.full(len(ids), np.nan, dtype=np.float32)
        for k, label in labels_of(row, len(ends)).items():
            if ends[k] < max_len:
                target[ends[k]] = label
        data.ids.append(np.asarray(ids, dtype=np.int64))
        data.targets.append(target)
    return data


def judge_examples(rows, tokenizer, task, kind: str, seed: int, room: int, max_len: int, context: int = 0) -> ScoredExamples:
    from ponder.rewards.generative import QUESTIONS, fit, judge_example
    from ponder.tasks.countdown import judge
    from ponder.train.samples import problem_of

    rng = random.Random(seed)
    data = ScoredExamples([], [])
    for row in rows:
        problem = problem_of(row)
        writer = task_named(problem.task, task)
        prompt = writer.prompt(problem)
        mode = rng.choice(("genrm", "genrm-cot")) if kind == "genrm" else "critic"
        if mode == "critic":
            reasoning, verdict = judge.critique(writer, problem, row["text"])
        else:
            reasoning, verdict = judge.rationale(writer, problem, row["text"])
        verdict = bool(row["correct"])  # the rule verifier decides the label
        read = fit(tokenizer, prompt, row["text"], reading_room(tokenizer, prompt, max_len, room, context))
        asked, answer = judge_example(prompt, read, QUESTIONS[mode], reasoning, verdict)
        head = [tokenizer.bos_id] + tokenizer.encode(asked)
        tail = tokenizer.encode(answer) + [tokenizer.eos_id]
        ids = (head + tail)[:max_len]
        target = np.full(len(ids), np.nan, dtype=np.float32)
        target[len(head):] = 1.0
        data.ids.append(np.asarray(ids, dtype=np.int64))
        data.targets.append(target)
    return data


def task_named(name: str, default):
    """The task ``name`` (``default`` when it is that task or no name is given)."""
    from ponder.tasks import get_task

    return default if not name or default is not None and name == default.name else get_task(name)


def loss_of(model, x: torch.Tensor, y: torch.Tensor, value: bool) -> tuple[torch.Tensor, int]:
    """(summed loss, count): binary cross-entropy of the value head at labelled positions, or
    the language-model loss on the judge's own tokens."""
    keep = ~torch.isnan(y)
    if value:
        logits = model.values(x)
        return F.binary_cross_entropy_with_logits(logits[keep].float(), y[keep], reduction="sum"), int(keep.sum())
    targets = torch.full_like(x, -100)
    targets[:, :-1] = torch.where(keep[:, 1:], x[:, 1:], torch.full_like(x[:, 1:], -100))
    n = int((targets != -100).sum())
    return model(x, targets) * n, n


# --------------------------------------------------------------------------- the run


def prepare(cfg: RMConfig, progress: bool = True):
    """The policy's solutions (sampled or cached), split, and for the PRM their step labels
    (``{id(row): {step: label}}``)."""
    from ponder.backends.nano import NanoPolicy
    from ponder.search.base import knows_style
    from ponder.tasks import get_task
    from ponder.train.samples import exact_outcomes, monte_carlo_rows, practice_rows, sampled_solutions, walk_rows

    tasks = [get_task(name) for name in cfg.tasks or (cfg.task,)]
    policy = NanoPolicy.load(cfg.policy, max_batch=128)
    for task in tasks:
        for style in cfg.styles:
            knows_style(policy, task, style)
        if cfg.kind == "prm" and cfg.labels == "exact" and not task.exact_outcomes:
            raise UserError(f"{task.name} has no exact step outcomes: use labels = \"mc\"")
    for task, walks in zip(tasks, cfg.walks):
        if walks and not task.lists_steps:
            raise UserError(f"{task.name} lists no legal steps to walk: set its walks to 0")
    groups = []  # (task, style, cap, rows) for each task and style
    drawn = {}
    caps = cfg.max_tokens or (0,) * len(cfg.styles)
    for task in tasks:
        problems = drawn[task.name] = task.problems("train", cfg.problems, seed=cfg.seed + 1)
        for style, share, cap in zip(cfg.styles, shared_out(problems, cfg.shares or (1,) * len(cfg.styles)), caps):
            groups.append((task, style, cap, sampled_solutions(policy, task, share, cfg.samples, cfg.temperature,
                                                               cfg.seed, chunk=32, progress=progress, style=style,
                                                               max_tokens=cap)))
    train, held = split_rows([r for *_, rows in groups for r in rows], cfg.holdout, cfg.seed)
    kept = {r["problem"]["id"] for r in held}
    for task, walks in zip(tasks, cfg.walks):
        if walks:
            train += walk_rows(task, [p for p in drawn[task.name] if p.id not in kept], walks, cfg.seed, slips=cfg.walk_slips,
                               progress=progress)
    labels = None
    if cfg.kind == "prm" and cfg.labels == "exact":
        by_name = {task.name: task for task in tasks}
        labels = {id(r): dict(enumerate(map(float, exact_outcomes(policy, by_name[r["problem"]["task"]], r))))
                  for r in train}
    elif cfg.kind == "prm":
        labels = {}
        kept = {id(r) for r in train}
        for task, _, cap, rows in groups:
            rows = [r for r in rows if id(r) in kept][:cfg.mc_solutions]
            mc = monte_carlo_rows(policy, task, rows, cfg.mc_rollouts, cfg.mc_steps, cfg.temperature, cfg.seed,
                                  progress=progress, max_tokens=cap)
            for r, lab in zip(rows, mc):
                labels[id(r)] = {s["step"]: s["successes"] / s["rollouts"] for s in lab}
                r["label_tokens"] = sum(s["tokens"] for s in lab)
        if not cfg.unlabelled:
            train = [r for r in train if id(r) in labels]
    if cfg.practice:
        train = train + [r for task in tasks for r in practice_rows(task, cfg.practice, cfg.seed, progress=progress)]
    return tasks[0], policy, train, held, labels


def shared_out(items: list, shares: tuple[float, ...]) -> list[list]:
    """``items`` cut into consecutive parts in proportion to ``shares``, each item in one part."""
    sizes = apportion(len(items), shares)
    cuts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    return [items[a:b] for a, b in zip(cuts, cuts[1:])]


def build_data(cfg: RMConfig, task, tokenizer, train: list[dict], step_labels, max_len: int) -> ScoredExamples:
    if cfg.kind == "orm":
        return value_examples(train, tokenizer, task, lambda row, n: {k: float(row["correct"]) for k in range(n)}, max_len)
    if cfg.kind == "prm":
        def labels(row, n):
            out = {k: v for k, v in step_labels.get(id(row), {}).items() if k < n - 1}
            out[n - 1] = float(row["correct"])  # the end of the text: its value is the verdict
            return out

        return value_examples(train, tokenizer, task, labels, max_len)
    return judge_examples(train, tokenizer, task, cfg.kind, cfg.seed, room=ROOM, max_len=max_len, context=cfg.context)


def initial_model(cfg: RMConfig, policy_dir):
    from ponder.tasks.countdown.judge import WORDS

    model, tokenizer, _ = load_model(policy_dir)
    if cfg.kind in ("orm", "prm"):
        model = with_value_head(model)
    else:
        tokenizer = tokenizer.extended(WORDS)
        model = resize_vocab(model, len(tokenizer))
    return model, tokenizer


def reward_of(cfg: RMConfig, model, tokenizer, meta=None):
    from ponder.rewards.generative import JudgeReward
    from ponder.rewards.value import ValueReward

    if cfg.kind in ("orm", "prm"):
        return ValueReward(model, tokenizer, meta, name=cfg.kind)
    return JudgeReward(model, tokenizer, meta, mode=cfg.kind, seed=cfg.seed, context=cfg.context)


def held_out_auroc(cfg: RMConfig, model, tokenizer, held: list[dict]) -> dict:
    from ponder.rewards.metrics import auroc
    from ponder.train.samples import problem_of

    model.eval()
    reward = reward_of(cfg, model, tokenizer)
    scores, labels = [], []
    groups: dict[str, list[dict]] = {}
    for r in held:
        groups.setdefault(r["problem"]["id"], []).append(r)
    for rows in groups.values():
        for r, s in zip(rows, reward.score(problem_of(rows[0]), [r["text"] for r in rows])):
            scores.append(s[-1])
            labels.append(bool(r["correct"]))
    model.train()
    return {"eval/auroc": auroc(scores, labels), "eval/solutions": len(labels)}


def train_rm(cfg: RMConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> Path:
    """Train one reward model; returns the directory of the final model."""
    from ponder.backends.nano import model_path

    run = Run(cfg.out, cfg, resume=resume, progress=progress, stop_after=stop_after)
    task, policy, train, held, step_labels = prepare(cfg, progress)
    del policy

    model, tokenizer, optimizer, state = run.start(lambda: initial_model(cfg, model_path(cfg.policy)),
                                                   cfg.optim.optimizer, cfg.seed,
                                                   {"step": 0, "micro_batches": 0, "tokens": 0, "wall_time_s": 0.0})
    model.train()
    data = build_data(cfg, task, tokenizer, train, step_labels, model.cfg.max_seq_len)
    value = cfg.kind in ("orm", "prm")
    steps = max(1, math.ceil(cfg.epochs * int(data.lengths().sum()) / cfg.tokens_per_step))
    stream = micro_batches(data.lengths(), cfg.micro_tokens, cfg.seed)
    for _ in range(state["micro_batches"]):
        next(stream)
    run.meta.update({"reward_kind": cfg.kind, "policy": str(cfg.policy or "default"), "train_solutions": len(train),
                     "train_steps": sum(len(labels) for labels in (step_labels or {}).values()),
                     "train_correct": sum(r["correct"] for r in train), "train_practice": cfg.practice,
                     "train_walks": sum(r["finish_reason"] == "walk" for r in train),
                     "sample_tokens": sum(r["tokens"] or 0 for r in train),
                     "label_tokens": sum(r.get("label_tokens", 0) for r in train)})

    def loss(x, y, labels):
        return loss_of(model, x, y, value)[0] / max(1, labels)

    def save():
        run.save(model, tokenizer, optimizer, state)

    started = time.perf_counter() - state["wall_time_s"]
    with run.steps(steps, state["step"], f"rm {cfg.kind}") as bar:
        while state["step"] < steps:
            micro = [collate_scored(data, next(stream), tokenizer.pad_id) for _ in range(cfg.accumulation)]
            lr = cfg.optim.lr_at(state["step"], steps)
            row = accumulated_step(model, optimizer, micro, loss, lr, cfg.optim.grad_clip, state)
            state["wall_time_s"] = time.perf_counter() - started
            run.log({"step": state["step"], **row, "time/elapsed_s": state["wall_time_s"]})
            bar.set_postfix(loss=f"{row['train/loss']:.3f}")
            bar.update(1)
            last = state["step"] == steps
            if run.end_step(state["step"], last=last, save=save):
                return run.checkpoint
            if cfg.eval_every and state["step"] % cfg.eval_every == 0 and not last and held:
                run.log({"step": state["step"], **held_out_auroc(cfg, model, tokenizer, held)})
    meta = dict(wall_time_s=round(state["wall_time_s"], 1), steps=state["step"], tokens=state["tokens"],
                params=model.num_params())
    if held:
        row = {"step": state["step"], **held_out_auroc(cfg, model, tokenizer, held)}
        run.log(row)
        meta["eval"] = row
    model.eval()
    return run.finish(model, tokenizer, meta=meta, dtype=torch.float16)
