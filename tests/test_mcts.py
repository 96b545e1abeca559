"""MCTS on hand-built trees: selection, backup, visit weights and whole simulations, each value and
visit count worked out by hand in the comments (no shipped model needed)."""

import math

import pytest

from ponder.search.base import Search
from ponder.search.tree import MCTS, Node, all_nodes, visit_weights
from ponder.tasks import get_task
from ponder.types import Completion, Usage


def tree(values_priors: list[tuple[float, float]], done: bool = False) -> tuple[Node, list[Node]]:
    root = Node("")
    kids = [Node(f"{i}\n", root, value=v, prior=p, done=done) for i, (v, p) in enumerate(values_priors)]
    root.children = kids
    return root, kids


def test_select_takes_the_highest_puct_score():
    root, (a, b, c) = tree([(0.0, 0.5), (0.0, 0.3), (0.2, 0.2)])
    root.visits = 4
    a.visits, a.total = 3, 1.5  # Q = 0.5;  0.5 + 1.0 * 0.5 * 2 / 4 = 0.75
    b.visits, b.total = 1, 0.9  # Q = 0.9;  0.9 + 1.0 * 0.3 * 2 / 2 = 1.2
    # c unvisited: Q is its value, 0.2 + 1.0 * 0.2 * 2 / 1 = 0.6
    assert MCTS(c_puct=1.0).select(root) is b
    assert MCTS(c_puct=10.0).select(root) is c  # a 0.5 + 2.5 = 3.0, b 3.9, c 4.2: exploration wins


def test_backup_adds_to_the_whole_path_and_a_virtual_loss_is_taken_back():
    root, (a, _) = tree([(0.5, 0.5), (0.5, 0.5)])
    leaf = Node("0\nx\n", a)
    a.children = [leaf]
    MCTS.backup(leaf, 0.8)
    assert [(n.visits, n.total) for n in (leaf, a, root)] == [(1, 0.8), (1, 0.8), (1, 0.8)]
    MCTS.backup(leaf, 0.0, virtual=True)
    assert [(n.visits, n.total) for n in (leaf, a, root)] == [(2, 0.8), (2, 0.8), (2, 0.8)]
    MCTS.backup(leaf, 0.0, virtual=True, undo=True)
    assert [(n.visits, n.total) for n in (leaf, a, root)] == [(1, 0.8), (1, 0.8), (1, 0.8)]


def test_visit_weights_are_visit_shares_or_the_priors_before_any_visit():
    root, (a, b) = tree([(0.0, 0.25), (0.0, 0.5)])
    assert visit_weights(root) == pytest.approx([1 / 3, 2 / 3])  # the priors, made to sum to 1
    a.visits, b.visits = 3, 1
    assert visit_weights(root) == [0.75, 0.25]


def test_all_nodes_lists_the_tree_once():
    root, (a, b) = tree([(0.0, 0.5), (0.0, 0.5)])
    a.children = [Node("0\nx\n", a)]
    assert len(all_nodes(root)) == 4 and all_nodes(root)[0] is root


class Scripted:
    """A policy that continues each reasoning text with the lines written for it (one per sample,
    each a line ended by the newline); it fails on a text it has no lines for."""

    name, max_context = "scripted", 1000

    def __init__(self, prompt: str, lines: dict[str, list[str]]):
        self.prompt, self.lines, self.calls = prompt, lines, []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, prompts, params):
        out = []
        for prompt, p in zip(prompts, params):
            state = prompt[len(self.prompt):]
            self.calls.append(state)
            written = self.lines[state]
            assert len(written) == p.n
            out.append([Completion(line, (0,) * len(line), "stop", 1, stop="\n") for line in written])
        return out


class Values:
    """A value model that knows the value of each partial text by heart."""

    name = "values"

    def __init__(self, values: dict[str, float]):
        self.known, self.usage = values, Usage()

    def values(self, problem, texts):
        self.usage.reward_tokens += len(texts)
        return [self.known[t] for t in texts]

    def estimate(self, tokens):
        return 1


def test_simulate_expands_values_and_backs_up_as_worked_by_hand():
    task = get_task("countdown-3")
    problem = task.make_problem([2, 3, 5], 30)
    policy = Scripted(task.prompt(problem), {"": ["x", "y"], "x\n": ["x2", "x2"], "x\nx2\n": ["x3", "x3"]})
    reward = Values({"x\n": 0.8, "y\n": 0.2, "x\nx2\n": 0.6, "x\nx2\nx3\n": 0.4})
    s = Search(problem, task, policy, reward, None, 0)
    mcts = MCTS(expand=2, c_puct=1.0, parallel=1)
    root = Node("")
    weights = drive_one(mcts.simulate(s, root, 3), policy)
    # 1: the root is the leaf: children x and y (prior 1/2 each, values 0.8 and 0.2); backs up 0.5
    # 2: x: 0.8 + 0.5 * 1 / 1 = 1.3 against y 0.7: x grows one child (both samples agree: prior 1,
    #    value 0.6), backs up 0.6
    # 3: sqrt(2) = 1.414: x: 0.6 + 0.5 * 1.414 / 2 = 0.954 against y: 0.2 + 0.5 * 1.414 = 0.907, then x2
    #    (the only child): x3, value 0.4, backed up
    assert policy.calls == ["", "x\n", "x\nx2\n"]
    x, y = root.children
    assert (root.visits, x.visits, y.visits, x.children[0].visits) == (3, 2, 0, 1)
    assert root.total == pytest.approx(0.5 + 0.6 + 0.4) and x.total == pytest.approx(1.0)
    assert weights == [1.0, 0.0]
    assert s.usage.reward_tokens == 4  # four partial texts valued


def test_simulate_counts_visits_to_finished_lines_without_calling_the_policy():
    task = get_task("countdown-3")
    problem = task.make_problem([2, 3, 5], 30)
    policy = Scripted(task.prompt(problem), {})  # any call fails
    s = Search(problem, task, policy, None, None, 0)
    root, (a, b) = tree([(1.0, 0.5), (0.0, 0.5)], done=True)
    weights = drive_one(MCTS(c_puct=1.5, parallel=2).simulate(s, root, 4), policy)
    # wave 1 (2 leaves): a: 1.0 + 1.5 * 0.5 * 1 / 1 = 1.75 over b 0.75; with a virtual loss on a
    #   (Q 0), b 0.75 beats a 0.375: both back up their values (a 1.0, b 0.0)
    # wave 2 (2 leaves): a: 1.0 + 0.75 * 1.414 / 2 = 1.53 over b 0.53; a's virtual loss leaves a
    #   0.5 + 0.75 * 1.732 / 3 = 0.93 over b 0.65: a again, so one leaf: a
    # wave 3 (the last simulation): a: 1.0 + 0.75 * 1.732 / 3 = 1.43 over b 0.65: a
    assert (a.visits, b.visits, root.visits) == (3, 1, 4) and a.total == 3.0 and b.total == 0.0
    assert weights == [0.75, 0.25] and policy.calls == []
    assert math.isclose(sum(weights), 1.0)


def drive_one(calls, policy):
    """Run one generator of policy calls to its end, answering each from ``policy``."""
    reply = None
    while True:
        try:
            call = calls.send(reply)
        except StopIteration as done:
            return done.value
        reply = policy.generate(call.prompts, call.params)
