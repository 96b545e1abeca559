"""Rollouts: the policy's own attempts at training problems, graded by the rule verifier.

Every RL trainer starts here. ``rollouts`` samples a group of completions per problem on the
batched engine and keeps, for each, the token ids it was trained on (prompt and completion),
the verifier's reward and how it ended. ``RolloutStats`` sums up a batch of them for the
metrics line (reward mean and spread, groups whose rewards all agree, lengths, truncation);
``held_out_accuracy`` writes the evaluation line every trainer shares, with the compute spent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ponder.types import Problem, SamplingParams


@dataclass(frozen=True)
class Rollout:
    problem: Problem
    prompt_ids: tuple[int, ...]
    """``<bos>``, the prompt and the ``prefix``, as the engine read them."""
    completion_ids: tuple[int, ...]
    """What the policy wrote, ``<eos>`` included when it stopped by itself."""
    text: str
    """The text of ``completion_ids``."""
    reward: float
    """The rule verifier's grade of ``prefix + text``: 1.0 for a correct answer."""
    finish_reason: str
    """"stop" or "length" (cut at the context's end)."""
    prefix: str = ""
    """Solution text given after the prompt for the policy to continue (a reverse curriculum's
    start: the first lines of a solver's trace); graded with the completion, never trained."""
    trained: tuple[bool, ...] | None = None
    """Per token of ``completion_ids``: did the policy write it (trained on) or the runtime (a parallel
    thread's joined results: not trained)? None: the policy wrote them all."""
    threads: tuple["Rollout", ...] = ()
    """The other threads of a parallel attempt (``thread_rollouts``), each with its own problem (the
    state it was handed), prompt and completion, and the root's reward: the attempt's advantage is
    theirs too."""
    own: float | None = None
    """A thread's own result by rule (``Task.thread_outcome``); None for a root, or where the task
    cannot say."""

    @property
    def correct(self) -> bool:
        return self.reward == 1.0

    @property
    def generated(self) -> int:
        """Tokens the policy wrote in this attempt, every thread's included."""
        own = len(self.completion_ids) if self.trained is None else sum(self.trained)
        return own + sum(t.generated for t in self.threads)

    def to_json(self) -> dict:
        out = asdict(self)
        out["problem"] = self.problem.to_json()
        out["threads"] = [t.to_json() for t in self.threads]
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Rollout":
        p = d["problem"]
        problem = Problem(id=p["id"], task=p["task"], numbers=tuple(p.get("numbers", ())), target=p.get("target"),
                          question=p.get("question", ""))
        trained = d.get("trained")
        return cls(problem=problem, prompt_ids=tuple(d["prompt_ids"]), completion_ids=tuple(d["completion_ids"]),
                   text=d["text"], reward=d["reward"], finish_reason=d["finish_reason"], prefix=d.get("prefix", ""),
                   trained=None if trained is None else tuple(trained),
                   threads=tuple(cls.from_json(t) for t in d.get("threads", ())), own=d.get("own"))


def rollouts(policy, task, problems: list[Problem], group: int, temperature: float = 1.0, seed: int = 0,
             max_tokens: int = 0, prefixes: list[str] | None = None, style: str = "") -> list[list[Rollout]]:
    """``group`` sampled attempts at each problem, each free to fill the policy's context after its
    own prompt (or to write ``max_tokens``, when that is less). With ``prefixes``, attempts at
    problem i continue ``prefixes[i]`` written after its prompt (whole lines), and the verifier
    grades both together; the room is counted per problem, so a long prefix of one problem does
    not cut another's attempts short. ``style``: the trace style the prompts ask for ("": the task's
    default).

    Sample i of a problem depends only on the seed and its prompt (the engine seeds each request
    from both), so a resumed run redraws exactly what an uninterrupted one drew."""
    tok = policy.tokenizer
    prefixes = prefixes or [""] * len(problems)
    prompts = [task.prompt(p, style) + prefix for p, prefix in zip(problems, prefixes, strict=True)]
    rooms = [policy.max_context - policy.count_tokens(p) - 1 for p in prompts]  # - 1: <bos>
    params = [SamplingParams(n=group, temperature=temperature, max_tokens=min(room, max_tokens) if max_tokens else room,
                             seed=seed) for room in rooms]
    out = []
    for problem, prompt, prefix, completions in zip(problems, prompts, prefixes, policy.generate(prompts, params)):
        ids = tuple(tok.encode(prompt, bos=True))
        out.append([Rollout(problem, ids, c.token_ids, c.text, task.verify(problem, prefix + c.text), c.finish_reason,
                            prefix) for c in completions])
    return out


def thread_rollouts(policy, task, problems: list[Problem], group: int, temperature: float = 1.0, seed: int = 0,
                    nest: int = 1, copy: bool = True) -> list[list[Rollout]]:
    """``group`` sampled parallel attempts at each problem (the ``parallel`` strategy's threads,
    nested to ``nest``), every attempt's threads decoding side by side with every other's. Each
    attempt is its root thread, graded by the verifier on the answer the strategy gives (its answer
    line transcribed from the path copied out: ``Parallel.transcribe``), with its other threads
    (``Rollout.threads``) sharing that reward; the lines the runtime wrote into a thread (its
    children's results, and the path found it copied out, with ``copy``: ``Parallel.copy``) are
    marked as not trained. Attempt j at a problem is seeded from ``seed`` and j alone, so a
    resumed run redraws the same attempts. Each thread also carries its own result by rule
    (``Rollout.own``), for ``GRPOConfig.thread_weight``."""
    from ponder.search.base import Search, drive
    from ponder.search.parallel import Parallel

    strategy = Parallel(temperature=temperature, nest=nest, copy=copy, reuse=False)  # every spawn samples afresh
    searches = [Search(p, task, policy, None, None, seed=seed * 4099 + j) for p in problems for j in range(group)]
    roots = drive([strategy.thread(s, 0) for s in searches], policy)
    out = []
    for i, problem in enumerate(problems):
        row = []
        for root in roots[i * group:(i + 1) * group]:
            reward = task.verify(problem, strategy.final_text(task, problem, root))  # the answer the strategy gives
            threads = tuple(replace(_thread_rollout(policy, t, t.problem, reward), own=task.thread_outcome(t.problem, t.text))
                            for t in root.all_threads())
            row.append(replace(_thread_rollout(policy, root, problem, reward), threads=threads))
        out.append(row)
    return out


def _thread_rollout(policy, thread, problem: Problem, reward: float) -> Rollout:
    """One thread as a rollout: what the policy sampled trained, what the runtime wrote not; cut at
    the context's end (results written under a join at the very end of a full context run past it,
    and nothing reads them)."""
    tok = policy.tokenizer
    prompt = tuple(tok.encode(thread.prompt, bos=True))
    ids: list[int] = []
    trained: list[bool] = []
    for text, sampled in thread.pieces:
        piece = sampled if sampled is not None else tuple(tok.encode(text))
        ids += piece
        trained += [sampled is not None] * len(piece)
    room = policy.max_context - len(prompt)
    return Rollout(problem, prompt, tuple(ids[:room]), thread.text, reward, thread.finish_reason,
                   trained=tuple(trained[:room]))


@dataclass
class RolloutStats:
    """What a batch of rollout groups looked like, for the metrics line."""

    reward_mean: float
    reward_std: float
    solved_groups: float
    """Share of problems with at least one correct attempt (pass@group)."""
    zero_advantage_groups: float
    """Share of groups whose rewards are all equal: they teach a group-relative method nothing."""
    length_mean: float
    truncated: float
    """Share of attempts cut at the context's end."""

    @classmethod
    def of(cls, groups: list[list[Rollout]]) -> "RolloutStats":
        rewards = np.array([r.reward for g in groups for r in g], dtype=float)
        lengths = np.array([len(r.completion_ids) for g in groups for r in g], dtype=float)
        return cls(reward_mean=float(rewards.mean()), reward_std=float(rewards.std()),
                   solved_groups=float(np.mean([any(r.correct for r in g) for g in groups])),
                   zero_advantage_groups=float(np.mean([len({r.reward for r in g}) == 1 for g in groups])),
                   length_mean=float(lengths.mean()),
                   truncated=float(np.mean([r.finish_reason == "length" for g in groups for r in g])))

    def to_metrics(self, prefix: str = "rollout/") -> dict:
        return {prefix + k: round(v, 5) for k, v in asdict(self).items()}


def held_out_accuracy(policy, task, cfg, state: dict, metrics, progress: bool = False, style: str = "",
                      copy: bool = True) -> None:
    """Write greedy accuracy on ``cfg.eval_problems`` problems of ``cfg.eval_split`` to ``metrics``,
    asked for ``style`` ("": the task's default; ``parallel``: the strategy, copying out a path found
    with ``copy``), with the training compute spent so far (from ``state``)."""
    from ponder.evaluate import evaluate
    from ponder.search import get_strategy

    policy.reset_cache()
    strategy = get_strategy("parallel", copy=copy) if style == "parallel" else get_strategy("greedy", style=style)
    report = evaluate(task, task.problems(cfg.eval_split, cfg.eval_problems), policy, strategy, progress=progress)
    write_held_out(metrics, policy, state, {f"eval/{task.name}/accuracy": report.accuracy,
                                            f"eval/{task.name}/tokens_per_problem": report.tokens_per_problem})


def write_held_out(metrics, policy, state: dict, figures: dict) -> None:
    """An evaluation line: ``figures`` (``eval/...``) with the step, the round where there are
    rounds, and the training compute spent so far (from ``state``)."""
    rounds = {"round": state["round"]} if "round" in state else {}
    metrics.write({"step": state["step"], **rounds, **figures,
                   "compute/rollout_tokens": state["rollout_tokens"], "compute/trained_tokens": state["trained_tokens"],
                   "compute/flops": training_flops(policy.model.num_params(), state), "time/elapsed_s": state["wall_time_s"]})


def training_flops(params: int, state: dict) -> float:
    """Compute spent so far, by the usual estimate: a forward pass costs 2 FLOPs per parameter
    and token (each sampled token), a training step 6 (each token trained on)."""
    return 2.0 * params * state["rollout_tokens"] + 6.0 * params * state["trained_tokens"]
