"""Test-time strategies on the shipped models: budgets, accounting, batching, the search machinery.

Countdown with 3 numbers keeps each call short; what is checked is how strategies spend and
account, not how accurate they are.
"""

from dataclasses import replace

import pytest

from ponder.backends.nano import NanoPolicy
from ponder.errors import UserError
from ponder.rewards import RewardModel, get_reward
from ponder.search import get_strategy, strategy_names
from ponder.search.revise import keep_before
from ponder.search.base import Search
from ponder.tasks import get_task
from ponder.types import SamplingParams

pytestmark = pytest.mark.shipped("nano-v2", "prm", "genrm", "critic")
KIND = {"outcome": "genrm-cot", "process": "prm", "critic": "critic"}


@pytest.fixture(scope="module")
def policy():
    return NanoPolicy.load()


@pytest.fixture(scope="module")
def task():
    return get_task("countdown-3")


@pytest.fixture(scope="module")
def problems(task):
    return task.problems("test", 2, seed=3)


@pytest.fixture(scope="module")
def rewards():
    return {kind: get_reward(name) for kind, name in KIND.items()}


@pytest.mark.parametrize("name", strategy_names())
def test_every_strategy_stays_within_its_budget_without_the_verifier(name, policy, task, problems, rewards, monkeypatch):
    """Strategies grade with reward models; the rule verifier and the solver are never called."""
    def forbidden(*a, **k):
        raise AssertionError("a strategy called the rule verifier or the solver")

    for method in ("check", "verify", "solution", "prefix_outcomes", "check_steps"):
        monkeypatch.setattr(type(task), method, forbidden)
    strategy = get_strategy(name)
    reward = rewards.get(strategy.reward_kind)
    for budget in (40, 400):
        results = strategy.run(problems, policy, reward, budget=budget, seed=1, task=task)
        assert len(results) == len(problems)
        for r in results:
            assert 0 < r.usage.thinking_tokens <= budget, (name, budget, r.usage)
            assert r.reasoning_summary


def test_batched_searches_match_searches_alone(policy, task, problems, rewards):
    """Driving many problems' searches in one batch changes nothing about any of them."""
    for name in ("majority", "beam", "mcts"):
        strategy = get_strategy(name)
        reward = rewards.get(strategy.reward_kind)
        together = strategy.run(problems, policy, reward, budget=600, seed=2, task=task)
        alone = [strategy.run([p], policy, reward, budget=600, seed=2, task=task)[0] for p in problems]
        assert [r.text for r in together] == [r.text for r in alone], name
        # the policy's tokens match; the PRM's may not, since its prefix cache is warm the second time
        assert [r.usage.completion_tokens for r in together] == [r.usage.completion_tokens for r in alone], name


def test_tree_search_reuses_the_prefix_cache(policy, task, problems, rewards):
    """Over the lines of a written-out search, siblings share long prefixes (direct paths are short)."""
    r = get_strategy("beam", width=2, expand=2, style="search")(problems[0], policy, rewards["process"], seed=0,
                                                                task=task)
    assert r.trace  # the tree
    assert r.usage.prompt_tokens > 0 and r.usage.recomputed < 0.5, r.usage
    assert r.usage.reward_tokens > 0


def test_cached_values_equal_full_reads(task, problems, policy):
    """The PRM's cached ``values`` give what scoring the whole prefix gives."""
    prm = get_reward("prm")
    full = get_reward("prm", partial=True)
    [[c]] = policy.generate([task.prompt(problems[0])], SamplingParams(n=1, temperature=0, max_tokens=200))
    lines = c.text.split("\n")
    prefixes = ["".join(f"{l}\n" for l in lines[:k]) for k in (1, 2, len(lines) - 1)]
    cached = prm.values(problems[0], prefixes) + prm.values(problems[0], prefixes)  # second time from the cache
    direct = [s[-1] for s in full.score(problems[0], prefixes)]
    assert cached[:3] == pytest.approx(direct, abs=1e-4)
    assert cached[3:] == pytest.approx(direct, abs=1e-4)


def test_budget_forcing_cuts_the_thinking_and_forces_an_answer(policy):
    task = get_task("countdown")
    problem = task.make_problem([25, 3, 7, 9], 66)
    r = get_strategy("think")(problem, policy, budget=120, task=task)
    assert r.usage.thinking_tokens <= 120
    assert "answer:" in r.text and any("forced" in t for t in r.trace)
    assert "\nanswer: " in r.text  # the forced line reads as one call writes it


def test_adaptive_stops_early_when_samples_agree(policy, task, problems):
    easy = get_strategy("adaptive", batch=4)(problems[0], policy, budget=4000, seed=0, task=task)
    fixed = get_strategy("majority", n=16)(problems[0], policy, seed=0, task=task)
    assert len(easy.candidates) < len(fixed.candidates) == 16
    assert easy.usage.thinking_tokens < fixed.usage.thinking_tokens


def test_revision_keeps_the_lines_before_the_one_the_critic_names(policy, task, problems):
    s = Search(problems[0], task, policy, None, None, 0)
    text = "1 2 3 -> 9 : 1 + 2 = 3 | 3 3 : 6 9\n3 3 -> 9 : 3 * 3 = 9 | 9\nanswer: (1 + 2) * 3\n"
    assert keep_before(s, text, "3 3 : 3 * 3 = 9\nwrong") == "1 2 3 -> 9 : 1 + 2 = 3 | 3 3 : 6 9\n"
    assert keep_before(s, text, "2 is not given") == text.rsplit("answer:", 1)[0]


def test_usage_counts_every_sample(policy, task, problems):
    r = get_strategy("majority", n=4)(problems[0], policy, seed=0, task=task)
    written = sum(policy.count_tokens(c.text) for c in r.candidates)
    # each sample counted once, with the <eos> that ends it (the text leaves it out) where one does
    assert written <= r.usage.completion_tokens <= written + len(r.candidates)
    assert len(r.candidates) == 4 and r.usage.prompt_tokens == policy.count_tokens(task.prompt(problems[0])) + 1


class Scripted:
    """A policy that writes the given texts in turn, each ``length`` tokens long; a text cut by
    ``max_tokens`` loses its last line (its answer)."""

    max_context = 512

    def __init__(self, texts, length=10):
        self.texts, self.length, self.at = list(texts), length, 0

    def count_tokens(self, text):
        return len(text) // 4

    def generate(self, prompts, params):
        from ponder.types import Completion

        params = params if isinstance(params, list) else [params] * len(prompts)
        out = []
        for prompt, p in zip(prompts, params):
            group = []
            for _ in range(p.n):
                text = self.texts[self.at % len(self.texts)]
                self.at += 1
                cut = p.max_tokens < self.length
                group.append(Completion(text.rstrip("\n").rsplit("\n", 1)[0] if cut else text,
                                        tuple(range(min(self.length, p.max_tokens))), "length" if cut else "stop",
                                        self.count_tokens(prompt)))
            out.append(group)
        return out


class Priced(RewardModel):
    """A scripted reward model whose every judgement costs ``cost`` reward tokens, as it says beforehand."""

    cost = 1

    def __init__(self):
        from ponder.types import Usage

        self.usage = Usage()

    def estimate(self, tokens):
        return self.cost

    def charge(self, texts):
        self.usage.reward_tokens += self.cost * len(texts)


class PricedJudge(Priced):
    """An outcome judge whose every score costs 20 reward tokens, as it says beforehand."""

    name = "priced"
    kind = "outcome"
    cost = 20

    def score(self, problem, texts):
        self.charge(texts)
        return [[0.2] for _ in texts]


def test_auto_goes_on_when_the_budget_leaves_its_best_answer_unscored(task, problems):
    """Four samples, no two alike; the budget pays to score only the first two, which have no
    answer. The best answer is then one no judge has seen: auto samples on rather than trusting it."""
    policy = Scripted(["1 + 1 = 2\n", "2 + 2 = 4\n", "answer: 1 + 2\n", "answer: 3 - 1\n", "answer: 4 - 1\n"])
    r = get_strategy("auto")(problems[0], policy, PricedJudge(), budget=100, seed=0, task=task)
    assert r.answer is not None
    assert r.usage.reward_tokens == 40 and r.usage.thinking_tokens <= 100, r.usage
    assert len(r.candidates) == 5 and sum(c.score is None for c in r.candidates) == 3


class Remembering(Scripted):
    """A scripted policy that keeps the prompts it is given, trained (says its metadata) on ``styles``."""

    def __init__(self, texts, styles):
        super().__init__(texts)
        self.meta, self.prompts = {"trace_styles": list(styles)}, []

    def generate(self, prompts, params):
        self.prompts += prompts
        return super().generate(prompts, params)


@pytest.mark.parametrize("name", ["beam", "tot", "dvts", "rebase", "best-first", "mcts"])
def test_tree_search_asks_for_direct_steps_when_the_policy_was_trained_on_them(name, task, problems):
    lines = ["2 + 3 = 5 | 5 7\n", "answer: 2 + 3\n"]
    for styles, style in ((["search", "direct"], "direct"), (["search"], "")):
        policy = Remembering(lines, styles)
        get_strategy(name)(problems[0], policy, ScriptedValues(), budget=400, seed=0, task=task)
        assert policy.prompts and all(p.startswith(task.prompt(problems[0], style)) for p in policy.prompts)
        assert all(("direct" in p) == (style == "direct") for p in policy.prompts)
    with pytest.raises(UserError, match="style must be one of direct, search"):
        get_strategy(name, style="sideways")


@pytest.mark.parametrize("name", ["greedy", "sample", "majority", "adaptive", "auto"])
def test_chains_and_votes_ask_for_a_style_only_when_told(name, task, problems):
    """Greedy and the votes write the task's default unless ``style`` asks for another the policy
    knows (``ponder eval --set style=direct``); auto's probe and its later samples ask alike."""
    lines = ["2 + 3 = 5 | 5 7\n", "answer: 2 + 3\n"]
    for styles, asked, style in ((["search", "direct"], "direct", "direct"), (["search", "direct"], "", ""),
                                 (["search"], "direct", "")):
        policy = Remembering(lines, styles)
        get_strategy(name, style=asked)(problems[0], policy, ScriptedValues(), budget=400, seed=0, task=task)
        assert policy.prompts and all(p.startswith(task.prompt(problems[0], style)) for p in policy.prompts)
        assert all(("direct" in p) == (style == "direct") for p in policy.prompts)
    with pytest.raises(UserError, match="style must be one of direct, search"):
        get_strategy(name, style="sideways")


class ScriptedValues(Priced):
    """A process reward model that values every partial text ``value`` and scores every finished
    one ``verdict``."""

    name = "halves"
    kind = "process"
    value, verdict = 0.5, 1.0

    def values(self, problem, texts):
        self.charge(texts)
        return [self.value for _ in texts]

    def score(self, problem, texts):
        self.charge(texts)
        return [[self.verdict] for _ in texts]


class ExactValues(Priced):
    """The rule oracle as a priced value model: a partial text's value is its last step's exact
    outcome, a finished text's score the verifier's verdict."""

    name = "exact"
    kind = "process"

    def values(self, problem, texts):
        self.charge(texts)
        task = get_task(problem.task)
        return [float(task.prefix_outcomes(problem, t)[-1]) if task.steps(t) else 1.0 for t in texts]

    def score(self, problem, texts):
        self.charge(texts)
        return [[get_task(problem.task).verify(problem, t)] for t in texts]


class OneLine(Scripted):
    """A policy that proposes one line whatever it is asked, ended at the line's end."""

    def __init__(self, line):
        super().__init__([line])

    def generate(self, prompts, params):
        return [[replace(c, stop="\n") for c in group] for group in super().generate(prompts, params)]


@pytest.mark.parametrize("name", ["beam", "best-first", "mcts"])
def test_widening_adds_the_legal_steps_the_policy_never_proposes(name):
    """A policy that only ever proposes one step, a dead end at the root and no legal move later:
    with ``widen`` the search adds every legal step where no proposal looks alive, the value model
    reads each (paid from the budget), and the exact values lead it to 24; without, it is lost."""
    task = get_task("game24")
    problem = task.make_problem([2, 4, 5, 7], 24)
    policy = OneLine("5 - 4 = 1 | 2 7 1")
    options = {"beam": {"width": 1, "expand": 2}, "best-first": {"expand": 2, "batch": 1},
               "mcts": {"expand": 2, "simulations": 40, "choose": "value"}}[name]
    lost = get_strategy(name, **options)(problem, policy, ExactValues(), budget=4000, seed=0, task=task)
    assert not task.check(problem, lost.answer)
    values = ExactValues()
    found = get_strategy(name, widen=0.5, **options)(problem, policy, values, budget=4000, seed=0, task=task)
    assert task.check(problem, found.answer), found.trace
    assert found.usage.reward_tokens == values.usage.reward_tokens > 29  # the root's 29 legal steps, and more


class Path(OneLine):
    """A policy that writes ``lines`` in order, one a call: each line the one after the prompt's last."""

    def __init__(self, lines):
        super().__init__(lines[0])
        self.after = dict(zip(lines, lines[1:]))

    def generate(self, prompts, params):
        out = super().generate(prompts, params)
        for prompt, group in zip(prompts, out):
            line = self.after.get(prompt.rstrip("\n").rsplit("\n", 1)[-1], self.texts[0])
            group[:] = [replace(c, text=line) for c in group]
        return out


ONE_PATH = {"beam": {"width": 1, "expand": 1}, "best-first": {"expand": 1, "batch": 1},
            "mcts": {"expand": 1, "simulations": 8, "choose": "value"}}
"""Settings under which each tree strategy follows the one line its policy proposes."""


def follow(name: str, lines: list[str], **options):
    """Game of 24 on 2 4 5 7 searched by ``name`` over a policy that writes ``lines`` in turn, with
    a value model that trusts every line."""
    task = get_task("game24")
    problem = task.make_problem([2, 4, 5, 7], 24)
    return get_strategy(name, **ONE_PATH[name], **options)(problem, Path(lines), ScriptedValues(), seed=0, task=task)


@pytest.mark.parametrize("name", ["beam", "best-first", "mcts"])
def test_a_direct_path_s_answer_is_transcribed_from_its_steps_not_copied_by_the_policy(name):
    """The policy finds 24 in three right steps, then garbles the answer line (it uses 2 twice and
    drops 5); a value model that trusts every line passes it. Transcribed, the answer is the one
    the steps spell out."""
    lines = ["4 - 2 = 2 | 5 7 2", "7 + 5 = 12 | 2 12", "12 * 2 = 24 | 24", "answer: (7 + (4 - 2)) * 2"]
    assert follow(name, lines, transcribe=False).answer == "(7 + (4 - 2)) * 2"  # wrong: 2 twice, no 5
    assert follow(name, lines).answer == "(7 + 5) * (4 - 2)"


@pytest.mark.parametrize("name", ["beam", "best-first", "mcts"])
def test_a_proposed_step_that_is_no_move_of_the_game_is_dropped(name):
    """The policy's second step uses a 9 the puzzle does not have, and its third gets 11 * 7
    wrong; a value model that trusts every line passes the path. With the rules' check (the
    default) those lines are never children: the search finds no answer rather than a wrong one."""
    lines = ["4 - 2 = 2 | 5 7 2", "2 + 9 = 11 | 7 11", "11 * 7 = 24 | 24", "answer: ((4 - 2) + 9) * 7"]
    assert follow(name, lines, legal=False).answer == "((4 - 2) + 9) * 7"
    ruled = follow(name, lines)
    assert ruled.answer is None and all(c.answer is None for c in ruled.candidates)


def test_in_a_search_over_direct_steps_only_direct_steps_are_moves():
    """A line of the written-out search (a dead end marked ✗), from a policy taught both styles, is
    no move among direct steps, though the rules cannot call it illegal; in a search over
    written-out lines it may stand. Wrong arithmetic is no move in any style; a task that lists no
    moves keeps whatever is proposed."""
    from types import SimpleNamespace

    from ponder.search.tree import is_move

    task = get_task("game24")
    both = SimpleNamespace(meta={"trace_styles": ["direct", "search"]})
    s = SimpleNamespace(task=task, problem=task.make_problem([2, 4, 5, 7], 24), policy=both)
    step = "4 - 2 = 2 | 5 7 2\n"
    searched = step + "7 / 2 = 7⁄2 | 5 7⁄2 ✗\n"
    assert is_move(s, step, "direct") and is_move(s, step + "answer: (7 + 5) * (4 - 2)", "direct")
    assert not is_move(s, searched, "direct") and is_move(s, searched, "")
    assert not is_move(s, "4 - 2 = 3 | 5 7 3\n", "direct") and not is_move(s, "4 - 2 = 3 | 5 7 3\n", "")
    untaught = SimpleNamespace(task=task, problem=s.problem, policy=SimpleNamespace(meta={}))
    assert is_move(untaught, searched, "direct")  # a policy never taught direct steps: any line may be its step
    math = get_task("math")
    assert not math.lists_steps and is_move(SimpleNamespace(task=math, problem=None, policy=both), "Any line.\n\n", "direct")


class Misled(ExactValues):
    """Exact values, except that the first step ``line`` looks alive (0.9) though it is dead."""

    name = "misled"

    def __init__(self, line):
        super().__init__()
        self.line = line

    def values(self, problem, texts):
        exact = super().values(problem, texts)
        return [0.9 if t == self.line + "\n" else v for t, v in zip(texts, exact)]


def test_best_first_widens_again_where_a_move_that_looked_alive_proves_dead():
    """The policy proposes one first step, dead, which the value model calls alive, so the root is
    not widened; below it every move is valued dead. Backed up, the root then has no child worth
    ``widen`` and gets every other legal first step, among which the exact values find 24."""
    task = get_task("game24")
    problem = task.make_problem([2, 4, 5, 7], 24)
    line = "5 - 4 = 1 | 2 7 1"
    assert not task.prefix_outcomes(problem, line + "\n")[-1]
    found = get_strategy("best-first", widen=0.5, expand=2, batch=1)(problem, OneLine(line), Misled(line), budget=4000,
                                                                     seed=0, task=task)
    assert task.check(problem, found.answer), found.trace
    first = [row for row in found.trace if row.startswith("  1 ")]
    assert len(first) == len(task.next_steps(problem, "")) and any(line in row and "v=0.00" in row for row in first)


def test_a_written_answer_transcribes_the_steps_as_they_are():
    task = get_task("game24")
    problem = task.make_problem([2, 4, 5, 7], 24)
    wrong = "4 - 2 = 2 | 5 7 2\n2 + 9 = 11 | 7 11\n11 * 7 = 24 | 24\n"  # 9 is not there, 11 * 7 is not 24
    assert task.written_answer(problem, wrong) == "answer: ((4 - 2) + 9) * 7"
    assert task.verify(problem, wrong + "answer: ((4 - 2) + 9) * 7\n") == 0.0
    assert task.written_answer(problem, "4 - 2 = 2 | 5 7 2\n") is None  # numbers left: no answer yet
    assert task.written_answer(problem, "2 4 5 7 : 4 - 2 = 2 | 5 7 2\n") is None  # a search, not a direct path


class Hopeless(ScriptedValues):
    """A value model that trusts nothing: every partial text 0, every finished one 0."""

    name = "hopeless"
    value, verdict = 0.0, 0.0


@pytest.mark.parametrize("nodes,opened", [(None, 64), (3, 3)])
def test_best_first_without_a_budget_stops_after_its_nodes(nodes, opened):
    """Widened, with a value model that trusts no line, best-first would open every state of the
    game; without a budget it opens ``nodes`` (64 unless told) and gives up."""
    task = get_task("game24")
    problem = task.make_problem([2, 4, 5, 7], 24)
    policy = OneLine("5 - 4 = 1 | 2 7 1")
    found = get_strategy("best-first", widen=0.5, expand=1, batch=1, nodes=nodes)(problem, policy, Hopeless(), seed=0,
                                                                                   task=task)
    assert policy.at == opened  # one proposal a node opened
    assert found.usage.completion_tokens == opened * policy.length


def test_parallel_sampling_cuts_no_text_short_to_fit_more(task, problems):
    """Texts of 300 tokens, a context of about 500 free, a budget of 1,000: whole texts (each free
    to fill the context) while one filling it would fit, then one more, since what is left still
    fits a text of the usual length. Sizing rounds by a guessed length cut every text short."""
    policy = Scripted(["1 + 2 = 3\nanswer: 1 + 2\n"], length=300)
    r = get_strategy("majority")(problems[0], policy, budget=1000, seed=0, task=task)
    assert len(r.candidates) == 3 and all(c.answer for c in r.candidates)
    assert r.usage.completion_tokens == 900


def test_an_evaluation_pays_afresh_for_what_an_earlier_one_read(policy, task, problems, rewards):
    """A sweep evaluates the same problems at several budgets with one value model: a later point
    must not be charged less because an earlier one left its prefixes in the model's cache."""
    from ponder.evaluate import evaluate

    first, again = (evaluate(task, problems, policy, get_strategy("best-first"), rewards["process"], budget=400)
                    for _ in range(2))
    assert first.usage.reward_tokens == again.usage.reward_tokens > 0
