"""Strategies: how a problem's answer is found with a policy, reward models and a token budget.

A strategy is a small dataclass in a registry, called as
``strategy(problem, policy, reward, budget, seed) -> SearchResult``.

Its ``search`` method is written for one problem, as a generator: it yields the policy calls it
needs (``Generate``) and is sent back their completions. ``run`` drives many problems' searches
at once and sends all their pending calls to the policy as one batch, since on a CPU batching is
where the throughput is. Reward models are called directly.

The budget is in thinking tokens (``Usage.thinking_tokens``): tokens the policy generates plus
tokens reward models compute or write. A strategy sizes its search from it (how many samples, how
wide a beam) and stops within it: each policy call may only generate what is left, and reward
models are called only while an estimate of their cost fits. Prompt tokens are counted too, with
how many came from the prefix cache, but they are not thinking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, ClassVar, Generator, Hashable, Sequence, TypeVar, get_args, get_type_hints

from ponder.checks import value_problem
from ponder.errors import UserError
from ponder.tasks import get_task
from ponder.types import Candidate, Completion, Problem, SamplingParams, SearchResult, Usage

_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make a strategy available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str, **options) -> "Strategy":
    """The strategy ``name`` with ``options`` for its fields, each checked by its declared type and
    bounds (``OptionError``) before the strategy's own checks run."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown strategy {name!r}; choose one of: {', '.join(strategy_names())}") from None
    hints = get_type_hints(cls) if options else {}
    for key, value in options.items():
        if key in hints and (problem := option_problem(hints[key], {**LIMITS, **cls.limits}.get(key), value)):
            raise OptionError(key, problem)
    try:
        return cls(**options)
    except (TypeError, ValueError) as e:  # an unknown option, or one a strategy's checks refuse
        raise UserError(f"strategy {name}: {e}") from None


LIMITS: dict[str, tuple[float, float]] = {
    "n": (1, 1024), "width": (1, 256), "expand": (1, 64), "parallel": (1, 64), "batch": (1, 256),
    "probe": (1, 256), "agree": (1, 1024), "simulations": (1, 100_000), "rounds": (1, 64), "waits": (0, 64),
    "verdicts": (1, 64), "max_parts": (1, 32), "plan_tokens": (1, 4096), "part_tokens": (1, 4096),
    "verify_tokens": (0, 4096), "temperature": (0, 2), "top_p": (0.001, 1), "prune": (0, 1), "accept": (0, 1),
    "confident": (0, 1), "c_puct": (0, 100), "balance": (1e-3, 100), "widen": (0, 1)}
"""Bounds of strategy fields by name (a name means the same in every strategy that has it; a
strategy's ``limits`` may say otherwise). A field not named here: integers 1 to 10,000, numbers 0
to 1,000, text up to ``checks.TEXT_LIMIT`` characters."""


STYLES = ("direct", "search", "parallel")
"""The trace styles a strategy's ``style`` may ask for (``Search.ask_for``): ``direct``, one
operation a line, ``search``, the written-out search, and ``parallel``, a search that hands states
to threads (``search.parallel``); "" (where allowed) keeps the task's default."""


def check_style(style: str, default: bool = False) -> None:
    """Refuse a ``style`` that is none of ``STYLES`` ("" too, when ``default``)."""
    if style not in STYLES and not (default and style == ""):
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")


class FieldError(UserError):
    """A value refused, with ``field`` naming it and a ``message`` written with ``{field}`` where each
    surface puts its own name for it (``worded``)."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(self.worded(field))

    def worded(self, name: str) -> str:
        """The message with the field called ``name`` (``--budget``, ``strategy_options.width``)."""
        return self.message.replace("{field}", name)


class OptionError(FieldError):
    """A strategy option of the wrong type or out of bounds; ``field`` is the option's name."""


def option_problem(hint, limits: tuple[float, float] | None, value) -> str | None:
    """What is wrong with ``value`` for a strategy field declared as ``hint`` within ``limits``
    (integers 1 to 10,000 and numbers 0 to 1,000 where none are set); None when nothing is."""
    kinds = set(get_args(hint)) or {hint}
    return value_problem(hint, value, limits or ((1, 10_000) if int in kinds and float not in kinds else (0, 1000)))


@dataclass(frozen=True)
class Generate:
    """A policy call a search asks for: completions of each prompt, by its own parameters."""

    prompts: tuple[str, ...]
    params: tuple[SamplingParams, ...]


Calls = Generator[Generate, list[list[Completion]], SearchResult]
Key = TypeVar("Key", bound=Hashable)


DEFAULT_AGGREGATE = {"prm": "min"}
"""How a finished text's per-step scores become one, by reward name (others: ``last``), unless the
reward model says (``RewardModel.aggregate``). A PRM trained on Monte Carlo labels ranks worst by its
last score (``benchmarks/rewards.py``); its weakest step does better."""


class Search:
    """One problem being searched: what it is, what it may spend, and what it has spent."""

    def __init__(self, problem: Problem, task, policy, reward, budget: int | None, seed: int):
        self.problem, self.task, self.policy, self.reward = problem, task, policy, reward
        self.budget, self.seed = budget, seed
        self._prompt_for("")
        self.stop: str = task.stop
        """Where the task says a completion is over (math: where a base model starts a question of
        its own); every policy call stops there too."""
        self.usage = Usage()
        self.trace: list[str] = []
        """What the search did, one line per move, in words (shown on request, kept short)."""
        self.tree: dict | None = None
        """A tree search's explored tree, as JSON (``search.tree.tree_json``)."""
        self.aggregate = (getattr(reward, "aggregate", None)
                          or DEFAULT_AGGREGATE.get(reward.name if reward is not None else "", "last"))
        self._reward_cost: list[int] = [0, 0]  # reward tokens spent, texts scored
        self.calls = 0
        """Policy calls so far (strategies vary their sampling seed by it)."""
        self.steps = 0
        """Sequential decoding steps so far: each policy call's longest completion, summed over calls
        (the calls of one search follow one another; the completions of one call decode side by side)."""

    def ask_for(self, style: str) -> None:
        """Ask the policy for reasoning in ``style`` (before any call), when the task writes it and
        the policy was trained on it (its metadata's ``trace_styles``); else keep the default."""
        if style in self.task.TRACE_STYLES and style in trace_styles(self.policy):
            self._prompt_for(style)

    def _prompt_for(self, style: str) -> None:
        """Set ``style`` (the trace style the prompt asks for; "": the task's default), the prompt
        and its length in tokens (with <bos>)."""
        self.style = style
        self.prompt = self.task.prompt(self.problem, style)
        self.prompt_tokens = self.policy.count_tokens(self.prompt) + 1

    # -- compute

    @property
    def spent(self) -> int:
        return self.usage.thinking_tokens

    @property
    def left(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.spent

    def room(self, text: str = "") -> int:
        """Tokens the policy may still write after ``text``: the context's room, capped by the budget."""
        room = self.policy.max_context - self.prompt_tokens - (self.policy.count_tokens(text) if text else 0)
        return int(max(0, min(room, self.left)))

    def reward_cost(self, texts: int = 1) -> float:
        """Estimated reward tokens to score ``texts`` texts (from what scoring has cost so far)."""
        spent, scored = self._reward_cost
        return texts * spent / scored if scored else 0.0

    def affordable(self, texts: Sequence[str], whole: bool = False) -> int:
        """How many of ``texts``, in order, the budget can still pay a reward model to score: at what
        scoring has cost so far, or before any, at the reward model's own estimate. ``whole``: each
        is read whole whatever was read before (a finished text's ``score``, which a tree search's
        cheap, prefix-cached ``values`` say nothing of), at the reward model's estimate."""
        left, count = self.left, 0
        for t in texts:
            read = self.prompt_tokens + self.policy.count_tokens(t)
            cost = self.reward.estimate(read) if whole else (1.25 * self.reward_cost() or self.reward.estimate(read))
            if cost > left:
                break
            left -= cost
            count += 1
        return count

    # -- model calls

    def generate(self, texts: Sequence[str], params: SamplingParams | Sequence[SamplingParams]
                 ) -> Generator[Generate, list, list[list[Completion]]]:
        """``params.n`` continuations of each partial reasoning text (after the prompt); ``params``
        is one for all texts or one per text."""
        each = (params,) * len(texts) if isinstance(params, SamplingParams) else tuple(params)
        if self.stop:
            each = tuple(p if self.stop in p.stop else replace(p, stop=p.stop + (self.stop,)) for p in each)
        self.calls += 1
        out = yield Generate(tuple(self.prompt + t for t in texts), each)
        for completions in out:
            self.usage.add_completions(completions)
        self.steps += max((len(c.token_ids) for row in out for c in row), default=0)
        return out

    def score(self, texts: Sequence[str]) -> list[float]:
        """The reward model's judgement of each finished text, aggregated to one number."""
        from ponder.rewards import aggregate

        if not texts:
            return []
        if self.reward is None:
            raise UserError("this strategy needs a reward model (--reward)")
        return [aggregate(s, self.aggregate) for s in self._paid(self.reward.score, texts)]

    def score_within(self, texts: Sequence[str]) -> list[float | None]:
        """``score`` for as many of ``texts``, in order, as the budget pays for (None for the rest):
        the first alone, to learn what scoring costs, then what the budget allows at that cost."""
        if not texts or self.affordable(texts[:1]) < 1:
            return [None] * len(texts)
        scores: list[float | None] = self.score(texts[:1])
        scores += self.score(texts[1:1 + self.affordable(texts[1:])])
        return scores + [None] * (len(texts) - len(scores))

    def value(self, texts: Sequence[str]) -> list[float]:
        """The reward model's value of each partial text: the chance its reasoning will succeed."""
        if not texts:
            return []
        if self.reward is None:
            raise UserError("tree search needs a process reward model that scores partial reasoning (prm or orm), not None")
        return self._paid(self.reward.values, texts)  # one without values (gives_values) says so

    def critiques(self, texts: Sequence[str]) -> list:
        """The text critic's critique and verdict of each text (``Judgement``s), paid from the budget."""
        return self._paid(self.reward.critiques, texts)

    def _paid(self, judge, texts: Sequence[str]) -> list:
        """``judge(problem, texts)``, a reward model's method, with the tokens it spends charged here."""
        before = self.reward.usage.reward_tokens
        out = judge(self.problem, list(texts))
        cost = self.reward.usage.reward_tokens - before
        self.usage.reward_tokens += cost
        self._reward_cost[0] += cost
        self._reward_cost[1] += len(texts)
        return out

    # -- results

    def candidate(self, text: str, score: float | None = None) -> Candidate:
        return Candidate(text, self.task.answer(text), score)

    def result(self, best: Candidate | None, candidates: Sequence[Candidate], finish_reason: str = "stop",
               note: str = "") -> SearchResult:
        text = best.text if best else ""
        summary = self.task.summary(self.problem, text) if best else "No line of reasoning finished within the budget."
        if note:
            summary = f"{summary} {note}"
        return SearchResult(answer=best.answer if best else None, text=text, reasoning_summary=summary,
                            usage=self.usage, candidates=tuple(candidates),
                            finish_reason=finish_reason if best else "length", trace=tuple(self.trace), tree=self.tree,
                            steps=self.steps)


@dataclass
class Strategy:
    name: ClassVar[str] = ""
    reward_kind: ClassVar[str | None] = None
    """The reward model it needs: None, "outcome" (judges finished texts) or "process" (values
    partial ones); the command line picks a shipped default for each."""
    limits: ClassVar[dict[str, tuple[float, float]]] = {}
    """Bounds of its fields where they differ from ``LIMITS``."""

    def __call__(self, problem: Problem, policy, reward=None, budget: int | None = None, seed: int = 0,
                 task=None) -> SearchResult:
        return self.run([problem], policy, reward, budget, seed, task)[0]

    def run(self, problems: Sequence[Problem], policy, reward=None, budget: int | None = None, seed: int = 0,
            task=None, on_done: Callable[[int, SearchResult], None] | None = None) -> list[SearchResult]:
        """Every problem's result, searched side by side; ``on_done(i, result)`` as each finishes."""
        if budget is not None and budget < 1:
            raise UserError(f"budget must be a positive number of tokens, got {budget}")
        if self.reward_kind and reward is None:
            raise UserError(f"strategy {self.name} needs a reward model (--reward)")
        searches = [Search(p, task_of(p, task), policy, reward, budget, seed) for p in problems]
        return drive([self.search(s) for s in searches], policy, on_done)

    def search(self, s: Search) -> Calls:
        raise NotImplementedError


def drive(searches: Sequence[Calls], policy,
          on_done: Callable[[int, SearchResult], None] | None = None) -> list[SearchResult]:
    """Run searches side by side: each round, every search that waits on the policy gets its
    completions from one batched ``policy.generate`` call (``together``). ``on_done(i, result)``
    hears of each search as it finishes (for progress bars and rows written as they come)."""
    run, reply = together(searches, on_done), None
    while True:
        try:
            call = run.send(reply)
        except StopIteration as done:
            return done.value
        reply = policy.generate(list(call.prompts), list(call.params))


def together(searches: Sequence[Calls], on_done: Callable[[int, SearchResult], None] | None = None
             ) -> Generator[Generate, list, list]:
    """Several searches as one: each round, the calls all of them wait on go out as one ``Generate``
    (one batched policy call), and each gets its own rows back. Returns their results, in order.
    ``drive`` answers it from the policy; the ``parallel`` strategy yields it from within a search,
    so that the threads of a spawn decode together."""
    results: list = [None] * len(searches)
    waiting: dict[int, Generate] = {}

    def advance(i: int, reply) -> None:
        try:
            waiting[i] = searches[i].send(reply)
        except StopIteration as done:
            results[i] = done.value
            if on_done is not None:
                on_done(i, done.value)

    for i in range(len(searches)):
        advance(i, None)
    while waiting:
        calls = sorted(waiting.items())
        waiting.clear()
        out = yield Generate(tuple(p for _, call in calls for p in call.prompts),
                             tuple(p for _, call in calls for p in call.params))
        at = 0
        for i, call in calls:
            advance(i, out[at:at + len(call.prompts)])
            at += len(call.prompts)
    return results


def generate_together(policy, calls: Sequence[tuple[Key, Generate]]) -> list[tuple[Key, list[list[Completion]]]]:
    """Every call's prompts in one ``policy.generate``; each call's rows of completions given back
    with its key, in the calls' order: how the server's scheduler batches many requests' calls."""
    out = policy.generate([p for _, call in calls for p in call.prompts],
                          [p for _, call in calls for p in call.params])
    replies, at = [], 0
    for key, call in calls:
        replies.append((key, out[at:at + len(call.prompts)]))
        at += len(call.prompts)
    return replies


def trace_styles(policy) -> tuple[str, ...]:
    """The trace styles a policy was trained to write when its prompt asks (its metadata's
    ``trace_styles``; a policy that records none writes only its task's default). One list for
    all its tasks: a style is asked of every task that writes it."""
    styles = (getattr(policy, "meta", None) or {}).get("trace_styles", ())
    return tuple(s for s in styles if isinstance(s, str)) if isinstance(styles, list | tuple) else ()


def knows_style(policy, task, style: str) -> None:
    """Refuse (``UserError``) a trace ``style`` that ``task`` does not write or the policy was not
    trained on ("" and the task's default always do)."""
    if not style:
        return
    if style not in task.TRACE_STYLES:
        raise UserError(f"{task.name} writes no {style!r} traces (its styles: {', '.join(task.TRACE_STYLES) or 'none'})")
    if style != task.TRACE_STYLES[0] and style not in trace_styles(policy):
        known = ", ".join(trace_styles(policy)) or "its tasks' defaults only"
        raise UserError(f"the policy was not trained on the {style!r} style (it knows: {known})")


def task_of(problem: Problem, task=None):
    return task if task is not None else get_task(problem.task)
