"""AlphaZero-style self-play: MCTS with the policy and value networks, visits distilled into the
policy, outcomes into the value head, iterated.

An episode is one training problem played a move (a line) at a time. Before each move, MCTS runs
``simulations`` simulations from the current state with the search issue's tree machinery
(``ponder.search.tree``): the policy proposes ``expand`` next lines per leaf (their priors are the
share of samples that wrote them), the value network values the new partial texts, a finished
line is graded by the rule verifier (the environment's outcome, as a game's end is), values are
backed up with PUCT selection. The visit counts of the current state's children are the
improved policy π; the move is drawn from π for the first ``explore_moves`` moves (so episodes
differ) and is the most visited child after, and the subtree below it is kept for the next move.

Training, each round, from the round's episodes:

* the policy learns π at every state it played: the cross-entropy Σ_c π(c) · -log p(c | state),
  each child line's tokens weighted by its visit share (AlphaZero's policy target);
* the value network learns the outcome z (the verdict on the episode's final text) at every line
  of the played path, and the verdict of every other finished line the trees reached at each of
  its lines (more Monte Carlo outcomes from the same search, the value target of AlphaZero).

The value network is the process reward model (``prm``: the policy's trunk with a value head,
a separate copy as in AlphaGo): sharing one trunk would make the policy's weights move with the
value loss and put a head on the engine's decode path.

The run directory holds ``metrics.jsonl``, ``checkpoint/`` (the policy, its optimizer, the
trainer's state and the round's targets) and ``value/checkpoint/`` (the value network's), each
written atomically; a resumed run ends with the same parameters as one that never stopped. At the
end ``model/`` and ``value/model/`` hold the two networks.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ponder.errors import UserError
from ponder.model import load_model
from ponder.rewards.base import RewardModel
from ponder.search.base import Calls, Search, drive
from ponder.search.tree import MCTS, Node, all_nodes, new_text
from ponder.train.config import OptimConfig, PolicyConfig
from ponder.train.data import ScoredExamples, micro_batches
from ponder.train.optim import accumulated_step, collate_scored, token_logprobs
from ponder.train.rm import loss_of, value_examples
from ponder.train.rollout import held_out_accuracy
from ponder.train.checkpoint import has_checkpoint
from ponder.train.run import Metrics, Run

TARGETS = "targets.jsonl"


@dataclass
class SelfPlayConfig(PolicyConfig):
    out: str = "runs/selfplay"
    """Run directory: metrics, checkpoints and the final policy and value networks go here."""
    value: str = "prm"
    """The value network to start from: a shipped value model's name (prm, orm) or a model directory."""
    rounds: int = 3
    problems_per_round: int = 32
    simulations: int = 8
    """MCTS simulations (leaves expanded or revisited) before each move."""
    expand: int = 4
    """Lines the policy proposes for each expanded leaf."""
    parallel: int = 4
    """Leaves selected per simulation wave (with a virtual loss), expanded in one batched call."""
    c_puct: float = 1.5
    explore_moves: int = 10
    """Moves drawn in proportion to visits (after these, the most visited child is played)."""
    policy_steps: int = 10
    """Optimizer steps on the round's visit distributions."""
    value_steps: int = 10
    """Optimizer steps on the round's outcomes."""
    tokens_per_step: int = 16384
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-5, warmup=5))
    """Both networks': the value network's rate is ``value_lr`` instead of ``lr``."""
    value_lr: float = 3e-5
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        self.at_least(1, "rounds", "problems_per_round", "simulations", "expand", "parallel", "policy_steps",
                      "value_steps")
        self.at_least(0, "explore_moves")
        self.check_batching()


class SelfPlayReward(RewardModel):
    """What MCTS sees during self-play: the value network's values for partial texts and the rule
    verifier's verdict for finished ones (the outcome of the game, not an estimate of it)."""

    name = "self-play"
    kind = "outcome"
    gives_values = True

    def __init__(self, value, task):
        self.value_model, self.task = value, task
        self.usage = value.usage

    def values(self, problem, texts):
        return self.value_model.values(problem, texts)

    def score(self, problem, texts):
        return [[float(self.task.verify(problem, t))] for t in texts]

    def estimate(self, tokens: int) -> int:
        return 0


# --------------------------------------------------------------------------- episodes


def episode(s: Search, cfg: SelfPlayConfig, rng: random.Random, moved=lambda: None) -> Calls:
    """Play one problem; returns the played states' visit distributions and the outcomes seen.
    ``moved()`` is called after each move (a progress bar)."""
    mcts = MCTS(expand=cfg.expand, c_puct=cfg.c_puct, parallel=cfg.parallel, temperature=cfg.temperature)
    root = node = Node("")
    played = []
    while not node.done:
        weights = yield from mcts.simulate(s, node, cfg.simulations)
        if not node.children:
            break
        ends = [c.done and s.task.answer(c.text) is not None for c in node.children]
        played.append({"state": node.text, "children": [[new_text(c), w, end]
                                                         for c, w, end in zip(node.children, weights, ends) if w > 0]})
        if len(played) <= cfg.explore_moves:
            node = rng.choices(node.children, weights=weights)[0]
        else:
            node = max(node.children, key=lambda c: (c.visits, c.value))
        moved()
    outcome = float(s.task.verify(s.problem, node.text)) if node.done else 0.0
    return {"problem": s.problem.to_json(), "played": played, "text": node.text, "outcome": outcome,
            "finished": [[n.text, float(s.task.verify(s.problem, n.text))] for n in finished_lines(root)
                         if n is not node]}


def finished_lines(root: Node) -> list[Node]:
    """Every finished node of the tree: an answer, or a line of reasoning that ran out of room."""
    return [n for n in all_nodes(root) if n.done and n.parent is not None and n.text.strip()]


def play(policy, value, task, cfg: SelfPlayConfig, r: int, progress: bool = False) -> list[dict]:
    """The round's episodes, every problem searched side by side (one batched policy call per wave)."""
    from tqdm import tqdm

    problems = task.problems("train", cfg.problems_per_round, seed=cfg.seed * 1000 + r + 1)
    reward = SelfPlayReward(value, task)
    searches = [Search(p, task, policy, reward, None, cfg.seed * 1000 + r) for p in problems]
    with tqdm(desc=f"round {r + 1}/{cfg.rounds}: self-play on {len(problems)} problems", unit="move",
              disable=not progress) as bar:
        results = drive([episode(s, cfg, random.Random(f"{cfg.seed}/{r}/{p.id}"), lambda: bar.update(1))
                         for s, p in zip(searches, problems)], policy)
    for res, s in zip(results, searches):
        res["generated"] = s.usage.completion_tokens
        res["read"] = s.usage.reward_tokens
    return results


# --------------------------------------------------------------------------- targets


def policy_examples(episodes: list[dict], task, tokenizer, max_len: int) -> ScoredExamples:
    """Each played state with each visited child line after it; the child's tokens carry its visit
    share (its ``<eos>`` too when the line is the answer), all else NaN (not trained)."""
    from ponder.train.samples import problem_of

    data = ScoredExamples([], [])
    for ep in episodes:
        prompt = task.prompt(problem_of(ep))
        for move in ep["played"]:
            head = [tokenizer.bos_id] + tokenizer.encode(prompt + move["state"])
            for line, share, answers in move["children"]:
                ids = [tokenizer.bos_id] + tokenizer.encode(prompt + move["state"] + line)
                if ids[:len(head)] != head:  # the line merged with the text before it: no clean target
                    continue
                ids = ids + [tokenizer.eos_id] if answers else ids
                if len(ids) > max_len:
                    continue
                target = np.full(len(ids), np.nan, dtype=np.float32)
                target[len(head):] = share
                data.ids.append(np.asarray(ids, dtype=np.int64))
                data.targets.append(target)
    return data


def value_rows(episodes: list[dict]) -> list[dict]:
    """The played path with its outcome and every other finished line with its verdict."""
    rows = []
    for ep in episodes:
        if ep["text"].strip():
            rows.append({"problem": ep["problem"], "text": ep["text"], "z": ep["outcome"]})
        rows += [{"problem": ep["problem"], "text": text, "z": z} for text, z in ep["finished"]]
    return rows


def distill_loss(model, x: torch.Tensor, y: torch.Tensor, labels: int) -> torch.Tensor:
    """Visit-weighted negative log-likelihood of the children's tokens, per trained token of the step."""
    weights = torch.nan_to_num(y[:, 1:], nan=0.0)
    return -(token_logprobs(model, x) * weights).sum() / labels


# --------------------------------------------------------------------------- the run


@dataclass
class Network:
    """One of the two networks self-play trains, with what its optimizer steps need."""

    model: torch.nn.Module
    tokenizer: object
    optimizer: torch.optim.Optimizer
    state: dict
    optim: OptimConfig
    loss: Callable
    """``loss(model, x, y, labels)``: a micro-batch's share of the step's loss."""
    save: Callable[[], None]
    log: Callable[[dict], None]
    """Writes one of its step lines to the run's metrics."""


def train_selfplay(cfg: SelfPlayConfig, resume: bool = False, progress: bool = True,
                   stop_after: int | None = None) -> Path:
    """Run self-play; returns the final policy's directory (the checkpoint's when ``stop_after``
    optimizer steps, counting both networks', ended it early, as a crash would)."""
    from ponder.backends.nano import NanoPolicy, model_path
    from ponder.rewards.value import ValueReward
    from ponder.tasks import get_task

    task = get_task(cfg.task)
    init = model_path(cfg.init, check=not resume)
    run = Run(cfg.out, cfg, resume=resume, progress=progress)
    vckpt = run.out / "value" / "checkpoint"
    value_optim = replace(cfg.optim, lr=cfg.value_lr)
    policy_opt, value_opt = cfg.optim.optimizer, value_optim.optimizer
    model, tokenizer, optimizer, state = run.start(lambda: load_model(init)[:2], policy_opt, cfg.seed, {
        "step": 0, "round": 0, "sampled": -1, "micro_batches": 0, "tokens": 0, "trained_tokens": 0,
        "rollout_tokens": 0, "wall_time_s": 0.0})
    run.inherit(init)
    episodes = [json.loads(line) for line in (run.read(TARGETS) or "").splitlines()] if resume else []
    vmodel, vtok, voptimizer, vstate = _value_network(cfg, task, run, resume, value_opt, vckpt)
    run.meta.update(init=str(cfg.init or init.name), value_init=cfg.value)
    vmeta = {**run.meta, "reward_kind": "prm", "trained_by": "self-play"}
    policy = NanoPolicy(model, tokenizer)
    value = ValueReward(vmodel, vtok, vmeta, name="prm", partial=True)

    def save() -> None:
        run.save(model, tokenizer, optimizer, state, files={TARGETS: "\n".join(json.dumps(e) for e in episodes)})

    def log_value(row: dict) -> None:
        """The value network's lines, under ``value/`` names at the policy's step, so the run's
        curves (keyed by the policy's step) stay one per quantity."""
        renamed = {k.replace("train/", "value/"): v for k, v in row.items() if k not in ("step", "time/elapsed_s")}
        run.log({"step": state["step"], "value/step": row["step"], **renamed})

    nets = [Network(model, tokenizer, optimizer, state, cfg.optim, distill_loss, save, run.log),
            Network(vmodel, vtok, voptimizer, vstate, value_optim,
                    lambda m, x, y, n: loss_of(m, x, y, value=True)[0] / n,
                    lambda: run.save(vmodel, vtok, voptimizer, vstate, at=vckpt, meta=vmeta), log_value)]

    def spent() -> dict:
        """Training compute so far: both networks' passes over every token they read, the played
        state before a trained line included (it dwarfs the line)."""
        return {**state, "trained_tokens": state["tokens"] + vstate["tokens"]}

    if not resume and cfg.eval_problems:
        held_out_accuracy(policy, task, cfg, spent(), run.metrics, progress)
    while state["round"] < cfg.rounds:
        r = state["round"]
        if state["sampled"] < r:
            episodes = _play_round(policy, value, task, cfg, r, state, run.metrics, progress)
            state["sampled"] = r
            save()
        data = policy_examples(episodes, task, tokenizer, model.cfg.max_seq_len)
        left = None if stop_after is None else stop_after - state["step"] - vstate["step"]
        if not _fit(run, nets[0], data, cfg, cfg.policy_steps, r, left, f"round {r + 1}/{cfg.rounds}: policy"):
            return run.checkpoint
        policy.reset_cache()  # cached keys and values belong to the old weights
        vdata = value_examples(value_rows(episodes), vtok, task, lambda row, n: {k: row["z"] for k in range(n)},
                               vmodel.cfg.max_seq_len)
        left = None if stop_after is None else stop_after - state["step"] - vstate["step"]
        if not _fit(run, nets[1], vdata, cfg, cfg.value_steps, r, left, f"round {r + 1}/{cfg.rounds}: value"):
            return run.checkpoint
        value.cache.clear()
        state["round"] += 1
        if cfg.eval_problems:
            held_out_accuracy(policy, task, cfg, spent(), run.metrics, progress)
        save()
    meta = dict(wall_time_s=round(state["wall_time_s"] + vstate["wall_time_s"], 1), steps=state["step"],
                rounds=state["round"], trained_tokens=spent()["trained_tokens"], rollout_tokens=state["rollout_tokens"],
                params=model.num_params())
    run.finish(vmodel, vtok, name="value/model", meta=vmeta)
    return run.finish(model, tokenizer, meta=meta)


def _value_network(cfg: SelfPlayConfig, task, run: Run, resume: bool, optimizer_of, at: Path):
    """(model, tokenizer, optimizer, state) of the value network: from its checkpoint when
    resuming a run that has one, else the value model ``cfg.value`` names."""
    from ponder.rewards import get_reward
    from ponder.rewards.value import ValueReward

    if resume and has_checkpoint(at):
        return run.restore(optimizer_of, at=at)
    start = get_reward(cfg.value, task)
    if not isinstance(start, ValueReward):
        raise UserError(f"self-play needs a value model (prm, orm or a directory of one), not {cfg.value!r}")
    state = {"step": 0, "micro_batches": 0, "tokens": 0, "trained_tokens": 0, "wall_time_s": 0.0}
    return start.model, start.tokenizer, optimizer_of(start.model), state


def _fit(run: Run, net: Network, data: ScoredExamples, cfg: SelfPlayConfig, per_round: int, r: int,
         left: int | None, desc: str) -> bool:
    """Train one network on round ``r``'s data up to its ``per_round`` steps of the round (from
    where its state is); False when ``left`` more optimizer steps ended the run early."""
    state, end = net.state, (r + 1) * per_round
    if state["step"] >= end:
        return True
    if left is not None and left <= 0:
        return False
    if len(data.ids) == 0:  # nothing to learn from this round
        state["step"] = end
        net.save()
        return True
    stream = micro_batches(data.lengths(), cfg.micro_tokens, cfg.seed * 1000 + r)
    for _ in range((state["step"] - r * per_round) * cfg.accumulation):  # what this round has read already
        next(stream)
    net.model.train()
    stop_at = None if left is None else state["step"] + left
    started = time.perf_counter() - state["wall_time_s"]
    with run.steps(end, state["step"], desc) as bar:
        while state["step"] < end:
            micro = [collate_scored(data, next(stream), net.tokenizer.pad_id) for _ in range(cfg.accumulation)]
            lr = net.optim.lr_at(state["step"], cfg.rounds * per_round)
            row = accumulated_step(net.model, net.optimizer, micro, lambda x, y, n: net.loss(net.model, x, y, n), lr,
                                   net.optim.grad_clip, state)
            state["wall_time_s"] = time.perf_counter() - started
            net.log({"step": state["step"], **row, "round": r + 1, "time/elapsed_s": state["wall_time_s"]})
            bar.update(1)
            if run.end_step(state["step"], last=state["step"] == end, save=net.save, stop_at=stop_at):
                return False
    return True


def _play_round(policy, value, task, cfg: SelfPlayConfig, r: int, state: dict, metrics: Metrics,
                progress: bool) -> list[dict]:
    started = time.perf_counter()
    episodes = play(policy, value, task, cfg, r, progress)
    seconds = time.perf_counter() - started
    generated = sum(e["generated"] for e in episodes)
    read = sum(e["read"] for e in episodes)
    state["rollout_tokens"] += generated + read  # the value network's reading costs a forward pass too
    state["wall_time_s"] += seconds
    outcomes = [e["outcome"] for e in episodes]
    metrics.write({"step": state["step"], "round": r + 1, "rollout/reward_mean": float(np.mean(outcomes)),
                   "rollout/reward_std": float(np.std(outcomes)),
                   "rollout/length_mean": float(np.mean([policy.count_tokens(e["text"]) for e in episodes])),
                   "selfplay/moves_mean": float(np.mean([len(e["played"]) for e in episodes])),
                   "selfplay/finished_lines": sum(len(e["finished"]) + 1 for e in episodes),
                   "selfplay/visit_entropy": _mean_entropy(episodes),
                   "rollout/tokens": generated, "rollout/value_tokens": read,
                   "rollout/tokens_per_s": generated / seconds, "time/elapsed_s": state["wall_time_s"]})
    return episodes


def _mean_entropy(episodes: list[dict]) -> float:
    """Mean entropy (nats) of the played states' visit distributions: how sure the search was."""
    hs = [-sum(p * math.log(p) for _, p, _ in m["children"] if p > 0) for e in episodes for m in e["played"]]
    return float(np.mean(hs)) if hs else 0.0
